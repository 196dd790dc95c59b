use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task(daemon)]
    async fn gossip(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

fn main() {}
