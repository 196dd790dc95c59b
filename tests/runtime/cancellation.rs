//! Ordered cancellation: every task is asked to stop at once, gets the grace period, and is
//! aborted only after all its children are done.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Log, LogOnDrop, grace_exceeded, guard, svc};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A task tree of 14 nodes, uneven in width and depth: node → its children.
const DAG: &[(usize, &[usize])] = &[
    (0, &[1, 2, 3]),
    (2, &[4, 5]),
    (4, &[6, 7, 8, 9, 10]),
    (8, &[11]),
    (11, &[12]),
    (12, &[13]),
];
const NODES: usize = 14;

fn children_of(node: usize) -> &'static [usize] {
    DAG.iter().find(|(n, _)| *n == node).map_or(&[], |(_, c)| c)
}

struct Resources {
    active: Vec<AtomicBool>,
    violations: AtomicUsize,
    cleaned: AtomicUsize,
    started: AtomicUsize,
}

/// Held by task N: on drop (the task's abort), every child of N must be gone already.
struct Resource {
    node: usize,
    all: Arc<Resources>,
}

impl Drop for Resource {
    fn drop(&mut self) {
        for &child in children_of(self.node) {
            if self.all.active[child].load(Ordering::SeqCst) {
                self.all.violations.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.all.active[self.node].store(false, Ordering::SeqCst);
        self.all.cleaned.fetch_add(1, Ordering::SeqCst);
    }
}

fn start_node(cx: &Context, node: usize, all: Arc<Resources>, up: mpsc::UnboundedSender<()>) {
    let name = format!("node-{node}");
    cx.run_task(name, move |cx| async move {
        all.active[node].store(true, Ordering::SeqCst);
        let _resource = Resource {
            node,
            all: Arc::clone(&all),
        };
        for &child in children_of(node) {
            start_node(&cx, child, Arc::clone(&all), up.clone());
        }
        all.started.fetch_add(1, Ordering::SeqCst);
        up.send(()).unwrap();
        std::future::pending::<()>().await;
    })
    .unwrap();
}

/// On cancellation every task's cleanup runs after all its descendants' (checked on the
/// 14-node [`DAG`]), on a multi-threaded runtime, many times over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dag_cancellation_order() {
    for _round in 0..50 {
        let all = Arc::new(Resources {
            active: (0..NODES).map(|_| AtomicBool::new(false)).collect(),
            violations: AtomicUsize::new(0),
            cleaned: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
        });
        let (up_tx, mut up_rx) = mpsc::unbounded_channel();
        let all2 = Arc::clone(&all);
        let handle = svc("Dag", move |cx| {
            start_node(&cx, 0, Arc::clone(&all2), up_tx.clone());
            std::future::pending()
        })
        .start();
        for _ in 0..NODES {
            guard(up_rx.recv()).await.unwrap();
        }
        guard(handle.stop()).await.unwrap();
        assert_eq!(all.started.load(Ordering::SeqCst), NODES);
        assert_eq!(all.cleaned.load(Ordering::SeqCst), NODES);
        assert_eq!(all.violations.load(Ordering::SeqCst), 0);
        assert!(all.active.iter().all(|a| !a.load(Ordering::SeqCst)));
    }
}

/// The body's cleanup runs after all its tasks are gone, before the service counts as
/// finished.
#[tokio::test]
async fn body_cleanup_runs_after_its_tasks() {
    let log = Log::new();
    let log2 = log.clone();
    let (up_tx, mut up_rx) = mpsc::unbounded_channel();
    let handle = svc("Svc", move |cx| {
        let (log, up_tx) = (log2.clone(), up_tx.clone());
        async move {
            let _cleanup = LogOnDrop::new(&log, "body");
            for name in ["a", "b"] {
                let (log, up_tx) = (log.clone(), up_tx.clone());
                cx.run_task(name, move |cx| async move {
                    let _cleanup = LogOnDrop::new(&log, name);
                    cx.run_task("leaf", move |_cx| async move {
                        let _cleanup = LogOnDrop::new(&log, "leaf");
                        up_tx.send(()).unwrap();
                        std::future::pending::<()>().await
                    })?;
                    std::future::pending::<Result<(), LifecycleError>>().await
                })?;
            }
            std::future::pending().await
        }
    })
    .start();
    guard(up_rx.recv()).await.unwrap();
    guard(up_rx.recv()).await.unwrap();
    guard(handle.stop()).await.unwrap();
    let entries = log.entries();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries.last().map(String::as_str), Some("body"));
    for task in ["a", "b"] {
        let task_at = log.position(task);
        assert!(
            entries[..task_at].iter().any(|e| e == "leaf"),
            "{entries:?}"
        );
    }
}

