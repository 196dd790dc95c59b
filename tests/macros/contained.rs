//! The key `contained` on `#[task]`, `#[daemon]` and `#[child]`, alone and with the restart
//! keys: the work is a failure boundary, whose failure ends it alone. The tests wait on
//! events (channels, `Notify`). A contained failure has no event of its own that a
//! `#[service]`'s user can see, so they wait for it to be counted, with `poll_until`; the
//! wait also ends if the service is cancelled, so that a failure that escalates fails the
//! test at once instead of leaving it waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use service_runtime::prelude::*;
use service_tests::{guard, poll_until, stays_pending};
use tokio::sync::{Notify, mpsc};

/// Waits until `manager` has counted `failures` contained failures, or was cancelled.
async fn counted(manager: &Manager, failures: usize) {
    poll_until(|| {
        manager.stats().tasks.contained_failure_count >= failures || manager.is_cancelled()
    })
    .await;
}

/// Checks that `manager` runs on, untouched by the failures of its contained work.
fn runs_on(manager: &Manager, contained_failures: usize) {
    assert!(manager.is_running());
    assert!(!manager.is_cancelled(), "{:?}", manager.cancel_cause());
    assert!(!manager.did_error());
    assert_eq!(
        manager.stats().tasks.contained_failure_count,
        contained_failures
    );
}

#[service]
struct Host {
    failing: mpsc::UnboundedSender<()>,
}

#[service]
impl Host {
    #[task(contained)]
    async fn handshake(&self) -> Result<(), &'static str> {
        self.failing.send(()).unwrap();
        Err("bad handshake")
    }

    #[daemon]
    async fn listen(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

/// A `#[task(contained)]` that fails ends alone: its service runs on, is not cancelled and
/// did not error, counts one contained failure, and stops cleanly.
#[tokio::test]
async fn a_failing_contained_task_ends_alone() {
    let (tx, mut failing) = mpsc::unbounded_channel();
    let handle = Host::new(tx).start();
    guard(failing.recv()).await.unwrap();
    counted(&handle, 1).await;
    runs_on(&handle, 1);
    let tasks = handle.stats().tasks;
    assert_eq!((tasks.total_count, tasks.finished_count), (2, 1));
    guard(handle.stop()).await.unwrap();
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Requested));
}

#[service]
struct Pinger {
    returned: mpsc::UnboundedSender<()>,
}

#[service]
impl Pinger {
    #[daemon(contained)]
    async fn ping(&self) {
        self.returned.send(()).unwrap();
    }

    #[daemon]
    async fn listen(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

/// A `#[daemon(contained)]` that returns while its service runs ends alone: its exit is a
/// contained failure, not a failure of the service, which runs on.
#[tokio::test]
async fn a_contained_daemon_that_returns_ends_alone() {
    let (tx, mut returned) = mpsc::unbounded_channel();
    let handle = Pinger::new(tx).start();
    guard(returned.recv()).await.unwrap();
    counted(&handle, 1).await;
    runs_on(&handle, 1);
    guard(handle.stop()).await.unwrap();
}

/// A child service whose task fails at once.
#[service]
struct Session;

#[service]
impl Session {
    #[task]
    async fn negotiate(&self) -> Result<(), &'static str> {
        Err("handshake failed")
    }
}

/// A child service that finishes at once, cleanly.
#[service]
struct Feed;

#[service]
impl Feed {
    #[task]
    async fn once(&self) {}
}

#[service]
struct Gateway {
    built: mpsc::UnboundedSender<&'static str>,
}

#[service]
impl Gateway {
    #[child(contained)]
    fn session(&self) -> Session {
        self.built.send("session").unwrap();
        Session::new()
    }

    #[child(daemon, contained)]
    fn feed(&self) -> Feed {
        self.built.send("feed").unwrap();
        Feed::new()
    }

