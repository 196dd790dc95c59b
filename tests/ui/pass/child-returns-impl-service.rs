// `#[child]` methods returning `impl Service`, which captures `&self` (edition 2024): fine
// without a restart policy, as the child is built once, while the service is borrowed.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use service_runtime::prelude::*;

#[service]
struct Node {
    built: Arc<AtomicUsize>,
}

#[service]
impl Node {
    #[child]
    fn store(&self) -> impl Service {
        Leaf::new(Arc::clone(&self.built))
    }

    #[child(daemon)]
    fn metrics(&self) -> impl Service {
        Idle::new(Arc::clone(&self.built))
    }
}

#[service]
struct Leaf {
    built: Arc<AtomicUsize>,
}

#[service]
impl Leaf {
    #[task]
    async fn count(&self) {
        self.built.fetch_add(1, Ordering::SeqCst);
    }
}

#[service]
struct Idle {
    built: Arc<AtomicUsize>,
}

#[service]
impl Idle {
    #[daemon]
    async fn wait(&self, cx: &Context) {
        self.built.fetch_add(1, Ordering::SeqCst);
        cx.cancelled().await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let built = Arc::new(AtomicUsize::new(0));
    let handle = Node::new(Arc::clone(&built)).start();
    handle.wait_ready().await.unwrap();
    handle.stop().await.unwrap();
    assert_eq!(built.load(Ordering::SeqCst), 2);
}
