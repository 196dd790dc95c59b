//! The task tree: who is whose child, when a task is done, and how cancellation reaches
//! every task.
//!
//! **Layer.** This is the lowest layer of the runtime: it imports only the sync shim,
//! [`Slots`], [`Name`] and the error type it returns, and calls nothing above it. It reports
//! what happened — "the root is done" ([`Released::RootDone`]), "these child services were
//! met" ([`CancelWalk::services`]) — and the manager decides what that means. It is generic
//! over `S`, the [`Owner`] of a service's root (the manager's state): a root lives inside
//! its owner, one allocation for both, and the tree reaches it through the owner ([`NodeRef`]:
//! a task's own node, or an owner's root) but never looks at anything else of it, so its
//! tests and loom models build trees of [`Bare`] owners.
//!
//! A service's body is the root [`TaskNode`] of its tree; a child service's root hangs in
//! its parent's tree, under the task that started it, so one node serves as both: the
//! parent's entry for it is its owner, which a cancellation walk that meets it collects
//! without taking the child's lock. A task
//! starts out as a *leaf*: an entry in its parent's `children` that holds its name and, while
//! it waits, its waker — no allocation of its own, and nothing to free when it ends (most
//! tasks never start anything). A task becomes a node the first time it needs one: when it
//! starts a child, or when its `Context` is asked for its path ([`TaskRef::node`]). Its
//! entry then holds the node instead; the task keeps the same slot. How a task refers to
//! its place ([`TaskRef`]) is in the `task_ref` submodule; leaving the tree in `release`;
//! the cancellation walk in `cancel`; the read-only walk of a snapshot in `snapshot`; the
//! shards of a node with many children (below, "Shards") in `shards`. Each
//! entry and node also keeps what its runner last told of its task ([`Status`]: phase,
//! daemon or body, restarts), written under the locks a task takes anyway when it starts
//! and restarts, and when the task was started, written when it is attached: for snapshots
//! only.
//!
//! A node is *done* when its own work — the task's future, or the body — has ended **and**
//! all its children are done; a leaf is done when its task ends. Doneness propagates upwards
//! without any task waiting for it: whoever removes the last piece of work from a node
//! completes it and goes on with its parent, in a loop (a chain of thousands of nested tasks
//! needs no stack), up to the root of the service's tree. Every task that leaves is counted
//! in the counter the caller passes (the service's `finished_count`), *before* it leaves: a
//! waiter that finds the tree empty finds every departure counted. A root that is done is
//! reported to the caller, which finishes the service and then, for a child service, makes
//! the root [`leave`] the parent's tree, where the walk goes on.
//!
//! # The waiter of a node
//!
//! A node's task waits in one of three ways ([`Waiter`]), and who may wake it follows:
//!
//! | from | event | to |
//! |---|---|---|
//! | `None` | the task starts (or restarts): [`TaskRef::register`] | `Cancel` |
//! | `Cancel` | a cancellation walk takes the waker | `None` |
//! | `None`, `Cancel` | the cancelled task waits for its children: [`TaskNode::poll_stop`] | `Children` |
//! | `Children` | the last child leaves (under the node's lock: from its own entries, or after emptying a shard), or a cancellation walk, takes the waker | `None` |
//! | `None`, `Cancel` | a body that returned waits: [`TaskNode::poll_stop_quietly`] | `ChildrenQuietly` |
//! | `ChildrenQuietly` | the last child leaves (as for `Children`) and takes the waker | `None` |
//! | any | a poll finds the children gone, in its own entries and every shard: the node is done | `None` |
//!
//! - `Cancel`: stored once, when the task starts ([`TaskRef::register`]), and left there
//!   until a cancellation walk takes it; the task's later polls only read its service's
//!   flag. A child that leaves never takes it (the task waits for cancellation, not for its
//!   children), so the task need not store it again.
//! - `Children`: the task was cancelled and waits for its children ([`TaskNode::poll_stop`]):
//!   the child that leaves it with none takes it (a walk may too: a harmless extra wake-up).
//! - `ChildrenQuietly`: a body that returned waits for its service's tasks
//!   ([`TaskNode::poll_stop_quietly`]): cancellation does not wake it, only the last task.
//!
//! A poll that finds the children gone marks the node done and clears the waiter. A leaf
//! only ever waits for cancellation: its entry holds an `Option<Waker>`, moved into its node
//! as `Cancel` if it becomes one.
//!
//! # Identity
//!
//! A [`TaskRef`] to a leaf names its parent and its slot there. Slots are reused once their
//! task is gone, and a `Context` may outlive its task, so each entry also carries an `id`,
//! unique among the children its parent ever had: a reference whose id does not match its
//! slot's entry is to a task that has ended. (Ids are 32 bits and wrap: a stale reference
//! would have to outlive 2³² later siblings and meet its own slot again to be mistaken.)
//!
//! # Shards
//!
//! A node keeps its children in its own `children`, under its own lock, until it has
//! [`THRESHOLD`](shards::THRESHOLD) (64) of them — on a machine of 8 cores or more
//! ([`shards::threshold`]; on fewer, a lock is rarely contended and a node never shards) —
//! then it *shards*: its next children go to one of its [`SHARDS`](shards::SHARDS) (16)
//! shards, each a `Slots` of entries under a lock of its
//! own, with a count of its live children (an atomic, so that the node can tell it has no
//! child left without taking every shard's lock). The shard is picked by the child's id
//! (its lowest bits): ids are handed out one after another under the node's lock, so
//! spawners that attach at the same time put their children in different shards, and
//! starting and leaving those children take those shards' locks, not the node's. (A shard
//! picked by the spawning thread would keep a worker's children in one cache line, but
//! needs a thread-local and is not deterministic; the id needs neither, and loom models and
//! tests can tell where a child goes.) The node's own lock stays what decides: attaching
//! takes it (invariant 2), and so does whoever may have left the node with no child.
//!
//! A node that has sharded sends every new child to its shards until it has no child left,
//! then goes back to its own `children` (the shards stay, empty, for the next burst). So
//! W3's nodes (11 children), and tasks (none), never shard and pay one branch for it. A
//! child's entry never moves between its node's own `children` and a shard: its slot says
//! where it is ([`shards::Place`]: the high bits of a [`TaskRef`]'s slot, and of a node's).
//!
//! # Invariants
//!
//! 1. A node's liveness is `running` (its own work has not ended), its live children (its
//!    own `children`, and each shard's count: incremented under the node's lock *before*
//!    the child is inserted in its shard, decremented under the shard's lock when it is
//!    removed) and `done`, set once, under the node's lock, by the one critical section
//!    that finds `!running` and no child in either place: the node's own task ending
//!    ([`release()`], or [`TaskNode::poll_stop`] finding no children) or the child that left
//!    it with none. Once done it stays done, because (2); so exactly one of them completes
//!    it (the count alone could be found at zero twice: a child that empties its shard
//!    checks the node after letting go of the shard, when the task's own end may have
//!    completed it already).
//! 2. A child is only ever attached to a node that is not done, under that node's lock
//!    ([`attach_task`], [`attach_service`]), which also counts it (in `children`, or in its
//!    shard's count) before it is let go: a node with a child on its way into a shard is not
//!    found without children. A done node, or a leaf whose task has ended, sends the new
//!    child to its nearest ancestor that is not done.
//! 3. A child leaves its parent's entries exactly once, when it becomes done, under the lock
//!    of the entries it is in (the parent's, or its shard's), counted just before; a child
//!    that empties its shard then checks the parent under the parent's lock (1). So every
//!    task is counted once, and finished tasks take no memory.
//! 4. A root is done last of its service's tree (the tree's nodes all hang below it), and
//!    it leaves the tree it hangs in only when its owner says so ([`leave`]), after finishing
//!    its service. Attaching never climbs above a root: a service's tasks stay in its tree.
//!
//! # Lock order
//!
//! At most one tree lock (a node's, or a shard's) is held at a time, except in
//! [`wake_tree`], which nests a child's node lock inside the lock of the entries it is in
//! (its parent's node lock, or the shard's; always in that order): every other operation
//! takes one lock, lets go, and only then takes the next (a leaf reference that finds its
//! task has become a node lets go of the parent's entries before locking the node;
//! attaching to a shard lets go of the node before locking the shard; a child that empties
//! its shard lets go of the shard before locking the node). No other lock is taken while a
//! tree lock is held, and no user code runs under one (wakers are woken after unlocking).
//!
//! # Wake-ups: why none is lost
//!
//! - *Cancellation.* The canceller stores the service's `cancelled` flag, then takes each
//!   node's lock, and each of its shards' in turn, to wake the wakers of the node and of
//!   its leaves. A waiter stores its waker under the lock of its node, or for a leaf the
//!   lock of the entries it is in (its parent's, or its shard's), then reads the flag. If
//!   the canceller's lock came first, the flag store happened before it and the waiter's
//!   read sees it; otherwise the canceller finds the stored waker. A leaf that becomes a
//!   node after the walk passed its entries moves its waker into the node under their lock,
//!   after the walk's, so the waiter's read comes after the flag store too. A child
//!   attached after the walk passed its parent, or its shard, reads the flag on its task's
//!   first poll.
//! - *Children done, no shards.* The waiter checks `children` and stores its waker under
//!   one lock; the child that empties `children` does so under the same lock and takes the
//!   waker. One of the two sees the other.
//! - *Children done, with shards.* The waiter checks, under the node's lock, that `children`
//!   is empty and every shard's count is zero (Acquire), else stores its waker. A child in a
//!   shard decrements the count (Release) under the shard's lock; if it made it zero, it
//!   then takes the node's lock and checks the same, taking the waker if it finds none.
//!   Every shard's final decrement to zero is such a check's; of the node-lock sections
//!   of the waiter and of these checks, the last one comes after every other, so after
//!   every decrement made before any of them, and it reads them all (the counts are only
//!   incremented under the node's lock, so none can rise unseen): if the waiter's is last,
//!   it finds no child and does not wait; otherwise the last check finds no child and the
//!   waker stored. An attach between those sections (only while the node is not done)
//!   counts a child whose leaving makes a check of its own. The same argument gives
//!   exactly one completion of the node: whichever of these sections first finds `!running`
//!   and no child sets `done` (invariant 1).

