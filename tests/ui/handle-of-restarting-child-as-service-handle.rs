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
    #[child(restart = "on-failure")]
    fn store(&self) -> Store {
        Store::new()
    }

    #[task]
    async fn report(&self, store: &ServiceHandle<Store>) {
        let _ = store.stats();
    }
}

fn main() {}
