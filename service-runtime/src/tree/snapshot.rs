//! The snapshot walk: what the tree holds about every task below a root, read one node at a
//! time (module docs of `tree`; the public view is built from it by the manager).
//!
//! # Invariants
//!
//! 1. **One lock at a time.** The walk takes a node's lock, then each of its shards' in
//!    turn, in one place ([`read_node`]), copies what it needs of the node and of its
//!    children's entries under each, and lets go before it takes the next: a task is never kept waiting by a snapshot for longer
//!    than it takes to copy one node's entries, and the walk cannot take part in a deadlock.
//!    Paths are built, and nodes handed back, after unlocking.
//! 2. **No task twice.** A task has one entry, in one parent's `children`, for its whole
//!    life: attaching puts it there (in the node's own entries or one of its shards), it
//!    never moves (becoming a node replaces the entry in place; a node going back from its
//!    shards to its own entries moves none), and leaving removes it (tree invariants 2 and
//!    3). Each set of entries is read once, under its lock, so each entry read shows one
//!    task; a node is queued only from its parent's entry, so it is read once too.
//! 3. **No child without its parent.** A task is found only in its parent's entries, so
//!    every task in the walk comes after its parent, which is in it. A node that became done
//!    between its parent's read and its own is shown as its parent saw it, with the children
//!    it has left (none).
//!
//! The walk is not one atomic moment across nodes: a task started under a node after that
//! node was read is missing, and one that ended after its parent was read is still there.
//! Each node's own picture is one moment; the whole is consistent in the sense above.

use std::sync::Arc;

use super::{Child, NodeRef, NodeState, Owner, Shards, Status, TaskNode};
use crate::name::Name;
use crate::slots::Slots;
use crate::sync::lock;

/// One task (or a service's root) as a snapshot found it.
pub(crate) struct Seen<S: Owner> {
    /// Index of its parent in the walk's list (`None` for the walk's root), always smaller
    /// than its own.
    pub(crate) parent: Option<usize>,
    pub(crate) name: Name,
    pub(crate) path: String,
    pub(crate) status: Status,
    /// When it was started (attached), as the one who started it measured it.
    pub(crate) started: u64,
    /// Its own work (its future, or its body) has ended: what is left are its children.
    pub(crate) own_work_ended: bool,
    pub(crate) has_children: bool,
    /// The root of a service's tree: the walk's, a child service's, or a contained task's
    /// boundary.
    pub(crate) root: bool,
    /// For the root of a child service met below the walk's root: its owner (the walk's
    /// own root's owner is the caller's).
    pub(crate) service: Option<Arc<S>>,
}

/// Every task of the tree below `root` (included), parents before their children, siblings
/// in the order of their slots.
pub(crate) fn walk<S: Owner>(root: &NodeRef<S>) -> Vec<Seen<S>> {
    let mut seen = vec![Seen {
        parent: None,
        name: root.name.clone(),
        path: root.path().to_string(),
        status: Status::default(),
        started: 0,
        own_work_ended: false,
        has_children: false,
        root: true,
        service: None,
    }];
    let mut pending = vec![(0, root.clone())];
    let mut found = Found::default();
    while let Some((index, node)) = pending.pop() {
        read_node(&node, &mut found);
        let entry = &mut seen[index];
        entry.status = found.status;
        entry.started = found.started;
        entry.own_work_ended = !found.running;
        entry.has_children = !found.children.is_empty();
        // One copy per node (the list grows below), not one per child.
        let base = seen[index].path.clone();
        for child in found.children.drain(..) {
            let at = seen.len();
            let mut service = None;
            let (name, path, status, started, root) = match child {
                Found1::Leaf {
                    name,
                    status,
                    started,
                } => {
                    let path = joined(&base, &name);
                    (name, path, status, started, false)
                }
                Found1::Node(child) => {
                    let path = match child.path.get() {
                        // Adopted, or a supervised child: a path of its own.
                        Some(path) => path.to_string(),
                        None => joined(&base, &child.name),
                    };
                    let (name, root) = (child.name.clone(), child.root);
                    // A child service's root: its owner, for the caller.
                    if let NodeRef::Root(owner) = &child {
                        service = Some(Arc::clone(owner));
                    }
                    pending.push((at, child));
                    (name, path, Status::default(), 0, root)
                }
            };
            seen.push(Seen {
                parent: Some(index),
                name,
                path,
                status,
                started,
                own_work_ended: false,
                has_children: false,
                root,
                service,
            });
        }
        // Dropped here, unlocked: the last reference to a node that left runs its drop.
        drop(node);
    }
    seen
}

/// `base/name`, or `name` at the top.
fn joined(base: &str, name: &str) -> String {
    if base.is_empty() {
        return name.to_owned();
    }
    let mut path = String::with_capacity(base.len() + 1 + name.len());
    path.push_str(base);
    path.push('/');
    path.push_str(name);
    path
}

/// What one node's read copied (reused across the nodes of a walk).
struct Found<S: Owner> {
    status: Status,
    started: u64,
    running: bool,
    children: Vec<Found1<S>>,
}

impl<S: Owner> Default for Found<S> {
    fn default() -> Self {
        Found {
            status: Status::default(),
            started: 0,
            running: false,
            children: Vec::new(),
        }
    }
}

/// One entry of a node's children as copied.
enum Found1<S: Owner> {
    Leaf {
        name: Name,
        status: Status,
        started: u64,
    },
    Node(NodeRef<S>),
}

/// Copies what a snapshot shows of `node` and its children's entries into `found`: the only
/// place the walk holds a lock (invariant 1), the node's and then each shard's, one at a
/// time.
fn read_node<S: Owner>(node: &TaskNode<S>, found: &mut Found<S>) {
    {
        let state = lock(&node.state);
        #[cfg(test)]
        let _held = held::Held::enter();
        let NodeState {
            running,
            children,
            status,
            started,
            ..
        } = &*state;
        found.status = *status;
        found.started = *started;
        found.running = *running;
        copy_entries(children, &mut found.children);
    }
    for shard in node.shards.get().into_iter().flat_map(Shards::iter) {
        let children = lock(&shard.children);
        #[cfg(test)]
        let _held = held::Held::enter();
        copy_entries(&children, &mut found.children);
    }
}

/// Copies what a snapshot shows of `children` (locked by the caller) to the end of `to`.
fn copy_entries<S: Owner>(children: &Slots<Child<S>>, to: &mut Vec<Found1<S>>) {
    to.reserve(children.len());
    to.extend(children.iter().map(|child| match child {
        Child::Leaf {
            name,
            status,
            started,
            ..
        } => Found1::Leaf {
            name: name.clone(),
            status: *status,
            started: *started,
        },
        Child::Node(node) => Found1::Node(node.clone()),
    }));
}

/// Test-only accounting of the node locks a walk holds at once, so that tests can check
/// invariant 1 (`most()`).
#[cfg(test)]
pub(crate) mod held {
    use std::cell::Cell;

    thread_local! {
        static NOW: Cell<usize> = const { Cell::new(0) };
        static MOST: Cell<usize> = const { Cell::new(0) };
    }

    /// One node lock held by a walk on this thread.
    pub(super) struct Held;

    impl Held {
        pub(super) fn enter() -> Held {
            let now = NOW.with(|n| {
                n.set(n.get() + 1);
                n.get()
            });
            MOST.with(|m| m.set(m.get().max(now)));
            Held
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            NOW.with(|n| n.set(n.get() - 1));
        }
    }

    /// The most node locks the walks on this thread held at once.
    #[cfg(not(loom))]
    pub(crate) fn most() -> usize {
        MOST.with(Cell::get)
    }
}
