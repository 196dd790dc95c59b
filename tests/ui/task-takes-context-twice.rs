use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task]
    async fn announce(&self, cx: &Context, again: Context) {
        let _ = (cx, again);
    }
}

fn main() {}
