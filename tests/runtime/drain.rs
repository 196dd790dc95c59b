//! The drain (`Options::drain`), `Manager::shutdown` and `Manager::status`: a service asked to
//! shut down reports not ready at once, serves on for its drain delay, then is cancelled.
//! All under paused time, so the delays are exact.

use std::future::pending;
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{guard, poll_until, stays_pending, svc};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A service whose daemon `serve` waits to be cancelled, then sends the time it was and
/// returns (within the 1 s grace its options get).
fn api(options: Options, cancelled_at: mpsc::UnboundedSender<Instant>) -> impl Service + use<> {
    svc("Api", move |cx| {
        let cancelled_at = cancelled_at.clone();
        async move {
            cx.run_daemon_task("serve", move |cx| async move {
                cx.cancelled().await;
                cancelled_at.send(Instant::now()).unwrap();
            })?;
            Ok(())
        }
    })
    .with_options(options.with_grace(Duration::from_secs(1)))
}

fn drain(seconds: u64) -> Options {
    Options::default().with_drain(Duration::from_secs(seconds))
}

/// When the shutdown future of `run_until` resolves, a service with a drain reports not
/// ready at once (`Draining`) while it still runs and takes calls; it is cancelled, cause
/// `Shutdown`, exactly when the drain has passed, and then stops cleanly.
#[tokio::test(start_paused = true)]
async fn a_shutdown_drains_then_cancels() {
    let (tx, mut cancelled_at) = mpsc::unbounded_channel();
    let handle = ServiceHandle::new(api(drain(5), tx));
    let (stop, stop_rx) = oneshot::channel::<()>();
    let drive = async {
        handle.wait_ready().await.unwrap();
        assert_eq!(handle.status(), Status::Ready);
        assert!(handle.is_ready());
        let asked = Instant::now();
        stop.send(()).unwrap();
        poll_until(|| handle.status() == Status::Draining).await;
        assert!(!handle.is_ready() && !handle.is_cancelled() && handle.is_running());
        assert_eq!(handle.call(|_| async { "served" }).await, Ok("served"));
        let cancelled = cancelled_at.recv().await.unwrap();
        assert_eq!(cancelled - asked, Duration::from_secs(5));
    };
    let (outcome, ()) =
        guard(async { tokio::join!(handle.run_until(async { stop_rx.await.unwrap() }), drive) })
            .await;
    outcome.unwrap();
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Shutdown));
    assert_eq!(handle.status(), Status::Finished);
    assert!(!handle.is_ready());
}

/// Without a drain (the default), the shutdown cancels the service at once, and it is never
/// reported draining.
#[tokio::test(start_paused = true)]
async fn without_a_drain_the_shutdown_cancels_at_once() {
    let (tx, mut cancelled_at) = mpsc::unbounded_channel();
    let handle = ServiceHandle::new(api(Options::default(), tx));
    let (stop, stop_rx) = oneshot::channel::<()>();
    let drive = async {
        handle.wait_ready().await.unwrap();
        let asked = Instant::now();
        stop.send(()).unwrap();
        let cancelled = cancelled_at.recv().await.unwrap();
        assert_eq!(cancelled, asked);
    };
    let (outcome, ()) =
        guard(async { tokio::join!(handle.run_until(async { stop_rx.await.unwrap() }), drive) })
            .await;
    outcome.unwrap();
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Shutdown));
}

/// A service that is not ready when the shutdown comes has no traffic to drain: it is
/// cancelled at once, whatever its drain.
#[tokio::test(start_paused = true)]
async fn a_service_not_ready_yet_is_not_drained() {
    let (serving, mut serving_rx) = mpsc::unbounded_channel::<()>();
    let (cancelled, mut cancelled_rx) = mpsc::unbounded_channel::<Instant>();
    let service = svc("Api", move |cx| {
        let (serving, cancelled) = (serving.clone(), cancelled.clone());
        async move {
            cx.run_daemon_task("serve", move |cx| async move {
                serving.send(()).unwrap();
                cx.cancelled().await;
                cancelled.send(Instant::now()).unwrap();
            })?;
            Ok(())
        }
    })
    .with_options(
        drain(60)
            .with_manual_ready(true)
            .with_grace(Duration::from_secs(1)),
    );
    let handle = ServiceHandle::new(service);
    handle.start().unwrap();
    guard(serving_rx.recv()).await.unwrap();
    assert_eq!(handle.status(), Status::Starting);
    let asked = Instant::now();
    let (outcome, cancelled) =
        guard(async { tokio::join!(handle.shutdown(), cancelled_rx.recv()) }).await;
    outcome.unwrap();
    assert_eq!(cancelled.unwrap(), asked);
}

