use service_runtime::prelude::*;

#[service(drain = "1s", name = "node", drain = "2s")]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
