//! The plain-tokio side: what a careful user writes by hand with `JoinSet`, `TaskTracker` and
//! `CancellationToken`, with the same nesting as the runtime side and the same guarantees
//! where they are cheap — a parent is done only when its children are (batches wait for
//! their leaves, services for their daemons and children), and every service has its own
//! cancellation token (a child of its parent's), so a subtree can be stopped on its own.
//!
//! Failures and panics are collected where a `JoinSet` holds the tasks (W1, W4's and W5's
//! services). The idle daemons (W2, W4's batches) and W3's services are held by a
//! `TaskTracker`, which drops what its tasks return: a panic there is lost, where the
//! runtime reports it. That keeps the plain side at its cheapest, as tokio's own guide
//! writes it; `joined_tree_node` is W3 without that loss, which `scripts/phases.sh` counts
//! beside it.
//!
//! A failure that the runtime logs (W5's failed connections) is logged here too, with
//! `tracing::error!`, so both sides make the same log call.

use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conn::{self, FAIL_EVERY};
use crate::probe::Probe;
use crate::traced::spawn_traced;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// W1: one service task; it starts `batches` batch tasks; each starts `leaves` leaf tasks
/// that yield once. Each level waits for the level below and propagates panics.
/// Returns the time from start until the service task is finished.
pub(crate) async fn w1(batches: usize, leaves: usize) -> Duration {
    let start = Instant::now();
    let service = async move {
        tracing::debug!(service = "Spawn", "service started");
        let mut set = JoinSet::new();
        for _ in 0..batches {
            let batch = async move {
                let mut set = JoinSet::new();
                for _ in 0..leaves {
                    spawn_traced!(|f| set.spawn(f), tokio::task::yield_now(), "Spawn", "leaf");
                }
                while let Some(leaf) = set.join_next().await {
                    leaf?;
                }
                Ok::<(), JoinError>(())
            };
            spawn_traced!(|f| set.spawn(f), batch, "Spawn", "batch");
        }
        while let Some(batch) = set.join_next().await {
            batch??;
        }
        tracing::debug!(service = "Spawn", "service finished");
        Ok::<(), JoinError>(())
    };
    let service = spawn_traced!(|f| tokio::spawn(f), service, "Spawn", "Spawn");
    service
        .await
        .expect("W1 service panicked")
        .expect("W1 task panicked");
    start.elapsed()
}

/// `batches` batch tasks, each starting `daemons` idle daemons into its own tracker and
/// waiting for them; the whole is waited for through one root tracker.
pub(crate) async fn idle_daemons(
    batches: usize,
    daemons: usize,
    token: CancellationToken,
    probe: Arc<Probe>,
) {
    tracing::debug!(service = "IdleDaemons", "service started");
    let tracker = TaskTracker::new();
    for _ in 0..batches {
        let batch = idle_batch(daemons, token.clone(), Arc::clone(&probe));
        spawn_traced!(|f| tracker.spawn(f), batch, "IdleDaemons", "batch");
    }
    tracker.close();
    tracker.wait().await;
    tracing::debug!(service = "IdleDaemons", "service finished");
}

/// One batch: `daemons` tasks that wait forever (until cancelled); done when they all are.
async fn idle_batch(daemons: usize, token: CancellationToken, probe: Arc<Probe>) {
    let tracker = TaskTracker::new();
    for _ in 0..daemons {
        let token = token.clone();
        let probe = Arc::clone(&probe);
        let daemon = async move {
            probe.arrive();
            token.run_until_cancelled(pending::<()>()).await;
        };
        spawn_traced!(|f| tracker.spawn(f), daemon, "IdleDaemons", "daemon");
    }
    tracker.close();
    tracker.wait().await;
}

/// W2: `batches` × `daemons` idle daemons. Returns (start until all run, cancel until
/// finished).
pub(crate) async fn w2(batches: usize, daemons: usize) -> [Duration; 2] {
    let token = CancellationToken::new();
    let probe = Arc::new(Probe::new(batches * daemons));
    let start = Instant::now();
    let service = idle_daemons(batches, daemons, token.clone(), Arc::clone(&probe));
    let service = spawn_traced!(|f| tokio::spawn(f), service, "IdleDaemons", "IdleDaemons");
    probe.wait().await;
    let started = start.elapsed();
    let cancel = Instant::now();
    token.cancel();
    service.await.expect("W2 service panicked");
    [started, cancel.elapsed()]
}