mod cancel;
mod release;
mod shards;
mod snapshot;
mod task_ref;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

pub(crate) use cancel::{CancelWalk, find_services, wake_tree};
#[cfg(test)]
pub(crate) use release::release_done;
pub(crate) use release::{leave, release, release_task};
#[cfg(all(test, not(loom)))]
pub(crate) use snapshot::held::most as snapshot_held_most;
pub(crate) use snapshot::{Seen, walk as snapshot_walk};
pub(crate) use task_ref::TaskRef;

use shards::{Entries, Place, Shards, threshold};

use crate::error::LifecycleError;
use crate::name::{Name, join};
use crate::slots::Slots;
use crate::sync::{Mutex, lock};

/// What owns a service's root node: the tree keeps a child service's root inside its owner
/// (the manager's state), one allocation for both, and refers to it through the owner.
pub(crate) trait Owner: Sized {
    /// The root of the owner's tree.
    fn root(&self) -> &TaskNode<Self>;
    fn root_mut(&mut self) -> &mut TaskNode<Self>;
}

/// A shared reference to a node: a task's own node, or a service's root inside its owner.
pub(crate) enum NodeRef<S: Owner> {
    Task(Arc<TaskNode<S>>),
    Root(Arc<S>),
}

impl<S: Owner> Clone for NodeRef<S> {
    #[inline]
    fn clone(&self) -> Self {
        match self {
            NodeRef::Task(node) => NodeRef::Task(Arc::clone(node)),
            NodeRef::Root(owner) => NodeRef::Root(Arc::clone(owner)),
        }
    }
}

