use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task]
    async fn greet(&self) -> &'static str {
        "hello"
    }
}

fn main() {}
