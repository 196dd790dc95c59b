use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[daemon(restart = "on-failure", within = "60 seconds")]
    async fn gossip(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

fn main() {}
