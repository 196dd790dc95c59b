// Three mistakes among six methods, and two in the options: five errors in one compile,
// and no unrelated errors (the struct, `new` and the impl are still emitted).
use service_runtime::prelude::*;

#[service(grase = "1s", max_children = "ten")]
struct Node;

#[service]
impl Node {
    #[task]
    async fn a(&self) {}
    #[task]
    fn b(&self) {}
    #[daemon]
    async fn c(&self, cx: &Context) {
        cx.cancelled().await;
    }
    #[task]
    async fn d(&mut self) {}
    #[task]
    async fn e(&self) {}
    #[child]
    async fn f(&self) -> Node {
        Node::new()
    }
}

fn main() {
    let _ = Node::new();
}
