//! The stop budget: a grace is inherited by child services that choose none and bounds the
//! whole subtree; a task still running when a non-zero grace runs out is a `GraceExceeded`
//! failure; `abort()` cuts every grace short.

use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{FnService, Log, LogOnDrop, guard, svc};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Told by each stubborn task that it runs.
type Running = mpsc::UnboundedSender<()>;

/// The body of a service made by [`stubborn`].
type BoxedBody = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// A service whose daemon `stubborn` ignores cancellation (it must be aborted) and notes when
/// it is dropped, with `child` (if any) started from the body.
fn stubborn<C, F>(
    name: &'static str,
    log: &Log,
    running: &Running,
    child: F,
) -> FnService<impl Fn(Context) -> BoxedBody + Send + Sync + 'static + use<C, F>>
where
    C: Service,
    F: Fn() -> Option<C> + Send + Sync + 'static,
{
    let (log, running) = (log.clone(), running.clone());
    svc(name, move |cx| {
        let (log, running) = (log.clone(), running.clone());
        let child = child();
        Box::pin(async move {
            if let Some(child) = child {
                cx.run_child_service(child)?;
            }
            let dropped = format!("{}/stubborn dropped", cx.path());
            cx.run_daemon_task("stubborn", move |_cx| async move {
                let _note = LogOnDrop::new(&log, dropped);
                let _ = running.send(());
                std::future::pending::<()>().await;
            })?;
            Ok(())
        }) as BoxedBody
    })
}

/// A service that is never made: the child of a service without one.
type NoChild = FnService<fn(Context) -> std::future::Ready<Result<(), BoxError>>>;

fn no_child() -> Option<NoChild> {
    None
}

/// A task that ignores its grace is aborted when the grace runs out, and that is a
/// `GraceExceeded` failure naming it and the grace; the stop's outcome says so.
#[tokio::test(start_paused = true)]
async fn a_task_outliving_its_grace_is_a_failure() {
    let (log, (running, mut up)) = (Log::new(), mpsc::unbounded_channel());
    let handle = stubborn("Node", &log, &running, no_child)
        .with_grace(Duration::from_secs(2))
        .start();
    guard(up.recv()).await.unwrap();
    let stopping = Instant::now();
    let error = guard(handle.stop()).await.unwrap_err();
    assert_eq!(stopping.elapsed(), Duration::from_secs(2));
    let [failure] = error.failures() else {
        panic!("one failure expected: {error}");
    };
    assert_eq!(failure.kind(), FailureKind::GraceExceeded);
    assert_eq!(
        failure.to_string(),
        "`Node/stubborn` did not stop within 2s and was aborted"
    );
    assert_eq!(log.entries(), ["Node/stubborn dropped"]);
}

/// Only the task that ignored cancellation fails; the ones that returned within the grace
/// do not.
#[tokio::test(start_paused = true)]
async fn only_the_task_that_ignored_cancellation_fails() {
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let handle = svc("Node", move |cx| {
        let started_tx = started_tx.clone();
        async move {
            for name in ["polite", "quick"] {
                let started_tx = started_tx.clone();
                cx.run_daemon_task(name, move |cx| async move {
                    let _ = started_tx.send(());
                    cx.cancelled().await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                })?;
            }
            cx.run_daemon_task("stubborn", move |_cx| async move {
                let _ = started_tx.send(());
                std::future::pending::<()>().await;
            })?;
            Ok(())
        }
    })
    .with_grace(Duration::from_secs(1))
    .start();
    for _ in 0..3 {
        guard(started.recv()).await.unwrap();
    }
    let error = guard(handle.stop()).await.unwrap_err();
    let paths: Vec<_> = error.failures().iter().map(TaskFailure::path).collect();
    assert_eq!(paths, ["Node/stubborn"]);
}

/// With a zero grace, aborting is the ordinary way to stop: no failure.
#[tokio::test(start_paused = true)]
async fn with_a_zero_grace_abort_is_no_failure() {
    let (log, (running, mut up)) = (Log::new(), mpsc::unbounded_channel());
    let handle = stubborn("Node", &log, &running, no_child).start();
    guard(up.recv()).await.unwrap();
    guard(handle.stop()).await.unwrap();
    assert_eq!(log.entries(), ["Node/stubborn dropped"]);
}

