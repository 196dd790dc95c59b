//! The task tree: who is whose child, when a task is done, and how cancellation reaches
//! every task.
//!
//! A service's body is the root [`TaskNode`] of its tree; a child service's root hangs in
//! its parent's tree, under the task that started it, so one node serves as both. A task
//! starts out as a *leaf*: an entry in its parent's `children` that holds its name and, while
//! it waits, its waker — no allocation of its own, and nothing to free when it ends (most
//! tasks never start anything). A task becomes a node the first time it needs one: when it
//! starts a child, or when its `Context` is asked for its path ([`TaskRef::make_node`]). Its
//! entry then holds the node instead; the task keeps the same slot.
//!
//! A node is *done* when its own work — the task's future, or the body — has ended **and**
//! all its children are done; a leaf is done when its task ends. Doneness propagates upwards
//! without any task waiting for it: whoever removes the last piece of work from a node
//! completes it and goes on with its parent, in a loop (a chain of thousands of nested tasks
//! needs no stack). A root that is done finishes its service; a child service's root then
//! leaves its parent's tree, and the walk goes on there, counting in the parent's stats.
//!
//! A task stores its waker once, when it starts ([`TaskRef::register`]): in its leaf entry,
//! or in its node once it has one. It stays there until a cancellation walk takes it (the
//! task's later polls only read the service's flag: [`TaskRef::poll_cancelled`]). A task
//! waiting for its children stores it again, to be woken by the last one
//! ([`TaskRef::poll_stop`]); a body that returned does so too while it waits for its
//! service's tasks ([`TaskNode::poll_stop_quietly`]).
//! Cancelling a service sets its flag and then walks its tree once ([`wake_tree`]), waking
//! every task waiting to be aborted and collecting the child services — the roots it meets —
//! to cancel in turn (their trees are theirs to walk).
//!
//! # Identity
//!
//! A [`TaskRef`] to a leaf names its parent and its slot there. Slots are reused once their
//! task is gone, and a `Context` may outlive its task, so each entry also carries an `id`,
//! unique among the children its parent ever had: a reference whose id does not match its
//! slot's entry is to a task that has ended. (Ids are 32 bits and wrap: a stale reference
//! would have to outlive 2³² later siblings and meet its own slot again to be mistaken.)
//!
//! # Invariants
//!
//! 1. A node's `state` is the only place its liveness is stored: `running` (its own work has
//!    not ended) and `children` (its live children). It is done exactly when `!running` and
//!    `children` is empty; once done it stays done, because (2).
//! 2. A child is only ever attached to a node that is not done, under that node's lock
//!    ([`attach_task`], [`attach_service`]); a done node, or a leaf whose task has ended,
//!    sends the new child to its nearest ancestor that is not done.
//! 3. A child leaves its parent's `children` exactly once, when it becomes done, under the
//!    parent's lock ([`release_task`], [`release`]). So every task is counted once in
//!    `finished` stats, and finished tasks take no memory.
//! 4. A root is done last of its service's tree (the tree's nodes all hang below it), and
//!    its completion finishes the service's manager before anything else happens to it.
//!    Attaching never climbs above a root: a service's tasks stay in its tree.
//!
//! # Lock order
//!
//! At most one node lock is held at a time, except in [`wake_tree`], which nests a child's
//! lock inside its parent's (always in that order): every other operation takes one node's
//! lock, lets go, and only then takes the next (a leaf reference that finds its task has
//! become a node lets go of the parent before locking the node). No other lock is taken
//! while a node lock is held, and no user code runs under one (wakers are woken after
//! unlocking).
//!
//! # Wake-ups: why none is lost
//!
//! - *Cancellation.* The canceller stores the service's `cancelled` flag, then takes each
//!   node's lock to wake the wakers of the node and of its leaves. A waiter stores its
//!   waker under the lock of its node, or for a leaf its parent's, then reads the flag. If
//!   the canceller's lock came first, the flag store happened before it and the waiter's read
//!   sees it; otherwise the canceller finds the stored waker. A leaf that becomes a node after
//!   the walk passed its parent moves its waker into the node under the parent's lock, after
//!   the walk's, so the waiter's read comes after the flag store too. A child attached after
//!   the walk passed its parent reads the flag on its task's first poll. Once stored, the
//!   waker stays until the walk takes it: a release takes a node's waker only while its task
//!   waits for its children (`NodeState::stopping`), so a task need not store it again on
//!   later polls, only read the flag.
//! - *Children done.* The waiter checks `children` and stores its waker under one lock; the
//!   child that empties `children` does so under the same lock and takes the waker. One of
//!   the two sees the other.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, Waker};

