use service_runtime::prelude::*;

#[service]
struct Store;

#[service]
impl Store {
    #[task]
    async fn flush(&self) {}
}

#[service]
struct Node;

#[service]
impl Node {
    #[child]
    async fn store(&self) -> Store {
        Store::new()
    }
}

fn main() {}