impl<S: Owner> std::ops::Deref for NodeRef<S> {
    type Target = TaskNode<S>;

    #[inline]
    fn deref(&self) -> &TaskNode<S> {
        match self {
            NodeRef::Task(node) => node,
            NodeRef::Root(owner) => owner.root(),
        }
    }
}

impl<S: Owner> NodeRef<S> {
    /// Whether both refer to the same node.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn ptr_eq(&self, other: &NodeRef<S>) -> bool {
        std::ptr::eq::<TaskNode<S>>(&**self, &**other)
    }

    /// Takes the parent out of the node, if this was the last reference to it (for
    /// [`TaskNode`]'s drop: unlinking a chain without recursion).
    fn into_parent(self) -> Option<NodeRef<S>> {
        match self {
            NodeRef::Task(node) => Arc::into_inner(node).and_then(|mut node| node.parent.take()),
            NodeRef::Root(owner) => {
                Arc::into_inner(owner).and_then(|mut owner| owner.root_mut().parent.take())
            }
        }
    }
}

/// Where a new child goes: a borrowed [`NodeRef`], or a task's own node (a `Context` keeps
/// the node its leaf task became as an `Arc`: such a node is never a root).
pub(crate) enum Parent<'a, S: Owner> {
    Ref(&'a NodeRef<S>),
    Task(&'a Arc<TaskNode<S>>),
}

impl<S: Owner> Clone for Parent<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Owner> Copy for Parent<'_, S> {}

impl<'a, S: Owner> Parent<'a, S> {
    #[inline]
    pub(crate) fn node(self) -> &'a TaskNode<S> {
        match self {
            Parent::Ref(node) => node,
            Parent::Task(node) => node,
        }
    }

    /// A reference of its own to the node.
    #[inline]
    fn to_owned(self) -> NodeRef<S> {
        match self {
            Parent::Ref(node) => node.clone(),
            Parent::Task(node) => NodeRef::Task(Arc::clone(node)),
        }
    }
}

impl<'a, S: Owner> From<&'a NodeRef<S>> for Parent<'a, S> {
    fn from(node: &'a NodeRef<S>) -> Self {
        Parent::Ref(node)
    }
}

