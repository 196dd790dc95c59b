//! Child services: run as a task of their parent under their own manager, stopped with it,
//! their failures reported by every ancestor.

use std::sync::Arc;

use service_runtime::prelude::*;
use service_tests::{Log, LogOnDrop, guard, svc};
use tokio::sync::{Notify, mpsc, oneshot};

type Managers = mpsc::UnboundedSender<Manager>;

/// A child that runs until it is aborted, logging its cleanup.
fn idle_child(name: &'static str, log: Log) -> impl Service {
    svc(name, move |_cx| {
        let cleanup = LogOnDrop::new(&log, format!("{name} cleanup"));
        async move {
            let _cleanup = cleanup;
            std::future::pending().await
        }
    })
}

/// A body starts a child, waits for it to start and returns: the parent runs until the
/// child finishes, then finishes cleanly, not cancelled.
#[tokio::test]
async fn parent_waits_for_its_child() {
    let release = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel::<Manager>();
    let release2 = Arc::clone(&release);
    let handle = svc("Parent", move |cx| {
        let (release, tx) = (Arc::clone(&release2), tx.clone());
        async move {
            let child = cx.run_child_service(svc("Child", move |_cx| {
                let release = Arc::clone(&release);
                async move {
                    release.notified().await;
                    Ok(())
                }
            }))?;
            child.wait_started().await;
            tx.send(child.manager().clone()).unwrap();
            Ok(())
        }
    })
    .start();
    let child = guard(rx.recv()).await.unwrap();
    assert!(child.is_running() && handle.is_running());
    release.notify_one();
    guard(handle.wait_finished()).await.unwrap();
    assert!(child.is_finished() && !handle.is_cancelled() && !child.is_cancelled());
}

/// A child service counts as one task of its parent; cancelling the parent stops the child,
/// which ends cancelled and finished.
#[tokio::test]
async fn parent_cancel_stops_the_child() {
    let (tx, mut rx) = mpsc::unbounded_channel::<Manager>();
    let log = Log::new();
    let log2 = log.clone();
    let handle = svc("Parent", move |cx| {
        let (tx, log): (Managers, Log) = (tx.clone(), log2.clone());
        async move {
            let child = cx.run_child_service(idle_child("Child", log))?;
            child.wait_started().await;
            let child = child.manager().clone();
            cx.run_task("own", |cx| async move {
                cx.run_task("grand", |cx| async move {
                    tx.send(child).unwrap();
                    cx.cancelled().await
                })
            })?;
            std::future::pending().await
        }
    })
    .start();
    let child = guard(rx.recv()).await.unwrap();
    assert_eq!(handle.stats().tasks.total_count, 3);
    guard(handle.stop()).await.unwrap();
    assert!(child.is_cancelled() && child.is_finished());
    assert_eq!(log.entries(), ["Child cleanup"]);
    assert_eq!(handle.stats().tasks.finished_count, 3);
}

/// Nested child services stop from the inside out: cleanup that runs when each body is
/// aborted runs grandchild, child, parent.
#[tokio::test]
async fn nested_children_stop_inside_out() {
    let log = Log::new();
    let log2 = log.clone();
    let (up_tx, mut up_rx) = mpsc::unbounded_channel::<()>();
    let handle = svc("Root", move |cx| {
        let (log, up_tx) = (log2.clone(), up_tx.clone());
        async move {
            let log_mid = log.clone();
            let _cleanup = LogOnDrop::new(&log, "Root cleanup");
            cx.run_child_service(svc("Mid", move |cx| {
                let (log, up_tx) = (log_mid.clone(), up_tx.clone());
                async move {
                    let _cleanup = LogOnDrop::new(&log, "Mid cleanup");
                    let leaf = cx.run_child_service(idle_child("Leaf", log.clone()))?;
                    leaf.wait_started().await;
                    up_tx.send(()).unwrap();
                    std::future::pending().await
                }
            }))?;
            std::future::pending().await
        }
    })
    .start();
    guard(up_rx.recv()).await.unwrap();
    guard(handle.stop()).await.unwrap();
    assert_eq!(
        log.entries(),
        ["Leaf cleanup", "Mid cleanup", "Root cleanup"]
    );
}

/// A child's and a grandchild's failures reach the root unchanged, flattened, with their
/// full paths; the parent is cancelled.
#[tokio::test]
async fn child_failures_are_flattened_into_every_ancestor() {
    let (tx, mut rx) = mpsc::unbounded_channel::<Manager>();
    let error = svc("Node", move |cx| {
        let tx = tx.clone();
        async move {
            let mid = cx.run_child_service(svc("Store", move |cx| {
                let tx = tx.clone();
                async move {
                    let gc = cx.run_child_service(svc("Disk", |cx| async move {
                        cx.run_task("flush", |_cx| async { Err::<(), _>("disk full") })?;
                        Ok(())
                    }))?;
                    tx.send(gc.manager().clone()).unwrap();
                    std::future::pending().await
                }
            }))?;
            cx.run_task(
                "gossip",
                move |_cx| async move { mid.wait_finished().await },
            )?;
            std::future::pending().await
        }
    })
    .run()
    .await
    .unwrap_err();
    let paths: Vec<_> = error.failures().iter().map(TaskFailure::path).collect();
    // The `gossip` task returns the child's error as its own error too: a task's error is
    // its own failure, whatever it carries.
    assert_eq!(paths[0], "Node/Store/Disk/flush");
    assert!(
        error
            .failures()
            .iter()
            .all(|f| f.kind() == FailureKind::Error)
    );
    let grandchild = rx.recv().await.unwrap();
    let own = grandchild.wait_finished().await.unwrap_err();
    assert_eq!(own.failures().len(), 1);
    assert_eq!(own.failures()[0].path(), "Node/Store/Disk/flush");
    assert_eq!(
        own.to_string(),
        "stopped by the failure of `Node/Store/Disk/flush`: service `Node/Store/Disk` failed: `Node/Store/Disk/flush` failed: disk full"
    );
}

