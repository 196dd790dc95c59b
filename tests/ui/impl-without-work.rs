use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    async fn announce(&self) {}
}

fn main() {}