    #[daemon]
    async fn listen(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

/// A `#[child(contained)]` whose task fails, and a `#[child(daemon, contained)]` that
/// finishes, end alone: the parent runs on, did not error, counts two contained failures,
/// and stops cleanly.
#[tokio::test]
async fn failing_contained_children_end_alone() {
    let (tx, mut built) = mpsc::unbounded_channel();
    let handle = Gateway::new(tx).start();
    assert_eq!(guard(built.recv()).await, Some("session"));
    assert_eq!(guard(built.recv()).await, Some("feed"));
    counted(&handle, 2).await;
    runs_on(&handle, 2);
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
struct Tolerant {
    started: mpsc::UnboundedSender<()>,
}

#[service]
impl Tolerant {
    #[child(contained)]
    fn broken(&self) -> Broken {
        Broken::new()
    }

    #[task]
    async fn after(&self, cx: &Context) {
        self.started.send(()).unwrap();
        cx.cancelled().await;
    }
}

/// A `#[child(contained)]` that fails before it is ready does not hold back the work
/// declared after it: that work starts, the parent becomes ready and runs on, and the
/// child's failure is counted as contained, not reported as the parent's.
#[tokio::test(start_paused = true)]
async fn a_contained_child_failing_before_it_is_ready_does_not_stop_the_start_up() {
    let (tx, mut started) = mpsc::unbounded_channel();
    let handle = Tolerant::new(tx).start();
    guard(started.recv()).await.unwrap();
    guard(handle.wait_ready()).await.unwrap();
    assert!(!handle.is_cancelled() && !handle.did_error());
    guard(handle.stop()).await.unwrap();
    let tasks = handle.stats().tasks;
    assert_eq!(tasks.contained_failure_count, 1);
    assert_eq!(tasks.total_count, 2);
}

/// Ready when `go` is notified.
#[service(manual_ready)]
struct SlowStart {
    go: Arc<Notify>,
    waiting: mpsc::UnboundedSender<()>,
}

#[service]
impl SlowStart {
    #[daemon]
    async fn warm_up(&self, cx: &Context) {
        self.waiting.send(()).unwrap();
        self.go.notified().await;
        cx.ready();
        cx.cancelled().await;
    }
}

#[service]
struct Gated {
    go: Arc<Notify>,
    waiting: mpsc::UnboundedSender<()>,
    started: mpsc::UnboundedSender<()>,
}

#[service]
impl Gated {
    #[child(contained)]
    fn slow(&self) -> SlowStart {
        SlowStart::new(Arc::clone(&self.go), self.waiting.clone())
    }

    #[task]
    async fn after(&self) {
        self.started.send(()).unwrap();
    }
}

/// A `#[child(contained)]` gates the work declared after it until it is ready, as any
/// `#[child]` without a restart policy does.
#[tokio::test(start_paused = true)]
async fn a_contained_child_gates_the_work_declared_after_it_until_it_is_ready() {
    let (waiting_tx, mut waiting) = mpsc::unbounded_channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let go = Arc::new(Notify::new());
    let handle = Gated::new(Arc::clone(&go), waiting_tx, started_tx).start();
    guard(waiting.recv()).await.unwrap();
    assert!(stays_pending(started.recv()).await);
    assert!(!handle.is_ready());
    go.notify_one();
    guard(started.recv()).await.unwrap();
    guard(handle.wait_ready()).await.unwrap();
    guard(handle.stop()).await.unwrap();
}

#[service]
struct Dialer {
    attempts: mpsc::UnboundedSender<usize>,
    count: AtomicUsize,
}

#[service]
impl Dialer {
    /// Fails every time.
    #[task(contained, restart = "on-failure", max_restarts = 2, within = "60s")]
    async fn dial(&self) -> Result<(), String> {
        let attempt = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        self.attempts.send(attempt).unwrap();
        Err(format!("attempt {attempt} refused"))
    }

    #[daemon]
    async fn listen(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

/// `contained` combines with the restart keys: a contained task restarted on failure at
/// most twice runs three times, and when its policy gives up it ends alone, one contained
/// failure; the service runs on.
#[tokio::test(start_paused = true)]
async fn a_restarting_contained_task_that_gives_up_ends_alone() {
    let (tx, mut attempts) = mpsc::unbounded_channel();
    let handle = Dialer::new(tx, AtomicUsize::new(0)).start();
    for expected in 1..=3 {
        assert_eq!(guard(attempts.recv()).await, Some(expected));
    }
    counted(&handle, 1).await;
    runs_on(&handle, 1);
    guard(handle.stop()).await.unwrap();
    assert_eq!(handle.service().count.load(Ordering::SeqCst), 3);
}

#[service]
struct Beacon {
    runs: mpsc::UnboundedSender<()>,
}

#[service]
impl Beacon {
    /// Returns at once, each time.
    #[daemon(contained, restart = "on-failure", max_restarts = 1, within = "60s")]
    async fn beacon(&self) {
        self.runs.send(()).unwrap();
    }

    #[daemon]
    async fn listen(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

/// A `#[daemon(contained, restart = "on-failure")]` that returns is restarted, and when its
/// policy gives up, its exit ends it alone: the service runs on.
#[tokio::test(start_paused = true)]
async fn a_restarting_contained_daemon_that_gives_up_ends_alone() {
    let (tx, mut runs) = mpsc::unbounded_channel();
    let handle = Beacon::new(tx).start();
    for _ in 0..2 {
        guard(runs.recv()).await.unwrap();
    }
    counted(&handle, 1).await;
    runs_on(&handle, 1);
    guard(handle.stop()).await.unwrap();
    assert!(runs.try_recv().is_err());
}

#[service]
struct Link {
    built: mpsc::UnboundedSender<usize>,
    count: AtomicUsize,
    started: mpsc::UnboundedSender<()>,
}

#[service]
impl Link {
    /// Each instance fails at once.
    #[child(contained, restart = "on-failure", max_restarts = 1, within = "60s")]
    fn session(&self) -> Session {
        let built = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        self.built.send(built).unwrap();
        Session::new()
    }

    #[task]
    async fn after(&self, cx: &Context) {
        self.started.send(()).unwrap();
        cx.cancelled().await;
    }
}

/// A `#[child(contained, restart = "on-failure")]` is rebuilt for each restart, and when
/// its policy gives up it ends alone; like any restarting child, it holds back nothing.
#[tokio::test(start_paused = true)]
async fn a_restarting_contained_child_that_gives_up_ends_alone() {
    let (built_tx, mut built) = mpsc::unbounded_channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let handle = Link::new(built_tx, AtomicUsize::new(0), started_tx).start();
    guard(started.recv()).await.unwrap();
    for expected in 1..=2 {
        assert_eq!(guard(built.recv()).await, Some(expected));
    }
    counted(&handle, 1).await;
    runs_on(&handle, 1);
    guard(handle.stop()).await.unwrap();
    assert_eq!(handle.service().count.load(Ordering::SeqCst), 2);
}
