//! Building a [`Snapshot`] from a walk of the task tree: the tree reports what it holds of
//! each task (its runner's status, whether its own work ended, whether it has children, the
//! services met); this layer says what that means, with each service's flags.
//!
//! A task's state follows from its service's flags and what the tree holds:
//!
//! | service | task | state |
//! |---|---|---|
//! | not cancelled | never polled | `Starting` |
//! | not cancelled | waiting out a restart delay | `Backoff` |
//! | any | its own work ended, children left | `WaitingForChildren` |
//! | not cancelled | otherwise | `Running` |
//! | cancelled | a non-zero grace not over yet | `Stopping` |
//! | cancelled | grace over (or zero), children left | `WaitingForChildren` |
//! | cancelled | grace over (or zero), no children | `Stopping` (being aborted) |
//!
//! A service's own line (its body) follows the service: `Running` until it is cancelled,
//! then as a task without its own-work rule (a body that returned keeps its service running).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{ChildKind, ServiceState};
use crate::snapshot::{Snapshot, TaskKind, TaskSnapshot, TaskState};
use crate::sync::lock;
use crate::tree::{self, NodeRef, Phase, Seen};

impl ServiceState {
    /// The live tree of this service (`Manager::snapshot`).
    pub(crate) fn snapshot(self: &Arc<Self>) -> Snapshot {
        let mut seen = tree::snapshot_walk(&NodeRef::Root(Arc::clone(self)));
        let now = Instant::now();
        // The service each entry belongs to (its own for a root, else its parent's), as an
        // index into `services`: no reference count touched per task.
        let mut services: Vec<Arc<ServiceState>> = vec![Arc::clone(self)];
        let mut owners: Vec<usize> = Vec::with_capacity(seen.len());
        let mut built: Vec<Option<TaskSnapshot>> = Vec::with_capacity(seen.len());
        let mut child_counts = vec![0usize; seen.len()];
        for parent in seen.iter().filter_map(|entry| entry.parent) {
            child_counts[parent] += 1;
        }
        for (index, entry) in seen.iter_mut().enumerate() {
            let owner = match (entry.service.take(), entry.parent) {
                (Some(service), _) => {
                    services.push(service);
                    services.len() - 1
                }
                (None, None) => 0,
                (None, Some(parent)) => owners[parent],
            };
            let service = &services[owner];
            let (kind, contained) = kind(entry, service, index == 0);
            let service_line = matches!(
                kind,
                TaskKind::Body | TaskKind::ChildService | TaskKind::DaemonChildService
            );
            let started = service
                .born
                .checked_add(Duration::from_nanos(entry.started))
                .unwrap_or(now);
            built.push(Some(TaskSnapshot {
                name: entry.name.to_cow(),
                path: std::mem::take(&mut entry.path),
                kind,
                contained,
                state: state(entry, service, service_line),
                restarts: entry.status.restarts(),
                age: if entry.status.phase() == Phase::Starting {
                    Duration::ZERO
                } else {
                    now.saturating_duration_since(started)
                },
                children: Vec::with_capacity(child_counts[index]),
            }));
            owners.push(owner);
        }
        drop(services);
        // Children come after their parents, each node's together (the walk appends them
        // as it reads the node): moving them up from the end builds the nesting, each
        // node's children reversed once it is complete.
        for index in (0..built.len()).rev() {
            let Some(mut task) = built[index].take() else {
                continue;
            };
            task.children.reverse();
            match seen[index].parent {
                Some(parent) => {
                    if let Some(parent) = built[parent].as_mut() {
                        parent.children.push(task);
                    }
                }
                None => return Snapshot { root: task },
            }
        }
        unreachable!("the walk always yields its root first")
    }
}

/// What an entry is, and whether it is a failure boundary; `owner` is the service it belongs
/// to (its own, for a root: a root met below the top always carries it).
fn kind(entry: &Seen<ServiceState>, owner: &ServiceState, top: bool) -> (TaskKind, bool) {
    let task = if entry.status.is_daemon() {
        TaskKind::Daemon
    } else {
        TaskKind::Task
    };
    if top {
        return (TaskKind::Body, false);
    }
    if !entry.root {
        return (task, false);
    }
    // A root met below: a contained task's boundary, or a child service.
    if owner.enclosing().is_some() {
        return (task, true);
    }
    let link = lock(&owner.parent).as_ref().map(|link| link.kind);
    match link {
        Some(ChildKind::Daemon) => (TaskKind::DaemonChildService, false),
        Some(ChildKind::Contained { daemon: true }) => (TaskKind::DaemonChildService, true),
        Some(ChildKind::Contained { daemon: false }) => (TaskKind::ChildService, true),
        // Finished already (the link is taken then), plain, or supervised.
        _ => (TaskKind::ChildService, false),
    }
}

/// Where an entry is in its life (module docs).
fn state(entry: &Seen<ServiceState>, owner: &ServiceState, service_line: bool) -> TaskState {
    let children_left = entry.has_children;
    if !service_line && entry.own_work_ended && children_left {
        return TaskState::WaitingForChildren;
    }
    if !owner.is_cancelled() {
        return match entry.status.phase() {
            Phase::Starting => TaskState::Starting,
            Phase::Backoff => TaskState::Backoff,
            Phase::Running => TaskState::Running,
        };
    }
    let within_grace = !owner.grace.is_zero() && owner.grace_end().is_none();
    if within_grace || !children_left {
        TaskState::Stopping
    } else {
        TaskState::WaitingForChildren
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
