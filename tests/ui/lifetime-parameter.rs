use service_runtime::prelude::*;

#[service]
struct Node<'a> {
    name: &'a str,
}

#[service]
impl<'a> Node<'a> {
    #[task]
    async fn announce(&self) {
        let _ = self.name;
    }
}

fn main() {}
