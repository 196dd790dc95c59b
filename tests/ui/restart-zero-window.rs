use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[daemon(restart = "on-failure", max_restarts = 5, within = "0s")]
    async fn gossip(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

fn main() {}
