//! The `service-runtime` side: the same workloads written as services, the way a user of
//! the runtime writes them (`impl Service`, `cx.run_task`, `cx.run_daemon_task`,
//! `cx.run_child_service`, `cx.child(..).contained()`, default options). The runtime gives the guarantees the plain
//! side builds by hand: a task is done only when its children are, failures are collected
//! with their paths, cancellation reaches every task and child service.

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use service_runtime::prelude::*;
use tokio::sync::Notify;

use crate::conn::{self, FAIL_EVERY};
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
pub(crate) struct Tree {
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
    let (tree, started) = w3_start(fanout, max_depth, services).await;
    [started, w3_cancel(tree).await]
}

/// W3's first half: starts the tree; returns its root's handle once every daemon runs, with
/// the time that took.
pub(crate) async fn w3_start(
    fanout: usize,
    max_depth: u32,
    services: usize,
) -> (ServiceHandle<Tree>, Duration) {
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
    (handle, start.elapsed())
}

/// W3's second half: cancels the root; returns once the tree is finished, with the time
/// that took.
pub(crate) async fn w3_cancel(handle: ServiceHandle<Tree>) -> Duration {
    let cancel = Instant::now();
    handle.cancel();
    handle.wait_finished().await.expect("W3 service failed");
    cancel.elapsed()
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

/// W5: a listener that accepts `connections` connections, each a contained child service, at
/// most `live` at once: past that it waits for whichever connection ends first, and sees how
/// it ended, before it accepts the next; at the end it waits for all of them.
struct Listener {
    connections: usize,
    live: usize,
    /// The failed connections the listener saw, once it is done.
    failures: AtomicUsize,
}

impl Service for Listener {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let mut live = FuturesUnordered::new();
        let mut failures = 0;
        for id in 0..self.connections {
            if live.len() == self.live
                && let Some(Err(_)) = live.next().await
            {
                failures += 1;
            }
            let connection = cx.child(move || Connection { id }).contained().spawn()?;
            live.push(async move { connection.wait_finished().await });
        }
        while let Some(ended) = live.next().await {
            if ended.is_err() {
                failures += 1;
            }
        }
        self.failures.store(failures, Ordering::Relaxed);
        Ok(())
    }
}

/// One connection of W5: its body starts one task, the exchange (which fails for one
/// connection in a hundred; the runtime logs that failure at `error`).
struct Connection {
    id: usize,
}

impl Service for Connection {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let id = self.id;
        cx.run_task("exchange", move |_cx| conn::exchange(id))?;
        Ok(())
    }
}

/// W5; returns the time from the first arrival until every connection is finished and the
/// listener has seen how each ended.
pub(crate) async fn w5(connections: usize, live: usize) -> Duration {
    let start = Instant::now();
    let listener = Listener {
        connections,
        live,
        failures: AtomicUsize::new(0),
    }
    .start();
    let outcome = listener.wait_finished().await;
    let elapsed = start.elapsed();
    outcome.expect("W5 listener must survive its connections' failures");
    assert!(!listener.did_error(), "W5 listener must not be errored");
    let expected = connections / FAIL_EVERY;
    assert_eq!(
        listener.service().failures.load(Ordering::Relaxed),
        expected,
        "W5 listener must see every failed connection"
    );
    let stats = listener.stats().tasks;
    assert_eq!(
        stats.contained_failure_count, expected,
        "W5 listener's stats must count every failed connection"
    );
    assert_eq!(stats.total_count, connections);
    assert_eq!(stats.finished_count, connections);
    elapsed
}
