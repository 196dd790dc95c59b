use service_runtime::prelude::*;

struct Store;

#[service]
struct Node;

#[service]
impl Node {
    #[child]
    fn store(&self) -> Store {
        Store
    }
}

fn main() {}
