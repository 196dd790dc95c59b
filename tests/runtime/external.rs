//! The external-API guard `ServiceHandle::call`: it runs only while the service is started
//! and neither cancelled nor finished; cancellation alone fails calls, in flight or new.

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Live, grace_exceeded, guard, poll_until, stays_pending};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A service with state that external callers read. With `stubborn`, a task ignores
/// cancellation, so the service stays in "cancelling" for its 5 s grace period.
struct Store {
    value: u32,
    calls: AtomicUsize,
    entered: AtomicUsize,
    stubborn: bool,
}

impl Store {
    fn new(stubborn: bool) -> Store {
        Store {
            value: 7,
            calls: AtomicUsize::new(0),
            entered: AtomicUsize::new(0),
            stubborn,
        }
    }

    /// The "external API method": counts its calls.
    async fn get(&self) -> u32 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.value
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// How many times a closure passed to `call` was itself called.
    fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }
}

/// Calls `Store::get` through the guard; the closure counts its own calls, so a call that
/// fails "at once" can be told from one whose future was built and dropped unpolled.
async fn call_get(handle: &ServiceHandle<Store>) -> Result<u32, LifecycleError> {
    handle
        .call(|store| {
            store.entered.fetch_add(1, Ordering::SeqCst);
            async move { store.get().await }
        })
        .await
}

/// Spawns a caller whose call holds a guard of `live` and then blocks inside the service
/// forever; returns the caller and a receiver told once the call is inside.
fn blocked_call<S: Service>(
    handle: &ServiceHandle<S>,
    live: &Live,
) -> (
    JoinHandle<Result<(), LifecycleError>>,
    oneshot::Receiver<()>,
) {
    let (entered_tx, entered) = oneshot::channel();
    let (handle, live) = (handle.clone(), live.clone());
    let caller = tokio::spawn(async move {
        handle
            .call(|_service| async move {
                let _guard = live.guard();
                entered_tx.send(()).unwrap();
                pending::<()>().await
            })
            .await
    });
    (caller, entered)
}

impl Service for Store {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        cx.run_daemon_task("serve", |cx| async move { cx.cancelled().await })?;
        if self.stubborn {
            cx.run_task("stubborn", |_cx| pending::<()>())?;
        }
        Ok(())
    }

    fn options(&self) -> Options {
        let mut options = Options::default();
        options.grace = Some(Duration::from_secs(5));
        options
    }
}

/// A call before the service has started fails with `NotRunning` without calling into the
/// service.
#[tokio::test]
async fn call_before_start_fails() {
    let handle = ServiceHandle::new(Store::new(false));
    let result = call_get(&handle).await;
    assert_eq!(result, Err(LifecycleError::NotRunning));
    assert_eq!(handle.service().calls(), 0);
    assert_eq!(handle.service().entered(), 0, "the closure was called");
}

/// A call after the service has finished fails with `NotRunning` without calling into the
/// service.
#[tokio::test]
async fn call_after_finish_fails() {
    let handle = Store::new(false).start();
    guard(handle.stop()).await.unwrap();
    let result = call_get(&handle).await;
    assert_eq!(result, Err(LifecycleError::NotRunning));
    assert_eq!(handle.service().calls(), 0);
    assert_eq!(handle.service().entered(), 0, "the closure was called");
}

/// Right after `cancel()`, while the service is still running (stopping), a call fails at
/// once with `NotRunning` and never runs.
#[tokio::test(start_paused = true)]
async fn call_fails_at_once_after_cancel() {
    let handle = Store::new(true).start();
    poll_until(|| handle.stats().tasks.total_count == 2).await;
    handle.cancel();
    assert!(
        handle.is_running(),
        "the stubborn task keeps the service running"
    );
    let result = call_get(&handle).await;
    assert_eq!(result, Err(LifecycleError::NotRunning));
    assert_eq!(handle.service().calls(), 0);
    assert_eq!(handle.service().entered(), 0, "the closure was called");
    assert!(!handle.is_finished());
    // The stubborn task outlives its grace: the stop says so.
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(grace_exceeded(&error), ["Store/stubborn"]);
}

