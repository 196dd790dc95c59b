use service_runtime::prelude::*;

struct Store;

#[service]
struct Node;

#[service]
impl Node {
    #[child(restart = "on-failure")]
    fn store(&self) -> Store {
        Store
    }
}

fn main() {}