impl<'a, S: Owner> From<&'a Arc<TaskNode<S>>> for Parent<'a, S> {
    fn from(node: &'a Arc<TaskNode<S>>) -> Self {
        Parent::Task(node)
    }
}

/// The node of a service's body or of a task that has children (or had).
pub(crate) struct TaskNode<S: Owner> {
    parent: Option<NodeRef<S>>,
    /// The root of a service's tree: the top-level service's (no parent), or a child
    /// service's, which hangs in its parent's tree.
    root: bool,
    /// This node's index in its parent's `children`, and its identity there.
    slot: u32,
    id: u32,
    name: Name,
    path: OnceLock<Arc<str>>,
    state: Mutex<NodeState<S>>,
    /// Where its children go past [`THRESHOLD`](shards::THRESHOLD) (module docs, "Shards"):
    /// made the first time, under `state`'s lock, and kept.
    shards: OnceLock<Shards<S>>,
}

struct NodeState<S: Owner> {
    running: bool,
    /// Set, once, by the critical section that finds `!running` and no child left
    /// (invariant 1).
    done: bool,
    /// New children go to the shards: set when `children` holds
    /// [`threshold`](shards::threshold), cleared when the node has no child left.
    sharded: bool,
    /// Its children, but for those in its shards.
    children: Slots<Child<S>>,
    waiter: Waiter,
    /// The `id` of the next child (module docs, "Identity").
    next_id: u32,
    /// What the runner last told of this node's task, for snapshots (a leaf keeps its own in
    /// its entry, and hands it over when it becomes a node).
    status: Status,
    /// When its task was started (attached), as the caller of `attach_*` measured it (the
    /// `snapshot` submodule).
    started: u64,
}

/// What a task's runner tells the tree about it, for snapshots: its phase, whether it is a
/// daemon or a service body, and its restart count, in 32 bits — so that a leaf's entry keeps
/// it in what was padding after its `id` (`Child` stays 48 bytes). Written under the lock
/// its task takes anyway when it (re)starts ([`TaskRef::register`]) and when it is restarted
/// ([`TaskRef::restarting`]); read under the same lock by a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Status(u32);

/// A task's phase as [`Status`] holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Attached, never polled yet.
    Starting,
    /// Its future runs (or is being stopped: the service's flags tell).
    Running,
    /// Waiting out a restart's delay.
    Backoff,
}

impl Status {
    const PHASE: u32 = 0b11;
    const DAEMON: u32 = 1 << 2;
    const BODY: u32 = 1 << 3;
    const RESTARTS_SHIFT: u32 = 4;
    /// The largest restart count a status holds; more saturate here.
    pub(crate) const MAX_RESTARTS: u32 = u32::MAX >> Self::RESTARTS_SHIFT;

    /// A task in `phase`, a daemon or a body (never both), restarted `restarts` times.
    pub(crate) fn new(phase: Phase, daemon: bool, body: bool, restarts: u32) -> Status {
        let phase = match phase {
            Phase::Starting => 0,
            Phase::Running => 1,
            Phase::Backoff => 2,
        };
        let flags = if daemon { Self::DAEMON } else { 0 } | if body { Self::BODY } else { 0 };
        Status(phase | flags | restarts.min(Self::MAX_RESTARTS) << Self::RESTARTS_SHIFT)
    }

    pub(crate) fn phase(self) -> Phase {
        match self.0 & Self::PHASE {
            0 => Phase::Starting,
            1 => Phase::Running,
            _ => Phase::Backoff,
        }
    }

    pub(crate) fn is_daemon(self) -> bool {
        self.0 & Self::DAEMON != 0
    }

    pub(crate) fn is_body(self) -> bool {
        self.0 & Self::BODY != 0
    }

    pub(crate) fn restarts(self) -> u32 {
        self.0 >> Self::RESTARTS_SHIFT
    }
}

/// How a node's task waits, and so who wakes it (module docs, "The waiter of a node").
enum Waiter {
    None,
    /// Until its service is cancelled: the cancellation walk takes it.
    Cancel(Waker),
    /// Cancelled, until its children are done: the last one takes it.
    Children(Waker),
    /// A body that returned, until its service's tasks are done: only the last one takes it.
    ChildrenQuietly(Waker),
}

impl Waiter {
    /// The waker a cancellation walk wakes.
    fn take_for_cancel(&mut self) -> Option<Waker> {
        match std::mem::replace(self, Waiter::None) {
            Waiter::Cancel(waker) | Waiter::Children(waker) => Some(waker),
            quiet => {
                *self = quiet;
                None
            }
        }
    }

