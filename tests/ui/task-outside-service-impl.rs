use service_runtime::prelude::*;

struct Node;

impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
