use service_runtime::prelude::*;

#[service(grace = "2")]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
