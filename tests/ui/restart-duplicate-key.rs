use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[daemon(restart = "always", within = "1m", restart = "on-failure")]
    async fn gossip(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

fn main() {}
