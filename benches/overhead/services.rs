//! The `service-runtime` side: the same workloads written as services, the way a user of
//! the runtime writes them (`impl Service`, `cx.run_task`, `cx.run_daemon_task`,
//! `cx.run_child_service`, default options). The runtime gives the guarantees the plain
//! side builds by hand: a task is done only when its children are, failures are collected
//! with their paths, cancellation reaches every task and child service.

use std::future::pending;
use std::sync::Arc;
use std::time::{Duration, Instant};

use service_runtime::prelude::*;
use tokio::sync::Notify;

use crate::probe::Probe;

/// W1: the body starts `batches` batch tasks; each starts `leaves` leaf tasks that yield
/// once.
struct Spawn {
    batches: usize,
    leaves: usize,
}

impl Service for Spawn {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        for _ in 0..self.batches {
            let leaves = self.leaves;
            cx.run_task("batch", move |cx| async move {
                for _ in 0..leaves {
                    cx.run_task("leaf", |_cx| tokio::task::yield_now())?;
                }
                Ok::<(), LifecycleError>(())
            })?;
        }
        Ok(())
    }
}

/// W1; returns the time from start until the service is finished.
pub(crate) async fn w1(batches: usize, leaves: usize) -> Duration {
    let start = Instant::now();
    Spawn { batches, leaves }
        .run()
        .await
        .expect("W1 service failed");
    start.elapsed()
}

/// `batches` batch tasks, each starting `daemons` daemon tasks that wait forever.
pub(crate) struct IdleDaemons {
    pub(crate) batches: usize,
    pub(crate) daemons: usize,
    pub(crate) probe: Arc<Probe>,
    /// W4: when set, one more task, which fails when notified.
    pub(crate) fail: Option<Arc<Notify>>,
}

impl Service for IdleDaemons {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        for _ in 0..self.batches {
            let daemons = self.daemons;
            let probe = Arc::clone(&self.probe);
            cx.run_task("batch", move |cx| async move {
                for _ in 0..daemons {
                    let probe = Arc::clone(&probe);
                    cx.run_daemon_task("daemon", move |_cx| async move {
                        probe.arrive();
                        pending::<()>().await;
                    })?;
                }
                Ok::<(), LifecycleError>(())
            })?;
        }
        if let Some(trigger) = &self.fail {
            let trigger = Arc::clone(trigger);
            cx.run_task("fail", move |_cx| async move {
                trigger.notified().await;
                Err::<(), _>("boom")
            })?;
        }
        Ok(())
    }
}

/// W2; returns (start until all daemons run, cancel until finished).
pub(crate) async fn w2(batches: usize, daemons: usize) -> [Duration; 2] {
    let probe = Arc::new(Probe::new(batches * daemons));
    let start = Instant::now();
    let handle = IdleDaemons {
        batches,
        daemons,
        probe: Arc::clone(&probe),
        fail: None,
    }
    .start();
    probe.wait().await;
    let started = start.elapsed();
    let cancel = Instant::now();
    handle.cancel();
    handle.wait_finished().await.expect("W2 service failed");
    [started, cancel.elapsed()]
}

/// One service of the W3 tree: one daemon, and (above the leaves) `fanout` child services
/// started from its body.
struct Tree {
    depth: u32,
    max_depth: u32,
    fanout: usize,
    probe: Arc<Probe>,
}

impl Service for Tree {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let probe = Arc::clone(&self.probe);
        cx.run_daemon_task("daemon", move |_cx| async move {
            probe.arrive();
            pending::<()>().await;
        })?;
        if self.depth < self.max_depth {
            for _ in 0..self.fanout {
                cx.run_child_service(Tree {
                    depth: self.depth + 1,
                    max_depth: self.max_depth,
                    fanout: self.fanout,
                    probe: Arc::clone(&self.probe),
                })?;
            }
        }
        Ok(())
    }
}

/// W3; returns (start until every daemon runs, cancel the root until finished).
pub(crate) async fn w3(fanout: usize, max_depth: u32, services: usize) -> [Duration; 2] {
    let probe = Arc::new(Probe::new(services));
    let start = Instant::now();
    let handle = Tree {
        depth: 0,
        max_depth,
        fanout,
        probe: Arc::clone(&probe),
    }
    .start();
    probe.wait().await;
    let started = start.elapsed();
    let cancel = Instant::now();
    handle.cancel();
    handle.wait_finished().await.expect("W3 service failed");
    [started, cancel.elapsed()]
}

/// W4; returns the time from the failure until the service is finished with it reported.
pub(crate) async fn w4(batches: usize, daemons: usize) -> Duration {
    let probe = Arc::new(Probe::new(batches * daemons));
    let trigger = Arc::new(Notify::new());
    let handle = IdleDaemons {
        batches,
        daemons,
        probe: Arc::clone(&probe),
        fail: Some(Arc::clone(&trigger)),
    }
    .start();
    probe.wait().await;
    let failed = Instant::now();
    trigger.notify_one();
    let outcome = handle.wait_finished().await;
    let elapsed = failed.elapsed();
    let error = outcome.expect_err("W4 service must fail");
    assert_eq!(
        error.failures().len(),
        1,
        "W4 must report exactly the one failure"
    );
    assert_eq!(error.failures()[0].path(), "IdleDaemons/fail");
    elapsed
}
