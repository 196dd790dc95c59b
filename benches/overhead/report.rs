//! The report: medians, ratios and the tables printed at the end of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use crate::workloads::{Metric, Unit};
use crate::{Config, Samples, Side};

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
            "{} ({}/{})",
            fmt_time(v),
            fmt_per_task(v / metric.items as f64),
            metric.per
        ),
    }
}

fn size_label(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        // 1,111 services and the like: written out.
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }
}

pub(crate) fn machine() -> String {
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
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Prints the tables of a run (or, in profiling mode, one side's medians).
pub(crate) fn print(
    config: &Config,
    metrics: &[&Metric],
    samples: &BTreeMap<usize, Samples>,
    began: Instant,
    load_before: &str,
) {
    if let Some(side) = config.only {
        println!("\n{side:?} side only (profiling mode):\n");
        for (i, m) in metrics.iter().enumerate() {
            let Some(s) = samples.get(&i) else { continue };
            let values = if side == Side::Tokio {
                &s.tokio
            } else {
                &s.runtime
            };
            if values.is_empty() {
                // A reference series, run on the plain side only.
                continue;
            }
            println!("- {}: {}", m.label, fmt_value(m, median_of(values, None)));
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

    // Scaling: per-item cost by size, for each side, and largest / smallest; one table per
    // set of sizes (tasks, services).
    let mut series: Vec<&'static str> = Vec::new();
    for m in metrics {
        if let Some((name, _)) = m.series
            && !series.contains(&name)
        {
            series.push(name);
        }
    }
    let sizes_of = |name: &str| -> Vec<usize> {
        let mut sizes: Vec<usize> = metrics
            .iter()
            .filter_map(|m| m.series.filter(|(n, _)| *n == name).map(|(_, size)| size))
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    };
    let mut groups: Vec<(Vec<usize>, Vec<&'static str>)> = Vec::new();
    for name in series {
        let sizes = sizes_of(name);
        match groups.iter_mut().find(|(s, _)| *s == sizes) {
            Some((_, names)) => names.push(name),
            None => groups.push((sizes, vec![name])),
        }
    }
    for (sizes, names) in groups {
        let find = |name: &str, n: usize| {
            metrics
                .iter()
                .enumerate()
                .find(|(_, m)| m.series == Some((name, n)))
        };
        let per = find(names[0], sizes[0]).map_or("task", |(_, m)| m.per);
        let header: Vec<String> = sizes
            .iter()
            .map(|&n| format!("{} {per}s", size_label(n)))
            .collect();
        let _ = writeln!(
            out,
            "\nScaling: cost per {per} (median), and its growth from the smallest to the largest size.\n"
        );
        let _ = writeln!(
            out,
            "| series | side | {} | largest / smallest |",
            header.join(" | ")
        );
        let _ = writeln!(out, "|---|---|{}---|", "---|".repeat(sizes.len()));
        for name in names {
            // A reference series runs the same code on one side only.
            let reference = sizes
                .iter()
                .filter_map(|&n| find(name, n))
                .all(|(i, _)| samples[&i].runtime.is_empty());
            let sides: &[Side] = if reference {
                &[Side::Tokio]
            } else {
                &[Side::Tokio, Side::Runtime]
            };
            for &side in sides {
                let mut cells = Vec::new();
                let mut per_item = Vec::new();
                for &n in &sizes {
                    match find(name, n) {
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
                            per_item.push(p);
                            cells.push(fmt_per_task(p));
                        }
                        None => cells.push("—".to_owned()),
                    }
                }
                let growth = match (per_item.first(), per_item.last()) {
                    (Some(first), Some(last)) => format!("{:.2}×", last / first),
                    _ => "—".to_owned(),
                };
                let side = match (reference, side) {
                    (true, _) => "reference",
                    (false, Side::Tokio) => "plain tokio",
                    (false, Side::Runtime) => "service-runtime",
                };
                let _ = writeln!(
                    out,
                    "| {name} | {side} | {} | {growth} |",
                    cells.join(" | ")
                );
            }
            if reference {
                continue;
            }
            // The runtime's cost relative to tokio's at each size: flat means no path of the
            // runtime grows faster than tokio's own.
            let mut cells = Vec::new();
            let mut ratios = Vec::new();
            for &n in &sizes {
                match find(name, n) {
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