    /// The waker the last child to leave wakes.
    fn take_for_last_child(&mut self) -> Option<Waker> {
        match std::mem::replace(self, Waiter::None) {
            Waiter::Children(waker) | Waiter::ChildrenQuietly(waker) => Some(waker),
            cancel => {
                *self = cancel;
                None
            }
        }
    }
}

/// One live child of a node.
enum Child<S: Owner> {
    /// A task without a node: all the tree keeps of it.
    Leaf {
        id: u32,
        /// What its runner last told (fits in the padding after `id`).
        status: Status,
        name: Name,
        /// When its task was started ([`NodeState::started`]).
        started: u64,
        /// Its task's waker while it waits to be cancelled.
        waker: Option<Waker>,
    },
    Node(NodeRef<S>),
}

impl<S: Owner> Child<S> {
    fn id(&self) -> u32 {
        match self {
            Child::Leaf { id, .. } => *id,
            Child::Node(node) => node.id,
        }
    }

    fn name(&self) -> &Name {
        match self {
            Child::Leaf { name, .. } => name,
            Child::Node(node) => &node.name,
        }
    }

    /// A leaf's waker (a node keeps its own in its state).
    fn take_waker(&mut self) -> Option<Waker> {
        match self {
            Child::Leaf { waker, .. } => waker.take(),
            Child::Node(_) => None,
        }
    }
}

impl<S: Owner> NodeState<S> {
    fn new(running: bool, waiter: Waiter) -> NodeState<S> {
        NodeState {
            running,
            // A node made without work of its own (for a task that has ended) is done.
            done: !running,
            sharded: false,
            children: Slots::default(),
            waiter,
            next_id: 0,
            status: Status::default(),
            started: 0,
        }
    }

    /// See [`TaskNode::poll_stop`]; `wait` is the waiter to store while children remain.
    fn poll_stop(
        &mut self,
        shards: Option<&Shards<S>>,
        wait: fn(Waker) -> Waiter,
        waker: &Waker,
    ) -> Poll<()> {
        if self.has_no_child(shards) {
            self.waiter = Waiter::None;
            self.running = false;
            self.done = true;
            return Poll::Ready(());
        }
        self.waiter = match std::mem::replace(&mut self.waiter, Waiter::None) {
            Waiter::Cancel(stored) | Waiter::Children(stored) | Waiter::ChildrenQuietly(stored)
                if stored.will_wake(waker) =>
            {
                wait(stored)
            }
            _ => wait(waker.clone()),
        };
        Poll::Pending
    }
}

/// The child with `id` in `child`, the entry its slot holds, if it is still that child.
fn same<S: Owner>(child: Option<&mut Child<S>>, id: u32) -> Option<&mut Child<S>> {
    child.filter(|child| child.id() == id)
}

/// A child taken out of its parent's entries ([`Entries::remove`]), with what is left to do
/// once the parent's locks are let go.
#[must_use]
struct Removed<S: Owner> {
    child: Option<Child<S>>,
    parent_done: bool,
    /// The child emptied the parent's shard it was in: the parent is yet to be checked,
    /// under its own lock (module docs, "Wake-ups", children done with shards).
    emptied_shard: bool,
    /// The parent's task, if it waits for its children and this was the last.
    waker: Option<Waker>,
}

impl<S: Owner> Removed<S> {
    /// Drops the child, checks `parent` if the child emptied its shard, wakes the parent's
    /// task if it waits for its children and none is left; returns whether the parent is
    /// done now (and must leave its own parent in turn).
    #[inline]
    fn finish(mut self, parent: &TaskNode<S>) -> bool {
        drop(self.child.take());
        if self.emptied_shard {
            (self.waker, self.parent_done) = check_after_shard(parent);
        }
        if let Some(waker) = self.waker {
            waker.wake();
        }
        self.parent_done
    }
}

/// For a child that emptied its shard of `parent`: checks `parent` under its lock (module
/// docs, "Wake-ups", children done with shards). Out of line: nodes without shards never
/// come here.
#[inline(never)]
fn check_after_shard<S: Owner>(parent: &TaskNode<S>) -> (Option<Waker>, bool) {
    lock(&parent.state).emptied(parent.shards.get())
}

/// What a release did: whether the tree's root is done now.
#[must_use = "a root that is done must be finished by its owner"]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Released {
    /// An ancestor still has work (or the task had left already): nothing more to do.
    Pending,
    /// The root of the tree is done: its owner finishes the service, then makes the root
    /// [`leave`] the tree it hangs in, if any.
    RootDone,
}

