use service_runtime::prelude::*;

#[service]
struct Store;

#[service]
impl Store {
    #[task]
    async fn flush(&self) {}
}

#[service]
struct Cache;

#[service]
impl Cache {
    #[task]
    async fn evict(&self) {}
}

#[service]
struct Node;

#[service]
impl Node {
    #[child]
    fn store(&self) -> Store {
        Store::new()
    }

    #[task]
    async fn report(&self, store: &ServiceHandle<Cache>) {
        let _ = store.stats();
    }
}

fn main() {}
