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
//! Environment: `SERVICE_BENCH_QUICK=1` (one round, one pair each, scaling up to 100k),
//! `SERVICE_BENCH_ROUNDS=<n>` (rounds; default 9), `SERVICE_BENCH_SIDE=tokio|runtime` (run
//! one side only and print its medians: for profiling, e.g. under `perf record`).
//! Workload keys for filtering: `w1`, `w2`, `w3`, `w4`, `m1`, `scaling`.

mod m1;
mod plain;
mod probe;
mod services;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

/// Which implementation a sample ran on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Tokio,
    Runtime,
}

/// The tokio runtime both sides run on: the default multi-threaded one (a worker per core).
fn tokio_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("build tokio runtime")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Bytes,
}

/// One reported figure of a workload.
struct Metric {
    label: String,
    unit: Unit,
    /// Tasks (or services) the figure covers, for the per-task column.
    items: usize,
    /// Target ratio to plain tokio, if any.
    target: Option<f64>,
    /// Scaling series name and size, for the scaling table.
    series: Option<(&'static str, usize)>,
}

type RunFn = Box<dyn Fn(&Runtime, Side) -> Vec<f64>>;

struct Workload {
    key: &'static str,
    /// Pairs per round.
    reps: usize,
    metrics: Vec<Metric>,
    run: RunFn,
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
    /// Profiling mode: run only this side (no pairs, no ratios).
    only: Option<Side>,
}

impl Config {
    fn from_env() -> Config {
        let quick = std::env::var("SERVICE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let rounds = std::env::var("SERVICE_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { 1 } else { 9 });
        let only = match std::env::var("SERVICE_BENCH_SIDE").as_deref() {
            Ok("tokio") => Some(Side::Tokio),
            Ok("runtime") => Some(Side::Runtime),
            _ => None,
        };
        Config {
            rounds,
            quick,
            only,
        }
    }

