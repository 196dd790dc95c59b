//! The hot parent: many tasks at once starting children into one parent, on the
//! multi-threaded runtime; and the same while a cancellation walks that parent.
//!
//! Runtime side: a service whose body starts `spawners` tasks; each holds a clone of the
//! body's `Context` and starts `children` tasks through it, so every child is a child of the
//! body — one node, one lock, taken by every attach, every child's start and every child's
//! end. Plain side: the same through one `TaskTracker` and one token, which is what the
//! node replaces.

use std::future::pending;
use std::sync::Arc;
use std::time::{Duration, Instant};

use service_runtime::prelude::*;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::probe::Probe;
use crate::traced::spawn_traced;

/// What the children do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Children {
    /// Yield once and end (start → finished is timed).
    Brief,
    /// Wait to be cancelled; the service is cancelled once `cancel_at` of them run, while
    /// the spawners are still at work (cancel → finished is timed).
    Idle { cancel_at: usize },
}

struct HotParent {
    spawners: usize,
    children: usize,
    kind: Children,
    probe: Arc<Probe>,
}

impl Service for HotParent {
    fn options(&self) -> Options {
        let mut options = Options::default();
        // Every child is a live child of the body at the same time.
        options.max_children = usize::MAX;
        options
    }

    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        for _ in 0..self.spawners {
            let parent = cx.clone();
            let this = Arc::clone(&self);
            cx.run_task("spawner", move |_cx| async move {
                for _ in 0..this.children {
                    match this.kind {
                        Children::Brief => {
                            parent.run_task("child", |_cx| tokio::task::yield_now())?;
                        }
                        Children::Idle { .. } => {
                            let probe = Arc::clone(&this.probe);
                            parent.run_daemon_task("child", move |_cx| async move {
                                probe.arrive();
                                pending::<()>().await;
                            })?;
                        }
                    }
                }
                Ok::<(), LifecycleError>(())
            })?;
        }
        Ok(())
    }
}

/// Runtime side; returns start → finished (`Brief`) or cancel → finished (`Idle`).
pub(crate) async fn runtime(spawners: usize, children: usize, kind: Children) -> Duration {
    let cancel_at = match kind {
        Children::Brief => 0,
        Children::Idle { cancel_at } => cancel_at,
    };
    let probe = Arc::new(Probe::new(cancel_at));
    let start = Instant::now();
    let handle = HotParent {
        spawners,
        children,
        kind,
        probe: Arc::clone(&probe),
    }
    .start();
    if kind == Children::Brief {
        handle.wait_finished().await.expect("hot parent failed");
        return start.elapsed();
    }
    probe.wait().await;
    let cancel = Instant::now();
    handle.cancel();
    handle.wait_finished().await.expect("hot parent failed");
    cancel.elapsed()
}

/// Plain side: one tracker and one token for the parent; the spawners are tracked too, and
/// stop starting children once the token is cancelled (as the runtime's `run_task` does).
pub(crate) async fn plain(spawners: usize, children: usize, kind: Children) -> Duration {
    let cancel_at = match kind {
        Children::Brief => 0,
        Children::Idle { cancel_at } => cancel_at,
    };
    let probe = Arc::new(Probe::new(cancel_at));
    let token = CancellationToken::new();
    let start = Instant::now();
    let service = spawn_traced!(
        |f| tokio::spawn(f),
        {
            let token = token.clone();
            let probe = Arc::clone(&probe);
            async move {
                tracing::debug!(service = "HotParent", "service started");
                let tracker = TaskTracker::new();
                for _ in 0..spawners {
                    let parent = tracker.clone();
                    let token = token.clone();
                    let probe = Arc::clone(&probe);
                    let spawner = async move {
                        for _ in 0..children {
                            if token.is_cancelled() {
                                continue;
                            }
                            match kind {
                                Children::Brief => {
                                    let child = tokio::task::yield_now();
                                    spawn_traced!(|f| parent.spawn(f), child, "HotParent", "child");
                                }
                                Children::Idle { .. } => {
                                    let token = token.clone();
                                    let probe = Arc::clone(&probe);
                                    let child = async move {
                                        probe.arrive();
                                        token.run_until_cancelled(pending::<()>()).await;
                                    };
                                    spawn_traced!(|f| parent.spawn(f), child, "HotParent", "child");
                                }
                            }
                        }
                    };
                    spawn_traced!(|f| tracker.spawn(f), spawner, "HotParent", "spawner");
                }
                tracker.close();
                tracker.wait().await;
                tracing::debug!(service = "HotParent", "service finished");
            }
        },
        "HotParent",
        "HotParent"
    );
    if kind == Children::Brief {
        service.await.expect("hot parent (plain) panicked");
        return start.elapsed();
    }
    probe.wait().await;
    let cancel = Instant::now();
    token.cancel();
    service.await.expect("hot parent (plain) panicked");
    cancel.elapsed()
}