use crate::error::LifecycleError;
use crate::manager::Shared;
use crate::slots::Slots;
use crate::sync::{AtomicBool, Mutex, Ordering, lock};

/// A task's or a service's name. Most names are `'static` strings; the others are shared, so
/// copying a name (every `Context` of a leaf carries one) never allocates.
#[derive(Clone)]
pub(crate) enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

impl From<Cow<'static, str>> for Name {
    fn from(name: Cow<'static, str>) -> Name {
        match name {
            Cow::Borrowed(name) => Name::Static(name),
            Cow::Owned(name) => Name::Shared(name.into()),
        }
    }
}

impl From<&'static str> for Name {
    fn from(name: &'static str) -> Name {
        Name::Static(name)
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Name::Static(name) => name,
            Name::Shared(name) => name,
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl Name {
    pub(crate) fn to_cow(&self) -> Cow<'static, str> {
        match self {
            Name::Static(name) => Cow::Borrowed(name),
            Name::Shared(name) => Cow::Owned(name.to_string()),
        }
    }
}

/// The node of a service's body or of a task that has children (or had).
pub(crate) struct TaskNode {
    parent: Option<Arc<TaskNode>>,
    /// The root of a service's tree: the top-level service's (no parent), or a child
    /// service's, which hangs in its parent's tree.
    root: bool,
    /// This node's index in its parent's `children`, and its identity there.
    slot: u32,
    id: u32,
    name: Name,
    path: OnceLock<Arc<str>>,
    state: Mutex<NodeState>,
}

struct NodeState {
    running: bool,
    children: Slots<Child>,
    /// The waker of this node's task while it waits to be aborted.
    waker: Option<Waker>,
    /// The task waits for its children ([`TaskNode::poll_stop`]): the release that leaves
    /// `children` empty wakes it. Until then `waker` waits for cancellation only, and no
    /// release takes it (a task registers once: `TaskRef::poll_cancelled`).
    stopping: bool,
    /// `waker` waits for the children only, not for cancellation.
    quiet: bool,
    /// For the root of a child service: its manager, cancelled with the parent's tree.
    service: Option<Weak<Shared>>,
    /// The `id` of the next child (module docs, "Identity").
    next_id: u32,
}

/// One live child of a node.
enum Child {
    /// A task without a node: all the tree keeps of it.
    Leaf {
        id: u32,
        name: Name,
        /// Its task's waker while it waits to be aborted.
        waker: Option<Waker>,
    },
    Node(Arc<TaskNode>),
}

impl Child {
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

impl NodeState {
    fn new(waker: Option<Waker>) -> NodeState {
        NodeState {
            running: true,
            children: Slots::default(),
            waker,
            stopping: false,
            quiet: false,
            service: None,
            next_id: 0,
        }
    }

    fn is_done(&self) -> bool {
        !self.running && self.children.is_empty()
    }

    /// The child in `slot`, if it is still the one with `id`.
    fn child(&mut self, slot: u32, id: u32) -> Option<&mut Child> {
        self.children
            .get_mut(slot as usize)
            .filter(|child| child.id() == id)
    }

    /// See [`TaskNode::poll_stop`].
    fn poll_stop(&mut self, waker: &Waker) -> Poll<()> {
        if self.children.is_empty() {
            self.waker = None;
            self.running = false;
            Poll::Ready(())
        } else {
            register(&mut self.waker, waker);
            self.stopping = true;
            Poll::Pending
        }
    }

