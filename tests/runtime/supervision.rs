//! Restart policies (`cx.task(..).restart(..)`, `cx.child(..)`), with paused time: counts
//! and delays are exact.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Log, guard, poll_until, svc};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A flaky worker: fails `failures` times (logging when each run starts, and sending on
/// `started`), then waits to be cancelled.
fn flaky(
    cx: &Context,
    policy: Restart,
    failures: usize,
    log: Log,
    began: Instant,
    started: mpsc::UnboundedSender<()>,
) -> Result<(), LifecycleError> {
    let runs = Arc::new(AtomicUsize::new(0));
    cx.task("worker").daemon().restart(policy).spawn(move |cx| {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        log.push(format!("run {run} at {}ms", began.elapsed().as_millis()));
        let _ = started.send(());
        async move {
            if run < failures {
                return Err(format!("failure {run}"));
            }
            cx.cancelled().await;
            Ok(())
        }
    })
}

/// Starts a service `Svc` whose one daemon `worker` is [`flaky`] under `policy`; returns its
/// handle, the log of runs, and the receiver told of each run.
fn start_flaky(
    policy: Restart,
    failures: usize,
) -> (
    ServiceHandle<impl Service>,
    Log,
    mpsc::UnboundedReceiver<()>,
) {
    let log = Log::new();
    let began = Instant::now();
    let (started_tx, started) = mpsc::unbounded_channel();
    let runs = log.clone();
    let handle = svc("Svc", move |cx| {
        let result = flaky(
            &cx,
            policy.clone(),
            failures,
            runs.clone(),
            began,
            started_tx.clone(),
        );
        async move { Ok(result?) }
    })
    .start();
    (handle, log, started)
}

/// A failing task is restarted by `on_failure` with exact exponential delays (no jitter);
/// healed failures are counted, not reported.
#[tokio::test(start_paused = true)]
async fn restarts_with_exponential_backoff() {
    let policy = Restart::on_failure()
        .max_restarts(10)
        .within(Duration::from_secs(60))
        .backoff(Duration::from_millis(100), Duration::from_millis(400))
        .without_jitter();
    let (handle, log, mut started) = start_flaky(policy, 4);
    for _ in 0..5 {
        guard(started.recv()).await.unwrap();
    }
    assert_eq!(
        log.entries(),
        [
            "run 0 at 0ms",
            "run 1 at 100ms",
            "run 2 at 300ms",
            "run 3 at 700ms",
            "run 4 at 1100ms"
        ]
    );
    guard(handle.stop()).await.unwrap();
    let tasks = handle.stats().tasks;
    assert_eq!(
        (tasks.total_count, tasks.finished_count, tasks.restart_count),
        (1, 1, 4)
    );
}

/// More than `max_restarts` restarts inside the window gives up: the last failure becomes
/// the service's, noting the restart count.
#[tokio::test(start_paused = true)]
async fn intensity_exceeded_escalates_the_last_failure() {
    let policy = Restart::on_failure()
        .max_restarts(2)
        .within(Duration::from_secs(5));
    let (handle, log, _started) = start_flaky(policy, usize::MAX);
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(log.entries().len(), 3);
    let [failure] = error.failures() else {
        panic!("{error}")
    };
    assert_eq!(failure.path(), "Svc/worker");
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(
        failure.error().to_string(),
        "failure 2 (gave up after 2 restarts within 5s)"
    );
    assert_eq!(
        error.failures().len(),
        1,
        "healed failures are not reported"
    );
}

/// The backoff resets after the task has run `within` without failing.
#[tokio::test(start_paused = true)]
async fn backoff_resets_after_a_stable_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    let log = Log::new();
    let began = Instant::now();
    let (runs2, log2) = (Arc::clone(&runs), log.clone());
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let handle = svc("Svc", move |cx| {
        let (runs, log, started_tx) = (Arc::clone(&runs2), log2.clone(), started_tx.clone());
        let policy = Restart::on_failure()
            .max_restarts(10)
            .within(Duration::from_secs(1))
            .backoff(Duration::from_millis(100), Duration::from_secs(10))
            .without_jitter();
        let result = cx.task("worker").restart(policy).spawn(move |_cx| {
            let run = runs.fetch_add(1, Ordering::SeqCst);
            log.push(format!("{}", began.elapsed().as_millis()));
            let _ = started_tx.send(());
            async move {
                // Runs 0 and 1 fail at once; run 2 runs 2 s (past `within`) then fails;
                // run 3 must come after the minimum delay again.
                if run == 2 {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                if run < 3 {
                    Err("boom")
                } else {
                    std::future::pending().await
                }
            }
        });
        async move { Ok(result?) }
    })
    .start();
    for _ in 0..4 {
        guard(started.recv()).await.unwrap();
    }
    // 0; +100; +200; ran 2000 then failed: +100 (reset), not +400.
    assert_eq!(log.entries(), ["0", "100", "300", "2400"]);
    guard(handle.stop()).await.unwrap();
}

