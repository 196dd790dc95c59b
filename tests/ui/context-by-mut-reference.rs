use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self, cx: &mut Context) {
        let _ = cx;
    }
}

fn main() {}
