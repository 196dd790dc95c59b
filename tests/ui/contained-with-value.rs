use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task(contained = true)]
    async fn announce(&self) {}
}

fn main() {}
