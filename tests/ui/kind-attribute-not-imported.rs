// `#[task]` is consumed by `#[service]`, but its name must still resolve, as any attribute's.
use service_runtime::service;

#[service]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
