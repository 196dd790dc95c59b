use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task]
    fn announce(&self) {}
}

fn main() {}
