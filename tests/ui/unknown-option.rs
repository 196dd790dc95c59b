use service_runtime::prelude::*;

#[service(grase = "2s")]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
