//! M1 memory: peak RSS of a fresh child process holding `n` idle daemons, for each side.
//!
//! The bench binary re-executes itself (`--m1-child <side> <n>`): the child builds the same
//! tokio runtime as the parent, starts `n` idle daemons (batches of 1,000, as in W2), waits
//! until every one runs, and prints its `VmHWM` (peak resident set, kB) from
//! `/proc/self/status`. Bytes per daemon = (peak with `n` − peak with 0) / `n`.

use std::process::Command;
use std::sync::Arc;

use service_runtime::ServiceExt;
use tokio_util::sync::CancellationToken;

use crate::probe::Probe;
use crate::{Side, services};

/// The first argument that makes the binary an M1 child.
pub(crate) const CHILD_FLAG: &str = "--m1-child";

/// Entry point of a child: `args` is `[side, n]`.
pub(crate) fn child(args: &[String]) {
    let side = args
        .first()
        .and_then(|side| Side::parse(side))
        .unwrap_or_else(|| panic!("bad M1 side {:?}", args.first()));
    let n: usize = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .expect("M1 child needs a task count");
    let batch = 1000.min(n.max(1));
    let batches = n / batch;
    assert_eq!(
        batches * batch,
        n,
        "M1 task count must be a multiple of 1000 (or below it)"
    );
    let rt = crate::tokio_runtime();
    rt.block_on(async {
        let probe = Arc::new(Probe::new(n));
        match side {
            Side::Tokio => {
                let token = CancellationToken::new();
                tokio::spawn(crate::plain::idle_daemons(
                    batches,
                    batch,
                    token,
                    Arc::clone(&probe),
                ));
                probe.wait().await;
            }
            Side::Runtime => {
                let handle = services::IdleDaemons {
                    batches,
                    daemons: batch,
                    probe: Arc::clone(&probe),
                    fail: None,
                }
                .start();
                probe.wait().await;
                // Keep the handle (and the service) alive until the peak is read.
                std::hint::black_box(&handle);
            }
        }
        println!("{}", peak_rss_kb());
    });
    // Exit without tearing the tasks down: only the peak matters.
    std::process::exit(0);
}

/// `VmHWM` of this process, in kB.
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Runs one child and returns its peak RSS in bytes.
fn run_child(side: Side, n: usize) -> f64 {
    let exe = std::env::current_exe().expect("current_exe");
    let side = match side {
        Side::Tokio => "tokio",
        Side::Runtime => "runtime",
    };
    let out = Command::new(exe)
        .args([CHILD_FLAG, side, &n.to_string()])
        .output()
        .expect("spawn M1 child");
    assert!(
        out.status.success(),
        "M1 child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kb: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("M1 child prints its peak RSS");
    kb * 1024.0
}

/// Bytes per idle daemon on `side`: (peak with `n` − peak with 0) / `n`.
pub(crate) fn bytes_per_daemon(side: Side, n: usize) -> f64 {
    let empty = run_child(side, 0);
    let full = run_child(side, n);
    (full - empty) / n as f64
}
