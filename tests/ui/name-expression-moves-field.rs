use service_runtime::prelude::*;

#[service(name = self.label)]
struct Node {
    label: String,
}

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
