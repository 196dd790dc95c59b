use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task(restart = "on-failure", retries = 3)]
    async fn announce(&self) {}
}

fn main() {}
