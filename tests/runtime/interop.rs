//! The tokio-ecosystem surface of `Context`: `cancelled_owned`, `run_until_cancelled` and
//! `cancellation_token`, each resolved by the task being asked to stop — by its service, or
//! inside a contained task by that task's handle.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Log, LogOnDrop, guard, stays_pending, svc};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Hands the body's `Context` out of a service that runs until cancelled.
async fn start_with_context() -> (ServiceHandle<impl Service>, Context) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = svc("Svc", move |cx| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(cx.clone());
            cx.cancelled().await;
            Ok(())
        }
    })
    .start();
    let cx = guard(rx.recv()).await.unwrap();
    (handle, cx)
}

/// Requires what servers require of a shutdown signal.
fn owned<F: Future<Output = ()> + Send + 'static>(future: F) -> F {
    future
}

/// `cancelled_owned` outlives the `Context` it came from, runs on a tokio task of its own,
/// and resolves once the service is cancelled, not before.
#[tokio::test(start_paused = true)]
async fn cancelled_owned_resolves_when_the_service_is_cancelled() {
    let (handle, cx) = start_with_context().await;
    let mut signal = tokio::spawn(owned(cx.cancelled_owned()));
    drop(cx);
    assert!(stays_pending(&mut signal).await);
    handle.cancel();
    guard(signal).await.unwrap();
    guard(handle.wait_finished()).await.unwrap();
}

/// Inside a contained task, `cancelled_owned` and the token resolve when that task is
/// cancelled through its handle, while its service runs on.
#[tokio::test(start_paused = true)]
async fn inside_a_contained_task_they_follow_that_task() {
    let (handle, cx) = start_with_context().await;
    let (signals_tx, signals) = oneshot::channel();
    let conn = cx
        .task("conn")
        .contained()
        .spawn(move |cx| async move {
            let _ = signals_tx.send((cx.cancelled_owned(), cx.cancellation_token()));
            cx.cancelled().await;
        })
        .unwrap();
    let (signal, token) = guard(signals).await.unwrap();
    let mut signal = Box::pin(signal);
    let service_token = cx.cancellation_token();
    assert!(stays_pending(&mut signal).await);
    conn.cancel();
    guard(signal).await;
    guard(token.cancelled()).await;
    guard(conn.wait_finished()).await.unwrap();
    assert!(!service_token.is_cancelled() && !handle.is_cancelled());
    guard(handle.stop()).await.unwrap();
    assert!(service_token.is_cancelled());
}

/// `run_until_cancelled` gives the future's output when it completes, and `None` — the
/// future dropped — when the task is asked to stop first.
#[tokio::test(start_paused = true)]
async fn run_until_cancelled_gives_the_output_or_none() {
    let (handle, cx) = start_with_context().await;
    assert_eq!(cx.run_until_cancelled(async { 7 }).await, Some(7));

    let log = Log::new();
    let (entered_tx, entered) = oneshot::channel();
    let pending = {
        let log = log.clone();
        async move {
            let _dropped = LogOnDrop::new(&log, "future dropped");
            let _ = entered_tx.send(());
            std::future::pending::<u32>().await
        }
    };
    let cx2 = cx.clone();
    let run = tokio::spawn(async move { cx2.run_until_cancelled(pending).await });
    guard(entered).await.unwrap();
    handle.cancel();
    assert_eq!(guard(run).await.unwrap(), None);
    assert_eq!(log.entries(), ["future dropped"]);
    guard(handle.wait_finished()).await.unwrap();
}