/// A child service that chooses no grace inherits its parent's, three levels deep: every
/// level's stubborn task is aborted at the top's deadline.
#[tokio::test(start_paused = true)]
async fn grace_is_inherited_three_levels_deep() {
    let log = Log::new();
    let (running, mut up) = mpsc::unbounded_channel();
    let (l, r) = (log.clone(), running.clone());
    let middle = move || {
        let (leaf_log, leaf_running) = (l.clone(), r.clone());
        let leaf = move || Some(stubborn("Leaf", &leaf_log, &leaf_running, no_child));
        Some(stubborn("Middle", &l, &r, leaf))
    };
    let handle = stubborn("Top", &log, &running, middle)
        .with_grace(Duration::from_secs(3))
        .start();
    for _ in 0..3 {
        guard(up.recv()).await.unwrap();
    }
    let stopping = Instant::now();
    let error = guard(handle.stop()).await.unwrap_err();
    assert_eq!(stopping.elapsed(), Duration::from_secs(3));
    let mut paths: Vec<_> = error.failures().iter().map(TaskFailure::path).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "Top/Middle/Leaf/stubborn",
            "Top/Middle/stubborn",
            "Top/stubborn"
        ]
    );
    assert!(
        error
            .failures()
            .iter()
            .all(|f| f.kind() == FailureKind::GraceExceeded)
    );
    let mut dropped = log.entries();
    dropped.sort_unstable();
    assert_eq!(
        dropped,
        [
            "Top/Middle/Leaf/stubborn dropped",
            "Top/Middle/stubborn dropped",
            "Top/stubborn dropped"
        ]
    );
}

/// A child asking for 10 s under a parent with 1 s is aborted at 1 s: the parent's grace is
/// the budget of its whole subtree.
#[tokio::test(start_paused = true)]
async fn a_childs_longer_grace_is_cut_to_its_parents() {
    let log = Log::new();
    let (running, mut up) = mpsc::unbounded_channel();
    let (l, r) = (log.clone(), running.clone());
    let child =
        move || Some(stubborn("Slow", &l, &r, no_child).with_grace(Duration::from_secs(10)));
    let handle = stubborn("Parent", &log, &running, child)
        .with_grace(Duration::from_secs(1))
        .start();
    for _ in 0..2 {
        guard(up.recv()).await.unwrap();
    }
    let stopping = Instant::now();
    let error = guard(handle.stop()).await.unwrap_err();
    assert_eq!(stopping.elapsed(), Duration::from_secs(1));
    let slow = error
        .failures()
        .iter()
        .find(|f| f.path() == "Parent/Slow/stubborn")
        .expect("the child's task is a failure");
    assert_eq!(
        slow.error().to_string(),
        "did not stop within 1s and was aborted"
    );
}

/// A child with a shorter grace than its parent's stops at its own deadline; the parent's
/// tasks keep theirs.
#[tokio::test(start_paused = true)]
async fn a_childs_shorter_grace_is_its_own() {
    let log = Log::new();
    let (running, mut up) = mpsc::unbounded_channel();
    let (l, r) = (log.clone(), running.clone());
    let child =
        move || Some(stubborn("Quick", &l, &r, no_child).with_grace(Duration::from_millis(300)));
    let handle = stubborn("Parent", &log, &running, child)
        .with_grace(Duration::from_secs(5))
        .start();
    for _ in 0..2 {
        guard(up.recv()).await.unwrap();
    }
    let stopping = Instant::now();
    handle.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(log.entries().is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(log.entries(), ["Parent/Quick/stubborn dropped"]);
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(stopping.elapsed(), Duration::from_secs(5));
    let messages: Vec<_> = error.failures().iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "`Parent/Quick/stubborn` did not stop within 300ms and was aborted",
            "`Parent/stubborn` did not stop within 5s and was aborted"
        ]
    );
}

/// `abort()` during a grace aborts every task still running at once, children first, and
/// reports them: the stop was forced.
#[tokio::test(start_paused = true)]
async fn abort_cuts_the_grace_short() {
    let log = Log::new();
    let (running, mut up) = mpsc::unbounded_channel();
    let (l, r) = (log.clone(), running.clone());
    let child = move || Some(stubborn("Child", &l, &r, no_child));
    let handle = stubborn("Node", &log, &running, child)
        .with_grace(Duration::from_secs(60))
        .start();
    for _ in 0..2 {
        guard(up.recv()).await.unwrap();
    }
    let started = Instant::now();
    handle.cancel();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(log.entries().is_empty(), "aborted before the grace ran out");
    handle.abort();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    let mut dropped = log.entries();
    dropped.sort_unstable();
    assert_eq!(
        dropped,
        ["Node/Child/stubborn dropped", "Node/stubborn dropped"]
    );
    assert!(
        error
            .failures()
            .iter()
            .all(|f| f.kind() == FailureKind::GraceExceeded)
    );
    assert_eq!(
        error.failures()[0].error().to_string(),
        "was still running when the stop was forced, and was aborted"
    );
    handle.abort();
    assert!(handle.is_finished());
}

/// `abort()` of a running service stops it at once, as a cancel with no grace would, but
/// reports the tasks a non-zero grace would have waited for.
#[tokio::test(start_paused = true)]
async fn abort_without_cancel_first() {
    let (log, (running, mut up)) = (Log::new(), mpsc::unbounded_channel());
    let handle = stubborn("Node", &log, &running, no_child)
        .with_grace(Duration::from_secs(30))
        .start();
    guard(up.recv()).await.unwrap();
    let started = Instant::now();
    handle.abort();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(handle.is_cancelled());
    assert_eq!(error.failures().len(), 1);
    assert_eq!(log.entries(), ["Node/stubborn dropped"]);
}
