use service_runtime::prelude::*;

#[service]
async fn greet(cx: &Context, name: &str) {
    let _ = (cx, name);
}

fn main() {}
