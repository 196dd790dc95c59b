//! Readiness (`is_ready`, `wait_ready`, `manual_ready`) and why a service stopped
//! (`cancel_cause`).

use std::sync::Arc;
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Log, guard, stays_pending, svc};
use tokio::sync::Notify;

/// Without `manual_ready`, a service is ready when its body returns.
#[tokio::test]
async fn ready_when_the_body_returns() {
    let gate = Arc::new(Notify::new());
    let gate2 = Arc::clone(&gate);
    let handle = svc("Svc", move |cx| {
        let gate = Arc::clone(&gate2);
        async move {
            cx.run_daemon_task("d", |cx| async move { cx.cancelled().await })?;
            gate.notified().await;
            Ok(())
        }
    })
    .start();
    guard(handle.wait_started()).await;
    assert!(!handle.is_ready());
    gate.notify_one();
    guard(handle.wait_ready()).await.unwrap();
    assert!(handle.is_ready());
    guard(handle.stop()).await.unwrap();
}

/// With `manual_ready`, only `cx.ready()` makes it ready, from any task.
#[tokio::test(start_paused = true)]
async fn manual_readiness() {
    let gate = Arc::new(Notify::new());
    let gate2 = Arc::clone(&gate);
    let mut options = Options::default();
    options.manual_ready = true;
    let handle = svc("Svc", move |cx| {
        let gate = Arc::clone(&gate2);
        async move {
            cx.run_daemon_task("warmup", move |cx| async move {
                gate.notified().await;
                cx.ready();
                cx.cancelled().await;
            })?;
            Ok(())
        }
    })
    .with_options(options)
    .start();
    assert!(
        stays_pending(handle.wait_ready()).await,
        "the body returned, but readiness is manual"
    );
    gate.notify_one();
    guard(handle.wait_ready()).await.unwrap();
    guard(handle.stop()).await.unwrap();
}

/// `wait_ready` never hangs: it fails at once when the service fails before being ready,
/// and when it finishes first.
#[tokio::test(start_paused = true)]
async fn wait_ready_fails_when_the_service_fails_or_finishes_first() {
    let mut options = Options::default();
    options.manual_ready = true;
    let handle = svc("Failing", |cx| async move {
        cx.run_task("boom", |_cx| async { Err::<(), _>("broken") })?;
        cx.run_daemon_task("slow", |cx| async move { cx.cancelled().await })?;
        Ok(())
    })
    .with_options(options.clone())
    .with_grace(Duration::from_secs(60))
    .start();
    let error = guard(handle.wait_ready()).await.unwrap_err();
    assert_eq!(error.failures()[0].path(), "Failing/boom");

    let handle = svc("Quiet", |_cx| async { Ok(()) })
        .with_options(options)
        .start();
    let error = guard(handle.wait_ready()).await.unwrap_err();
    assert_eq!(
        error.lifecycle(),
        Some(&LifecycleError::FinishedBeforeReady)
    );
}

/// A three-level tree: each parent starts the work declared after a child only once that
/// child is ready, so readiness is reached bottom-up.
#[tokio::test]
async fn readiness_of_a_three_level_tree() {
    let log = Log::new();
    fn level(name: &'static str, below: Option<&'static str>, log: Log) -> impl Service {
        svc(name, move |cx| {
            let log = log.clone();
            async move {
                if let Some(child) = below {
                    let handle = cx.run_child_service(level(
                        child,
                        if child == "Mid" { Some("Leaf") } else { None },
                        log.clone(),
                    ))?;
                    handle.wait_ready().await?;
                    log.push(format!("{name} sees {child} ready"));
                }
                cx.run_daemon_task("serve", |cx| async move { cx.cancelled().await })?;
                log.push(format!("{name} started its work"));
                Ok(())
            }
        })
    }
    let handle = level("Root", Some("Mid"), log.clone()).start();
    guard(handle.wait_ready()).await.unwrap();
    assert_eq!(
        log.entries(),
        [
            "Leaf started its work",
            "Mid sees Leaf ready",
            "Mid started its work",
            "Root sees Mid ready",
            "Root started its work",
        ]
    );
    guard(handle.stop()).await.unwrap();
}

/// Every cancel cause, and `ServiceError`'s Display starting with it.
#[tokio::test]
async fn every_cancel_cause() {
    let idle = || {
        svc("Idle", |cx| async move {
            cx.run_daemon_task("d", |cx| async move { cx.cancelled().await })?;
            Ok(())
        })
    };

    let handle = idle().start();
    assert_eq!(handle.cancel_cause(), None);
    guard(handle.stop()).await.unwrap();
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Requested));

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = rx.await;
    };
    let run = tokio::spawn(idle().run_until(shutdown));
    tx.send(()).unwrap();
    guard(run).await.unwrap().unwrap();

    let (managers_tx, mut managers_rx) = tokio::sync::mpsc::unbounded_channel::<Manager>();
    let error = svc("Parent", move |cx| {
        let tx = managers_tx.clone();
        async move {
            let child = cx.run_child_service(idle())?;
            tx.send(child.manager().clone()).unwrap();
            tx.send(cx.manager().clone()).unwrap();
            cx.run_task("bad", |_cx| async { Err::<(), _>("bad thing") })?;
            Ok(())
        }
    })
    .run()
    .await
    .unwrap_err();
    let child = managers_rx.recv().await.unwrap();
    let parent = managers_rx.recv().await.unwrap();
    assert_eq!(
        parent.cancel_cause(),
        Some(CancelCause::Failure {
            path: "Parent/bad".into()
        })
    );
    assert_eq!(child.cancel_cause(), Some(CancelCause::Parent));
    assert!(
        error
            .to_string()
            .starts_with("stopped by the failure of `Parent/bad`: "),
        "{error}"
    );
    let ServiceError::Failed(failures) = &error else {
        panic!()
    };
    assert_eq!(
        failures.cancel_cause(),
        Some(&CancelCause::Failure {
            path: "Parent/bad".into()
        })
    );
}

/// `run_until` records `Shutdown`.
#[tokio::test]
async fn run_until_records_shutdown() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Manager>();
    let service = svc("Svc", move |cx| {
        let tx = tx.clone();
        async move {
            tx.send(cx.manager().clone()).unwrap();
            cx.run_daemon_task("d", |cx| async move { cx.cancelled().await })?;
            Ok(())
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(service.run_until(async move {
        let _ = stop_rx.await;
    }));
    let manager = guard(rx.recv()).await.unwrap();
    stop_tx.send(()).unwrap();
    guard(run).await.unwrap().unwrap();
    assert_eq!(manager.cancel_cause(), Some(CancelCause::Shutdown));
}
