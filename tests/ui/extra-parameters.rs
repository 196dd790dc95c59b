use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self, cx: &Context, peers: Vec<String>, retries: u32) {
        let _ = (cx, peers, retries);
    }
}

fn main() {}
