use service_runtime::prelude::*;

#[service(name = 17, options = false)]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
