use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
struct Store;

#[service]
impl Store {
    #[task]
    async fn flush(&self) {}
}

#[service]
impl Node {
    #[child(restart = "never", backoff = "1s..10s")]
    fn store(&self) -> Store {
        Store::new()
    }
}

fn main() {}