/// `cancel()` does not drain: it cancels at once, cause `Requested`, even with a drain set.
#[tokio::test(start_paused = true)]
async fn cancel_does_not_drain() {
    let (tx, mut cancelled_at) = mpsc::unbounded_channel();
    let handle = ServiceHandle::new(api(drain(60), tx));
    handle.start().unwrap();
    guard(handle.wait_ready()).await.unwrap();
    let asked = Instant::now();
    handle.cancel();
    assert_eq!(handle.status(), Status::Stopping);
    assert_eq!(guard(cancelled_at.recv()).await.unwrap(), asked);
    guard(handle.wait_finished()).await.unwrap();
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Requested));
}

/// A failure during the drain ends it: the service stops at once and the shutdown returns
/// the failure, cause `Failure`.
#[tokio::test(start_paused = true)]
async fn a_failure_during_the_drain_ends_it() {
    let (fail, fail_rx) = oneshot::channel::<()>();
    let fail_rx = std::sync::Mutex::new(Some(fail_rx));
    let service = svc("Api", move |cx| {
        let fail_rx = fail_rx.lock().unwrap().take();
        async move {
            cx.run_daemon_task("serve", |cx| async move { cx.cancelled().await })?;
            cx.run_task("breaks", move |_cx| async move {
                fail_rx.unwrap().await.unwrap();
                Err::<(), _>("broke while draining")
            })?;
            Ok(())
        }
    })
    .with_options(drain(60));
    let handle = ServiceHandle::new(service);
    handle.start().unwrap();
    guard(handle.wait_ready()).await.unwrap();
    let asked = Instant::now();
    let drive = async {
        poll_until(|| handle.status() == Status::Draining).await;
        fail.send(()).unwrap();
    };
    let (outcome, ()) = guard(async { tokio::join!(handle.shutdown(), drive) }).await;
    let error = outcome.unwrap_err();
    assert_eq!(error.failures()[0].path(), "Api/breaks");
    assert_eq!(Instant::now(), asked, "the drain was waited out");
    assert!(matches!(
        handle.cancel_cause(),
        Some(CancelCause::Failure { .. })
    ));
}

/// Dropping the future of `shutdown` during the drain cuts it short: the service is
/// cancelled at once, cause `Shutdown`, and still stops in order.
#[tokio::test(start_paused = true)]
async fn dropping_the_shutdown_during_the_drain_cancels_at_once() {
    let (tx, mut cancelled_at) = mpsc::unbounded_channel();
    let handle = ServiceHandle::new(api(drain(60), tx));
    handle.start().unwrap();
    guard(handle.wait_ready()).await.unwrap();
    let asked = Instant::now();
    tokio::select! {
        outcome = handle.shutdown() => panic!("the drain ended: {outcome:?}"),
        () = poll_until(|| handle.status() == Status::Draining) => {}
    }
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Shutdown));
    assert_eq!(guard(cancelled_at.recv()).await.unwrap(), asked);
    guard(handle.wait_finished()).await.unwrap();
}

/// A drain of `Duration::MAX` does not overflow: twenty years later the service still
/// drains, and ending the shutdown's task then cancels it.
#[tokio::test(start_paused = true)]
async fn the_longest_drain_saturates() {
    let (tx, mut cancelled_at) = mpsc::unbounded_channel();
    let handle = ServiceHandle::new(api(Options::default().with_drain(Duration::MAX), tx));
    handle.start().unwrap();
    guard(handle.wait_ready()).await.unwrap();
    let shutdown = tokio::spawn({
        let handle = handle.clone();
        async move { handle.shutdown().await }
    });
    poll_until(|| handle.status() == Status::Draining).await;
    tokio::time::advance(Duration::from_secs(20 * 365 * 24 * 60 * 60)).await;
    assert!(stays_pending(cancelled_at.recv()).await, "the drain ended");
    assert_eq!(handle.status(), Status::Draining);
    shutdown.abort();
    guard(cancelled_at.recv()).await.unwrap();
    guard(handle.wait_finished()).await.unwrap();
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Shutdown));
}

/// Two shutdowns at once drain once: both return when the one drain has passed and the
/// service stopped.
#[tokio::test(start_paused = true)]
async fn a_second_shutdown_waits_for_the_first_drain() {
    let (tx, mut cancelled_at) = mpsc::unbounded_channel();
    let handle = ServiceHandle::new(api(drain(5), tx));
    handle.start().unwrap();
    guard(handle.wait_ready()).await.unwrap();
    let asked = Instant::now();
    let second = async {
        poll_until(|| handle.status() == Status::Draining).await;
        tokio::time::advance(Duration::from_secs(2)).await;
        handle.shutdown().await
    };
    let (first, second) = guard(async { tokio::join!(handle.shutdown(), second) }).await;
    first.unwrap();
    second.unwrap();
    assert_eq!(
        cancelled_at.recv().await.unwrap() - asked,
        Duration::from_secs(5)
    );
}

