//! What `Manager::snapshot` costs: the time to take one of a 100,000-task tree, and the
//! slowdown that snapshots taken while a spawn-heavy workload runs cause it, against the
//! same workload alone — interleaved in the same run, so that a slow phase of the machine
//! hits every variant alike. Also what one read of the clock costs (a task's start, for its
//! age: one read per poll of the task that starts it), against a task's whole cost in the
//! same run.
//!
//! ```text
//! cargo bench -p service-benches --bench snapshot              # 9 rounds (~1 min)
//! SERVICE_BENCH_QUICK=1 cargo bench -p service-benches --bench snapshot
//! ```
//!
//! Environment: `SERVICE_BENCH_ROUNDS=<n>` (default 9; 2 with `SERVICE_BENCH_QUICK=1`).

use std::future::pending;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use service_runtime::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

/// `batches` batch tasks of `daemons` idle daemons each: 100 × 1,000 is the 100,000-task
/// tree.
struct Idle {
    batches: usize,
    daemons: usize,
    running: Arc<AtomicUsize>,
    all_run: Arc<Notify>,
}

impl Service for Idle {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let total = self.batches * self.daemons;
        for _ in 0..self.batches {
            let this = Arc::clone(&self);
            cx.run_task("batch", move |cx| async move {
                for _ in 0..this.daemons {
                    let this = Arc::clone(&this);
                    cx.run_daemon_task("daemon", move |_cx| async move {
                        if this.running.fetch_add(1, Ordering::AcqRel) + 1 == total {
                            this.all_run.notify_one();
                        }
                        pending::<()>().await;
                    })?;
                }
                Ok::<(), LifecycleError>(())
            })?;
        }
        Ok(())
    }
}

/// The spawn-heavy workload (the overhead bench's W1): 100 batches × 1,000 leaves that
/// yield once, start → finished.
struct Spawn;

impl Service for Spawn {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        for _ in 0..100 {
            cx.run_task("batch", |cx| async move {
                for _ in 0..1000 {
                    cx.run_task("leaf", |_cx| tokio::task::yield_now())?;
                }
                Ok::<(), LifecycleError>(())
            })?;
        }
        Ok(())
    }
}

/// How snapshots are taken while the spawn workload runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Snapshots {
    None,
    /// Back to back, from a thread of their own.
    Loop,
    /// One every 10 ms, from a thread of their own (an operator's tool polling hard).
    Every10ms,
}