/// A task that returns by itself within the grace period is not aborted; one that ignores
/// cancellation is aborted when the grace runs out (its `Drop` runs), and it and the body
/// still waiting are `GraceExceeded` failures of the stop.
#[tokio::test(start_paused = true)]
async fn grace_period_then_abort() {
    let log = Log::new();
    let log2 = log.clone();
    let (up_tx, mut up_rx) = mpsc::unbounded_channel();
    let handle = svc("Svc", move |cx| {
        let (log, up_tx) = (log2.clone(), up_tx.clone());
        async move {
            let polite_log = log.clone();
            let up = up_tx.clone();
            cx.run_task("polite", move |cx| async move {
                up.send(()).unwrap();
                cx.cancelled().await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                polite_log.push("polite returned");
            })?;
            cx.run_task("stubborn", move |_cx| async move {
                let _cleanup = LogOnDrop::new(&log, "stubborn aborted");
                up_tx.send(()).unwrap();
                std::future::pending::<()>().await
            })?;
            std::future::pending().await
        }
    })
    .with_grace(Duration::from_secs(2));
    let handle = handle.start();
    guard(up_rx.recv()).await.unwrap();
    guard(up_rx.recv()).await.unwrap();
    let began = Instant::now();
    let error = guard(handle.stop()).await.unwrap_err();
    assert_eq!(began.elapsed(), Duration::from_secs(2));
    assert_eq!(log.entries(), ["polite returned", "stubborn aborted"]);
    assert_eq!(grace_exceeded(&error), ["Svc", "Svc/stubborn"]);
}

/// Siblings stop concurrently — shutdown takes the longest cleanup, not the sum.
#[tokio::test(start_paused = true)]
async fn siblings_stop_concurrently() {
    let (up_tx, mut up_rx) = mpsc::unbounded_channel();
    let handle = svc("Svc", move |cx| {
        let up_tx = up_tx.clone();
        async move {
            for name in ["a", "b", "c", "d"] {
                let up = up_tx.clone();
                cx.run_task(name, move |cx| async move {
                    up.send(()).unwrap();
                    cx.cancelled().await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                })?;
            }
            Ok(())
        }
    })
    .with_grace(Duration::from_secs(5))
    .start();
    for _ in 0..4 {
        guard(up_rx.recv()).await.unwrap();
    }
    let began = Instant::now();
    guard(handle.stop()).await.unwrap();
    assert_eq!(began.elapsed(), Duration::from_secs(1));
}

/// A parent is never aborted before its children are done, even when its own grace has run
/// out first.
#[tokio::test(start_paused = true)]
async fn parent_is_aborted_only_after_its_children() {
    let log = Log::new();
    let log2 = log.clone();
    let (up_tx, mut up_rx) = mpsc::unbounded_channel();
    let handle = svc("Svc", move |cx| {
        let (log, up_tx) = (log2.clone(), up_tx.clone());
        async move {
            cx.run_task("parent", move |cx| async move {
                let _cleanup = LogOnDrop::new(&log, "parent aborted");
                cx.run_task("child", move |cx| async move {
                    up_tx.send(()).unwrap();
                    cx.cancelled().await;
                    // Cleanup that outlasts the grace period: aborted at its end.
                    let _cleanup = LogOnDrop::new(&log, "child aborted");
                    std::future::pending::<()>().await
                })?;
                std::future::pending::<Result<(), LifecycleError>>().await
            })?;
            Ok(())
        }
    })
    .with_grace(Duration::from_millis(500))
    .start();
    guard(up_rx.recv()).await.unwrap();
    let error = guard(handle.stop()).await.unwrap_err();
    assert_eq!(log.entries(), ["child aborted", "parent aborted"]);
    assert_eq!(grace_exceeded(&error), ["Svc/parent", "Svc/parent/child"]);
}

/// An error returned while the service is being cancelled is still a failure.
#[tokio::test(start_paused = true)]
async fn error_during_grace_is_reported() {
    let (up_tx, mut up_rx) = mpsc::unbounded_channel();
    let handle = svc("Svc", move |cx| {
        let up_tx = up_tx.clone();
        async move {
            cx.run_task("cleanup", move |cx| async move {
                up_tx.send(()).unwrap();
                cx.cancelled().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err::<(), _>("in finally")
            })?;
            Ok(())
        }
    })
    .with_grace(Duration::from_secs(1))
    .start();
    guard(up_rx.recv()).await.unwrap();
    let error = guard(handle.stop()).await.unwrap_err();
    assert_eq!(error.failures().len(), 1);
    assert_eq!(error.failures()[0].path(), "Svc/cleanup");
    assert!(handle.is_cancelled());
}