/// One service of the W3 tree: one daemon, and (above the leaves) `fanout` child services,
/// each with a child token; done when its daemon and its children are.
fn tree_node(
    depth: u32,
    max_depth: u32,
    fanout: usize,
    token: CancellationToken,
    probe: Arc<Probe>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        tracing::debug!(service = "Tree", "service started");
        let tracker = TaskTracker::new();
        {
            let token = token.clone();
            let probe = Arc::clone(&probe);
            let daemon = async move {
                probe.arrive();
                token.run_until_cancelled(pending::<()>()).await;
            };
            spawn_traced!(|f| tracker.spawn(f), daemon, "Tree", "daemon");
        }
        if depth < max_depth {
            for _ in 0..fanout {
                let child = tree_node(
                    depth + 1,
                    max_depth,
                    fanout,
                    token.child_token(),
                    Arc::clone(&probe),
                );
                spawn_traced!(|f| tracker.spawn(f), child, "Tree", "Tree");
            }
        }
        tracker.close();
        tracker.wait().await;
        tracing::debug!(service = "Tree", "service finished");
    })
}

/// W3: a tree of services, `fanout` children each, `max_depth` levels below the root.
/// Returns (start until every daemon runs, cancel the root until finished).
pub(crate) async fn w3(fanout: usize, max_depth: u32, services: usize) -> [Duration; 2] {
    let (tree, started) = w3_start(fanout, max_depth, services).await;
    [started, w3_cancel(tree).await]
}

/// A running W3 tree: its root's token and task.
pub(crate) struct Tree {
    token: CancellationToken,
    service: tokio::task::JoinHandle<()>,
}

/// W3's first half: starts the tree; returns it once every daemon runs, with the time that
/// took.
pub(crate) async fn w3_start(fanout: usize, max_depth: u32, services: usize) -> (Tree, Duration) {
    let token = CancellationToken::new();
    let probe = Arc::new(Probe::new(services));
    let start = Instant::now();
    let service = tree_node(0, max_depth, fanout, token.clone(), Arc::clone(&probe));
    let service = spawn_traced!(|f| tokio::spawn(f), service, "Tree", "Tree");
    probe.wait().await;
    (Tree { token, service }, start.elapsed())
}

/// W3's second half: cancels the root; returns once the tree is finished, with the time
/// that took.
pub(crate) async fn w3_cancel(tree: Tree) -> Duration {
    let cancel = Instant::now();
    tree.token.cancel();
    tree.service.await.expect("W3 service panicked");
    cancel.elapsed()
}

/// W3 written to lose no panic, the guarantee the runtime gives: [`tree_node`] with a
/// `JoinSet` in place of its `TaskTracker` (which drops what its tasks return, panics
/// included), so each service collects its daemon's and its children's panics and hands
/// them up. Only `scripts/phases.sh` runs it, as a reference beside the plain side.
fn joined_tree_node(
    depth: u32,
    max_depth: u32,
    fanout: usize,
    token: CancellationToken,
    probe: Arc<Probe>,
) -> Pin<Box<dyn Future<Output = Vec<JoinError>> + Send>> {
    Box::pin(async move {
        tracing::debug!(service = "Tree", "service started");
        let mut set = JoinSet::new();
        {
            let token = token.clone();
            let probe = Arc::clone(&probe);
            let daemon = async move {
                probe.arrive();
                token.run_until_cancelled(pending::<()>()).await;
                Vec::new()
            };
            spawn_traced!(|f| set.spawn(f), daemon, "Tree", "daemon");
        }
        if depth < max_depth {
            for _ in 0..fanout {
                let child = joined_tree_node(
                    depth + 1,
                    max_depth,
                    fanout,
                    token.child_token(),
                    Arc::clone(&probe),
                );
                spawn_traced!(|f| set.spawn(f), child, "Tree", "Tree");
            }
        }
        let mut panics = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(below) => panics.extend(below),
                Err(panic) => panics.push(panic),
            }
        }
        tracing::debug!(service = "Tree", "service finished");
        panics
    })
}

/// A running [`joined_tree_node`] tree: its root's token and task.
pub(crate) struct JoinedTree {
    token: CancellationToken,
    service: tokio::task::JoinHandle<Vec<JoinError>>,
}

/// [`w3_start`] of the tree that loses no panic.
pub(crate) async fn joined_w3_start(fanout: usize, max_depth: u32, services: usize) -> JoinedTree {
    let token = CancellationToken::new();
    let probe = Arc::new(Probe::new(services));
    let service = joined_tree_node(0, max_depth, fanout, token.clone(), Arc::clone(&probe));
    let service = spawn_traced!(|f| tokio::spawn(f), service, "Tree", "Tree");
    probe.wait().await;
    JoinedTree { token, service }
}

/// [`w3_cancel`] of the tree that loses no panic.
pub(crate) async fn joined_w3_cancel(tree: JoinedTree) {
    tree.token.cancel();
    let panics = tree.service.await.expect("W3 service panicked");
    assert!(panics.is_empty(), "W3 tasks panicked: {panics:?}");
}

