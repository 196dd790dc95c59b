//! The cancellation walk: waking every waiting task of a tree, and finding its child
//! services (module docs of `tree`, "Wake-ups").

use std::sync::Arc;
use std::task::Waker;

use super::{Child, NodeRef, NodeState, Owner, Shards, TaskNode};
use crate::slots::Slots;
use crate::sync::lock;

/// Wakes every waiting task of the tree below `root`, and adds the owners of the child
/// services met in it to `walk.services` (to be cancelled in turn: their trees are theirs to
/// walk). Iterative: no stack for deep trees.
///
/// The root's own waker is taken under its lock, with its children. A node's own children
/// are visited under its lock, then those of each of its shards under that shard's lock, one
/// after another: a leaf's waker is taken right there, and so is a child node's, under the
/// child's lock taken inside (locks are only ever nested parent's entries before child, so
/// this cannot deadlock); a child service is its owner, collected without its lock; only
/// child nodes with children of their own are queued, as [`NodeRef`]s. Wakers are woken
/// after each lock is released, so woken tasks do not queue on it.
pub(crate) fn wake_tree<S: Owner>(root: &TaskNode<S>, walk: &mut CancelWalk<S>) {
    walk_tree(root, walk, Wake::Cancelled);
}

/// Adds the owners of the child services in the tree below `root` to `walk.services`,
/// waking nobody. For work that must reach every service below one without touching the
/// wakers its tasks stored for their own cancellation (a child that is not cancelled yet
/// must find them there when it is: ending an ancestor's grace, for one).
pub(crate) fn find_services<S: Owner>(root: &TaskNode<S>, walk: &mut CancelWalk<S>) {
    walk_tree(root, walk, Wake::Nobody);
}

/// Whom a walk wakes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// The tasks a cancellation wakes (waiting to be cancelled, or for their children).
    Cancelled,
    Nobody,
}

fn walk_tree<S: Owner>(root: &TaskNode<S>, walk: &mut CancelWalk<S>, wake: Wake) {
    let CancelWalk {
        pending,
        wakers,
        services,
    } = walk;
    // The root's own waker, and its children, under one lock; every other node's waker is
    // taken when it is met as a child.
    {
        let mut state = lock(&root.state);
        if wake == Wake::Cancelled {
            wakers.extend(state.waiter.take_for_cancel());
        }
        visit_children(&mut state.children, pending, wakers, services, wake);
    }
    visit_rest(root, pending, wakers, services, wake);
    while let Some(node) = pending.pop() {
        visit_children(
            &mut lock(&node.state).children,
            pending,
            wakers,
            services,
            wake,
        );
        visit_rest(&node, pending, wakers, services, wake);
    }
}

/// Wakes the wakers taken from `node`'s own children (after unlocking: woken tasks do not
/// queue on the lock), then visits its shards.
#[inline(always)]
fn visit_rest<S: Owner>(
    node: &TaskNode<S>,
    pending: &mut Vec<NodeRef<S>>,
    wakers: &mut Vec<Waker>,
    services: &mut Vec<Arc<S>>,
    wake: Wake,
) {
    for waker in wakers.drain(..) {
        waker.wake();
    }
    if let Some(shards) = node.shards.get() {
        visit_shards(shards, pending, wakers, services, wake);
    }
}

/// Visits `children` (locked by the caller) for a walk: takes the wakers of leaves and child
/// nodes, queues child nodes with children, collects child services.
// Inlined into both of its callers: the walk of a node's own children is the common case
// (nodes without shards), which must cost what it did before shards.
#[inline(always)]
fn visit_children<S: Owner>(
    children: &mut Slots<Child<S>>,
    pending: &mut Vec<NodeRef<S>>,
    wakers: &mut Vec<Waker>,
    services: &mut Vec<Arc<S>>,
    wake: Wake,
) {
    for child in children.iter_mut() {
        if wake == Wake::Cancelled {
            wakers.extend(child.take_waker());
        }
        match child {
            Child::Leaf { .. } => {}
            // A child service: its owner cancels its own tree.
            Child::Node(NodeRef::Root(owner)) => services.push(Arc::clone(owner)),
            Child::Node(child) => {
                take_and_queue(child, &mut lock(&child.state), pending, wakers, wake);
            }
        }
    }
}

/// [`visit_children`] for each shard of a node in turn, each under its own lock, waking the
/// wakers taken after unlocking.
#[inline(never)]
fn visit_shards<S: Owner>(
    shards: &Shards<S>,
    pending: &mut Vec<NodeRef<S>>,
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
pub(crate) struct CancelWalk<S: Owner> {
    pending: Vec<NodeRef<S>>,
    wakers: Vec<Waker>,
    pub(crate) services: Vec<Arc<S>>,
}

impl<S: Owner> Default for CancelWalk<S> {
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
fn take_and_queue<S: Owner>(
    node: &NodeRef<S>,
    state: &mut NodeState<S>,
    pending: &mut Vec<NodeRef<S>>,
    wakers: &mut Vec<Waker>,
    wake: Wake,
) {
    if wake == Wake::Cancelled {
        wakers.extend(state.waiter.take_for_cancel());
    }
    // A node that has shards is queued even if they are empty: the walk does not read
    // their counts.
    if !state.children.is_empty() || node.shards.get().is_some() {
        pending.push(node.clone());
    }
}
