use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[child]
    fn store(&self) {}
}

fn main() {}
