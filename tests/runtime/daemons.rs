//! Daemon tasks: ending on their own while the service runs is a failure; ending while it
//! is cancelled is not.

use std::sync::Arc;
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Live, guard, svc};
use tokio::sync::{Notify, mpsc, oneshot};

/// A daemon returning `Ok` while the service runs is a `DaemonExit` failure naming the
/// daemon, and the service is cancelled.
#[tokio::test]
async fn daemon_returning_ok_is_a_failure() {
    let handle = svc("Node", |cx| async move {
        cx.run_daemon_task("gossip", |_cx| async { Ok::<(), std::io::Error>(()) })?;
        std::future::pending().await
    })
    .start();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert!(handle.is_cancelled());
    let [failure] = error.failures() else {
        panic!("exactly one failure expected: {error}")
    };
    assert_eq!(failure.kind(), FailureKind::DaemonExit);
    assert_eq!(failure.path(), "Node/gossip");
    assert_eq!(
        error.to_string(),
        "stopped by the failure of `Node/gossip`: service `Node` failed: `Node/gossip`: daemon task `gossip` exited while its service was still running"
    );
}

/// Daemons that return by themselves once their service is cancelled, within its grace (at
/// once, after a timer, or after polling the flag), are not failures.
#[tokio::test(start_paused = true)]
async fn daemons_ending_during_cancellation_are_not_failures() {
    let (up_tx, mut up) = mpsc::unbounded_channel();
    let service = svc("Svc", move |cx| {
        let up_tx = up_tx.clone();
        async move {
            let sleeper_up = up_tx.clone();
            cx.run_daemon_task("sleeper", move |_cx| async move {
                sleeper_up.send(()).unwrap();
                // Ends half a second into the 1 s grace (time stands still until the stop).
                tokio::time::sleep(Duration::from_millis(500)).await
            })?;
            let watcher_up = up_tx.clone();
            cx.run_daemon_task("watcher", move |cx| async move {
                watcher_up.send(()).unwrap();
                while !cx.is_cancelled() {
                    tokio::task::yield_now().await;
                }
            })?;
            cx.run_daemon_task("returns", move |cx| async move {
                up_tx.send(()).unwrap();
                cx.cancelled().await
            })?;
            Ok(())
        }
    })
    .with_grace(Duration::from_secs(1));
    let handle = service.start();
    for _ in 0..3 {
        guard(up.recv()).await.unwrap();
    }
    guard(handle.stop()).await.unwrap();
    assert!(!handle.did_error());
}

/// A daemon that cancels its service and then returns ends the service cleanly.
#[tokio::test]
async fn daemon_that_cancels_then_returns_is_clean() {
    svc("Svc", |cx| async move {
        cx.run_daemon_task("quitter", |cx| async move { cx.cancel() })?;
        Ok(())
    })
    .run()
    .await
    .unwrap();
}

/// A daemon that returns an error is reported with its error, not as `DaemonExit`.
#[tokio::test]
async fn daemon_error_is_an_error_not_an_exit() {
    let error = svc("Svc", |cx| async move {
        cx.run_daemon_task("buggy", |_cx| async { Err::<(), _>("Buggy daemon") })?;
        Ok(())
    })
    .run()
    .await
    .unwrap_err();
    assert_eq!(error.failures().len(), 1);
    assert_eq!(error.failures()[0].kind(), FailureKind::Error);
    assert_eq!(error.failures()[0].error().to_string(), "Buggy daemon");
}

/// A daemon starts a child, cancels the service and returns: the service ends cleanly and
/// the child (which would fail later) is cancelled first.
#[tokio::test]
async fn daemon_cancelling_the_service_leaves_no_child_behind() {
    let live = Live::new();
    let live2 = live.clone();
    svc("Svc", move |cx| {
        let live = live2.clone();
        async move {
            cx.run_daemon_task("daemon", move |cx| async move {
                let (up_tx, up) = oneshot::channel();
                cx.run_task("child", move |_cx| async move {
                    let _guard = live.guard();
                    up_tx.send(()).unwrap();
                    std::future::pending::<()>().await;
                    Err::<(), _>("must never fail")
                })?;
                up.await.unwrap();
                cx.cancel();
                Ok::<(), LifecycleError>(())
            })?;
            Ok(())
        }
    })
    .run()
    .await
    .unwrap();
    assert_eq!(live.count(), 0);
}

/// A daemon starts a child that would fail and returns at once: the only failure is the
/// daemon's exit; the child is cancelled before it can fail.
#[tokio::test]
async fn daemon_exit_leaving_a_child_reports_only_the_exit() {
    let gate = Arc::new(Notify::new());
    let gate2 = Arc::clone(&gate);
    let error = svc("Svc", move |cx| {
        let gate = Arc::clone(&gate2);
        async move {
            cx.run_daemon_task("daemon", move |cx| async move {
                cx.run_task("child", move |_cx| async move {
                    gate.notified().await;
                    Err::<(), _>("child failed")
                })
            })?;
            Ok(())
        }
    })
    .run()
    .await
    .unwrap_err();
    let kinds: Vec<_> = error
        .failures()
        .iter()
        .map(|f| (f.path().to_owned(), f.kind()))
        .collect();
    assert_eq!(kinds, [("Svc/daemon".to_owned(), FailureKind::DaemonExit)]);
}

/// The body starts a daemon waiting for the service to finish, then fails: only the body's
/// error is reported; the daemon's cancellation is not an exit.
#[tokio::test]
async fn body_error_with_a_waiting_daemon_reports_only_the_body() {
    let error = svc("Svc", move |cx| async move {
        let manager = cx.manager().clone();
        let (up_tx, up) = oneshot::channel();
        cx.run_daemon_task("waiter", move |_cx| async move {
            up_tx.send(()).unwrap();
            let _ = manager.wait_finished().await;
        })?;
        up.await?;
        Err("ValueError".into())
    })
    .run()
    .await
    .unwrap_err();
    assert_eq!(error.failures().len(), 1);
    assert_eq!(error.failures()[0].path(), "Svc");
    assert_eq!(error.failures()[0].error().to_string(), "ValueError");
}
