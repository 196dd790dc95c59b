use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task(max_restarts = 5)]
    async fn announce(&self) {}
}

fn main() {}
