use service_runtime::prelude::*;

#[service(manual_ready = true)]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self, cx: &Context) {
        cx.ready();
    }
}

fn main() {}