/// Stores `waker` in `slot` unless it holds one that wakes the same task.
// Inlined into `register`'s lookup, as it was before shards (callgrind, W3).
#[inline]
fn store(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(current) if current.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

impl<S: Owner> TaskNode<S> {
    /// The root node of a top-level service, for its owner to keep.
    pub(crate) fn root(name: impl Into<Name>) -> TaskNode<S> {
        TaskNode {
            parent: None,
            root: true,
            slot: 0,
            id: 0,
            name: name.into(),
            path: OnceLock::new(),
            state: Mutex::new(NodeState::new(true, Waiter::None)),
            shards: OnceLock::new(),
        }
    }

    /// A root that hangs in no tree but has the path `path`: for work that never started
    /// (its handle still names it where it would have been).
    pub(crate) fn detached(name: Name, path: Arc<str>) -> TaskNode<S> {
        TaskNode {
            parent: None,
            root: true,
            slot: 0,
            id: 0,
            name,
            path: OnceLock::from(path),
            state: Mutex::new(NodeState::new(true, Waiter::None)),
            shards: OnceLock::new(),
        }
    }

    pub(crate) fn name(&self) -> &Name {
        &self.name
    }

    /// The `/`-joined path of this node, built on first use (most tasks never need it).
    pub(crate) fn path(&self) -> &Arc<str> {
        if let Some(path) = self.path.get() {
            return path;
        }
        // Walk up to the nearest node whose path is known, then build downwards; iterative,
        // so deep chains cost no stack.
        let mut names: Vec<&str> = Vec::new();
        let mut node = self;
        let base = loop {
            if let Some(path) = node.path.get() {
                break &**path;
            }
            names.push(&node.name);
            match &node.parent {
                Some(parent) => node = parent,
                None => break "",
            }
        };
        let mut path =
            String::with_capacity(base.len() + names.iter().map(|n| n.len() + 1).sum::<usize>());
        path.push_str(base);
        for name in names.iter().rev() {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(name);
        }
        self.path.get_or_init(|| path.into())
    }

    /// What names this node's path without holding the node: its path if built, else its
    /// parent and its name (for an error that outlives the node's owner, whose outcome holds
    /// it: holding the owner would be a cycle).
    pub(crate) fn lazy_path(&self) -> LazyPath<S> {
        let path = self.path.clone();
        LazyPath {
            parent: if path.get().is_some() {
                None
            } else {
                self.parent.clone()
            },
            name: self.name.clone(),
            path,
        }
    }

    /// Ready once every child of this node is done, and then the node's own work is over
    /// too: it is done, in the same critical section (so nothing can be attached to it any
    /// more), and its task leaves with [`release::release_done`]. Until then this node's task is
    /// woken by the release that empties its children.
    #[inline]
    pub(crate) fn poll_stop(&self, cx: &mut Context<'_>) -> Poll<()> {
        lock(&self.state).poll_stop(self.shards.get(), Waiter::Children, cx.waker())
    }

    /// [`TaskNode::poll_stop`] for a body that returned: the service's cancellation does
    /// not wake its task (only its last task ending does).
    #[inline]
    pub(crate) fn poll_stop_quietly(&self, cx: &mut Context<'_>) -> Poll<()> {
        lock(&self.state).poll_stop(self.shards.get(), Waiter::ChildrenQuietly, cx.waker())
    }

    /// A new node in `parent`'s `slot`, with the same identity as the entry there.
    fn new_child(
        parent: NodeRef<S>,
        (slot, id): (u32, u32),
        name: Name,
        root: bool,
        path: Option<Arc<str>>,
        state: NodeState<S>,
    ) -> TaskNode<S> {
        TaskNode {
            parent: Some(parent),
            root,
            slot,
            id,
            name,
            path: path.map_or_else(OnceLock::new, OnceLock::from),
            state: Mutex::new(state),
            shards: OnceLock::new(),
        }
    }

    /// Shard `shard` of this node, which a slot names (so the node has shards).
    fn shard(&self, shard: usize) -> &shards::Shard<S> {
        self.shards
            .get()
            .expect("a slot in a shard is only made once the shards are")
            .get(shard)
    }

    /// Runs `f` on the entries that `slot` is in, under their lock (the node's, or its
    /// shard's), with the slot's index there.
    // Inlined: the common case (no shards) must cost what it did before shards (W3).
    #[inline]
    fn with_entries<R>(&self, slot: u32, f: impl FnOnce(Entries<'_, S>, usize) -> R) -> R {
        // One call of `f`, so that it is inlined here once.
        let (mut state, mut in_shard);
        let (entries, index) = match Place::of(slot) {
            Place::Own(index) => {
                state = lock(&self.state);
                (Entries::Own(&mut state, &self.shards), index)
            }
            Place::Shard { shard, index } => {
                let shard = self.shard(shard);
                in_shard = lock(&shard.children);
                (Entries::Shard(&mut in_shard, shard), index)
            }
        };
        f(entries, index)
    }

    /// Runs `f` on the child in `slot` if it is still the one with `id`, under the lock of
    /// its entries.
    #[inline]
    fn with_child<R>(&self, slot: u32, id: u32, f: impl FnOnce(Option<&mut Child<S>>) -> R) -> R {
        self.with_entries(slot, |mut entries, index| {
            f(same(entries.children().get_mut(index), id))
        })
    }
}

/// A node's path, built when first asked ([`TaskNode::lazy_path`]).
pub(crate) struct LazyPath<S: Owner> {
    parent: Option<NodeRef<S>>,
    name: Name,
    path: OnceLock<Arc<str>>,
}

impl<S: Owner + Send + Sync> crate::error::ServicePath for LazyPath<S> {
    fn service_path(&self) -> &str {
        self.path.get_or_init(|| match &self.parent {
            Some(parent) => join(parent.path(), &self.name),
            None => Arc::from(&*self.name),
        })
    }
}

impl<S: Owner> Drop for TaskNode<S> {
    fn drop(&mut self) {
        // Dropping the last reference to a long chain of nodes would otherwise recurse once
        // per ancestor; unlink the chain iteratively instead.
        let mut parent = self.parent.take();
        while let Some(node) = parent {
            parent = node.into_parent();
        }
    }
}

/// Attaches a new task named `name` under the task whose node `parent` is, or under its
/// nearest ancestor that is not done (a `Context` may outlive its task), never above its
/// service's root. The new task is a leaf, unless adopted by an ancestor: then it is a node
/// that keeps the path the spawning task would have given it. `started` is when it is
/// started, for snapshots (its caller's measure; the tree only keeps it).
///
/// Fails with `NotRunning` when the service's whole tree is done, and with
/// `TooManyChildren` (naming the parent's path) when the parent already has `limit` live
/// children.
pub(crate) fn attach_task<'a, S: Owner + 'a>(
    parent: impl Into<Parent<'a, S>>,
    name: &Name,
    limit: usize,
    daemon: bool,
    started: u64,
) -> Result<TaskRef<S>, LifecycleError> {
    // Known before the task's first poll, so that a snapshot shows a daemon as one at once.
    let status = Status::new(Phase::Starting, daemon, false, 0);
    attach(parent.into(), limit, |place| match place.adopted_from {
        None => {
            place.children.insert(Child::Leaf {
                id: place.id,
                status,
                name: name.clone(),
                started,
                waker: None,
            });
            TaskRef::to_leaf(place.node.to_owned(), place.slot, place.id)
        }
        Some(start) => {
            let path = join(start.node().path(), name);
            let node = place.new_node(name.clone(), false, Some(path), status, started);
            let node = NodeRef::Task(Arc::new(node));
            place.children.insert(Child::Node(node.clone()));
            TaskRef::to_node(node)
        }
    })
}

/// Attaches the root of a child service named `name` under the task `parent`, as
/// [`attach_task`] does a task, inside the owner that `owner` makes of it (under the lock
/// of the entries it goes in: `owner` must be quick and lock nothing). `path`, if given, is
/// the root's path; otherwise it is derived from the parent's on first use. `started` is
/// when the service is started, as for [`attach_task`].
///
/// From then on the cancellation walks of the parent's tree meet the owner; the caller must
/// read the tree's `cancelled` flag afterwards and cancel the owner itself if it is set: a
/// walk may have passed the parent before (same argument as in "Wake-ups").
pub(crate) fn attach_service<'a, S: Owner + 'a>(
    parent: impl Into<Parent<'a, S>>,
    name: Name,
    limit: usize,
    path: Option<Arc<str>>,
    started: u64,
    owner: impl FnOnce(TaskNode<S>) -> S,
) -> Result<Arc<S>, LifecycleError> {
    attach(parent.into(), limit, |place| {
        let path = path.or_else(|| {
            place
                .adopted_from
                .map(|start| join(start.node().path(), &name))
        });
        let status = Status::default();
        let owner = Arc::new(owner(place.new_node(name, true, path, status, started)));
        place
            .children
            .insert(Child::Node(NodeRef::Root(Arc::clone(&owner))));
        owner
    })
}

/// Where [`attach`] puts a new child: under `node`, in `slot` of `children` (locked: the
/// node's own, or a shard's).
struct Placement<'a, S: Owner> {
    node: Parent<'a, S>,
    children: &'a mut Slots<Child<S>>,
    slot: u32,
    id: u32,
    /// The task the child was started from, when `node` is an ancestor adopting it.
    adopted_from: Option<Parent<'a, S>>,
}

impl<S: Owner> Placement<'_, S> {
    /// The node of the new child, which the caller inserts in `children`.
    fn new_node(
        &self,
        name: Name,
        root: bool,
        path: Option<Arc<str>>,
        status: Status,
        started: u64,
    ) -> TaskNode<S> {
        let mut state = NodeState::new(true, Waiter::None);
        (state.status, state.started) = (status, started);
        TaskNode::new_child(
            self.node.to_owned(),
            (self.slot, self.id),
            name,
            root,
            path,
            state,
        )
    }
}

