//! Thousands of services started and stopped in a loop: memory returns to its baseline.
//!
//! A binary of its own, with a single test, so that nothing else allocates in the process
//! while it measures. The measure is the process's anonymous resident memory (`RssAnon` in
//! `/proc/self/status`; Linux only). A counting global allocator would be exact, but it
//! needs `unsafe impl GlobalAlloc`, and the workspace forbids `unsafe_code`; so every task,
//! and every service value, also holds a [`Live`] guard, which makes the "nothing is kept"
//! part exact, and resident memory shows that nothing else (the runtime's own bookkeeping)
//! grows either.

use std::future::pending;

use service_runtime::prelude::*;
use service_tests::{Live, LiveGuard, guard, poll_until, rss_anon_kib, svc};

/// Services run before the baseline is taken (allocator, runtime and timer warm-up).
const WARM_UP: usize = 100;
/// Services run after it (enough for a leak of a few bytes a service to show). Override
/// with `MEMORY_ROUNDS=n` for a soak.
const ROUNDS: usize = 5_000;
/// Tasks and service values each round keeps alive while it runs: the service value, the
/// body, 7 tasks, the child's body and its task. (The child's service value is gone by then:
/// nothing holds it once its body has started.)
const PER_ROUND: usize = 11;
/// Bytes each of them holds, so that a leak of any of them would show at once.
const PAYLOAD: usize = 1024;

/// A live guard with a payload.
struct Held {
    _guard: LiveGuard,
    _payload: Vec<u8>,
}

fn held(live: &Live) -> Held {
    Held {
        _guard: live.guard(),
        _payload: vec![1; PAYLOAD],
    }
}

/// A service with tasks, a nested task, a daemon and a daemon child service with tasks of
/// its own; the service values hold guards too. Starts it, waits until all of it is up,
/// stops it, and checks that nothing of it is left.
async fn one_round(live: &Live) {
    let service_guard = held(live);
    let task_live = live.clone();
    let handle = svc("Round", move |cx| {
        let _ = &service_guard;
        let live = task_live.clone();
        async move {
            let _body = held(&live);
            for _ in 0..4 {
                let live = live.clone();
                cx.run_task("worker", move |_cx| async move {
                    let _held = held(&live);
                    pending::<()>().await
                })?;
            }
            let nested_live = live.clone();
            cx.run_task("parent", move |cx| async move {
                let _held = held(&nested_live);
                let live = nested_live.clone();
                cx.run_task("child", move |_cx| async move {
                    let _held = held(&live);
                    pending::<()>().await
                })?;
                pending::<Result<(), LifecycleError>>().await
            })?;
            let daemon_live = live.clone();
            cx.run_daemon_task("daemon", move |cx| async move {
                let _held = held(&daemon_live);
                cx.cancelled().await;
            })?;
            let child_guard = held(&live);
            cx.run_daemon_child_service(svc("Child", move |cx| {
                let _ = &child_guard;
                let live = live.clone();
                async move {
                    let _body = held(&live);
                    let task_live = live.clone();
                    cx.run_task("child-task", move |_cx| async move {
                        let _held = held(&task_live);
                        pending::<()>().await
                    })?;
                    pending().await
                }
            }))?;
            pending().await
        }
    })
    .start();
    poll_until(|| live.count() == PER_ROUND).await;
    guard(handle.stop()).await.unwrap();
    let tasks = handle.stats().tasks;
    assert_eq!((tasks.total_count, tasks.finished_count), (8, 8));
    drop(handle);
    assert_eq!(live.count(), 0, "a task or a service value was kept");
}

#[test]
fn a_thousand_services_started_and_stopped_leave_memory_at_its_baseline() {
    if rss_anon_kib().is_none() {
        eprintln!("no RssAnon in /proc/self/status: skipped");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let live = Live::new();
        for _ in 0..WARM_UP {
            one_round(&live).await;
        }
        let rss = || rss_anon_kib().expect("RssAnon in /proc/self/status");
        let baseline = rss();
        let mut peak = baseline;
        let rounds = std::env::var("MEMORY_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(ROUNDS);
        for round in 0..rounds {
            one_round(&live).await;
            if round % 100 == 99 {
                peak = peak.max(rss());
            }
        }
        let after = rss();
        eprintln!(
            "{rounds} services ({} tasks and values, {PAYLOAD} B each): RssAnon {baseline} KiB before, {after} KiB after, {peak} KiB at most",
            rounds * PER_ROUND
        );
        // Measured: a plateau some 16-24 KiB above the baseline (allocator and timer-wheel
        // slack), the same after 1,000 or 50,000 services. A leak of the rounds' tasks would
        // be 11 KiB a round; 128 KiB over 5,000 rounds is 26 bytes a service.
        assert!(
            after <= baseline + 128,
            "memory grew from {baseline} KiB to {after} KiB over {rounds} services"
        );
    });
}
