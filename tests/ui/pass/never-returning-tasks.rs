// Tasks and service functions that never return: their output type is `!`.
use std::time::Duration;

use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[daemon]
    async fn tick(&self) -> ! {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    #[task(restart = "on-failure")]
    async fn watch(&self, cx: &Context) -> ! {
        cx.cancelled().await;
        std::future::pending().await
    }
}

#[service(manual_ready)]
async fn forever(cx: &Context) -> ! {
    cx.ready();
    cx.cancelled().await;
    loop {
        tokio::task::yield_now().await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for manager in [
        Node::new().start().manager().clone(),
        Forever::new().start().manager().clone(),
    ] {
        manager.wait_ready().await.unwrap();
        manager.stop().await.unwrap();
    }
}
