// Unannotated methods named like `ServiceExt`'s methods (`run`, `start`) or the generated
// code's helpers (`start`, `serve`, `name`) do not confuse the expansion.
use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    fn run(&self) -> u32 {
        1
    }

    fn start(&self) -> u32 {
        2
    }

    fn serve(&self) -> u32 {
        3
    }

    #[task]
    async fn name(&self) {
        assert_eq!(self.run() + self.start() + self.serve(), 6);
    }

    #[task]
    async fn clone(&self) {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // A path picks the inherent `run`; method-call syntax on a value picks `ServiceExt::run`,
    // which takes `self` by value, as it would for a service written by hand.
    assert_eq!(Node::run(&Node::new()), 1);
    Node::new().run().await.unwrap();
}
