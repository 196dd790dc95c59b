//! The runner's unit tests: a task's phases, seen through whole services.
use std::sync::Arc;
use std::time::Duration;

use crate::{BoxError, Context, FailureKind, Options, Service, ServiceHandle};

/// A service whose one task answers cancellation with an error, a second later.
struct Stubborn(Duration);

impl Service for Stubborn {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        cx.run_task("worker", |cx| async move {
            cx.cancelled().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            Err::<(), _>("stopped late")
        })?;
        Ok(())
    }

    fn options(&self) -> Options {
        Options {
            grace: Some(self.0),
            ..Options::default()
        }
    }
}

/// The largest grace there is saturates instead of overflowing the deadline: the task
/// runs on within its grace after cancellation, and its error is reported.
#[tokio::test(start_paused = true)]
async fn a_grace_of_duration_max_does_not_overflow() {
    let handle = ServiceHandle::new(Stubborn(Duration::MAX));
    handle.start().unwrap();
    handle.wait_ready().await.unwrap();
    let error = handle.stop().await.unwrap_err();
    let failures = error.failures();
    assert_eq!(failures.len(), 1, "{error}");
    assert_eq!(failures[0].path(), "Stubborn/worker");
    assert_eq!(failures[0].kind(), FailureKind::Error);
}

/// A worker with a message waiting for it when its service is cancelled (zero grace) is
/// aborted without being polled again: it never handles that message.
#[tokio::test(flavor = "current_thread")]
async fn an_aborted_task_is_never_polled_again() {
    let handled = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let rx = std::sync::Mutex::new(Some((rx, ready_tx)));
    let seen = Arc::clone(&handled);
    let handle = ServiceHandle::new(crate::tests::FnService::new("Svc", move |cx| {
        let (mut rx, ready) = rx.lock().unwrap().take().unwrap();
        let seen = Arc::clone(&seen);
        cx.run_task("worker", move |_cx| async move {
            let _ = ready.send(());
            while let Some(message) = rx.recv().await {
                seen.lock().unwrap().push(message);
            }
        })
    }));
    handle.start().unwrap();
    ready_rx.await.unwrap();
    // Wakes the worker; it has not run yet when the service is cancelled.
    tx.send(1).unwrap();
    handle.cancel();
    handle.wait_finished().await.unwrap();
    assert!(handled.lock().unwrap().is_empty(), "handled after cancel()");
}

/// A restarting task that fails at once, with no backoff, still lets its service's
/// cancellation run on a current-thread runtime: each restart yields.
#[test]
fn restarts_yield_to_the_scheduler() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
            let first = Arc::new(std::sync::Mutex::new(Some(first_tx)));
            let handle = ServiceHandle::new(crate::tests::FnService::new("Svc", move |cx| {
                let first = Arc::clone(&first);
                cx.task("flaky")
                    .restart(crate::Restart::on_failure().max_restarts(usize::MAX))
                    .spawn(move |_cx| {
                        if let Some(tx) = first.lock().unwrap().take() {
                            let _ = tx.send(());
                        }
                        async { Err::<(), _>("at once") }
                    })
            }));
            handle.start().unwrap();
            first_rx.await.unwrap();
            handle.stop().await
        });
        let _ = done_tx.send(outcome.is_ok());
    });
    let stopped = done_rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(stopped, Ok(true), "the restart loop starved the runtime");
}

/// `Restart::always()` on a task that keeps exiting cleanly gives up after its
/// restarts, and giving up is a failure of the service, not a silent end.
#[tokio::test(start_paused = true)]
async fn giving_up_after_clean_exits_is_a_failure() {
    let handle = ServiceHandle::new(crate::tests::FnService::new("Svc", |cx| {
        cx.task("worker")
            .restart(crate::Restart::always().max_restarts(2))
            .spawn(|_cx| async {})
    }));
    let error = handle.run().await.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error}");
    };
    assert_eq!(failure.path(), "Svc/worker");
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(
        failure.error().to_string(),
        "exited (gave up after 2 restarts within 5s)"
    );
}
