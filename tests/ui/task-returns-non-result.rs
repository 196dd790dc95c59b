use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task]
    async fn count(&self) -> u64 {
        42
    }
}

fn main() {}