    fn reps(&self, full: usize) -> usize {
        if self.quick { 1 } else { full }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn metric(label: impl Into<String>, unit: Unit, items: usize, target: Option<f64>) -> Metric {
    Metric {
        label: label.into(),
        unit,
        items,
        target,
        series: None,
    }
}

fn workloads(config: &Config) -> Vec<Workload> {
    let mut list = vec![
        Workload {
            key: "w1",
            reps: config.reps(6),
            metrics: vec![metric(
                "W1 spawn: 100 batches × 1,000 leaves, start → finished",
                Unit::Seconds,
                100_100,
                Some(1.5),
            )],
            run: Box::new(|rt, side| {
                vec![secs(match side {
                    Side::Tokio => rt.block_on(plain::w1(100, 1000)),
                    Side::Runtime => rt.block_on(services::w1(100, 1000)),
                })]
            }),
        },
        Workload {
            key: "w2",
            reps: config.reps(20),
            metrics: vec![
                metric(
                    "W2 cancel: 10 × 1,000 idle daemons, cancel → finished",
                    Unit::Seconds,
                    10_000,
                    Some(1.5),
                ),
                metric(
                    "W2 start-up: start → all 10,000 daemons run",
                    Unit::Seconds,
                    10_000,
                    None,
                ),
            ],
            run: Box::new(|rt, side| {
                let [started, cancelled] = match side {
                    Side::Tokio => rt.block_on(plain::w2(10, 1000)),
                    Side::Runtime => rt.block_on(services::w2(10, 1000)),
                };
                vec![secs(cancelled), secs(started)]
            }),
        },
        Workload {
            key: "w3",
            reps: config.reps(20),
            metrics: vec![
                metric(
                    "W3 tree: 1,111 services (fan-out 10, depth 3), start → every daemon runs",
                    Unit::Seconds,
                    1111,
                    Some(1.5),
                ),
                metric(
                    "W3 tree: cancel root → finished",
                    Unit::Seconds,
                    1111,
                    Some(1.5),
                ),
            ],
            run: Box::new(|rt, side| {
                let [started, cancelled] = match side {
                    Side::Tokio => rt.block_on(plain::w3(10, 3, 1111)),
                    Side::Runtime => rt.block_on(services::w3(10, 3, 1111)),
                };
                vec![secs(started), secs(cancelled)]
            }),
        },
        Workload {
            key: "w4",
            reps: config.reps(20),
            metrics: vec![metric(
                "W4 error: 10,000 idle daemons, failure → finished, failure reported",
                Unit::Seconds,
                10_000,
                Some(1.5),
            )],
            run: Box::new(|rt, side| {
                vec![secs(match side {
                    Side::Tokio => rt.block_on(plain::w4(10, 1000)),
                    Side::Runtime => rt.block_on(services::w4(10, 1000)),
                })]
            }),
        },
        Workload {
            key: "m1",
            reps: config.reps(2),
            metrics: vec![metric(
                "M1 memory: peak RSS per idle daemon (100,000 vs 0)",
                Unit::Bytes,
                1,
                Some(2.0),
            )],
            run: Box::new(|_rt, side| vec![m1::bytes_per_daemon(side, 100_000)]),
        },
    ];
    let sizes: &[usize] = if config.quick {
        &[10_000, 100_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };
    for &n in sizes {
        // Fewer pairs for the big sizes: their samples are long, hence steadier.
        let reps = config.reps(if n <= 10_000 {
            10
        } else if n <= 100_000 {
            3
        } else {
            2
        });
        let batches = n / 1000;
        list.push(Workload {
            key: "scaling",
            reps,
            metrics: vec![Metric {
                label: format!("scaling W1 spawn, {n} leaves"),
                unit: Unit::Seconds,
                items: batches * 1001,
                target: None,
                series: Some(("W1 spawn (start → finished)", n)),
            }],
            run: Box::new(move |rt, side| {
                vec![secs(match side {
                    Side::Tokio => rt.block_on(plain::w1(batches, 1000)),
                    Side::Runtime => rt.block_on(services::w1(batches, 1000)),
                })]
            }),
        });
        list.push(Workload {
            key: "scaling",
            reps,
            metrics: vec![
                Metric {
                    label: format!("scaling W2 start-up, {n} daemons"),
                    unit: Unit::Seconds,
                    items: n,
                    target: None,
                    series: Some(("W2 start-up (start → all run)", n)),
                },
                Metric {
                    label: format!("scaling W2 cancel, {n} daemons"),
                    unit: Unit::Seconds,
                    items: n,
                    target: None,
                    series: Some(("W2 cancel (cancel → finished)", n)),
                },
            ],
            run: Box::new(move |rt, side| {
                let [started, cancelled] = match side {
                    Side::Tokio => rt.block_on(plain::w2(batches, 1000)),
                    Side::Runtime => rt.block_on(services::w2(batches, 1000)),
                };
                vec![secs(started), secs(cancelled)]
            }),
        });
    }
    list
}

fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty(), "median of nothing");
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn median_of(samples: &[(usize, f64)], round: Option<usize>) -> f64 {
    let mut values: Vec<f64> = samples
        .iter()
        .filter(|(r, _)| round.is_none_or(|round| *r == round))
        .map(|(_, v)| *v)
        .collect();
    median(&mut values)
}

fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn fmt_per_task(s: f64) -> String {
    if s >= 1e-6 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.0} ns", s * 1e9)
    }
}

fn fmt_value(metric: &Metric, v: f64) -> String {
    match metric.unit {
        Unit::Bytes => format!("{v:.0} B"),
        Unit::Seconds => format!(
            "{} ({}/task)",
            fmt_time(v),
            fmt_per_task(v / metric.items as f64)
        ),
    }
}

fn size_label(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    }
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{cores} cores, {model}")
}