/// While the service runs, a call returns the method's result (even when the service is
/// cancelled after the call completed), and concurrent calls all do.
#[tokio::test]
async fn call_while_running_returns_the_value() {
    let handle = Store::new(false).start();
    guard(handle.wait_started()).await;
    let value = call_get(&handle).await;
    assert_eq!(value, Ok(7));
    let (a, b) = tokio::join!(
        handle.call(|store| async move { store.get().await + 1 }),
        handle.call(|store| async move { store.get().await + 2 }),
    );
    assert_eq!((a, b), (Ok(8), Ok(9)));
    assert_eq!(handle.service().calls(), 3);
    guard(handle.stop()).await.unwrap();
}

/// An in-flight call is dropped as soon as the service is cancelled (not only when it
/// finishes) and fails with `NotRunning`; the next call then fails through the early check.
#[tokio::test(start_paused = true)]
async fn in_flight_call_is_dropped_on_cancel() {
    let handle = Store::new(true).start();
    guard(handle.wait_started()).await;
    let live = Live::new();
    let (caller, entered) = blocked_call(&handle, &live);
    guard(entered).await.unwrap();
    assert_eq!(live.count(), 1);
    handle.cancel();
    let result = guard(caller).await.unwrap();
    assert_eq!(result, Err(LifecycleError::NotRunning));
    assert_eq!(live.count(), 0, "the call's future was not dropped");
    assert!(
        handle.is_running(),
        "the call failed on cancel, before the service finished"
    );
    let again = call_get(&handle).await;
    assert_eq!(again, Err(LifecycleError::NotRunning));
    assert_eq!(handle.service().calls(), 0);
    assert_eq!(handle.service().entered(), 0, "the closure was called");
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(grace_exceeded(&error), ["Store/stubborn"]);
}

/// An error inside the call is the caller's: it comes back in the call's value, the service
/// records nothing and is not cancelled, and later calls work.
#[tokio::test(start_paused = true)]
async fn error_inside_a_call_goes_to_the_caller_only() {
    let handle = Store::new(false).start();
    guard(handle.wait_started()).await;
    let result = handle
        .call(|store| async move {
            store.get().await;
            Err::<u32, _>(std::io::Error::other("no such key"))
        })
        .await;
    let error = result.expect("the call itself went through").unwrap_err();
    assert_eq!(error.to_string(), "no such key");
    assert!(stays_pending(handle.wait_finished()).await);
    assert!(!handle.did_error() && !handle.is_cancelled() && handle.is_running());
    let value = call_get(&handle).await;
    assert_eq!(value, Ok(7));
    guard(handle.stop()).await.unwrap();
    assert!(!handle.did_error());
}

/// Dropping the call's future (the caller giving up) drops the future of the closure, and
/// the service does not notice.
#[tokio::test]
async fn dropping_a_call_drops_its_future() {
    let handle = Store::new(false).start();
    guard(handle.wait_started()).await;
    let live = Live::new();
    let (entered_tx, entered) = oneshot::channel();
    {
        let live = live.clone();
        let call = handle.call(|_store| async move {
            let _guard = live.guard();
            entered_tx.send(()).unwrap();
            pending::<()>().await
        });
        tokio::select! {
            _ = call => unreachable!("the call never returns"),
            _ = entered => {}
        }
    }
    assert_eq!(live.count(), 0);
    assert!(handle.is_running() && !handle.is_cancelled());
    guard(handle.stop()).await.unwrap();
}

/// A call blocked inside the method is dropped when the service finishes — here cleanly,
/// without being cancelled — and fails with `NotRunning`.
#[tokio::test]
async fn in_flight_call_is_dropped_when_the_service_finishes_cleanly() {
    let finish = Arc::new(tokio::sync::Notify::new());
    let handle = {
        let finish = Arc::clone(&finish);
        service_tests::svc("Short", move |cx| {
            let finish = Arc::clone(&finish);
            async move {
                cx.run_task("work", move |_cx| async move { finish.notified().await })?;
                Ok(())
            }
        })
        .start()
    };
    let live = Live::new();
    let (caller, entered) = blocked_call(&handle, &live);
    guard(entered).await.unwrap();
    finish.notify_one();
    guard(handle.wait_finished()).await.unwrap();
    assert!(!handle.is_cancelled());
    let result = guard(caller).await.unwrap();
    assert_eq!(result, Err(LifecycleError::NotRunning));
    assert_eq!(live.count(), 0, "the call's future was not dropped");
}
