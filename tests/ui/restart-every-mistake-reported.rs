// Mistakes in the restart keys of four methods: every one is reported in one compile, and
// no unrelated errors follow (the impl is still emitted).
use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task(restart = on_failure, max_restarts = 3)]
    async fn a(&self) {}

    #[daemon(max_restarts = "5", within = "1h", backoff = "1s..")]
    async fn b(&self, cx: &Context) {
        cx.cancelled().await;
    }

    #[child(daemon, within = "1s", restart = "sometimes")]
    fn c(&self) -> Node {
        Node::new()
    }

    #[task(backoff = "1s..2s")]
    async fn d(&self) {}
}

fn main() {
    let _ = Node::new();
}
