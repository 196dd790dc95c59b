use service_runtime::prelude::*;

#[service]
struct Node;

#[service(grace = "1s")]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