/// Finds the node a child of the task `start` goes under (invariant 2) and lets `insert`
/// put it there: under that node's lock, or, past [`threshold`](shards::threshold), counted
/// in a shard under the node's lock and inserted there under the shard's.
fn attach<S: Owner, R>(
    start: Parent<'_, S>,
    limit: usize,
    insert: impl FnOnce(Placement<'_, S>) -> R,
) -> Result<R, LifecycleError> {
    let mut candidate = start;
    loop {
        let node = candidate.node();
        let mut state = lock(&node.state);
        if state.done {
            drop(state);
            if node.root {
                return Err(LifecycleError::NotRunning);
            }
            candidate = Parent::Ref(node.parent.as_ref().ok_or(LifecycleError::NotRunning)?);
            continue;
        }
        if state.live(node.shards.get()) >= limit {
            drop(state);
            return Err(LifecycleError::TooManyChildren {
                parent: node.path().to_string(),
                limit,
                most_common: most_common_names(node),
            });
        }
        let id = state.next_id;
        // Wraps after 2³² children: a stale reference would need to outlive that many
        // siblings and meet its own slot again to be mistaken.
        state.next_id = state.next_id.wrapping_add(1);
        let mut in_shard;
        let (children, slot) = if !state.sharded && state.children.len() < threshold() {
            let slot = Place::own(state.children.next_slot());
            (&mut state.children, slot)
        } else {
            let shard;
            (in_shard, shard) = enter_shard(state, node, id);
            let slot = Place::in_shard(shard, in_shard.next_slot());
            (&mut *in_shard, slot)
        };
        return Ok(insert(Placement {
            node: candidate,
            children,
            slot,
            id,
            adopted_from: (!std::ptr::eq(node, start.node())).then_some(start),
        }));
    }
}

/// [`attach`] past the threshold: counts the child with `id` in its shard, lets go of the
/// node's lock (`state`), and locks the shard; returns the shard's lock and its index. Out
/// of line: nodes with few children do not carry it.
#[inline(never)]
fn enter_shard<'a, S: Owner>(
    mut state: impl std::ops::DerefMut<Target = NodeState<S>>,
    node: &'a TaskNode<S>,
    id: u32,
) -> (
    impl std::ops::DerefMut<Target = Slots<Child<S>>> + 'a,
    usize,
) {
    state.sharded = true;
    let shards = node.shards.get_or_init(Shards::new);
    // Counted before the node's lock is let go: the node cannot be found empty, and so
    // done, before the child is in its shard.
    let shard = shards.count_in(id);
    drop(state);
    (lock(&shards.get(shard).children), shard)
}

