// A generic service used with a type argument its impl block does not accept: the error
// names the unmet bound.
use service_runtime::prelude::*;

trait Codec: Send + Sync + 'static {}

#[service]
struct Node<C> {
    codec: C,
}

#[service]
impl<C: Codec> Node<C> {
    #[task]
    async fn announce(&self) {
        let _ = &self.codec;
    }
}

fn main() {
    // Method-call syntax (`.start()`) gets rustc's generic "method exists but its trait
    // bounds were not satisfied"; a function call shows the cause.
    let _ = ServiceExt::start(Node::new(5_u32));
}