/// One run of the spawn workload with `snapshots` taken meanwhile; its time, and how many
/// snapshots were taken.
fn spawn_run(rt: &Runtime, snapshots: Snapshots) -> (Duration, usize) {
    let handle = rt.block_on(async { ServiceHandle::new(Spawn) });
    let manager: Manager = (*handle).clone();
    let done = Arc::new(AtomicBool::new(false));
    let taker = (snapshots != Snapshots::None).then(|| {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut taken = 0;
            while !done.load(Ordering::Acquire) {
                black_box(manager.snapshot());
                taken += 1;
                if snapshots == Snapshots::Every10ms {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            taken
        })
    });
    let start = Instant::now();
    rt.block_on(async { handle.run().await.expect("the spawn workload failed") });
    let elapsed = start.elapsed();
    done.store(true, Ordering::Release);
    let taken = taker.map_or(0, |taker| taker.join().unwrap());
    (elapsed, taken)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn main() {
    let quick = std::env::var("SERVICE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let rounds: usize = std::env::var("SERVICE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2 } else { 9 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("build tokio runtime");
    eprintln!(
        "snapshot bench: {rounds} round(s), {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average()
    );

    // 1. A 100,000-task tree: the time to take a snapshot, and to print it.
    let running = Arc::new(AtomicUsize::new(0));
    let all_run = Arc::new(Notify::new());
    let idle = Idle {
        batches: 100,
        daemons: 1000,
        running: Arc::clone(&running),
        all_run: Arc::clone(&all_run),
    };
    let tree = rt.block_on(async {
        let handle = idle.start();
        all_run.notified().await;
        handle
    });
    let entries = tree.snapshot().len();
    let mut take_rounds: Vec<Vec<f64>> = Vec::new();
    let mut print_rounds: Vec<f64> = Vec::new();
    let mut printed_lines = 0;
    for _ in 0..rounds {
        let mut takes: Vec<f64> = (0..10)
            .map(|_| {
                let start = Instant::now();
                let snapshot = black_box(tree.snapshot());
                let took = start.elapsed();
                drop(snapshot);
                ms(took)
            })
            .collect();
        takes.sort_by(f64::total_cmp);
        take_rounds.push(takes);
        let snapshot = tree.snapshot();
        let start = Instant::now();
        let text = black_box(snapshot.to_string());
        print_rounds.push(ms(start.elapsed()));
        printed_lines = text.lines().count();
    }
    rt.block_on(async { tree.stop().await.expect("the idle tree failed") });

    // 1b. One node of 1,000 children: its whole snapshot bounds the time its lock is held
    // (the copy under the lock is a part of it).
    let one = Idle {
        batches: 1,
        daemons: 1000,
        running: Arc::new(AtomicUsize::new(0)),
        all_run: Arc::new(Notify::new()),
    };
    let all_run = Arc::clone(&one.all_run);
    let small = rt.block_on(async {
        let handle = one.start();
        all_run.notified().await;
        handle
    });
    let mut small_takes: Vec<f64> = (0..rounds * 100)
        .map(|_| {
            let start = Instant::now();
            let snapshot = black_box(small.snapshot());
            let took = start.elapsed();
            drop(snapshot);
            took.as_secs_f64() * 1e6
        })
        .collect();
    rt.block_on(async { small.stop().await.expect("the small tree failed") });

    // 2. The spawn workload alone and with snapshots, interleaved.
    let variants = [Snapshots::None, Snapshots::Loop, Snapshots::Every10ms];
    let mut runs: Vec<Vec<(usize, f64, usize)>> = vec![Vec::new(); variants.len()];
    for _ in 0..2 {
        // Warm-up: allocator, thread pool, code.
        spawn_run(&rt, Snapshots::None);
    }
    for round in 0..rounds {
        for step in 0..variants.len() * 2 {
            let which = (step + round) % variants.len();
            let (elapsed, taken) = spawn_run(&rt, variants[which]);
            runs[which].push((round, ms(elapsed), taken));
        }
    }

    // 3. The clock read that stamps the starts of one poll's tasks, against a task's whole
    // cost (what it would cost every task, were each stamped on its own).
    let reads = 10_000_000;
    let start = Instant::now();
    for _ in 0..reads {
        black_box(tokio::time::Instant::now());
    }
    let per_read_ns = start.elapsed().as_secs_f64() * 1e9 / reads as f64;

    println!(
        "## Snapshot figures ({rounds} rounds, load average after: {})",
        load_average()
    );
    println!();
    let mut all: Vec<f64> = take_rounds.iter().flatten().copied().collect();
    let per_round: Vec<String> = take_rounds
        .iter()
        .map(|takes| format!("{:.1}", median(&mut takes.clone())))
        .collect();
    println!(
        "take a snapshot of {entries} entries: median {:.1} ms ({:.0} ns per task); per-round medians {} ms",
        median(&mut all),
        median(&mut all) * 1e6 / entries as f64,
        per_round.join(" / ")
    );
    println!(
        "print it ({printed_lines} lines): median {:.2} ms",
        median(&mut print_rounds)
    );
    println!(
        "take a snapshot of one node with 1,000 children (bounds one node's lock): median {:.0} µs",
        median(&mut small_takes)
    );
    let alone: Vec<f64> = runs[0].iter().map(|(_, ms, _)| *ms).collect();
    let alone_median = median(&mut alone.clone());
    println!(
        "spawn workload (100,100 tasks) alone: median {alone_median:.1} ms ({:.2} µs per task)",
        alone_median * 1e3 / 100_100.0
    );
    for (variant, samples) in variants.iter().zip(&runs).skip(1) {
        let times: Vec<f64> = samples.iter().map(|(_, ms, _)| *ms).collect();
        let taken: Vec<f64> = samples.iter().map(|(_, _, n)| *n as f64).collect();
        let with = median(&mut times.clone());
        let ratios: Vec<String> = (0..rounds)
            .map(|round| {
                let of = |runs: &Vec<(usize, f64, usize)>| {
                    let mut values: Vec<f64> = runs
                        .iter()
                        .filter(|(r, _, _)| *r == round)
                        .map(|(_, ms, _)| *ms)
                        .collect();
                    median(&mut values)
                };
                format!("{:.2}", of(samples) / of(&runs[0]))
            })
            .collect();
        println!(
            "spawn workload with snapshots {variant:?}: median {with:.1} ms, ratio {:.2}× (per round {}), {:.0} snapshots per run",
            with / alone_median,
            ratios.join(" / "),
            median(&mut taken.clone())
        );
    }
    println!(
        "tokio::time::Instant::now(): {per_read_ns:.1} ns per read = {:.1}% of a task's cost in the spawn workload (read once per spawning poll, not per task)",
        per_read_ns / (alone_median * 1e6 / 100_100.0) * 100.0
    );
}
