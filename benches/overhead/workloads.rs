//! The workloads: what each key runs on each side, and the figures it reports.

use std::time::Duration;

use tokio::runtime::Runtime;

use crate::hot::{self, Children};
use crate::{Config, Side, attribution, m1, plain, services};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Seconds,
    Bytes,
}

/// One reported figure of a workload.
pub(crate) struct Metric {
    pub(crate) label: String,
    pub(crate) unit: Unit,
    /// Tasks (or services) the figure covers, for the per-task column.
    pub(crate) items: usize,
    /// What one item is, in that column: `task`, or `connection` for W5.
    pub(crate) per: &'static str,
    /// Target ratio to plain tokio, if any.
    pub(crate) target: Option<f64>,
    /// Scaling series name and size, for the scaling table.
    pub(crate) series: Option<(&'static str, usize)>,
}

/// The hot parent's size: spawners, and children each starts.
pub(crate) const HOT_SPAWNERS: usize = 100;
pub(crate) const HOT_CHILDREN: usize = 1000;

pub(crate) type RunFn = Box<dyn Fn(&Runtime, Side) -> Vec<f64>>;

pub(crate) struct Workload {
    pub(crate) key: &'static str,
    /// Runs the same code for both sides (a reference series): run once per pair, as the
    /// plain side.
    pub(crate) single: bool,
    /// Pairs per round.
    pub(crate) reps: usize,
    pub(crate) metrics: Vec<Metric>,
    pub(crate) run: RunFn,
}

pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub(crate) fn metric(
    label: impl Into<String>,
    unit: Unit,
    items: usize,
    target: Option<f64>,
) -> Metric {
    Metric {
        label: label.into(),
        unit,
        items,
        per: "task",
        target,
        series: None,
    }
}

/// W5's size: connections in all, and at most this many live at once.
const W5_CONNECTIONS: usize = 10_000;
const W5_LIVE: usize = 100;

pub(crate) fn workloads(config: &Config) -> Vec<Workload> {
    let mut list = vec![
        Workload {
            single: false,
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
            single: false,
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
            single: false,
            key: "w3",
            reps: config.reps(20),
            metrics: vec![
                Metric {
                    per: "service",
                    ..metric(
                        "W3 tree: 1,111 services (fan-out 10, depth 3), start → every daemon runs",
                        Unit::Seconds,
                        1111,
                        Some(1.5),
                    )
                },
                Metric {
                    per: "service",
                    ..metric(
                        "W3 tree: cancel root → finished",
                        Unit::Seconds,
                        1111,
                        Some(1.5),
                    )
                },
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
            single: false,
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
            single: false,
            key: "w5",
            reps: config.reps(10),
            metrics: vec![Metric {
                per: "connection",
                ..metric(
                    "W5 server: 10,000 contained connections (≤ 100 live, 1 in 100 fails), \
                     first arrival → all finished, outcomes seen",
                    Unit::Seconds,
                    W5_CONNECTIONS,
                    None,
                )
            }],
            run: Box::new(|rt, side| {
                vec![secs(match side {
                    Side::Tokio => rt.block_on(plain::w5(W5_CONNECTIONS, W5_LIVE)),
                    Side::Runtime => rt.block_on(services::w5(W5_CONNECTIONS, W5_LIVE)),
                })]
            }),
        },
        Workload {
            single: false,
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
        Workload {
            single: false,
            key: "hot",
            reps: config.reps(6),
            metrics: vec![
                metric(
                    "Hot parent: 100 spawners × 1,000 children into one service, start → finished",
                    Unit::Seconds,
                    HOT_SPAWNERS * HOT_CHILDREN,
                    None,
                ),
                metric(
                    "Hot parent, cancelled while the spawners spawn (at 50,000 children running), \
                     cancel → finished",
                    Unit::Seconds,
                    HOT_SPAWNERS * HOT_CHILDREN / 2,
                    None,
                ),
            ],
            run: Box::new(|rt, side| {
                let idle = Children::Idle {
                    cancel_at: HOT_SPAWNERS * HOT_CHILDREN / 2,
                };
                let (n, m) = (HOT_SPAWNERS, HOT_CHILDREN);
                match side {
                    Side::Tokio => vec![
                        secs(rt.block_on(hot::plain(n, m, Children::Brief))),
                        secs(rt.block_on(hot::plain(n, m, idle))),
                    ],
                    Side::Runtime => vec![
                        secs(hot::measured("brief", || {
                            rt.block_on(hot::runtime(n, m, Children::Brief))
                        })),
                        secs(hot::measured("cancelled", || {
                            rt.block_on(hot::runtime(n, m, idle))
                        })),
                    ],
                }
            }),
        },
    ];
    let sizes: &[usize] = if config.scale {
        &[10_000, 100_000, 1_000_000]
    } else {
        &[10_000, 100_000]
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
            single: false,
            key: "scaling",
            reps,
            metrics: vec![Metric {
                label: format!("scaling W1 spawn, {n} leaves"),
                unit: Unit::Seconds,
                items: batches * 1001,
                per: "task",
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
            single: false,
            key: "scaling",
            reps,
            metrics: vec![
                Metric {
                    label: format!("scaling W2 start-up, {n} daemons"),
                    unit: Unit::Seconds,
                    items: n,
                    per: "task",
                    target: None,
                    series: Some(("W2 start-up (start → all run)", n)),
                },
                Metric {
                    label: format!("scaling W2 cancel, {n} daemons"),
                    unit: Unit::Seconds,
                    items: n,
                    per: "task",
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
        list.push(Workload {
            single: true,
            key: "scaling",
            reps,
            metrics: vec![
                Metric {
                    label: format!("tokio alone, {n} tasks"),
                    unit: Unit::Seconds,
                    items: n,
                    per: "task",
                    target: None,
                    series: Some((attribution::TOKIO_ALONE, n)),
                },
                Metric {
                    label: format!("allocator alone, {n} blocks"),
                    unit: Unit::Seconds,
                    items: n,
                    per: "task",
                    target: None,
                    series: Some((attribution::ALLOCATOR_ALONE, n)),
                },
            ],
            run: Box::new(move |rt, _side| {
                vec![
                    secs(rt.block_on(attribution::tokio_alone(batches, 1000))),
                    secs(attribution::allocator_alone(n)),
                ]
            }),
        });
    }
    // W3 trees of 1,111, 11,111 (and 111,111) child services: depth 3, 4 (and 5).
    let depths: &[u32] = if config.scale { &[3, 4, 5] } else { &[3, 4] };
    for &depth in depths {
        let count: usize = (0..=depth).map(|d| 10usize.pow(d)).sum();
        let reps = config.reps(match depth {
            0..=3 => 10,
            4 => 4,
            _ => 2,
        });
        list.push(Workload {
            single: false,
            key: "scaling",
            reps,
            metrics: vec![
                Metric {
                    label: format!("scaling W3 start-up, {count} services"),
                    unit: Unit::Seconds,
                    items: count,
                    per: "service",
                    target: None,
                    series: Some(("W3 start-up (start → every daemon runs)", count)),
                },
                Metric {
                    label: format!("scaling W3 cancel, {count} services"),
                    unit: Unit::Seconds,
                    items: count,
                    per: "service",
                    target: None,
                    series: Some(("W3 cancel (cancel root → finished)", count)),
                },
            ],
            run: Box::new(move |rt, side| {
                let [started, cancelled] = match side {
                    Side::Tokio => rt.block_on(plain::w3(10, depth, count)),
                    Side::Runtime => rt.block_on(services::w3(10, depth, count)),
                };
                vec![secs(started), secs(cancelled)]
            }),
        });
    }
    list
}
