use service_runtime::prelude::*;

#[service(name = "node/main")]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
