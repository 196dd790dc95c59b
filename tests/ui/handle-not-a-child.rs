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
    fn store(&self) -> Store {
        Store::new()
    }

    #[child]
    fn cache(&self) -> Store {
        Store::new()
    }

    #[task]
    async fn report(&self, stroe: &ServiceHandle<Store>) {
        let _ = stroe.stats();
    }
}

fn main() {}
