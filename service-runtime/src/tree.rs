//! The task tree: who is whose child, when a task is done, and how cancellation reaches
//! every task.
//!
//! Every task and every service body is a [`TaskNode`]. A service's body node is the root
//! of its tree; a child service's root hangs in its parent's tree, under the task that
//! started it, so one node serves as both (one allocation and one lock per child service).
//! A node is *done* when its own work — the task's future, or the body — has ended **and**
//! all its children are done. Doneness propagates upwards without any task waiting for it:
//! whoever removes the last piece of work from a node completes it and goes on with its
//! parent, in a loop (a chain of thousands of nested tasks needs no stack). A root that is
//! done finishes its service; a child service's root then leaves its parent's tree, and the
//! walk goes on there, counting in the parent's stats.
//!
//! Each node also holds the waker of its own task while that task waits to be aborted
//! ([`TaskNode::poll_cancelled`], [`TaskNode::poll_stop`]), or, for a body that
//! returned, while it waits for its service's tasks ([`TaskNode::poll_stop_quietly`]). Cancelling
//! a service sets its flag and then walks its tree once ([`wake_tree`]), waking every task
//! waiting to be aborted and collecting the child services — the roots it meets — to cancel
//! in turn (their trees are theirs to walk). Registration touches only the task's own node,
//! so starting and finishing tasks never contends on a service-wide lock.
//!
//! # Invariants
//!
//! 1. A node's `state` is the only place its liveness is stored: `running` (its own work has
//!    not ended) and `children` (its live children). It is done exactly when `!running` and
//!    `children` is empty; once done it stays done, because (2).
//! 2. A child is only ever attached to a node that is not done, under that node's lock
//!    ([`attach`]); a done node sends the new child to its nearest ancestor that is not done.
//! 3. A child is removed from its parent exactly once, when it becomes done ([`release`]),
//!    under the parent's lock. So every node is counted once in `finished` stats, and the
//!    parent's `Arc` to it is dropped at once: finished tasks take no memory.
//! 4. A root is done last of its service's tree (the tree's nodes all hang below it), and
//!    its completion finishes the service's manager before anything else happens to it.
//!    [`attach`] never climbs above a root: a service's tasks stay in its tree.
//!
//! # Lock order
//!
//! At most one node lock is held at a time, except in [`wake_tree`], which nests a child's
//! lock inside its parent's (always in that order): [`attach`] and [`release`] take one
//! node's lock, let go, and only then take the next. No other lock is taken while a node
//! lock is held, and no user code runs under one (wakers are woken after unlocking).
//!
//! # Wake-ups: why none is lost
//!
//! - *Cancellation.* The canceller stores the service's `cancelled` flag, then takes each
//!   node's lock to wake its waker. A waiter stores its waker under its node's lock, then
//!   reads the flag. If the canceller's lock came first, the flag store happened before it and
//!   the waiter's read sees it; otherwise the canceller finds the stored waker. A node
//!   attached after the walk passed its parent reads the flag on its task's first poll.
//! - *Children done.* The waiter checks `children` and stores its waker under one lock; the
//!   child that empties `children` does so under the same lock and takes the waker. One of
//!   the two sees the other.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, Waker};

use crate::error::LifecycleError;
use crate::manager::Shared;
use crate::slots::Slots;
use crate::sync::{AtomicBool, Mutex, Ordering, lock};

pub(crate) struct TaskNode {
    parent: Option<Arc<TaskNode>>,
    /// The root of a service's tree: the top-level service's (no parent), or a child
    /// service's, which hangs in its parent's tree.
    root: bool,
    /// This node's index in its parent's `children`.
    slot: usize,
    name: Cow<'static, str>,
    path: OnceLock<Arc<str>>,
    state: Mutex<NodeState>,
}

struct NodeState {
    running: bool,
    children: Slots<Arc<TaskNode>>,
    /// The waker of this node's task while it waits to be aborted.
    waker: Option<Waker>,
    /// `waker` waits for the children only, not for cancellation.
    quiet: bool,
    /// For the root of a child service: its manager, cancelled with the parent's tree.
    service: Option<Weak<Shared>>,
}

impl NodeState {
    fn new() -> Mutex<NodeState> {
        Mutex::new(NodeState {
            running: true,
            children: Slots::default(),
            waker: None,
            quiet: false,
            service: None,
        })
    }

    fn register(&mut self, waker: &Waker) {
        match &self.waker {
            Some(current) if current.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
    }
}

impl NodeState {
    fn is_done(&self) -> bool {
        !self.running && self.children.is_empty()
    }

