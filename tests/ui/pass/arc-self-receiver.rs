// `self: Arc<Self>` receivers, with and without the context, by reference or by value.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use service_runtime::prelude::*;

#[service]
struct Node {
    runs: AtomicUsize,
}

#[service]
impl Node {
    #[task]
    async fn plain(self: Arc<Self>) {
        self.runs.fetch_add(1, Ordering::SeqCst);
    }

    #[task]
    async fn with_context(self: Arc<Self>, cx: &Context) {
        assert_eq!(cx.name(), "with_context");
        self.runs.fetch_add(1, Ordering::SeqCst);
    }

    #[task]
    async fn spawning(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let this = Arc::clone(&self);
        cx.run_task("inner", move |_cx| async move {
            this.runs.fetch_add(1, Ordering::SeqCst);
        })?;
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let handle = Node::new(AtomicUsize::new(0)).start();
    handle.wait_finished().await.unwrap();
    assert_eq!(handle.service().runs.load(Ordering::SeqCst), 3);
}
