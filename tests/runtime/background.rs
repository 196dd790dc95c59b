//! `service_runtime::background`: the service runs while the body runs; when the body
//! returns the service is stopped, and a failure of the service drops the body.

use std::future::pending;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use service_runtime::prelude::*;
use service_tests::{Live, guard, svc};
use tokio::sync::{Notify, mpsc, oneshot};

/// Inside the body the handle is started, running, not cancelled, not finished, and is the
/// service's; after `background` returns, the service is started, not running, cancelled,
/// finished; the body's value is returned.
#[tokio::test]
async fn flags_inside_and_after_and_the_body_value() {
    let service = svc("Bg", |cx| async move {
        cx.run_daemon_task("serve", |cx| async move { cx.cancelled().await })?;
        Ok(())
    });
    let (handle, value) = guard(background(service, |handle| async move {
        assert!(handle.is_started() && handle.is_running());
        assert!(!handle.is_cancelled() && !handle.is_finished());
        assert_eq!(handle.name(), "Bg");
        assert_eq!(handle.service().options(), Options::default());
        (handle, 42)
    }))
    .await
    .unwrap();
    assert_eq!(value, 42);
    assert!(handle.is_started() && !handle.is_running());
    assert!(handle.is_cancelled() && handle.is_finished());
    assert!(!handle.did_error());
}

/// A service failure while the body waits drops the body at its await point and returns the
/// failure.
#[tokio::test]
async fn service_failure_drops_the_body() {
    let fail_now = Arc::new(Notify::new());
    let trigger = Arc::clone(&fail_now);
    let service = svc("Bg", move |cx| {
        let trigger = Arc::clone(&trigger);
        async move {
            cx.run_task("worker", move |_cx| async move {
                trigger.notified().await;
                Err::<(), _>("worker broke")
            })?;
            Ok(())
        }
    });
    let live = Live::new();
    let body_live = live.clone();
    let resumed = Arc::new(AtomicBool::new(false));
    let body_resumed = Arc::clone(&resumed);
    let outcome = guard(background(service, |_handle| async move {
        let _guard = body_live.guard();
        fail_now.notify_one();
        pending::<()>().await;
        body_resumed.store(true, Ordering::SeqCst);
    }))
    .await;
    let error = outcome.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error:?}");
    };
    assert_eq!(failure.path(), "Bg/worker");
    assert_eq!(failure.error().to_string(), "worker broke");
    assert_eq!(live.count(), 0, "the body was not dropped");
    assert!(!resumed.load(Ordering::SeqCst));
}

/// A service that finishes cleanly before the body ends lets the body run on to its end;
/// its value is returned and the finished service is not cancelled afterwards.
#[tokio::test]
async fn clean_finish_lets_the_body_run_on() {
    let (finished_tx, finished) = oneshot::channel();
    let (go, go_rx) = oneshot::channel();
    let service = svc("Bg", |cx| async move {
        cx.run_task("short", |_cx| async {})?;
        Ok(())
    });
    let run = background(service, |handle| async move {
        handle.wait_finished().await.unwrap();
        finished_tx.send(()).unwrap();
        go_rx.await.unwrap();
        (handle, 5)
    });
    let drive = async {
        finished.await.unwrap();
        go.send(()).unwrap();
    };
    let (outcome, ()) = guard(async { tokio::join!(run, drive) }).await;
    let (handle, value) = outcome.unwrap();
    assert_eq!(value, 5);
    assert!(handle.is_finished() && !handle.is_cancelled() && !handle.did_error());
}

/// `stop()` inside the body, then leaving it, is fine: the outcome is the body's value, and
/// `stop` already left the service finished and cancelled.
#[tokio::test]
async fn stop_inside_the_body_then_exit() {
    let service = svc("Bg", |cx| async move {
        cx.run_daemon_task("serve", |cx| async move { cx.cancelled().await })?;
        Ok(())
    });
    let value = guard(background(service, |handle| async move {
        handle.stop().await.unwrap();
        assert!(handle.is_finished() && handle.is_cancelled() && !handle.is_running());
        tokio::task::yield_now().await;
        3
    }))
    .await;
    assert_eq!(value.unwrap(), 3);
}

/// A failure that happens while `background` stops the service (after the body returned) is
/// returned instead of the body's value.
#[tokio::test]
async fn failure_while_stopping_is_returned() {
    let running = Arc::new(Notify::new());
    let task_running = Arc::clone(&running);
    let service = svc("Bg", move |cx| {
        let running = Arc::clone(&task_running);
        async move {
            cx.run_task("cleanup", move |cx| async move {
                running.notify_one();
                cx.cancelled().await;
                Err::<(), _>("in finally")
            })?;
            Ok(())
        }
    })
    // The task answers cancellation within its grace (with none it would be aborted).
    .with_grace(std::time::Duration::from_secs(1));
    let outcome = guard(background(service, |_handle| async move {
        running.notified().await;
        1
    }))
    .await;
    let error = outcome.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error:?}");
    };
    assert_eq!(failure.path(), "Bg/cleanup");
    assert_eq!(failure.error().to_string(), "in finally");
}

/// When the body of the service itself fails while the body of `background` waits, the
/// failure is returned, and every waiter of the handle sees it too.
#[tokio::test]
async fn body_failure_reaches_every_waiter() {
    let fail_now = Arc::new(Notify::new());
    let trigger = Arc::clone(&fail_now);
    let service = svc("Bg", move |_cx| {
        let trigger = Arc::clone(&trigger);
        async move {
            trigger.notified().await;
            Err("body broke".into())
        }
    });
    let (handle_tx, mut handle_rx) = mpsc::unbounded_channel();
    let outcome = guard(background(service, |handle| async move {
        handle_tx.send(handle.clone()).unwrap();
        fail_now.notify_one();
        pending::<()>().await
    }))
    .await;
    let error = outcome.unwrap_err();
    assert_eq!(error.failures()[0].path(), "Bg");
    let handle = handle_rx.recv().await.unwrap();
    let again = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(again.failures()[0].error().to_string(), "body broke");
    assert!(handle.did_error() && handle.is_cancelled() && handle.is_finished());
}

/// Dropping the future of `background` drops the body and cancels the service, which still
/// reaches finished: it is never left running with nobody able to stop it.
#[tokio::test]
async fn dropping_background_cancels_the_service() {
    let live = Live::new();
    let task_live = live.clone();
    let (up_tx, mut up) = mpsc::unbounded_channel();
    let service = svc("Bg", move |cx| {
        let (task_live, up_tx) = (task_live.clone(), up_tx.clone());
        async move {
            cx.run_task("worker", move |_cx| async move {
                let _guard = task_live.guard();
                up_tx.send(()).unwrap();
                pending::<()>().await
            })?;
            Ok(())
        }
    });
    let (handle_tx, handle_rx) = oneshot::channel();
    let handle = {
        let mut run = pin!(background(service, |handle| async move {
            handle_tx.send(handle).unwrap();
            pending::<()>().await
        }));
        tokio::select! {
            _ = &mut run => unreachable!("the body never returns"),
            handle = handle_rx => {
                // The worker runs before the future of `background` is dropped.
                guard(up.recv()).await.unwrap();
                handle.unwrap()
            }
        }
    };
    assert!(
        handle.is_cancelled(),
        "dropping the future did not cancel the service"
    );
    guard(handle.wait_finished()).await.unwrap();
    assert!(handle.is_finished());
    assert_eq!(live.count(), 0, "the service's tasks were not stopped");
}
