use service_runtime::prelude::*;

#[service(drain = "abc")]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