/// The 1-minute load average: other processes competing for the cores skew every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(m1::CHILD_FLAG) {
        m1::child(&args[1..]);
        return;
    }
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let config = Config::from_env();
    let workloads: Vec<Workload> = workloads(&config)
        .into_iter()
        .filter(|w| filters.is_empty() || filters.iter().any(|f| w.key.contains(f)))
        .collect();
    let rt = tokio_runtime();
    eprintln!(
        "service-benches: {}; {} round(s){}",
        machine(),
        config.rounds,
        if config.quick { ", quick mode" } else { "" }
    );

    // Warm-up: one untimed pair of every cheap workload (allocator, thread pool, code).
    for w in workloads
        .iter()
        .filter(|w| w.key != "scaling" && w.key != "m1")
    {
        for side in [Side::Tokio, Side::Runtime] {
            if config.only.is_none_or(|only| only == side) {
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
                for side in order
                    .into_iter()
                    .filter(|side| config.only.is_none_or(|only| only == *side))
                {
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
    if let Some(side) = config.only {
        println!("\n{side:?} side only (profiling mode):\n");
        for (i, m) in metrics.iter().enumerate() {
            let s = &samples[&i];
            let v = median_of(
                if side == Side::Tokio {
                    &s.tokio
                } else {
                    &s.runtime
                },
                None,
            );
            println!("- {}: {}", m.label, fmt_value(m, v));
        }
        return;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nMachine: {}. {} interleaved round(s); medians over all samples of each side. \
         Load average (1 min) before / after: {load_before} / {}.\n",
        machine(),
        config.rounds,
        load_average(),
    );
    let _ = writeln!(
        out,
        "| workload | plain tokio | service-runtime | ratio | per-round ratios | target |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (i, m) in metrics.iter().enumerate() {
        if m.series.is_some() {
            continue;
        }
        let s = &samples[&i];
        let (t, r) = (median_of(&s.tokio, None), median_of(&s.runtime, None));
        let ratio = r / t;
        let per_round: Vec<String> = (0..config.rounds)
            .map(|round| {
                format!(
                    "{:.2}",
                    median_of(&s.runtime, Some(round)) / median_of(&s.tokio, Some(round))
                )
            })
            .collect();
        let target = match m.target {
            Some(target) if ratio <= target => format!("≤ {target}× ✅"),
            Some(target) => format!("≤ {target}× ❌"),
            None => "—".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | **{ratio:.2}×** | {} | {target} |",
            m.label,
            fmt_value(m, t),
            fmt_value(m, r),
            per_round.join(" / "),
        );
    }

    // Scaling: per-task cost by size, for each side, and largest / smallest.
    let mut series: Vec<&'static str> = Vec::new();
    for m in &metrics {
        if let Some((name, _)) = m.series
            && !series.contains(&name)
        {
            series.push(name);
        }
    }
    if !series.is_empty() {
        let sizes: Vec<usize> = {
            let mut sizes: Vec<usize> = metrics
                .iter()
                .filter_map(|m| m.series.map(|(_, n)| n))
                .collect();
            sizes.sort_unstable();
            sizes.dedup();
            sizes
        };
        let header: Vec<String> = sizes
            .iter()
            .map(|&n| format!("{} tasks", size_label(n)))
            .collect();
        let _ = writeln!(
            out,
            "\nScaling: cost per task (median), and its growth from the smallest to the largest size (target: runtime ≤ 1.5×).\n"
        );
        let _ = writeln!(
            out,
            "| series | side | {} | largest / smallest |",
            header.join(" | ")
        );
        let _ = writeln!(out, "|---|---|{}---|", "---|".repeat(sizes.len()));
        for name in series {
            for side in [Side::Tokio, Side::Runtime] {
                let mut cells = Vec::new();
                let mut per_task = Vec::new();
                for &n in &sizes {
                    let found = metrics
                        .iter()
                        .enumerate()
                        .find(|(_, m)| m.series == Some((name, n)));
                    match found {
                        Some((i, m)) => {
                            let s = &samples[&i];
                            let v = median_of(
                                if side == Side::Tokio {
                                    &s.tokio
                                } else {
                                    &s.runtime
                                },
                                None,
                            );
                            let p = v / m.items as f64;
                            per_task.push(p);
                            cells.push(fmt_per_task(p));
                        }
                        None => cells.push("—".to_owned()),
                    }
                }
                let growth = match (per_task.first(), per_task.last()) {
                    (Some(first), Some(last)) => format!("{:.2}×", last / first),
                    _ => "—".to_owned(),
                };
                let side = if side == Side::Tokio {
                    "plain tokio"
                } else {
                    "service-runtime"
                };
                let _ = writeln!(
                    out,
                    "| {name} | {side} | {} | {growth} |",
                    cells.join(" | ")
                );
            }
            // The runtime's cost relative to tokio's at each size: flat means no path of the
            // runtime grows faster than tokio's own.
            let mut cells = Vec::new();
            let mut ratios = Vec::new();
            for &n in &sizes {
                match metrics
                    .iter()
                    .enumerate()
                    .find(|(_, m)| m.series == Some((name, n)))
                {
                    Some((i, _)) => {
                        let s = &samples[&i];
                        let ratio = median_of(&s.runtime, None) / median_of(&s.tokio, None);
                        ratios.push(ratio);
                        cells.push(format!("{ratio:.2}×"));
                    }
                    None => cells.push("—".to_owned()),
                }
            }
            let growth = match (ratios.first(), ratios.last()) {
                (Some(first), Some(last)) => format!("{:.2}×", last / first),
                _ => "—".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {name} | ratio runtime / tokio | {} | {growth} |",
                cells.join(" | ")
            );
        }
    }
    let _ = writeln!(
        out,
        "\nTotal measuring time: {:.0} s.",
        began.elapsed().as_secs_f64()
    );
    println!("{out}");
}