/// `status()` follows a service through its life, and `is_ready()` is true in `Ready` alone:
/// not started, starting (until `cx.ready()`), ready, draining, stopping (its task holds on
/// within its grace), finished.
#[tokio::test(start_paused = true)]
async fn the_status_follows_the_life_of_a_service() {
    let (ready, ready_rx) = oneshot::channel::<()>();
    let (cancelled, mut cancelled_rx) = mpsc::unbounded_channel::<()>();
    let (release, release_rx) = oneshot::channel::<()>();
    let channels = std::sync::Mutex::new(Some((ready_rx, release_rx)));
    let service = svc("Api", move |cx| {
        let (ready_rx, release_rx) = channels.lock().unwrap().take().unwrap();
        let cancelled = cancelled.clone();
        async move {
            cx.run_daemon_task("serve", move |cx| async move {
                ready_rx.await.unwrap();
                cx.ready();
                cx.cancelled().await;
                cancelled.send(()).unwrap();
                release_rx.await.unwrap();
            })?;
            Ok(())
        }
    })
    .with_options(
        drain(1)
            .with_manual_ready(true)
            .with_grace(Duration::from_secs(60)),
    );
    let handle = ServiceHandle::new(service);
    let seen = |status: Status| {
        assert_eq!(handle.status(), status);
        assert_eq!(handle.is_ready(), status == Status::Ready, "{status}");
    };
    seen(Status::NotStarted);
    handle.start().unwrap();
    seen(Status::Starting);
    ready.send(()).unwrap();
    guard(handle.wait_ready()).await.unwrap();
    seen(Status::Ready);
    let drive = async {
        poll_until(|| handle.status() == Status::Draining).await;
        seen(Status::Draining);
        cancelled_rx.recv().await.unwrap();
        seen(Status::Stopping);
        release.send(()).unwrap();
    };
    let (outcome, ()) = guard(async { tokio::join!(handle.shutdown(), drive) }).await;
    outcome.unwrap();
    seen(Status::Finished);
    assert_eq!(Status::Draining.to_string(), "draining");
    assert_eq!(Status::NotStarted.as_str(), "not started");
}

/// A service that finishes by itself during the drain ends the shutdown with its outcome,
/// without being cancelled.
#[tokio::test(start_paused = true)]
async fn a_service_that_finishes_during_the_drain_is_not_cancelled() {
    let (done, done_rx) = oneshot::channel::<()>();
    let done_rx = std::sync::Mutex::new(Some(done_rx));
    let service = svc("Batch", move |cx| {
        let done_rx = done_rx.lock().unwrap().take();
        async move {
            cx.run_task(
                "last",
                move |_cx| async move { done_rx.unwrap().await.unwrap() },
            )?;
            Ok(())
        }
    })
    .with_options(drain(60));
    let handle = ServiceHandle::new(service);
    handle.start().unwrap();
    guard(handle.wait_ready()).await.unwrap();
    let drive = async {
        poll_until(|| handle.status() == Status::Draining).await;
        done.send(()).unwrap();
    };
    let (outcome, ()) = guard(async { tokio::join!(handle.shutdown(), drive) }).await;
    outcome.unwrap();
    assert!(!handle.is_cancelled());
    assert_eq!(handle.status(), Status::Finished);
}

/// `ServiceHandle::run_until` runs the service it was made for while clones of the handle
/// call into it; when the future resolves the service stops with cause `Shutdown`. A second
/// run of the same handle is `AlreadyStarted`.
#[tokio::test]
async fn a_handle_runs_until_its_future_resolves_while_clones_call_in() {
    let handle = ServiceHandle::new(svc("Api", |cx| async move {
        cx.run_daemon_task("serve", |cx| async move { cx.cancelled().await })?;
        Ok(())
    }));
    let api = handle.clone();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let drive = async move {
        api.wait_ready().await.unwrap();
        assert_eq!(api.call(|_| async { 7 }).await, Ok(7));
        stop.send(()).unwrap();
    };
    let (outcome, ()) =
        guard(async { tokio::join!(handle.run_until(async { stop_rx.await.unwrap() }), drive) })
            .await;
    outcome.unwrap();
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Shutdown));
    let again = handle.run_until(pending()).await.unwrap_err();
    assert!(
        matches!(
            again,
            ServiceError::Lifecycle(LifecycleError::AlreadyStarted)
        ),
        "{again:?}"
    );
}