/// As tokio-util's: asked to stop already, the future is never polled; once running, when
/// the future and the stop are both ready at the next poll, the future's output wins.
#[tokio::test(start_paused = true)]
async fn run_until_cancelled_breaks_ties_like_tokio_util() {
    let (handle, cx) = start_with_context().await;
    let (value_tx, value) = oneshot::channel::<u32>();
    let (entered_tx, entered) = oneshot::channel();
    let mut entered_tx = Some(entered_tx);
    let mut value = value;
    let fut = std::future::poll_fn(move |task_cx| {
        if let Some(entered) = entered_tx.take() {
            let _ = entered.send(());
        }
        Pin::new(&mut value).poll(task_cx).map(Result::unwrap)
    });
    let cx2 = cx.clone();
    let run = tokio::spawn(async move { cx2.run_until_cancelled(fut).await });
    guard(entered).await.unwrap();
    // One thread: the run is not polled between these two, so both are ready at its next.
    value_tx.send(9).unwrap();
    handle.cancel();
    assert_eq!(guard(run).await.unwrap(), Some(9));

    let polled = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&polled);
    let never = std::future::poll_fn(move |_| {
        *flag.lock().unwrap() = true;
        Poll::Ready(1)
    });
    assert_eq!(cx.run_until_cancelled(never).await, None);
    assert!(!*polled.lock().unwrap(), "polled after the stop");
    guard(handle.wait_finished()).await.unwrap();
}

/// The token is cancelled with the service; one asked for afterwards comes back cancelled;
/// cancelling a token cancels neither the service nor any other token.
#[tokio::test(start_paused = true)]
async fn cancellation_token_follows_the_service_one_way() {
    let (handle, cx) = start_with_context().await;
    let mine = cx.cancellation_token();
    let other = cx.cancellation_token();
    mine.cancel();
    assert!(!other.is_cancelled() && !cx.is_cancelled() && !handle.is_cancelled());
    let mut waiting = tokio::spawn(other.clone().cancelled_owned());
    assert!(stays_pending(&mut waiting).await);
    handle.cancel();
    guard(waiting).await.unwrap();
    assert!(other.is_cancelled());
    assert!(
        cx.cancellation_token().is_cancelled(),
        "a late token is not cancelled"
    );
    guard(handle.wait_finished()).await.unwrap();
}

/// With tokio-util's `TaskTracker`: the tracker's tasks stop on the token, and a task of
/// the service that waits for the tracker ends the service in order once they have.
#[tokio::test(start_paused = true)]
async fn the_token_stops_a_task_tracker() {
    let log = Log::new();
    let (ready_tx, mut ready) = mpsc::unbounded_channel();
    let tracked = log.clone();
    let handle = svc("Svc", move |cx| {
        let (log, ready_tx) = (tracked.clone(), ready_tx.clone());
        async move {
            cx.run_task("jobs", move |cx| async move {
                let tracker = TaskTracker::new();
                for job in 0..3 {
                    let (token, log, ready) =
                        (cx.cancellation_token(), log.clone(), ready_tx.clone());
                    tracker.spawn(async move {
                        let _ = ready.send(());
                        token.cancelled().await;
                        log.push(format!("job {job} stopped"));
                    });
                }
                tracker.close();
                tracker.wait().await;
                log.push("tracker done");
            })?;
            Ok(())
        }
    })
    // A grace, for `jobs` to wait for its tracker once cancelled.
    .with_grace(Duration::from_secs(5))
    .start();
    for _ in 0..3 {
        guard(ready.recv()).await.unwrap();
    }
    guard(handle.stop()).await.unwrap();
    let entries = log.entries();
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert_eq!(entries[3], "tracker done");
}

/// A token used where a library wants one, in a `select!` over `cancelled_owned`: the
/// branch taken is the stop.
#[tokio::test(start_paused = true)]
async fn the_token_in_a_select() {
    let (handle, cx) = start_with_context().await;
    let token: CancellationToken = cx.cancellation_token();
    let (entered_tx, entered) = oneshot::channel();
    let library = tokio::spawn(async move {
        let _ = entered_tx.send(());
        tokio::select! {
            () = token.cancelled_owned() => "stopped",
            () = std::future::pending() => "never",
        }
    });
    guard(entered).await.unwrap();
    handle.cancel();
    assert_eq!(guard(library).await.unwrap(), "stopped");
    guard(handle.wait_finished()).await.unwrap();
}

/// A service's first token, asked for after it was asked to stop, comes back cancelled.
#[tokio::test(start_paused = true)]
async fn a_first_token_asked_for_after_the_stop_is_cancelled() {
    let (handle, cx) = start_with_context().await;
    handle.cancel();
    assert!(cx.cancellation_token().is_cancelled());
    guard(handle.wait_finished()).await.unwrap();
}