/// Nothing restarts once the service is cancelled, and a task waiting out its backoff is
/// done at once.
#[tokio::test(start_paused = true)]
async fn no_restart_after_cancel_and_backoff_ends_at_once() {
    let policy = Restart::always()
        .max_restarts(10)
        .backoff(Duration::from_secs(30), Duration::from_secs(30))
        .without_jitter();
    let (handle, log, _started) = start_flaky(policy, 1);
    // The failure is healed (counted) before the backoff starts; yielding keeps the paused
    // clock from moving, so the backoff is still being waited out.
    poll_until(|| handle.stats().tasks.restart_count == 1).await;
    let stopping = Instant::now();
    guard(handle.stop()).await.unwrap();
    assert_eq!(
        stopping.elapsed(),
        Duration::ZERO,
        "the backoff is not waited out"
    );
    assert_eq!(log.entries(), ["run 0 at 0ms"]);
    assert_eq!(handle.stats().tasks.restart_count, 1);
}

/// `always` restarts clean exits too; a daemon under `on_failure` is restarted when it
/// returns.
#[tokio::test(start_paused = true)]
async fn always_and_daemon_on_failure_restart_clean_exits() {
    for (policy, daemon) in [(Restart::always(), false), (Restart::on_failure(), true)] {
        let runs = Arc::new(AtomicUsize::new(0));
        let (ran_tx, mut ran) = mpsc::unbounded_channel();
        let handle = svc("Svc", move |cx| {
            let (runs, ran_tx) = (Arc::clone(&runs), ran_tx.clone());
            let builder = cx.task("again").restart(policy.clone().max_restarts(100));
            let builder = if daemon { builder.daemon() } else { builder };
            let result = builder.spawn(move |cx| {
                let run = runs.fetch_add(1, Ordering::SeqCst);
                ran_tx.send(()).unwrap();
                async move {
                    if run >= 3 {
                        cx.cancelled().await;
                    }
                }
            });
            async move { Ok(result?) }
        })
        .start();
        for _ in 0..4 {
            guard(ran.recv()).await.unwrap();
        }
        guard(handle.stop()).await.unwrap();
        assert_eq!(handle.stats().tasks.restart_count, 3);
    }
}

/// A child service restarts from its factory: a fresh instance under a fresh manager each
/// time; its failures are healed until the policy gives up, then reported with their paths.
#[tokio::test(start_paused = true)]
async fn child_services_restart_from_their_factory() {
    let made = Arc::new(AtomicUsize::new(0));
    let made2 = Arc::clone(&made);
    let handle = svc("Node", move |cx| {
        let made = Arc::clone(&made2);
        let result = cx
            .child(move || {
                made.fetch_add(1, Ordering::SeqCst);
                svc("Store", |cx| async move {
                    cx.run_task("flush", |_cx| async { Err::<(), _>("disk full") })?;
                    Ok(())
                })
            })
            .restart(Restart::on_failure().max_restarts(2))
            .spawn()
            .map(drop);
        async move { Ok(result?) }
    })
    .start();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(made.load(Ordering::SeqCst), 3);
    // The supervising task is Node's one task; the instances it ran are restarts of it, not
    // tasks of their own (so `finished_count` never exceeds `total_count`).
    let tasks = handle.stats().tasks;
    assert_eq!(
        (tasks.total_count, tasks.finished_count, tasks.restart_count),
        (1, 1, 2)
    );
    let [failure] = error.failures() else {
        panic!("{error}")
    };
    assert_eq!(failure.path(), "Node/Store/flush");
    assert!(
        failure
            .error()
            .to_string()
            .ends_with("(gave up after 2 restarts within 5s)"),
        "{failure}"
    );
}

/// Jittered backoff stays between half and all of the nominal delay.
#[tokio::test(start_paused = true)]
async fn jittered_backoff_stays_in_bounds() {
    let policy = Restart::on_failure()
        .max_restarts(100)
        .within(Duration::from_secs(3600))
        .backoff(Duration::from_secs(1), Duration::from_secs(1));
    let (handle, log, mut started) = start_flaky(policy, 5);
    for _ in 0..6 {
        guard(started.recv()).await.unwrap();
    }
    let times: Vec<u128> = log
        .entries()
        .iter()
        .map(|e| {
            e.split(" at ")
                .nth(1)
                .unwrap()
                .trim_end_matches("ms")
                .parse()
                .unwrap()
        })
        .collect();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((500..=1000).contains(&gap), "{times:?}");
    }
    guard(handle.stop()).await.unwrap();
}
