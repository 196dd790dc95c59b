use service_runtime::prelude::*;

#[service]
enum Node {
    Leader,
    Follower,
}

fn main() {
    let _ = (Node::Leader, Node::Follower);
}
