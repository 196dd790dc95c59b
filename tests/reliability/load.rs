//! Load: 1,000,000 short tasks through one service, and 100,000 idle daemons cancelled at
//! once, each at three sizes to show that the cost per task is flat.
//!
//! Timing is not a test: these are `#[ignore]`d and print their figures. Run them in release
//! mode, one at a time:
//!
//! ```text
//! cargo test -p service-tests --release --test reliability load_ -- --ignored --nocapture --test-threads=1
//! ```
//!
//! The only assertions are on correctness (every task counted and finished, nothing left)
//! and a loose flatness bound (the largest size may cost at most 3× per task what the
//! smallest does).

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use service_runtime::prelude::*;
use service_tests::{Live, rss_anon_kib, svc};
use tokio::sync::{Notify, Semaphore};

/// Short tasks in flight at once (below `max_children`, so the service needs no tuning).
const WINDOW: usize = 512;

#[derive(Clone, Copy, Debug)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

fn runtime(flavor: Flavor) -> tokio::runtime::Runtime {
    match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
    }
    .enable_all()
    .build()
    .unwrap()
}

fn per(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_nanos() as f64 / n as f64
}

/// `n` short tasks through one service (the body starts them, at most [`WINDOW`] in
/// flight), next to the same tasks spawned on bare tokio; returns the time for both.
fn short_tasks(flavor: Flavor, n: usize) -> (Duration, Duration) {
    let runtime = runtime(flavor);
    runtime.block_on(async {
        let live = Live::new();
        let task_live = live.clone();
        let began = Instant::now();
        let handle = ServiceHandle::new(svc("Load", move |cx| {
            let live = task_live.clone();
            async move {
                let window = Arc::new(Semaphore::new(WINDOW));
                for _ in 0..n {
                    let permit = Arc::clone(&window).acquire_owned().await.unwrap();
                    let guard = live.guard();
                    cx.run_task("short", move |_cx| async move {
                        drop((permit, guard));
                    })?;
                }
                Ok(())
            }
        }));
        handle.run().await.unwrap();
        let service = began.elapsed();
        let tasks = handle.stats().tasks;
        assert_eq!((tasks.total_count, tasks.finished_count), (n, n));
        assert_eq!(live.count(), 0);

        let began = Instant::now();
        let window = Arc::new(Semaphore::new(WINDOW));
        for _ in 0..n {
            let permit = Arc::clone(&window).acquire_owned().await.unwrap();
            tokio::spawn(async move { drop(permit) });
        }
        let _all = window.acquire_many(WINDOW as u32).await.unwrap();
        let bare = began.elapsed();
        (service, bare)
    })
}

#[test]
#[ignore = "load run, release mode: see RELIABILITY.md"]
fn load_short_tasks_through_one_service() {
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let mut costs = Vec::new();
        for n in [10_000, 100_000, 1_000_000] {
            let (service, bare) = short_tasks(flavor, n);
            eprintln!(
                "short tasks, {flavor:?}: {n:>9} tasks in {service:>8.1?}: {:>5.0} ns/task through the service ({:>4.0} ns/task on bare tokio)",
                per(service, n),
                per(bare, n),
            );
            costs.push(per(service, n));
        }
        assert!(
            costs[2] <= 3.0 * costs[0],
            "{flavor:?}: per-task cost not flat: {costs:?}"
        );
    }
}

/// `n` idle daemons (half wait for cancellation, half ignore it and are aborted); returns ns
/// per daemon to start them all, ns per daemon to stop them all, and resident bytes per daemon.
fn idle_daemons(flavor: Flavor, n: usize) -> (f64, f64, f64) {
    let runtime = runtime(flavor);
    runtime.block_on(async {
        let live = Live::new();
        let running = Arc::new(AtomicUsize::new(0));
        let all_up = Arc::new(Notify::new());
        let memory_before = rss_anon_kib().unwrap_or(0);
        let began = Instant::now();
        let (task_live, task_running, task_all_up) =
            (live.clone(), Arc::clone(&running), Arc::clone(&all_up));
        let mut options = Options::default();
        options.max_children = usize::MAX;
        let handle = svc("Idle", move |cx| {
            let (live, running, all_up) = (
                task_live.clone(),
                Arc::clone(&task_running),
                Arc::clone(&task_all_up),
            );
            async move {
                for i in 0..n {
                    let (guard, running, all_up) =
                        (live.guard(), Arc::clone(&running), Arc::clone(&all_up));
                    cx.run_daemon_task("idle", move |cx| async move {
                        let _guard = guard;
                        if running.fetch_add(1, Ordering::AcqRel) + 1 == n {
                            all_up.notify_one();
                        }
                        if i % 2 == 0 {
                            cx.cancelled().await;
                        } else {
                            pending::<()>().await;
                        }
                    })?;
                }
                pending().await
            }
        })
        .with_options(options)
        .start();
        all_up.notified().await;
        let start = began.elapsed();
        let memory = rss_anon_kib().unwrap_or(0).saturating_sub(memory_before);
        let began = Instant::now();
        handle.stop().await.unwrap();
        let stop = began.elapsed();
        let tasks = handle.stats().tasks;
        assert_eq!((tasks.total_count, tasks.finished_count), (n, n));
        assert_eq!(live.count(), 0);
        (
            per(start, n),
            per(stop, n),
            memory as f64 * 1024.0 / n as f64,
        )
    })
}

#[test]
#[ignore = "load run, release mode: see RELIABILITY.md"]
fn load_idle_daemons_cancelled_at_once() {
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let mut costs = Vec::new();
        for n in [1_000, 10_000, 100_000] {
            let (start, stop, bytes) = idle_daemons(flavor, n);
            eprintln!(
                "idle daemons, {flavor:?}: {n:>7} daemons: start {start:>5.0} ns/daemon, cancel-to-finished {stop:>5.0} ns/daemon, ~{bytes:>4.0} B/daemon resident"
            );
            costs.push((start, stop));
        }
        assert!(
            costs[2].1 <= 3.0 * costs[0].1.max(costs[1].1),
            "{flavor:?}: cancellation cost per daemon not flat: {costs:?}"
        );
    }
}
