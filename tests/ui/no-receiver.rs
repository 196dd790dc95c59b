use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[daemon]
    async fn gossip(cx: &Context) {
        cx.cancelled().await;
    }
}

fn main() {}