    /// Takes the child in `slot` out; the rest of its leaving happens after unlocking
    /// ([`Removed::finish`]).
    fn remove(&mut self, slot: u32) -> Removed {
        let child = self.children.remove(slot as usize);
        let empty = self.children.is_empty();
        Removed {
            child,
            parent_done: empty && !self.running,
            waker: if empty && self.stopping {
                self.waker.take()
            } else {
                None
            },
        }
    }
}

/// A child taken out of its parent's `children` ([`NodeState::remove`]), with what is left
/// to do once the parent's lock is let go.
#[must_use]
struct Removed {
    child: Option<Child>,
    parent_done: bool,
    /// The parent's task, if it waits for its children and this was the last.
    waker: Option<Waker>,
}

impl Removed {
    /// Drops the child, wakes the parent's task if it waits for it; returns whether the
    /// parent is done now (and must leave its own parent in turn).
    fn finish(self) -> bool {
        drop(self.child);
        if let Some(waker) = self.waker {
            waker.wake();
        }
        self.parent_done
    }
}

/// Stores `waker` in `slot` unless it holds one that wakes the same task.
fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(current) if current.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// `base/name`, or `name` at the top.
fn join(base: &str, name: &str) -> Arc<str> {
    if base.is_empty() {
        return name.into();
    }
    let mut path = String::with_capacity(base.len() + 1 + name.len());
    path.push_str(base);
    path.push('/');
    path.push_str(name);
    path.into()
}

impl TaskNode {
    /// The root node of a top-level service.
    pub(crate) fn root(name: impl Into<Name>) -> Arc<TaskNode> {
        Arc::new(TaskNode {
            parent: None,
            root: true,
            slot: 0,
            id: 0,
            name: name.into(),
            path: OnceLock::new(),
            state: Mutex::new(NodeState::new(None)),
        })
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

    /// Ready once every child of this node is done, and then the node's own work is over
    /// too: it is done, in the same critical section (so nothing can be attached to it any
    /// more), and its task ends with [`release_stopped`]. Until then this node's task is
    /// woken by the release that empties its children.
    pub(crate) fn poll_stop(&self, cx: &mut Context<'_>) -> Poll<()> {
        lock(&self.state).poll_stop(cx.waker())
    }

    /// [`TaskNode::poll_stop`] for a body that returned: the service's cancellation does
    /// not wake its task (only its last task ending does).
    pub(crate) fn poll_stop_quietly(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = lock(&self.state);
        state.quiet = true;
        state.poll_stop(cx.waker())
    }

    /// Makes this child service's root cancel `service` along with its parent's tree. The caller must
    /// read the tree's `cancelled` flag afterwards and cancel the child itself if it is set:
    /// a walk may have passed this node before (same argument as in "Wake-ups").
    pub(crate) fn set_service(&self, service: &Arc<Shared>) {
        lock(&self.state).service = Some(Arc::downgrade(service));
    }
}

impl Drop for TaskNode {
    fn drop(&mut self) {
        // Dropping the last reference to a long chain of nodes would otherwise recurse once
        // per ancestor; unlink the chain iteratively instead.
        let mut parent = self.parent.take();
        while let Some(node) = parent {
            parent = match Arc::into_inner(node) {
                Some(mut node) => node.parent.take(),
                None => None,
            };
        }
    }
}

/// Where a task is in its service's tree: its own node, or its parent and its entry there
/// (module docs, "Identity"). Two words: the runner keeps one per task, inside the future
/// tokio moves around.
#[derive(Clone)]
pub(crate) struct TaskRef {
    /// The task's own node when `slot` is [`OWN`], else its parent.
    node: Arc<TaskNode>,
    slot: u32,
    id: u32,
}

/// The `slot` of a [`TaskRef`] to a task's own node.
const OWN: u32 = u32::MAX;

/// What [`TaskRef::find`] found.
enum Found<R> {
    Leaf(R),
    Node(Arc<TaskNode>),
    Gone,
}

impl TaskRef {
    /// A reference to the task whose node `node` is.
    pub(crate) fn own(node: Arc<TaskNode>) -> TaskRef {
        TaskRef {
            node,
            slot: OWN,
            id: 0,
        }
    }

    /// The task's node, if this reference is to it.
    pub(crate) fn own_node(&self) -> Option<&Arc<TaskNode>> {
        (self.slot == OWN).then_some(&self.node)
    }