/// Whether `node` is done (for tests and models).
#[cfg(test)]
pub(crate) fn is_done<S: Owner>(node: &TaskNode<S>) -> bool {
    lock(&node.state).done
}

/// The ten names most common among `node`'s children, with how many have each: its own
/// `children` and each shard read in turn, one lock at a time.
fn most_common_names<S: Owner>(node: &TaskNode<S>) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut add = |children: &Slots<Child<S>>| {
        for child in children.iter() {
            match counts.get_mut(&**child.name()) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(child.name().to_string(), 1);
                }
            }
        }
    };
    add(&lock(&node.state).children);
    for shard in node.shards.get().into_iter().flat_map(Shards::iter) {
        add(&lock(&shard.children));
    }
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(10);
    counts
}

/// An owner of nothing but its root: the trees of the tree's own tests and loom models, and
/// the size checks.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Bare {
    root: TaskNode<Bare>,
}

#[cfg_attr(not(test), allow(dead_code))]
impl Bare {
    /// The root of a new tree named `name`.
    pub(crate) fn tree(name: &'static str) -> NodeRef<Bare> {
        NodeRef::Root(Arc::new(Bare::owning(TaskNode::root(name))))
    }

    /// The owner of `root` (for [`attach_service`]).
    pub(crate) fn owning(root: TaskNode<Bare>) -> Bare {
        Bare { root }
    }
}

impl Owner for Bare {
    fn root(&self) -> &TaskNode<Bare> {
        &self.root
    }

    fn root_mut(&mut self) -> &mut TaskNode<Bare> {
        &mut self.root
    }
}

// A leaf's entry: its id and status, its name, its start, its waker. Every task that
// starts no children is one of these in its parent's `children`.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Child<Bare>>() == 56);

#[cfg(all(test, not(loom)))]
mod tests;
