//! Reference series for the scaling table: how the cost of W2's start-up per task grows
//! with the number of tasks when neither side's bookkeeping is there — tokio alone, and the
//! allocator alone. Whatever growth these show is not the runtime's, nor the plain side's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::probe::Probe;

pub(crate) const TOKIO_ALONE: &str =
    "tokio alone: W2's start-up with bare `tokio::spawn` (no tracker, no child token)";
pub(crate) const ALLOCATOR_ALONE: &str =
    "allocator alone: one 256-byte block per task (a W2 daemon's tokio task cell), written";

/// W2's shape on bare tokio: `batches` tasks, each spawning `daemons` tasks that count
/// themselves and wait for one token. Returns start → all run (the teardown is not timed).
pub(crate) async fn tokio_alone(batches: usize, daemons: usize) -> Duration {
    let probe = Arc::new(Probe::new(batches * daemons));
    let token = CancellationToken::new();
    let start = Instant::now();
    let mut batch_handles = Vec::with_capacity(batches);
    for _ in 0..batches {
        let probe = Arc::clone(&probe);
        let token = token.clone();
        batch_handles.push(tokio::spawn(async move {
            let mut handles = Vec::with_capacity(daemons);
            for _ in 0..daemons {
                let probe = Arc::clone(&probe);
                let token = token.clone();
                handles.push(tokio::spawn(async move {
                    probe.arrive();
                    token.cancelled_owned().await;
                }));
            }
            handles
        }));
    }
    probe.wait().await;
    let started = start.elapsed();
    token.cancel();
    for batch in batch_handles {
        for daemon in batch.await.expect("batch panicked") {
            daemon.await.expect("daemon panicked");
        }
    }
    started
}

/// `n` blocks of 256 bytes, allocated and written one after another and kept until all are
/// made; returns the time that took (freeing them is not timed).
pub(crate) fn allocator_alone(n: usize) -> Duration {
    let mut blocks: Vec<Box<[u8; 256]>> = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        blocks.push(Box::new([i as u8; 256]));
    }
    let elapsed = start.elapsed();
    std::hint::black_box(&blocks);
    elapsed
}
