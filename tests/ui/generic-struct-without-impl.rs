// A generic struct cannot be checked for its `#[service] impl` block where it is declared:
// the error is where it is used as a service.
use service_runtime::prelude::*;

#[service]
struct Node<C> {
    codec: C,
}

fn main() {
    // Method-call syntax (`.start()`) gets rustc's generic "method exists but its trait
    // bounds were not satisfied"; a function call shows the cause.
    let _ = ServiceExt::start(Node::new(5_u32));
}