/// W4: `batches` × `daemons` idle daemons and one task that fails when triggered; the
/// service collects failures, cancels on the first, and returns them once all is done.
/// Returns the time from the failure until the service is finished with it reported.
pub(crate) async fn w4(batches: usize, daemons: usize) -> Duration {
    let token = CancellationToken::new();
    let probe = Arc::new(Probe::new(batches * daemons));
    let trigger = Arc::new(Notify::new());
    let service = spawn_traced!(
        |f| tokio::spawn(f),
        {
            let token = token.clone();
            let probe = Arc::clone(&probe);
            let trigger = Arc::clone(&trigger);
            async move {
                tracing::debug!(service = "IdleDaemons", "service started");
                let mut set: JoinSet<Result<(), BoxError>> = JoinSet::new();
                for _ in 0..batches {
                    let batch = idle_batch(daemons, token.clone(), Arc::clone(&probe));
                    let batch = async move {
                        batch.await;
                        Ok(())
                    };
                    spawn_traced!(|f| set.spawn(f), batch, "IdleDaemons", "batch");
                }
                let fail = async move {
                    trigger.notified().await;
                    Err("boom".into())
                };
                spawn_traced!(|f| set.spawn(f), fail, "IdleDaemons", "fail");
                let mut failures: Vec<BoxError> = Vec::new();
                while let Some(ended) = set.join_next().await {
                    match ended {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => {
                            tracing::error!(service = "IdleDaemons", %error, "task failed");
                            failures.push(error);
                            token.cancel();
                        }
                        Err(panic) => {
                            failures.push(Box::new(panic));
                            token.cancel();
                        }
                    }
                }
                tracing::debug!(service = "IdleDaemons", "service finished");
                failures
            }
        },
        "IdleDaemons",
        "IdleDaemons"
    );
    probe.wait().await;
    let failed = Instant::now();
    trigger.notify_one();
    let failures = service.await.expect("W4 service panicked");
    let elapsed = failed.elapsed();
    assert_eq!(
        failures.len(),
        1,
        "W4 (plain tokio) must report exactly the one failure"
    );
    elapsed
}

/// W5: a listener task accepts `connections` connections, each a task in its `JoinSet` with
/// a child token, at most `live` at once: past that it joins whichever connection ends first,
/// and sees how it ended, before it accepts the next; at the end it joins all of them.
/// Returns the time from the first arrival until every connection is finished and the
/// listener has seen how each ended.
pub(crate) async fn w5(connections: usize, live: usize) -> Duration {
    let token = CancellationToken::new();
    let start = Instant::now();
    let listener = listener(connections, live, token);
    let listener = spawn_traced!(|f| tokio::spawn(f), listener, "Listener", "Listener");
    let failures = listener.await.expect("W5 listener panicked");
    let elapsed = start.elapsed();
    assert_eq!(
        failures,
        connections / FAIL_EVERY,
        "W5 (plain tokio) listener must see every failed connection"
    );
    elapsed
}

/// W5's listener; returns how many connections failed.
async fn listener(connections: usize, live: usize, token: CancellationToken) -> usize {
    let mut set = JoinSet::new();
    let mut failures = 0;
    for id in 0..connections {
        if set.len() == live
            && let Some(ended) = set.join_next().await
        {
            failures += usize::from(failed(ended));
        }
        let connection = connection(id, token.child_token());
        spawn_traced!(|f| set.spawn(f), connection, "Listener", "Connection");
    }
    while let Some(ended) = set.join_next().await {
        failures += usize::from(failed(ended));
    }
    failures
}

/// Whether a connection failed. A connection logs its own errors; its panic is logged here.
fn failed(ended: Result<Result<(), BoxError>, JoinError>) -> bool {
    match ended {
        Ok(Ok(())) => false,
        Ok(Err(_)) => true,
        Err(panic) => {
            tracing::error!(error = %panic, "connection panicked");
            true
        }
    }
}

/// One connection of W5: one task running the exchange until the connection's token is
/// cancelled; the connection is done when that task is, and logs its failure (an error or a
/// panic of the task) at `error`.
async fn connection(id: usize, token: CancellationToken) -> Result<(), BoxError> {
    // Logged at `debug` as the runtime logs a service starting and finishing.
    tracing::debug!(connection = id, "connection started");
    let exchange = async move {
        token
            .run_until_cancelled(conn::exchange(id))
            .await
            .unwrap_or(Ok(()))
    };
    let exchange = spawn_traced!(|f| tokio::spawn(f), exchange, "Connection", "exchange");
    let outcome = exchange
        .await
        .map_err(BoxError::from)
        .and_then(|ended| ended);
    if let Err(error) = &outcome {
        tracing::error!(connection = id, %error, "connection failed");
    }
    tracing::debug!(
        connection = id,
        failed = outcome.is_err(),
        "connection finished"
    );
    outcome
}
