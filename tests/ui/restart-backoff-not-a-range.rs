use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[daemon(restart = "on-failure", backoff = "10s")]
    async fn gossip(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

fn main() {}
