//! Readiness (SPEC §7.3): `#[service(manual_ready)]`, and a `#[child]` gating the work
//! declared after it until it is ready. The tests wait on events (channels, `Notify`);
//! `stays_pending` checks that something has not happened once everything else is idle.

use std::sync::Arc;

use service_runtime::prelude::*;
use service_tests::{Log, guard, stays_pending};
use tokio::sync::{Notify, mpsc};

/// Ready when its task says so, after `go` is notified.
#[service(manual_ready)]
struct SlowStart {
    go: Arc<Notify>,
    log: Log,
    waiting: mpsc::UnboundedSender<()>,
}

#[service]
impl SlowStart {
    #[daemon]
    async fn warm_up(&self, cx: &Context) {
        self.log.push("child waiting");
        self.waiting.send(()).unwrap();
        self.go.notified().await;
        self.log.push("child ready");
        cx.ready();
        cx.cancelled().await;
    }
}

/// `manual_ready` sets `Options::manual_ready`: the service is ready when a task calls
/// `cx.ready()`, not when its body returns.
#[tokio::test(start_paused = true)]
async fn manual_ready_waits_for_the_service_to_say_so() {
    let (tx, mut waiting) = mpsc::unbounded_channel();
    let service = SlowStart::new(Arc::new(Notify::new()), Log::new(), tx);
    assert!(service.options().manual_ready);
    let handle = service.start();
    guard(waiting.recv()).await.unwrap();
    // The body has returned (its daemon runs); the service is not ready before `ready()`.
    assert!(stays_pending(handle.wait_ready()).await);
    assert!(!handle.is_ready());
    handle.service().go.notify_one();
    guard(handle.wait_ready()).await.unwrap();
    assert!(handle.is_ready());
    guard(handle.stop()).await.unwrap();
}

/// Ready when its task says so.
#[service(manual_ready)]
async fn listener(cx: &Context, go: Arc<Notify>) {
    go.notified().await;
    cx.ready();
    cx.cancelled().await;
}

/// `manual_ready` works on a service function too.
#[tokio::test(start_paused = true)]
async fn manual_ready_applies_to_service_functions() {
    let go = Arc::new(Notify::new());
    let service = Listener::new(Arc::clone(&go));
    assert!(service.options().manual_ready);
    let handle = service.start();
    assert!(stays_pending(handle.wait_ready()).await);
    go.notify_one();
    guard(handle.wait_ready()).await.unwrap();
    guard(handle.stop()).await.unwrap();
}

#[service]
struct Gated {
    go: Arc<Notify>,
    log: Log,
    waiting: mpsc::UnboundedSender<()>,
    started: mpsc::UnboundedSender<()>,
}

#[service]
impl Gated {
    #[child]
    fn slow(&self) -> SlowStart {
        SlowStart::new(Arc::clone(&self.go), self.log.clone(), self.waiting.clone())
    }

    #[task]
    async fn after(&self) {
        self.log.push("task started");
        self.started.send(()).unwrap();
    }
}

/// The work declared after a `#[child]` starts only once the child is ready, and the
/// parent is ready only once its children are.
#[tokio::test(start_paused = true)]
async fn a_child_gates_the_work_declared_after_it_until_it_is_ready() {
    let (waiting_tx, mut waiting) = mpsc::unbounded_channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let log = Log::new();
    let go = Arc::new(Notify::new());
    let handle = Gated::new(Arc::clone(&go), log.clone(), waiting_tx, started_tx).start();
    guard(waiting.recv()).await.unwrap();
    assert!(stays_pending(started.recv()).await);
    assert!(!handle.is_ready());
    go.notify_one();
    guard(started.recv()).await.unwrap();
    guard(handle.wait_ready()).await.unwrap();
    assert_eq!(
        log.entries(),
        ["child waiting", "child ready", "task started"]
    );
    guard(handle.stop()).await.unwrap();
}

/// Fails before it is ready.
#[service(manual_ready)]
struct Broken;

#[service]
impl Broken {
    #[task]
    async fn mount(&self) -> Result<(), &'static str> {
        Err("no disk")
    }
}

#[service]
struct Dependent {
    started: mpsc::UnboundedSender<()>,
}

#[service]
impl Dependent {
    #[child]
    fn broken(&self) -> Broken {
        Broken::new()
    }

    #[task]
    async fn after(&self) {
        self.started.send(()).unwrap();
    }
}

/// A child that fails before it is ready stops the start-up: the work declared after it
/// never starts, and its failure is reported once.
#[tokio::test(start_paused = true)]
async fn a_child_failing_before_it_is_ready_stops_the_start_up() {
    let (tx, mut started) = mpsc::unbounded_channel();
    let handle = Dependent::new(tx).start();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(error.failures().len(), 1, "{error}");
    assert_eq!(error.failures()[0].path(), "Dependent/Broken/mount");
    assert!(started.try_recv().is_err());
    assert_eq!(handle.stats().tasks.total_count, 1);
    assert!(!handle.is_ready());
}

/// Finishes without failing and without ever saying it is ready.
#[service(manual_ready)]
struct Silent;

#[service]
impl Silent {
    #[task]
    async fn work(&self) {}
}

#[service]
struct Patient {
    started: mpsc::UnboundedSender<()>,
}

#[service]
impl Patient {
    #[child]
    fn silent(&self) -> Silent {
        Silent::new()
    }

    #[task]
    async fn after(&self) {
        self.started.send(()).unwrap();
    }
}

/// A child that finishes cleanly without becoming ready holds nothing back: there is
/// nothing left to wait for.
#[tokio::test(start_paused = true)]
async fn a_child_finishing_cleanly_before_it_is_ready_holds_nothing_back() {
    let (tx, mut started) = mpsc::unbounded_channel();
    let handle = Patient::new(tx).start();
    guard(started.recv()).await.unwrap();
    guard(handle.wait_finished()).await.unwrap();
}