    /// The task's path, `name` being its name; built anew for a leaf.
    pub(crate) fn path(&self, name: &str) -> Arc<str> {
        match self.own_node() {
            Some(node) => Arc::clone(node.path()),
            None => join(self.node.path(), name),
        }
    }

    /// A number that tells this task from its siblings.
    pub(crate) fn identity(&self) -> u64 {
        Arc::as_ptr(&self.node) as u64 ^ (u64::from(self.slot) << 32 | u64::from(self.id))
    }

    /// The task's node; a leaf becomes one (named `name`). For a task that has ended, a node
    /// that is done already: it names the task, and work attached through it goes to its
    /// nearest live ancestor (invariant 2).
    pub(crate) fn make_node(&self, name: &Name) -> Arc<TaskNode> {
        if self.slot == OWN {
            return Arc::clone(&self.node);
        }
        let node = |waker, running| TaskNode {
            parent: Some(Arc::clone(&self.node)),
            root: false,
            slot: self.slot,
            id: self.id,
            name: name.clone(),
            path: OnceLock::new(),
            state: Mutex::new(NodeState {
                running,
                ..NodeState::new(waker)
            }),
        };
        let mut state = lock(&self.node.state);
        match state.child(self.slot, self.id) {
            Some(Child::Node(existing)) => Arc::clone(existing),
            Some(child) => {
                let made = Arc::new(node(child.take_waker(), true));
                *child = Child::Node(Arc::clone(&made));
                made
            }
            None => {
                drop(state);
                Arc::new(node(None, false))
            }
        }
    }

    /// Looks up a leaf's entry, under its parent's lock: while the task is a leaf, runs
    /// `at_leaf` on the parent's state; once it has become a node, makes this reference
    /// refer to that node.
    fn find<R>(&mut self, at_leaf: impl FnOnce(&mut NodeState) -> R) -> Found<R> {
        let node = {
            let mut state = lock(&self.node.state);
            let node = match state.child(self.slot, self.id) {
                None => return Found::Gone,
                Some(Child::Leaf { .. }) => None,
                Some(Child::Node(node)) => Some(Arc::clone(node)),
            };
            match node {
                None => return Found::Leaf(at_leaf(&mut state)),
                Some(node) => node,
            }
        };
        *self = TaskRef::own(Arc::clone(&node));
        Found::Node(node)
    }

    /// Stores `waker` (the task's own) to be woken by [`wake_tree`], and returns the task's
    /// name: both from the same lock, which a task takes once when it starts (a leaf's name
    /// lives in its entry, not in every reference to it).
    ///
    /// The waker stays until a cancellation walk takes it; so it must wake this task
    /// whenever it is polled — true of a tokio task's wakers, and our tasks are tokio tasks.
    /// A leaf that becomes a node takes it along.
    pub(crate) fn register(&mut self, waker: &Waker) -> Name {
        if self.slot != OWN {
            let (slot, id) = (self.slot, self.id);
            let found = self.find(|state| match state.child(slot, id) {
                Some(Child::Leaf {
                    name,
                    waker: stored,
                    ..
                }) => {
                    register(stored, waker);
                    Some(name.clone())
                }
                _ => None,
            });
            match found {
                // `find` runs the closure on the leaf it found, under the same lock.
                Found::Leaf(name) => return name.unwrap_or(Name::Static("")),
                // Now a reference to the node: registered there, below.
                Found::Node(_) => {}
                // Released: only the task's own reference registers, and it is released last.
                Found::Gone => return Name::Static(""),
            }
        }
        register(&mut lock(&self.node.state).waker, waker);
        self.node.name.clone()
    }

    /// The task's name (looked up under its parent's lock, for a leaf).
    pub(crate) fn name(&self) -> Name {
        if self.slot == OWN {
            return self.node.name.clone();
        }
        match lock(&self.node.state).child(self.slot, self.id) {
            Some(child) => child.name().clone(),
            None => Name::Static(""),
        }
    }

