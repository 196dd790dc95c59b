use service_runtime::prelude::*;

#[service(name = self.id, grace = self.seconds, max_children = self.seconds, options = self.id)]
struct Node {
    id: u32,
    seconds: u64,
}

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