    /// See [`TaskNode::poll_stop`].
    fn poll_stop(&mut self, waker: &Waker) -> Poll<()> {
        if self.children.is_empty() {
            self.waker = None;
            self.running = false;
            Poll::Ready(())
        } else {
            self.register(waker);
            Poll::Pending
        }
    }
}

impl TaskNode {
    /// The root node of a top-level service.
    pub(crate) fn root(name: Cow<'static, str>) -> Arc<TaskNode> {
        Arc::new(TaskNode {
            parent: None,
            root: true,
            slot: 0,
            name,
            path: OnceLock::new(),
            state: NodeState::new(),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_cow(&self) -> &Cow<'static, str> {
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

    /// Ready once `cancelled` is set (the flag of this node's service); until then this
    /// node's task is woken by [`wake_tree`].
    pub(crate) fn poll_cancelled(&self, cx: &mut Context<'_>, cancelled: &AtomicBool) -> Poll<()> {
        // Acquire pairs with the canceller's store: what it did before is visible after.
        if cancelled.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        lock(&self.state).register(cx.waker());
        // Read again after registering (module docs, "Wake-ups").
        if cancelled.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Ready once every child of this node is done, and then the node's own work is over
    /// too: it is done, in the same critical section (so nothing can be attached to it any
    /// more), and its task ends with [`release_stopped`]. Until then this node's task is
    /// woken by the [`release`] that empties its children.
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

/// What [`attach`] makes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Task,
    /// The root of a child service's tree: cancelled and finished by its own manager.
    ServiceRoot,
}

/// Attaches a new child named `name` under `parent`, or under its nearest ancestor that is
/// not done (a `Context` may outlive its task), never above its service's root. `path`, if
/// given, is the child's path; otherwise it is derived from the parent's on first use.
///
/// Fails with `NotRunning` when the service's whole tree is done, and with
/// `TooManyChildren` when the parent already has `limit` live children.
pub(crate) fn attach(
    parent: &Arc<TaskNode>,
    name: Cow<'static, str>,
    kind: Kind,
    limit: usize,
    path: Option<Arc<str>>,
) -> Result<Arc<TaskNode>, LifecycleError> {
    let mut candidate = parent;
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
        let path = if let Some(path) = &path {
            OnceLock::from(Arc::clone(path))
        } else if Arc::ptr_eq(candidate, parent) {
            OnceLock::new()
        } else {
            // Adopted by an ancestor: keep the path the spawning task would have given it.
            let path = format!("{}/{}", parent.path(), name);
            OnceLock::from(Arc::<str>::from(path))
        };
        let slot = state.children.next_slot();
        let node = Arc::new(TaskNode {
            parent: Some(Arc::clone(candidate)),
            root: kind == Kind::ServiceRoot,
            slot,
            name,
            path,
            state: NodeState::new(),
        });
        state.children.insert(Arc::clone(&node));
        return Ok(node);
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
        let (parent_done, waker) = {
            let mut state = lock(&parent.state);
            state.children.remove(done.slot);
            let empty = state.children.is_empty();
            let waker = if empty { state.waker.take() } else { None };
            (empty && !state.running, waker)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        if !parent_done {
            return;
        }
        owned = Arc::clone(parent);
        done = &owned;
    }
}

/// Wakes every waiting task of the tree below `root`, and returns the managers of the child
/// services found in it (to be cancelled in turn). Iterative: no stack for deep trees.
///
/// A node's children are visited under its lock, each child's lock taken inside it (locks
/// are only ever nested parent before child, and everyone else holds one node lock at a
/// time, so this cannot deadlock). Children without children of their own — most tasks —
/// are handled right there; only inner nodes are queued, as `Arc`s. Wakers are woken after
/// the parent's lock is released, so woken tasks do not queue on it.
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
            let state = lock(&node.state);
            for child in state.children.iter() {
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

fn most_common_names(children: &Slots<Arc<TaskNode>>) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for child in children.iter() {
        *counts.entry(child.name()).or_default() += 1;
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

    use super::{Kind, TaskNode, attach, release};
    use crate::cause::CancelCause;
    use crate::manager::Shared;
    use crate::options::Options;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A body parked with `poll_stop_quietly` is not woken by its service's cancellation,
    /// only by its last task ending; then it finds its node done.
    #[test]
    fn a_parked_body_is_woken_by_its_last_task_not_by_cancellation() {
        let shared = Shared::new(TaskNode::root("Svc".into()), Options::default(), None);
        assert!(shared.try_start());
        let root = Arc::clone(&shared.root);
        let task = attach(&root, "task".into(), Kind::Task, 10, None).unwrap();
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
        release(&task, &shared);
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "not woken by its last task"
        );
        assert_eq!(root.poll_stop_quietly(&mut cx), Poll::Ready(()));
    }
}
