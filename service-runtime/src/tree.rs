//! The task tree: who is whose child, and when a task is done.
//!
//! Every task, every child service (as seen from its parent) and every service body is a
//! [`TaskNode`]. A node is *done* when its own work — the task's future, or the child
//! service's manager — has ended **and** all its children are done. Doneness propagates
//! upwards without any task waiting for it: whoever removes the last piece of work from a
//! node completes it and goes on with its parent, in a loop (a chain of thousands of nested
//! tasks needs no stack).
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
//! 4. The body node has no parent; it is done last of its tree (its tree's nodes all hang
//!    below it), and its completion finishes the manager.
//!
//! # Lock order
//!
//! At most one node lock is held at a time: [`attach`] and [`release`] take one node's lock,
//! let go, and only then take the next. No other lock is taken while a node lock is held, and
//! no user code runs under one.
//!
//! # Wake-ups
//!
//! A task that must not be aborted before its children are done waits in
//! [`TaskNode::children_done`]. The child that empties the set calls
//! `Notify::notify_one`, which stores a permit when nobody waits yet, so a waiter that checks
//! the set and then waits cannot miss it; a stale permit only costs one extra check.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use crate::error::LifecycleError;
use crate::sync::{Mutex, lock};

pub(crate) struct TaskNode {
    parent: Option<Arc<TaskNode>>,
    /// This node's index in its parent's `children`.
    slot: usize,
    name: Cow<'static, str>,
    path: OnceLock<Arc<str>>,
    state: Mutex<NodeState>,
    children_done: Notify,
}

struct NodeState {
    running: bool,
    children: Slots<Arc<TaskNode>>,
}

impl NodeState {
    fn is_done(&self) -> bool {
        !self.running && self.children.is_empty()
    }
}

impl TaskNode {
    /// The node of a service body: the root of its tree, with the service's path.
    pub(crate) fn root(name: Cow<'static, str>, path: Arc<str>) -> Arc<TaskNode> {
        Arc::new(TaskNode {
            parent: None,
            slot: 0,
            name,
            path: OnceLock::from(path),
            state: Mutex::new(NodeState {
                running: true,
                children: Slots::default(),
            }),
            children_done: Notify::new(),
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
        // Walk up to the nearest node whose path is known (the root always knows it), then
        // build downwards; iterative, so deep chains cost no stack.
        let mut names = vec![&*self.name];
        let mut node = self.parent.as_deref();
        let base = loop {
            match node {
                Some(n) => match n.path.get() {
                    Some(path) => break &**path,
                    None => {
                        names.push(&n.name);
                        node = n.parent.as_deref();
                    }
                },
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

    /// Resolves once every child of this node is done.
    ///
    /// # Cancel safety
    /// Cancel safe: it only observes.
    pub(crate) async fn children_done(&self) {
        loop {
            if lock(&self.state).children.is_empty() {
                return;
            }
            // A permit stored by `release` between the check and here completes this at
            // once (see the module docs, "Wake-ups").
            self.children_done.notified().await;
        }
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

/// Attaches a new child named `name` under `parent`, or under its nearest ancestor that is
/// not done (a `Context` may outlive its task). `path` is set when the child's path cannot be
/// derived from its tree parent (that re-parented case).
///
/// Fails with `NotRunning` when the whole tree is done, and with `TooManyChildren` when the
/// parent already has `limit` live children.
pub(crate) fn attach(
    parent: &Arc<TaskNode>,
    name: Cow<'static, str>,
    limit: usize,
) -> Result<Arc<TaskNode>, LifecycleError> {
    let mut candidate = parent;
    loop {
        let mut state = lock(&candidate.state);
        if state.is_done() {
            drop(state);
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
        let path = if Arc::ptr_eq(candidate, parent) {
            OnceLock::new()
        } else {
            // Adopted by an ancestor: keep the path the spawning task would have given it.
            let path = format!("{}/{}", parent.path(), name);
            OnceLock::from(Arc::<str>::from(path))
        };
        let slot = state.children.next_slot();
        let node = Arc::new(TaskNode {
            parent: Some(Arc::clone(candidate)),
            slot,
            name,
            path,
            state: Mutex::new(NodeState {
                running: true,
                children: Slots::default(),
            }),
            children_done: Notify::new(),
        });
        state.children.insert(Arc::clone(&node));
        return Ok(node);
    }
}

/// What [`release`] found done.
pub(crate) trait OnDone {
    /// A node with a parent is done (counted as a finished task).
    fn task_done(&self);
    /// The root node is done: the service is finished.
    fn root_done(&self);
}

/// Records that `node`'s own work has ended; completes it, and every ancestor this leaves
/// with nothing to do, reporting each to `on_done`.
pub(crate) fn release(node: Arc<TaskNode>, on_done: &dyn OnDone) {
    {
        let mut state = lock(&node.state);
        state.running = false;
        if !state.children.is_empty() {
            return;
        }
    }
    let mut done = node;
    loop {
        let Some(parent) = done.parent.clone() else {
            on_done.root_done();
            return;
        };
        on_done.task_done();
        let (parent_done, wake) = {
            let mut state = lock(&parent.state);
            state.children.remove(done.slot);
            let empty = state.children.is_empty();
            (empty && !state.running, empty && state.running)
        };
        if wake {
            parent.children_done.notify_one();
        }
        if !parent_done {
            return;
        }
        done = parent;
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

/// A vector with stable indices and O(1) insert and remove (a minimal slab).
struct Slots<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The index the next [`Slots::insert`] will use.
    fn next_slot(&self) -> usize {
        self.free.last().copied().unwrap_or(self.entries.len())
    }

    fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(slot) => {
                self.entries[slot] = Some(value);
                slot
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) -> Option<T> {
        let value = self.entries.get_mut(slot)?.take()?;
        self.len -= 1;
        if self.len == 0 {
            // Give the memory of a burst of children back once it is over.
            self.entries = Vec::new();
            self.free = Vec::new();
        } else {
            self.free.push(slot);
        }
        Some(value)
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_reuse_indices() {
        let mut slots = Slots::default();
        let a = slots.insert('a');
        let b = slots.insert('b');
        assert_eq!(slots.remove(a), Some('a'));
        assert_eq!(slots.next_slot(), a);
        assert_eq!(slots.insert('c'), a);
        assert_eq!(slots.len(), 2);
        assert_eq!(slots.remove(a), Some('c'));
        assert_eq!(slots.remove(a), None);
        assert_eq!(slots.remove(b), Some('b'));
        assert!(slots.is_empty());
    }
}
