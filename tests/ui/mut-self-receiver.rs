use service_runtime::prelude::*;

#[service]
struct Node {
    count: u64,
}

#[service]
impl Node {
    #[task]
    async fn count(&mut self) {
        self.count += 1;
    }
}

fn main() {}