/// Lock statistics of the runtime side's runs (feature `lock-stats`): per kind of run, the
/// statistics of each run and how long it took (start to finished).
#[cfg(feature = "lock-stats")]
static RUNS: std::sync::Mutex<
    Vec<(
        &'static str,
        service_runtime::lock_stats::LockStats,
        Duration,
    )>,
> = std::sync::Mutex::new(Vec::new());

/// Runs `run` (a runtime-side run); with the feature `lock-stats`, records what the
/// runtime's locks did in it, for [`lock_report`].
pub(crate) fn measured(label: &'static str, run: impl FnOnce() -> Duration) -> Duration {
    #[cfg(feature = "lock-stats")]
    {
        let _ = service_runtime::lock_stats::take();
        let began = Instant::now();
        let timed = run();
        let wall = began.elapsed();
        let stats = service_runtime::lock_stats::take();
        RUNS.lock().unwrap().push((label, stats, wall));
        timed
    }
    #[cfg(not(feature = "lock-stats"))]
    {
        let _ = label;
        run()
    }
}

/// The lock table (feature `lock-stats`), in Markdown; empty without the feature.
pub(crate) fn lock_report() -> String {
    #[cfg(feature = "lock-stats")]
    {
        use std::fmt::Write as _;
        let runs = RUNS.lock().unwrap();
        let mut out = String::new();
        if runs.is_empty() {
            return out;
        }
        let _ = writeln!(
            out,
            "\nLocks of the runtime side (feature `lock-stats`; every run, start to finished; \
             node locks are the parent's but for the spawners' own start): medians per run, \
             and the longest section of all runs.\n"
        );
        let _ = writeln!(
            out,
            "| run | kind | sections | held in all | of which in sections < 100 µs | held / run's length | longest held | held ≥ 1 / 10 / 100 µs / 1 ms | waited in all | longest wait |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
        for label in ["brief", "cancelled"] {
            let mine: Vec<_> = runs.iter().filter(|(l, _, _)| *l == label).collect();
            if mine.is_empty() {
                continue;
            }
            for (kind, pick) in [
                (
                    "node",
                    (|s: &service_runtime::lock_stats::LockStats| s.node) as fn(&_) -> _,
                ),
                ("shard", |s| s.shard),
                ("other", |s| s.other),
            ] {
                let med = |f: &dyn Fn(
                    &(&str, service_runtime::lock_stats::LockStats, Duration),
                ) -> f64| {
                    let mut v: Vec<f64> = mine.iter().map(|r| f(r)).collect();
                    v.sort_by(f64::total_cmp);
                    v[v.len() / 2]
                };
                let sections = med(&|r| pick(&r.1).count as f64);
                let held = med(&|r| pick(&r.1).held.as_secs_f64());
                let short = med(&|r| pick(&r.1).held_short.as_secs_f64());
                let share = med(&|r| pick(&r.1).held.as_secs_f64() / r.2.as_secs_f64());
                let waited = med(&|r| pick(&r.1).waited.as_secs_f64());
                let longest = mine
                    .iter()
                    .map(|r| pick(&r.1).max_held)
                    .max()
                    .unwrap_or_default();
                let longest_wait = mine
                    .iter()
                    .map(|r| pick(&r.1).max_waited)
                    .max()
                    .unwrap_or_default();
                let buckets: Vec<String> = (0..4)
                    .map(|b| format!("{:.0}", med(&|r| pick(&r.1).longer_than[b] as f64)))
                    .collect();
                let _ = writeln!(
                    out,
                    "| {label} | {kind} | {sections:.0} | {:.2} ms | {:.2} ms | {:.0} % | {:.1} µs | {} | {:.2} ms | {:.1} µs |",
                    held * 1e3,
                    short * 1e3,
                    share * 100.0,
                    longest.as_secs_f64() * 1e6,
                    buckets.join(" / "),
                    waited * 1e3,
                    longest_wait.as_secs_f64() * 1e6,
                );
            }
        }
        out
    }
    #[cfg(not(feature = "lock-stats"))]
    String::new()
}
