//! The handles of `#[child]` children: a method declared after a child takes its handle as
//! a parameter named after the child's method (`store: &ServiceHandle<Store>`), a
//! `RestartingHandle` for a restarting child.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use service_runtime::RestartingHandle;
use service_runtime::prelude::*;
use service_tests::{guard, stays_pending};
use tokio::sync::{Notify, mpsc};

/// A child with state that its parent's tasks read through `call`.
#[service]
struct Store {
    writes: AtomicUsize,
}

#[service]
impl Store {
    #[daemon]
    async fn flush(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

/// A child built from the handle of the child declared before it.
#[service]
struct Api {
    store: ServiceHandle<Store>,
    out: mpsc::UnboundedSender<String>,
}

#[service]
impl Api {
    #[task]
    async fn write(&self) -> Result<(), LifecycleError> {
        let writes = self
            .store
            .call(|store| async move { store.writes.fetch_add(1, Ordering::SeqCst) + 1 })
            .await?;
        self.out
            .send(format!("api wrote, {writes} writes"))
            .unwrap();
        Ok(())
    }
}

#[service]
struct Node {
    out: mpsc::UnboundedSender<String>,
}

#[service]
impl Node {
    #[child]
    fn store(&self) -> Store {
        Store::new(AtomicUsize::new(0))
    }

    /// By value: the factory gets a clone of the handle.
    #[child]
    fn api(&self, store: ServiceHandle<Store>) -> Api {
        Api::new(store, self.out.clone())
    }

    /// By reference, next to the context, and to two children.
    #[task]
    async fn report(
        &self,
        api: &ServiceHandle<Api>,
        cx: &Context,
        store: &ServiceHandle<Store>,
    ) -> Result<(), ServiceError> {
        api.wait_finished().await?;
        let writes = store
            .call(|store| async move { store.writes.load(Ordering::SeqCst) })
            .await?;
        self.out
            .send(format!(
                "{} sees {} ({} tasks) with {writes} writes",
                cx.path(),
                store.path(),
                store.stats().tasks.total_count,
            ))
            .unwrap();
        Ok(())
    }
}

/// A task reaches a child's handle: its path, stats, `call` and `wait_finished`; a child's
/// factory gets the handle of a child declared before it.
#[tokio::test]
async fn methods_take_the_handles_of_children_declared_above() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = Node::new(tx).start();
    assert_eq!(guard(rx.recv()).await.unwrap(), "api wrote, 1 writes");
    assert_eq!(
        guard(rx.recv()).await.unwrap(),
        "Node/report sees Node/Store (1 tasks) with 1 writes"
    );
    guard(handle.stop()).await.unwrap();
}

/// A child that fails at once, contained.
#[service]
struct Session;

#[service]
impl Session {
    #[task]
    async fn negotiate(&self) -> Result<(), &'static str> {
        Err("handshake failed")
    }
}

#[service]
struct Gateway {
    out: mpsc::UnboundedSender<String>,
}

#[service]
impl Gateway {
    #[child(contained)]
    fn session(&self) -> Session {
        Session::new()
    }

    #[daemon]
    async fn watch(&self, cx: &Context, session: &ServiceHandle<Session>) {
        let error = session.wait_finished().await.unwrap_err();
        self.out
            .send(error.failures()[0].path().to_owned())
            .unwrap();
        cx.cancelled().await;
    }
}

/// A contained child's failure is its own, and its handle has it.
#[tokio::test]
async fn a_contained_childs_handle_has_its_failure() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = Gateway::new(tx).start();
    assert_eq!(guard(rx.recv()).await.unwrap(), "Gateway/Session/negotiate");
    assert!(!handle.did_error());
    guard(handle.stop()).await.unwrap();
}

/// A child that fails the first time it runs, and runs on the second.
#[service]
struct Cache {
    runs: Arc<AtomicUsize>,
    running: Arc<Notify>,
}

#[service]
impl Cache {
    #[daemon]
    async fn serve_reads(&self, cx: &Context) -> Result<(), &'static str> {
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err("corrupt");
        }
        self.running.notify_one();
        cx.cancelled().await;
        Ok(())
    }
}

#[service]
struct Reader {
    runs: Arc<AtomicUsize>,
    running: Arc<Notify>,
    out: mpsc::UnboundedSender<(usize, String)>,
}

#[service]
impl Reader {
    #[child(restart = "on-failure")]
    fn cache(&self) -> Cache {
        Cache::new(Arc::clone(&self.runs), Arc::clone(&self.running))
    }

    #[daemon]
    async fn watch(&self, cx: &Context, cache: &RestartingHandle<Cache>) {
        self.running.notified().await;
        let instance = cache.wait_instance().await.unwrap();
        self.out
            .send((cache.restarts(), instance.path().to_owned()))
            .unwrap();
        cx.cancelled().await;
    }
}

/// A restarting child's handle follows its current instance: after the first instance
/// failed, it is the second.
#[tokio::test]
async fn a_restarting_childs_handle_follows_its_instance() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = Reader::new(Arc::clone(&runs), Arc::new(Notify::new()), tx).start();
    assert_eq!(
        guard(rx.recv()).await.unwrap(),
        (1, "Reader/Cache".to_owned())
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    guard(handle.stop()).await.unwrap();
}

/// A child that is ready only once it is told to be.
#[service(manual_ready)]
struct Slow {
    go: Arc<Notify>,
}

#[service]
impl Slow {
    #[task]
    async fn warm_up(&self, cx: &Context) {
        self.go.notified().await;
        cx.ready();
        cx.cancelled().await;
    }
}

#[service]
struct Waiter {
    go: Arc<Notify>,
    out: mpsc::UnboundedSender<bool>,
}

#[service]
impl Waiter {
    #[child]
    fn slow(&self) -> Slow {
        Slow::new(Arc::clone(&self.go))
    }

    #[task]
    async fn check(&self, slow: &ServiceHandle<Slow>) {
        self.out.send(slow.is_ready()).unwrap();
    }
}

/// A method that takes a child's handle starts once the child is ready, as all work
/// declared after a child does.
#[tokio::test]
async fn a_handle_is_taken_once_its_child_is_ready() {
    let go = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = Waiter::new(Arc::clone(&go), tx).start();
    assert!(stays_pending(rx.recv()).await);
    go.notify_one();
    assert!(guard(rx.recv()).await.unwrap());
    guard(handle.stop()).await.unwrap();
}
