//! Leaving the tree: a task whose work has ended, and every ancestor that this leaves done,
//! up to the root of the tree (module docs of `tree`, invariants 3 and 4).

use super::task_ref::Lookup;
use super::{NodeRef, Owner, Released, TaskNode, TaskRef};
use crate::sync::{AtomicUsize, Ordering, lock};

/// Counts one departure in `finished`, before it can be seen. Release: a reader that sees
/// the count (Acquire) also sees what happened before it — the task's start, counted in
/// its service's `total_count` (so it never reads more finished than started tasks).
fn count(finished: &AtomicUsize) {
    finished.fetch_add(1, Ordering::Release);
}

/// Records that the task `task` has ended: a leaf leaves its parent, a node is released as
/// by [`release`] (or [`release_done`], when `found_done`: [`TaskRef::poll_stop`] found it
/// done). Each task that leaves is counted in `finished`.
pub(crate) fn release_task<S: Owner>(
    task: &mut TaskRef<S>,
    finished: &AtomicUsize,
    found_done: bool,
) -> Released {
    if let Some(node) = task.as_node() {
        return if found_done {
            release_done(node, finished)
        } else {
            release(node, finished)
        };
    }
    let removed = match task.lookup(|entries, index| {
        count(finished);
        entries.remove(index)
    }) {
        Lookup::Leaf(removed) => removed,
        // Another reference made the task a node: release it as one (it was not found
        // done: `poll_stop` saw a leaf).
        Lookup::Node(node) => return release(&node, finished),
        // Only the task's own reference releases it, once.
        Lookup::Gone => return Released::Pending,
    };
    // Still a reference to the leaf (only `Lookup::Node` changes it): its parent, borrowed.
    let parent = task.parent();
    if removed.finish(parent) {
        release_done(parent, finished)
    } else {
        Released::Pending
    }
}

/// Records that `node`'s own work has ended; completes it, and every ancestor this leaves
/// with nothing to do, up to the root of its tree (each counted in `finished`).
pub(crate) fn release<S: Owner>(node: &TaskNode<S>, finished: &AtomicUsize) -> Released {
    {
        let mut state = lock(&node.state);
        state.running = false;
        if !state.has_no_child(node.shards.get()) {
            return Released::Pending;
        }
        state.done = true;
    }
    release_done(node, finished)
}

/// [`release`] for a node that is done already ([`TaskNode::poll_stop`] found it so): it
/// leaves the tree with every ancestor this leaves with nothing to do (one lock fewer for
/// every task that waited to be aborted).
pub(crate) fn release_done<S: Owner>(node: &TaskNode<S>, finished: &AtomicUsize) -> Released {
    // Borrowed until the walk moves up: most releases stop at the first parent, and an
    // `Arc` clone per task would be an atomic round trip for nothing.
    let mut owned: NodeRef<S>;
    let mut done: &TaskNode<S> = node;
    loop {
        if done.root {
            return Released::RootDone;
        }
        let Some(parent) = done.parent.as_ref() else {
            return Released::Pending;
        };
        if !leave_parent(parent, done.slot, Some(finished)) {
            return Released::Pending;
        }
        owned = parent.clone();
        done = &owned;
    }
}

/// Takes the done child in `slot` out of `parent` (counted in `finished`, if given, just
/// before); whether that left `parent` done.
fn leave_parent<S: Owner>(parent: &TaskNode<S>, slot: u32, finished: Option<&AtomicUsize>) -> bool {
    let removed = parent.with_entries(slot, |entries, index| {
        if let Some(finished) = finished {
            count(finished);
        }
        entries.remove(index)
    });
    removed.finish(parent)
}

/// A root whose service is finished leaves the tree it hangs in (a top-level root hangs in
/// none), counted in `finished` if `counted`; the walk goes on there, each task it completes
/// counted in `finished`.
pub(crate) fn leave<S: Owner>(
    root: &TaskNode<S>,
    finished: &AtomicUsize,
    counted: bool,
) -> Released {
    let Some(parent) = root.parent.as_ref() else {
        return Released::Pending;
    };
    if leave_parent(parent, root.slot, counted.then_some(finished)) {
        release_done(parent, finished)
    } else {
        Released::Pending
    }
}
