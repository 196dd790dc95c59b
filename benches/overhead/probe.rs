//! "Every daemon runs": an atomic counter and a `Notify`, used the same way by both sides.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Counts tasks that have begun running; wakes the waiter when `target` have.
pub(crate) struct Probe {
    target: usize,
    count: AtomicUsize,
    done: Notify,
}

impl Probe {
    pub(crate) fn new(target: usize) -> Probe {
        Probe {
            target,
            count: AtomicUsize::new(0),
            done: Notify::new(),
        }
    }

    /// Called once by each task when it first runs.
    pub(crate) fn arrive(&self) {
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.target {
            // `notify_one` stores a permit when nobody waits yet: the waiter cannot miss it.
            self.done.notify_one();
        }
    }

    /// Until `target` tasks have arrived.
    pub(crate) async fn wait(&self) {
        if self.target == 0 {
            return;
        }
        self.done.notified().await;
    }
}
