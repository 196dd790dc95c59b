// A task that takes its `Context` by value and moves it into work of its own.
use service_runtime::prelude::*;

#[service]
struct Node;

#[service]
impl Node {
    #[task]
    async fn owner(&self, cx: Context) -> Result<(), LifecycleError> {
        let path = cx.path().to_owned();
        cx.run_task("child", move |child_cx| async move {
            assert_eq!(child_cx.path(), format!("{path}/child"));
        })
    }

    #[daemon]
    async fn waiter(&self, cx: Context) {
        let moved = cx;
        moved.cancelled().await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let handle = Node::new().start();
    handle.wait_started().await;
    handle.stop().await.unwrap();
}
