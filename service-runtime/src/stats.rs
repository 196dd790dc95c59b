//! Task counters of one manager.

/// A snapshot of a manager's counters, from [`Manager::stats`](crate::Manager::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Stats {
    /// Counters of the tasks started under the manager.
    pub tasks: TaskStats,
}

/// Counts of the tasks started under one manager, at any depth.
///
/// The body is not counted; a child service counts as one task of its parent (its own tasks
/// count in its own manager). A task counts as finished once it is done — its future has
/// completed, however it ended, and all its children are done — so once the service is
/// finished, `finished_count == total_count`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TaskStats {
    /// Tasks started so far.
    pub total_count: usize,
    /// Tasks that are done.
    pub finished_count: usize,
    /// Times a task or child service was restarted by its [`Restart`](crate::Restart)
    /// policy (failures healed this way are not in the service's error).
    pub restart_count: usize,
    /// Contained tasks and child services (failure boundaries) of this service that failed:
    /// their failures are in their own handles, not in the service's error.
    pub contained_failure_count: usize,
}

impl TaskStats {
    /// Tasks started and not yet done: `total_count - finished_count`.
    pub fn pending_count(&self) -> usize {
        self.total_count.saturating_sub(self.finished_count)
    }
}
