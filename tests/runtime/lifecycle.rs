//! Lifecycle flags (`is_started`, `is_running`, `is_cancelled`, `is_finished`, `did_error`)
//! and waits, through start, failure and cancellation.

use std::sync::Arc;

use service_runtime::prelude::*;
use service_tests::{guard, stays_pending, svc};
use tokio::sync::{Notify, mpsc, oneshot};

/// A new manager is in its initial state and needs no runtime.
#[test]
fn new_manager_is_in_its_initial_state() {
    let handle = ServiceHandle::new(svc("Idle", |_cx| async { Ok(()) }));
    assert!(!handle.is_started());
    assert!(!handle.is_running());
    assert!(!handle.is_cancelled());
    assert!(!handle.is_finished());
    assert!(!handle.did_error());
    assert_eq!(handle.name(), "Idle");
}

/// Waiting on a manager that is never run waits (it does not error).
#[tokio::test(start_paused = true)]
async fn waits_on_a_manager_never_run_stay_pending() {
    let handle = ServiceHandle::new(svc("Idle", |_cx| async { Ok(()) }));
    assert!(stays_pending(handle.wait_started()).await);
    assert!(stays_pending(handle.wait_finished()).await);
}

/// Flags after start, and after a clean exit.
#[tokio::test]
async fn clean_exit() {
    let release = Arc::new(Notify::new());
    let body_release = Arc::clone(&release);
    let handle = svc("Clean", move |_cx| {
        let release = Arc::clone(&body_release);
        async move {
            release.notified().await;
            Ok(())
        }
    })
    .start();
    guard(handle.wait_started()).await;
    assert!(handle.is_started() && handle.is_running());
    assert!(!handle.is_cancelled() && !handle.is_finished());
    release.notify_one();
    guard(handle.wait_finished()).await.unwrap();
    assert!(handle.is_started() && !handle.is_running());
    assert!(!handle.is_cancelled() && handle.is_finished() && !handle.did_error());
}

/// After `cancel()`, a service whose body is blocked forever is cancelled but still
/// running, also while its body is being aborted; once finished it is started, not
/// running, cancelled, finished.
#[tokio::test]
async fn external_cancel_of_a_blocked_body() {
    /// Sends its manager's `(is_running, is_finished)` when dropped.
    struct FlagsOnDrop(Manager, mpsc::UnboundedSender<(bool, bool)>);
    impl Drop for FlagsOnDrop {
        fn drop(&mut self) {
            let _ = self.1.send((self.0.is_running(), self.0.is_finished()));
        }
    }
    let (up_tx, mut up) = mpsc::unbounded_channel();
    let (flags_tx, mut flags) = mpsc::unbounded_channel();
    let handle = svc("Blocked", move |cx| {
        let (up_tx, flags_tx) = (up_tx.clone(), flags_tx.clone());
        async move {
            let _flags = FlagsOnDrop(cx.manager().clone(), flags_tx);
            up_tx.send(()).unwrap();
            std::future::pending().await
        }
    })
    .start();
    guard(up.recv()).await.unwrap();
    handle.cancel();
    assert!(handle.is_cancelled());
    assert!(
        handle.is_running() && !handle.is_finished(),
        "cancelled, not yet finished: still running"
    );
    let (running, finished) = guard(flags.recv()).await.unwrap();
    assert!(
        running && !finished,
        "not running while its body was being aborted"
    );
    guard(handle.wait_finished()).await.unwrap();
    assert!(handle.is_started() && !handle.is_running());
    assert!(handle.is_cancelled() && handle.is_finished() && !handle.did_error());
}

/// The body fails: flags, did_error, and the failure returned.
#[tokio::test]
async fn body_error() {
    let handle = svc("Failing", |_cx| async { Err("this is the error".into()) }).start();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert!(handle.is_cancelled() && handle.is_finished() && handle.did_error());
    let [failure] = error.failures() else {
        panic!("one failure expected: {error:?}")
    };
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(failure.path(), "Failing");
    assert_eq!(failure.task_name(), "Failing");
    assert_eq!(failure.error().to_string(), "this is the error");
}

/// A task fails: the service is cancelled and the failure returned.
#[tokio::test]
async fn task_error() {
    let handle = svc("Svc", |cx| async move {
        cx.run_task("worker", |_cx| async { Err::<(), _>("worker broke") })?;
        std::future::pending().await
    })
    .start();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert!(handle.is_cancelled() && handle.did_error());
    assert_eq!(error.failures().len(), 1);
    assert_eq!(error.failures()[0].path(), "Svc/worker");
}

