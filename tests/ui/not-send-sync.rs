use std::rc::Rc;

use service_runtime::prelude::*;

#[service]
struct Node {
    peers: Rc<Vec<String>>,
}

#[service]
impl Node {
    #[task]
    async fn announce(&self) {
        let _ = self.peers.len();
    }
}

fn main() {}
