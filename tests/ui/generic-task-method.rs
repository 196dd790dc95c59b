use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce<T: Default>(&self) {
        let _ = T::default();
    }
}

fn main() {}
