use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[daemon(restart = "on_failure")]
    async fn gossip(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

fn main() {}
