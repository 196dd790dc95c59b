//! Overhead of `service-runtime` against hand-written plain tokio, measured side by side.
//!
//! Every workload runs on both sides in the same process, on the same tokio runtime,
//! interleaved: each round runs every workload as pairs (plain tokio, then the runtime, or
//! the other way round — the order alternates), so a slow phase of the machine hits both
//! sides alike. The tables report the median of all samples of each side and their ratio,
//! plus the ratio of each round's medians to show the spread.
//!
//! ```text
//! cargo bench -p service-benches --bench overhead                 # full run (~4 min)
//! SERVICE_BENCH_QUICK=1 cargo bench -p service-benches            # smoke run (seconds)
//! cargo bench -p service-benches --bench overhead -- w1 m1        # only some workloads
//! ```
//!
//! Environment: `SERVICE_BENCH_QUICK=1` (one round, one pair each),
//! `SERVICE_BENCH_ROUNDS=<n>` (rounds; default 9), `SERVICE_BENCH_SCALE=1` (the scaling
//! series up to 1M tasks and 111,111 services; default up to 100k and 11,111),
//! `SERVICE_BENCH_TRACING=info|debug` (a `tracing_subscriber::fmt` subscriber at that level,
//! writing to a sink, for the whole run), `SERVICE_BENCH_SIDE=tokio|runtime` (run one side
//! only and print its medians: for profiling, e.g. under `perf record`). Feature
//! `lock-stats`: the hot parent's runs also report the runtime's lock hold times.
//! Workload keys for filtering: `w1`, `w2`, `w3`, `w4`, `w5`, `m1`, `hot`, `scaling`.
//!
//! `overhead --phases <tokio|runtime> <trees>` is not a timed run: it runs W3 trees on a
//! current-thread runtime with their start-up and their cancellation in functions of their
//! own, for `scripts/phases.sh` to count each phase's instructions apart (`phases` module).

mod attribution;
mod conn;
mod hot;
mod m1;
mod phases;
mod plain;
mod probe;
mod report;
mod services;
mod traced;
mod workloads;

use std::collections::BTreeMap;
use std::time::Instant;

use tokio::runtime::Runtime;

use crate::report::{load_average, machine};
use crate::workloads::{Metric, Workload, workloads};

/// Which implementation a sample ran on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Tokio,
    Runtime,
}

impl Side {
    /// The side an argument or `SERVICE_BENCH_SIDE` names: `tokio` or `runtime`.
    fn parse(name: &str) -> Option<Side> {
        match name {
            "tokio" => Some(Side::Tokio),
            "runtime" => Some(Side::Runtime),
            _ => None,
        }
    }
}

/// The tokio runtime both sides run on: the default multi-threaded one (a worker per core).
fn tokio_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("build tokio runtime")
}

#[derive(Default)]
struct Samples {
    /// (round, value) per side.
    tokio: Vec<(usize, f64)>,
    runtime: Vec<(usize, f64)>,
}

struct Config {
    rounds: usize,
    quick: bool,
    /// The big sizes of the scaling series too (1M tasks, 111,111 services).
    scale: bool,
    /// Profiling mode: run only this side (no pairs, no ratios).
    only: Option<Side>,
}

impl Config {
    fn from_env() -> Config {
        let flag = |name| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0");
        let quick = flag("SERVICE_BENCH_QUICK");
        let scale = flag("SERVICE_BENCH_SCALE");
        let rounds = std::env::var("SERVICE_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { 1 } else { 9 });
        let only = std::env::var("SERVICE_BENCH_SIDE")
            .ok()
            .and_then(|side| Side::parse(&side));
        Config {
            rounds,
            quick,
            scale,
            only,
        }
    }

    fn reps(&self, full: usize) -> usize {
        if self.quick { 1 } else { full }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(m1::CHILD_FLAG) {
        m1::child(&args[1..]);
        return;
    }
    if args.first().map(String::as_str) == Some(phases::FLAG) {
        phases::main(&args[1..]);
        return;
    }
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let config = Config::from_env();
    traced::install();
    let workloads: Vec<Workload> = workloads(&config)
        .into_iter()
        .filter(|w| filters.is_empty() || filters.iter().any(|f| w.key.contains(f)))
        .collect();
    let rt = tokio_runtime();
    eprintln!(
        "service-benches: {}; {} round(s){}{}",
        machine(),
        config.rounds,
        if config.quick { ", quick mode" } else { "" },
        match traced::level() {
            Some(level) => format!(", tracing at {level} (fmt subscriber to a sink)"),
            None => String::new(),
        }
    );

    // Warm-up: one untimed pair of every cheap workload (allocator, thread pool, code).
    for w in workloads
        .iter()
        .filter(|w| w.key != "scaling" && w.key != "m1")
    {
        for side in [Side::Tokio, Side::Runtime] {
            if config.only.is_none_or(|only| only == side) && !(w.single && side == Side::Runtime) {
                (w.run)(&rt, side);
            }
        }
    }

    let began = Instant::now();
    let load_before = load_average();
    let mut samples: BTreeMap<usize, Samples> = BTreeMap::new(); // by metric index
    let metric_index: Vec<usize> = workloads
        .iter()
        .scan(0, |next, w| {
            let first = *next;
            *next += w.metrics.len();
            Some(first)
        })
        .collect();
    for round in 0..config.rounds {
        for (wi, w) in workloads.iter().enumerate() {
            for rep in 0..w.reps {
                let order = if (round + rep + wi) % 2 == 0 {
                    [Side::Tokio, Side::Runtime]
                } else {
                    [Side::Runtime, Side::Tokio]
                };
                for side in order.into_iter().filter(|side| {
                    config.only.is_none_or(|only| only == *side)
                        && !(w.single && *side == Side::Runtime)
                }) {
                    let values = (w.run)(&rt, side);
                    for (mi, v) in values.into_iter().enumerate() {
                        let s = samples.entry(metric_index[wi] + mi).or_default();
                        match side {
                            Side::Tokio => s.tokio.push((round, v)),
                            Side::Runtime => s.runtime.push((round, v)),
                        }
                    }
                }
            }
        }
        eprintln!(
            "round {}/{} done after {:.0} s",
            round + 1,
            config.rounds,
            began.elapsed().as_secs_f64()
        );
    }

    let metrics: Vec<&Metric> = workloads.iter().flat_map(|w| w.metrics.iter()).collect();
    report::print(&config, &metrics, &samples, began, &load_before);
    print!("{}", hot::lock_report());
}
