//! The cancellation walk: waking every waiting task of a tree, and finding its child
//! services (module docs of `tree`, "Wake-ups").

use std::sync::{Arc, Weak};
use std::task::Waker;

use super::{Child, NodeState, Shards, TaskNode};
use crate::slots::Slots;
use crate::sync::lock;

/// Wakes every waiting task of the tree below `root`, and adds the owners of the child
/// services met in it to `walk.services` (to be cancelled in turn: their trees are theirs to
/// walk). Iterative: no stack for deep trees.
///
/// A node's own children are visited under its lock, then those of each of its shards under
/// that shard's lock, one after another: a leaf's waker is taken right there, and so is a
/// child node's, under the child's lock taken inside (locks are only ever nested parent's
/// entries before child, so this cannot deadlock); only child nodes with children of their
/// own are queued, as `Arc`s. Wakers are woken after each lock is released, so woken tasks
/// do not queue on it.
pub(crate) fn wake_tree<S>(root: &Arc<TaskNode<S>>, walk: &mut CancelWalk<S>) {
    walk_tree(root, walk, Wake::Cancelled);
}

/// Adds the owners of the child services in the tree below `root` to `walk.services`,
/// waking nobody. For work that must reach every service below one without touching the
/// wakers its tasks stored for their own cancellation (a child that is not cancelled yet
/// must find them there when it is: ending an ancestor's grace, for one).
pub(crate) fn find_services<S>(root: &Arc<TaskNode<S>>, walk: &mut CancelWalk<S>) {
    walk_tree(root, walk, Wake::Nobody);
}

/// Whom a walk wakes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// The tasks a cancellation wakes (waiting to be cancelled, or for their children).
    Cancelled,
    Nobody,
}

fn walk_tree<S>(root: &Arc<TaskNode<S>>, walk: &mut CancelWalk<S>, wake: Wake) {
    let CancelWalk {
        pending,
        wakers,
        services,
    } = walk;
    take_and_queue(root, &mut lock(&root.state), pending, wakers, wake);
    while let Some(node) = pending.pop() {
        visit_children(
            &mut lock(&node.state).children,
            pending,
            wakers,
            services,
            wake,
        );
        // Woken after unlocking: woken tasks do not queue on the lock.
        for waker in wakers.drain(..) {
            waker.wake();
        }
        if let Some(shards) = node.shards.get() {
            visit_shards(shards, pending, wakers, services, wake);
        }
    }
    for waker in wakers.drain(..) {
        waker.wake();
    }
}

/// Visits `children` (locked by the caller) for a walk: takes the wakers of leaves and child
/// nodes, queues child nodes with children, collects child services.
// Inlined into both of its callers: the walk of a node's own children is the common case
// (nodes without shards), which must cost what it did before shards.
#[inline(always)]
fn visit_children<S>(
    children: &mut Slots<Child<S>>,
    pending: &mut Vec<Arc<TaskNode<S>>>,
    wakers: &mut Vec<Waker>,
    services: &mut Vec<Arc<S>>,
    wake: Wake,
) {
    for child in children.iter_mut() {
        if wake == Wake::Cancelled {
            wakers.extend(child.take_waker());
        }
        let Child::Node(child) = child else {
            continue;
        };
        let mut child_state = lock(&child.state);
        if child.root {
            services.extend(child_state.service.as_ref().and_then(Weak::upgrade));
        } else {
            take_and_queue(child, &mut child_state, pending, wakers, wake);
        }
    }
}

/// [`visit_children`] for each shard of a node in turn, each under its own lock, waking the
/// wakers taken after unlocking.
#[inline(never)]
fn visit_shards<S>(
    shards: &Shards<S>,
    pending: &mut Vec<Arc<TaskNode<S>>>,
    wakers: &mut Vec<Waker>,
    services: &mut Vec<Arc<S>>,
    wake: Wake,
) {
    for shard in shards.iter() {
        visit_children(&mut lock(&shard.children), pending, wakers, services, wake);
        for waker in wakers.drain(..) {
            waker.wake();
        }
    }
}

/// The working set of cancellation walks ([`wake_tree`]), reused across the services of one
/// cancellation; `services` collects the child services met.
pub(crate) struct CancelWalk<S> {
    pending: Vec<Arc<TaskNode<S>>>,
    wakers: Vec<Waker>,
    pub(crate) services: Vec<Arc<S>>,
}

impl<S> Default for CancelWalk<S> {
    fn default() -> Self {
        CancelWalk {
            pending: Vec::new(),
            wakers: Vec::new(),
            services: Vec::new(),
        }
    }
}

/// Takes the waker of `node` (its `state` is locked by the caller) that a cancellation wakes,
/// and queues the node if it has children.
fn take_and_queue<S>(
    node: &Arc<TaskNode<S>>,
    state: &mut NodeState<S>,
    pending: &mut Vec<Arc<TaskNode<S>>>,
    wakers: &mut Vec<Waker>,
    wake: Wake,
) {
    if wake == Wake::Cancelled {
        wakers.extend(state.waiter.take_for_cancel());
    }
    // A node that has shards is queued even if they are empty: the walk does not read
    // their counts.
    if !state.children.is_empty() || node.shards.get().is_some() {
        pending.push(Arc::clone(node));
    }
}