    /// Ready once `cancelled` is set (the flag of this task's service); until then the
    /// task is woken by [`wake_tree`]. `registered` tells whether [`TaskRef::register`] has
    /// stored the task's waker (then it is only looked up once more after the flag).
    pub(crate) fn poll_cancelled(
        &mut self,
        cx: &mut Context<'_>,
        cancelled: &AtomicBool,
        registered: &mut bool,
    ) -> Poll<()> {
        // Acquire pairs with the canceller's store: what it did before is visible after.
        if cancelled.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if *registered {
            return Poll::Pending;
        }
        self.register(cx.waker());
        *registered = true;
        // Read again after registering (module docs, "Wake-ups").
        if cancelled.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Ready once every child of this task is done. A task with a node is then done, as in
    /// [`TaskNode::poll_stop`]; a leaf has no children, but must be looked up to know that
    /// it still is one (a clone of its `Context` may have started a child from it).
    pub(crate) fn poll_stop(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.slot == OWN {
            return self.node.poll_stop(cx);
        }
        match self.find(|_| ()) {
            Found::Node(node) => node.poll_stop(cx),
            Found::Leaf(()) | Found::Gone => Poll::Ready(()),
        }
    }

    /// [`TaskNode::poll_stop_quietly`] for a service body (always its own node).
    pub(crate) fn poll_stop_quietly(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.own_node() {
            Some(node) => node.poll_stop_quietly(cx),
            None => self.poll_stop(cx),
        }
    }
}

/// Attaches a new task named `name` under the task whose node `parent` is, or under its
/// nearest ancestor that is not done (a `Context` may outlive its task), never above its
/// service's root. The new task is a leaf, unless adopted by an
/// ancestor: then it is a node that keeps the path the spawning task would have given it.
///
/// Fails with `NotRunning` when the service's whole tree is done, and with
/// `TooManyChildren` when the parent already has `limit` live children.
pub(crate) fn attach_task(
    parent: &Arc<TaskNode>,
    name: &Name,
    limit: usize,
) -> Result<TaskRef, LifecycleError> {
    attach(parent, limit, |at| match at.adopted_from {
        None => {
            at.state.children.insert(Child::Leaf {
                id: at.id,
                name: name.clone(),
                waker: None,
            });
            TaskRef {
                node: Arc::clone(at.node),
                slot: at.slot,
                id: at.id,
            }
        }
        Some(start) => {
            let path = join(start.path(), name);
            TaskRef::own(at.insert_node(name.clone(), false, Some(path)))
        }
    })
}

/// Attaches the root of a child service named `name` under the task `parent`, as
/// [`attach_task`] does a task. `path`, if given, is the root's path; otherwise it is
/// derived from the parent's on first use.
pub(crate) fn attach_service(
    parent: &Arc<TaskNode>,
    name: Name,
    limit: usize,
    path: Option<Arc<str>>,
) -> Result<Arc<TaskNode>, LifecycleError> {
    attach(parent, limit, |at| {
        let path = path.or_else(|| at.adopted_from.map(|start| join(start.path(), &name)));
        at.insert_node(name, true, path)
    })
}

/// Where [`attach`] puts a new child: under `node`, whose `state` is locked, in `slot`.
struct At<'a> {
    node: &'a Arc<TaskNode>,
    state: &'a mut NodeState,
    slot: u32,
    id: u32,
    /// The task the child was started from, when `node` is an ancestor adopting it.
    adopted_from: Option<&'a Arc<TaskNode>>,
}

impl At<'_> {
    fn insert_node(self, name: Name, root: bool, path: Option<Arc<str>>) -> Arc<TaskNode> {
        let node = Arc::new(TaskNode {
            parent: Some(Arc::clone(self.node)),
            root,
            slot: self.slot,
            id: self.id,
            name,
            path: path.map_or_else(OnceLock::new, OnceLock::from),
            state: Mutex::new(NodeState::new(None)),
        });
        self.state.children.insert(Child::Node(Arc::clone(&node)));
        node
    }
}

/// Finds the node a child of the task `start` goes under (module docs, invariant 2) and lets
/// `insert` put it there, under that node's lock.
fn attach<R>(
    start: &Arc<TaskNode>,
    limit: usize,
    insert: impl FnOnce(At<'_>) -> R,
) -> Result<R, LifecycleError> {
    let mut candidate = start;
    loop {
        let mut state = lock(&candidate.state);
        if state.is_done() {
            drop(state);
            if candidate.root {
                return Err(LifecycleError::NotRunning);
            }
            candidate = candidate
                .parent
                .as_ref()
                .ok_or(LifecycleError::NotRunning)?;
            continue;
        }
        if state.children.len() >= limit {
            let most_common = most_common_names(&state.children);
            return Err(LifecycleError::TooManyChildren { limit, most_common });
        }
        let id = state.next_id;
        // Wraps after 2³² children: a stale reference would need to outlive that many
        // siblings and meet its own slot again to be mistaken.
        state.next_id = state.next_id.wrapping_add(1);
        // Fits: a `Slots` never holds more than `u32::MAX` values.
        let slot = state.children.next_slot() as u32;
        return Ok(insert(At {
            node: candidate,
            state: &mut state,
            slot,
            id,
            adopted_from: (!Arc::ptr_eq(candidate, start)).then_some(start),
        }));
    }
}

/// Records that `task` has ended: a leaf leaves its parent, a node is released as by
/// [`release`] (or [`release_stopped`], when [`TaskRef::poll_stop`] found it `stopped`).
pub(crate) fn release_task(task: &mut TaskRef, service: &Shared, stopped: bool) {
    if let Some(node) = task.own_node() {
        return if stopped {
            release_stopped(node, service)
        } else {
            release(node, service)
        };
    }
    let parent = Arc::clone(&task.node);
    let slot = task.slot;
    let removed = match task.find(|state| state.remove(slot)) {
        Found::Leaf(removed) => removed,
        // Another reference made the task a node: release it as one (it was not found
        // done: `poll_stop` saw a leaf).
        Found::Node(node) => return release(&node, service),
        Found::Gone => return,
    };
    service.task_done();
    if removed.finish() {
        release_stopped(&parent, service);
    }
}

/// Records that `node`'s own work has ended; completes it, and every ancestor this leaves
/// with nothing to do, counting each in its service's stats. A service's root that is done
/// finishes its service; a child service's root then leaves its parent's tree, and the walk
/// goes on there.
pub(crate) fn release(node: &Arc<TaskNode>, service: &Shared) {
    {
        let mut state = lock(&node.state);
        state.running = false;
        if !state.children.is_empty() {
            return;
        }
    }
    release_stopped(node, service);
}

/// [`release`] for a node that is done already ([`TaskNode::poll_stop`] found it so): it
/// leaves the tree with every ancestor this leaves with nothing to do (one lock fewer for
/// every task that waited to be aborted).
pub(crate) fn release_stopped(node: &Arc<TaskNode>, service: &Shared) {
    // Borrowed until the walk moves up: most releases stop at the first parent, and an
    // `Arc` clone per task would be an atomic round trip for nothing.
    let mut owned: Arc<TaskNode>;
    let mut done: &Arc<TaskNode> = node;
    let mut owned_service: Arc<Shared>;
    let mut service = service;
    loop {
        let counted = if done.root {
            let Some(up) = service.finish() else {
                return;
            };
            owned_service = up.manager;
            service = &owned_service;
            up.counted
        } else {
            true
        };
        let Some(parent) = done.parent.as_ref() else {
            return;
        };
        if counted {
            service.task_done();
        }
        let removed = lock(&parent.state).remove(done.slot);
        if !removed.finish() {
            return;
        }
        owned = Arc::clone(parent);
        done = &owned;
    }
}

/// Wakes every waiting task of the tree below `root`, and returns the managers of the child
/// services found in it (to be cancelled in turn). Iterative: no stack for deep trees.
///
/// A node's children are visited under its lock: a leaf's waker is taken right there, and
/// so is a child node's, under the child's lock taken inside (locks are only ever nested
/// parent before child, so this cannot deadlock); only child nodes with children of their
/// own are queued, as `Arc`s. Wakers are woken after the parent's lock is released, so woken
/// tasks do not queue on it.
///
/// `walk` carries the buffers, reused across the services of one cancellation.
pub(crate) fn wake_tree(root: &Arc<TaskNode>, walk: &mut Walk) {
    let Walk {
        pending,
        wakers,
        services,
    } = walk;
    take_and_queue(root, &mut lock(&root.state), pending, wakers);
    while let Some(node) = pending.pop() {
        {
            let mut state = lock(&node.state);
            for child in state.children.iter_mut() {
                wakers.extend(child.take_waker());
                let Child::Node(child) = child else {
                    continue;
                };
                let mut child_state = lock(&child.state);
                if child.root {
                    // A child service: its own cancellation walks its tree.
                    services.extend(child_state.service.as_ref().and_then(Weak::upgrade));
                } else {
                    take_and_queue(child, &mut child_state, pending, wakers);
                }
            }
        }
        for waker in wakers.drain(..) {
            waker.wake();
        }
    }
    for waker in wakers.drain(..) {
        waker.wake();
    }
}

/// The working set of a cancellation walk; `services` collects the child services found.
#[derive(Default)]
pub(crate) struct Walk {
    pending: Vec<Arc<TaskNode>>,
    wakers: Vec<Waker>,
    pub(crate) services: Vec<Arc<Shared>>,
}

/// Takes `node`'s waker (its `state` is locked by the caller) and queues it if it has
/// children.
fn take_and_queue(
    node: &Arc<TaskNode>,
    state: &mut NodeState,
    pending: &mut Vec<Arc<TaskNode>>,
    wakers: &mut Vec<Waker>,
) {
    if !state.quiet {
        wakers.extend(state.waker.take());
    }
    if !state.children.is_empty() {
        pending.push(Arc::clone(node));
    }
}

fn most_common_names(children: &Slots<Child>) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for child in children.iter() {
        *counts.entry(&**child.name()).or_default() += 1;
    }
    let mut counts: Vec<(String, usize)> = counts
        .into_iter()
        .map(|(name, n)| (name.to_owned(), n))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(10);
    counts
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use super::{TaskNode, attach_task, release_task};
    use crate::cause::CancelCause;
    use crate::manager::Shared;
    use crate::options::Options;
    use crate::sync::lock;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A reference to a leaf task that has ended, whose slot a new sibling now holds, still
    /// means the ended task: starting work from it does not touch the sibling (which keeps
    /// its name and its own node), and the work is adopted by the parent under the ended
    /// task's path.
    #[test]
    fn a_stale_reference_does_not_take_the_sibling_in_its_slot() {
        let shared = Shared::new(TaskNode::root("Svc"), Options::default(), None);
        assert!(shared.try_start());
        let root = Arc::clone(&shared.root);
        let mut short = attach_task(&root, &"short".into(), 10).unwrap();
        let stale = short.clone();
        release_task(&mut short, &shared, false);
        let other = attach_task(&root, &"other".into(), 10).unwrap();
        assert_eq!(other.slot, stale.slot, "the slot is reused");
        let ended = stale.make_node(&"short".into());
        let adopted = attach_task(&ended, &"adopted".into(), 10).unwrap();
        assert_eq!(&*adopted.path("adopted"), "Svc/short/adopted");
        let node = other.make_node(&"other".into());
        assert_eq!(&**node.name(), "other");
        assert_eq!(&**node.path(), "Svc/other");
        assert!(
            lock(&node.state).children.is_empty(),
            "nothing attached to the sibling"
        );
    }

    /// A body parked with `poll_stop_quietly` is not woken by its service's cancellation,
    /// only by its last task ending; then it finds its node done.
    #[test]
    fn a_parked_body_is_woken_by_its_last_task_not_by_cancellation() {
        let shared = Shared::new(TaskNode::root("Svc"), Options::default(), None);
        assert!(shared.try_start());
        let root = Arc::clone(&shared.root);
        let mut task = attach_task(&root, &"task".into(), 10).unwrap();
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        assert_eq!(root.poll_stop_quietly(&mut cx), Poll::Pending);
        shared.cancel(CancelCause::Requested);
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            0,
            "woken by the cancellation"
        );
        release_task(&mut task, &shared, false);
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "not woken by its last task"
        );
        assert_eq!(root.poll_stop_quietly(&mut cx), Poll::Ready(()));
    }
}
