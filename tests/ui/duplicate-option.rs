use service_runtime::prelude::*;

#[service(grace = "1s", name = "node", grace = "2s")]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
