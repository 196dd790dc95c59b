use service_runtime::prelude::*;

#[service(drain = 5)]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
