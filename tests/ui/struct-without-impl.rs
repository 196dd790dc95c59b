use service_runtime::prelude::*;

#[service]
struct Node;

impl Node {
    async fn announce(&self) {}
}

fn main() {
    let _ = Node::new().announce();
}
