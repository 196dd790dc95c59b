use service_runtime::prelude::*;

#[service(max_children = 0)]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