/// A child started from inside a task is named below that task.
#[tokio::test]
async fn child_started_from_a_task_has_the_task_in_its_path() {
    let error = svc("Node", |cx| async move {
        cx.run_task("gossip", |cx| async move {
            cx.run_child_service(svc("Store", |cx| async move {
                cx.run_task("flush", |_cx| async { Err::<(), _>("disk full") })?;
                Ok(())
            }))?;
            Ok::<(), LifecycleError>(())
        })?;
        Ok(())
    })
    .run()
    .await
    .unwrap_err();
    assert_eq!(error.failures().len(), 1);
    assert_eq!(error.failures()[0].path(), "Node/gossip/Store/flush");
}

/// A non-daemon child that finishes, or that the parent stops, leaves the parent running
/// and not cancelled.
#[tokio::test]
async fn stopping_a_child_does_not_affect_the_parent() {
    let (tx, rx) = oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let log = Log::new();
    let handle = svc("Parent", move |cx| {
        let tx = tx.lock().unwrap().take();
        let log = log.clone();
        async move {
            cx.run_child_service(svc("Quick", |_cx| async { Ok(()) }))?;
            let child = cx.run_child_service(idle_child("Idle", log))?;
            let outcome = child.stop().await;
            if let Some(tx) = tx {
                let _ = tx.send((outcome, cx.is_cancelled()));
            }
            std::future::pending().await
        }
    })
    .start();
    let (outcome, cancelled) = guard(rx).await.unwrap();
    assert!(outcome.is_ok() && !cancelled);
    assert!(handle.is_running() && !handle.did_error());
    guard(handle.stop()).await.unwrap();
}

/// A daemon child that finishes while its parent runs is a `DaemonExit`, also when the
/// parent stopped it itself.
#[tokio::test]
async fn daemon_child_finishing_is_a_daemon_exit() {
    let error = svc("Parent", |cx| async move {
        cx.run_daemon_child_service(svc("ChildOk", |_cx| async { Ok(()) }))?;
        std::future::pending().await
    })
    .run()
    .await
    .unwrap_err();
    let [failure] = error.failures() else {
        panic!("{error}")
    };
    assert_eq!(failure.kind(), FailureKind::DaemonExit);
    assert_eq!(failure.path(), "Parent/ChildOk");
    assert!(
        failure
            .to_string()
            .contains("daemon child service `ChildOk` exited")
    );

    let error = svc("Parent", |cx| async move {
        let child = cx.run_daemon_child_service(idle_child("Stopped", Log::new()))?;
        child.stop().await?;
        std::future::pending().await
    })
    .run()
    .await
    .unwrap_err();
    assert_eq!(error.failures()[0].kind(), FailureKind::DaemonExit);
}

/// A daemon child stopped by its parent's cancellation is not a failure.
#[tokio::test]
async fn daemon_child_stopped_with_its_parent_is_clean() {
    let (up_tx, mut up) = mpsc::unbounded_channel();
    let handle = svc("Parent", move |cx| {
        let up_tx = up_tx.clone();
        async move {
            cx.run_daemon_child_service(svc("Daemon", move |_cx| {
                up_tx.send(()).unwrap();
                std::future::pending()
            }))?;
            Ok(())
        }
    })
    .start();
    guard(up.recv()).await.unwrap();
    guard(handle.stop()).await.unwrap();
}

/// A child service's own options (grace) apply to its own tasks.
#[tokio::test(start_paused = true)]
async fn a_child_uses_its_own_grace() {
    let log = Log::new();
    let log2 = log.clone();
    let (up_tx, mut up) = mpsc::unbounded_channel();
    let handle = svc("Parent", move |cx| {
        let (log, up_tx) = (log2.clone(), up_tx.clone());
        async move {
            let child = svc("Patient", move |cx| {
                let log = log.clone();
                let up_tx = up_tx.clone();
                async move {
                    up_tx.send(()).unwrap();
                    cx.cancelled().await;
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    log.push("patient finished its cleanup");
                    Ok(())
                }
            })
            .with_grace(std::time::Duration::from_secs(1));
            cx.run_child_service(child)?;
            cx.cancelled().await;
            Ok(())
        }
    })
    .start();
    guard(up.recv()).await.unwrap();
    guard(handle.stop()).await.unwrap();
    assert_eq!(log.entries(), ["patient finished its cleanup"]);
}