/// A daemon exits: `DaemonExit` naming the daemon.
#[tokio::test]
async fn daemon_exit_flags() {
    let handle = svc("Svc", |cx| async move {
        cx.run_daemon_task("daemon_task_fn", |_cx| async {})?;
        Ok(())
    })
    .start();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert!(handle.is_cancelled() && handle.is_finished() && handle.did_error());
    let failure = &error.failures()[0];
    assert_eq!(failure.kind(), FailureKind::DaemonExit);
    assert_eq!(failure.task_name(), "daemon_task_fn");
    assert!(
        failure
            .error()
            .to_string()
            .contains("daemon task `daemon_task_fn` exited")
    );
}

/// Cancel before start finishes the service without running its body; a later run is
/// refused.
#[tokio::test]
async fn cancel_before_start_finishes_without_running_the_body() {
    let (ran_tx, mut ran_rx) = oneshot::channel::<()>();
    let ran_tx = std::sync::Mutex::new(Some(ran_tx));
    let handle = ServiceHandle::new(svc("Never", move |_cx| {
        let ran = ran_tx.lock().unwrap().take();
        async move {
            if let Some(tx) = ran {
                let _ = tx.send(());
            }
            Ok(())
        }
    }));
    handle.cancel();
    assert!(handle.is_cancelled() && handle.is_finished() && !handle.is_running());
    guard(handle.wait_started()).await;
    guard(handle.wait_finished()).await.unwrap();
    // Nothing is left to start: it finished without running.
    assert_eq!(handle.start(), Ok(()));
    assert!(ran_rx.try_recv().is_err(), "the body must never run");
    assert_eq!(handle.stats().tasks.total_count, 0);
}

/// Cancel after a clean finish is a no-op; cancel is idempotent.
#[tokio::test]
async fn cancel_after_finish_is_a_no_op_and_cancel_is_idempotent() {
    let handle = svc("Quick", |_cx| async { Ok(()) }).start();
    guard(handle.wait_finished()).await.unwrap();
    handle.cancel();
    assert!(!handle.is_cancelled());

    let handle = svc("Blocked", |_cx| std::future::pending()).start();
    guard(handle.wait_started()).await;
    handle.cancel();
    handle.cancel();
    guard(handle.stop()).await.unwrap();
    handle.cancel();
    assert!(handle.is_finished() && handle.is_cancelled());
}

/// `stop` and `wait_finished` return the outcome, to every waiter.
#[tokio::test]
async fn every_waiter_gets_the_outcome() {
    let (up_tx, up_rx) = oneshot::channel();
    let up_tx = std::sync::Mutex::new(Some(up_tx));
    let handle = svc("Svc", move |cx| {
        let up = up_tx.lock().unwrap().take();
        async move {
            cx.run_daemon_task("d", |cx| async move {
                if let Some(up) = up {
                    let _ = up.send(());
                }
                cx.cancelled().await;
                Err::<(), _>("late error")
            })?;
            Ok(())
        }
    })
    .with_grace(std::time::Duration::from_secs(1))
    .start();
    guard(up_rx).await.unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let handle = handle.clone();
            tokio::spawn(async move { handle.wait_finished().await })
        })
        .collect();
    let stopped = guard(handle.stop()).await.unwrap_err();
    for waiter in waiters {
        let outcome = guard(waiter).await.unwrap().unwrap_err();
        assert_eq!(outcome.to_string(), stopped.to_string());
    }
    assert_eq!(stopped.failures()[0].error().to_string(), "late error");
}

/// A second run is refused, inside `ServiceError::Lifecycle`.
#[tokio::test]
async fn second_run_is_refused() {
    let handle = ServiceHandle::new(svc("Once", |_cx| async { Ok(()) }));
    guard(handle.run()).await.unwrap();
    let error = guard(handle.run()).await.unwrap_err();
    assert_eq!(error.lifecycle(), Some(&LifecycleError::AlreadyStarted));
    assert!(error.failures().is_empty());
}

/// A task sees its own name and path, the body the service's.
#[tokio::test]
async fn names_and_paths_of_contexts() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    svc("Node", move |cx| {
        let tx = tx.clone();
        async move {
            tx.send((cx.name().to_owned(), cx.path().to_owned()))
                .unwrap();
            cx.run_task("gossip", move |cx| async move {
                tx.send((cx.name().to_owned(), cx.path().to_owned()))
                    .unwrap();
                cx.run_task("handle", move |cx| async move {
                    tx.send((cx.name().to_owned(), cx.path().to_owned()))
                        .unwrap();
                })
            })?;
            Ok(())
        }
    })
    .run()
    .await
    .unwrap();
    let mut seen = Vec::new();
    while let Ok(entry) = rx.try_recv() {
        seen.push(entry);
    }
    let expected = [
        ("Node", "Node"),
        ("gossip", "Node/gossip"),
        ("handle", "Node/gossip/handle"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(seen, expected);
}
