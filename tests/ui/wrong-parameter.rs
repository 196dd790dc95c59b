use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self, peers: Vec<String>) {
        let _ = peers;
    }
}

fn main() {}
