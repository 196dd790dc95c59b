// The restart keys on every kind of work and receiver, with `cfg`, in a generic service,
// and `manual_ready`.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use service_runtime::prelude::*;

#[service]
struct Store;

#[service]
impl Store {
    #[task]
    async fn flush(&self) {}
}

#[service(manual_ready)]
struct Node<T: Clone + Send + Sync + 'static> {
    value: T,
    runs: AtomicUsize,
}

#[service]
impl<T: Clone + Send + Sync + 'static> Node<T> {
    #[task(restart = "on-failure", max_restarts = 5, within = "60s", backoff = "100ms..10s")]
    async fn by_ref(&self, cx: &Context) -> Result<(), std::io::Error> {
        let _ = self.value.clone();
        cx.ready();
        Ok(())
    }

    // Runs until the service stops: restarted more than twice, it would fail the service.
    #[task(restart = "always", max_restarts = 2)]
    async fn by_arc(self: Arc<Self>, cx: Context) {
        self.runs.fetch_add(1, Ordering::SeqCst);
        cx.cancelled().await;
    }

    #[daemon(restart = "on-failure")]
    async fn daemon(&self, cx: &Context) -> anyhow::Result<()> {
        cx.cancelled().await;
        Ok(())
    }

    #[daemon(restart = "never")]
    async fn plain(&self, cx: &Context) {
        cx.cancelled().await;
    }

    #[cfg(any())]
    #[task(restart = "always")]
    async fn compiled_out(&self) {}

    #[child(restart = "on-failure", within = "1m")]
    fn store(&self) -> Store {
        Store::new()
    }

    #[child(daemon, restart = "always", backoff = "1s..1s")]
    fn stores(&self) -> impl Service + use<T> {
        Store::new()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = Node::new(1u8, AtomicUsize::new(0));
    assert!(node.options().manual_ready);
    let handle = node.start();
    handle.wait_ready().await.unwrap();
    handle.stop().await.unwrap();
}
