use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[daemon(contained, restart = "on-failure", contained)]
    async fn gossip(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

fn main() {}
