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
    fn store(&self, store: &ServiceHandle<Store>, cx: &Context) -> Store {
        let _ = (store, cx);
        Store::new()
    }
}

fn main() {}
