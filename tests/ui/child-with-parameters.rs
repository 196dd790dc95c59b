use service_runtime::prelude::*;

#[service]
struct Store {
    path: String,
}

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
    fn store(&self, path: String) -> Store {
        Store::new(path)
    }
}

fn main() {}
