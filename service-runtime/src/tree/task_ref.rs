//! [`TaskRef`]: how a task (and each clone of its `Context`) refers to its place in the tree.

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use super::shards::Entries;
use super::{
    Child, NodeRef, NodeState, Owner, Parent, Phase, Status, TaskNode, Waiter, same, store,
};
use crate::name::{Name, join};
use crate::sync::lock;

/// Where a task is in its service's tree: its own node, or its parent and its entry there
/// (module docs, "Identity"). Three words — the runner keeps one per task, inside the future
/// tokio moves around — read as an enum by [`TaskRef::target`].
pub(crate) struct TaskRef<S: Owner> {
    /// The task's own node when `slot` is [`IS_NODE`], else its parent.
    node: NodeRef<S>,
    slot: u32,
    id: u32,
}

/// The `slot` of a [`TaskRef`] whose `node` is the task's own.
const IS_NODE: u32 = u32::MAX;

/// What a [`TaskRef`] refers to.
pub(crate) enum Target<'a, S: Owner> {
    /// The task's own node.
    Node(&'a NodeRef<S>),
    /// A leaf: the task is the entry `slot` of `parent`, if that entry's id is still `id`.
    Leaf {
        parent: &'a NodeRef<S>,
        slot: u32,
        id: u32,
    },
}

/// What [`TaskRef::lookup`] found.
pub(super) enum Lookup<R, S: Owner> {
    /// Still a leaf: the result of the function run on its parent's state.
    Leaf(R),
    /// It has become a node (the reference now refers to it).
    Node(NodeRef<S>),
    /// It has left the tree.
    Gone,
}

impl<S: Owner> Clone for TaskRef<S> {
    fn clone(&self) -> Self {
        TaskRef {
            node: self.node.clone(),
            slot: self.slot,
            id: self.id,
        }
    }
}

impl<S: Owner> TaskRef<S> {
    /// A reference to the task whose node `node` is.
    pub(crate) fn to_node(node: NodeRef<S>) -> TaskRef<S> {
        TaskRef {
            node,
            slot: IS_NODE,
            id: 0,
        }
    }

    /// A reference to the leaf in `parent`'s `slot` with `id`.
    pub(super) fn to_leaf(parent: NodeRef<S>, slot: u32, id: u32) -> TaskRef<S> {
        debug_assert_ne!(slot, IS_NODE, "a `Slots` never holds u32::MAX values");
        TaskRef {
            node: parent,
            slot,
            id,
        }
    }

    /// What this reference refers to.
    pub(crate) fn target(&self) -> Target<'_, S> {
        if self.slot == IS_NODE {
            Target::Node(&self.node)
        } else {
            Target::Leaf {
                parent: &self.node,
                slot: self.slot,
                id: self.id,
            }
        }
    }

    /// The task's node, if this reference is to it.
    pub(crate) fn as_node(&self) -> Option<&NodeRef<S>> {
        match self.target() {
            Target::Node(node) => Some(node),
            Target::Leaf { .. } => None,
        }
    }

    /// The node the task's entry is in: its parent for a leaf (a node's own is its parent's).
    pub(super) fn parent(&self) -> &NodeRef<S> {
        &self.node
    }

    #[cfg(all(test, not(loom)))]
    pub(super) fn slot(&self) -> u32 {
        self.slot
    }

    /// For a leaf, the shard of its parent its entry is in (`None`: the parent's own
    /// entries, or a reference to a node).
    #[cfg(test)]
    pub(crate) fn shard(&self) -> Option<usize> {
        match self.target() {
            Target::Leaf { slot, .. } => match super::Place::of(slot) {
                super::Place::Own(_) => None,
                super::Place::Shard { shard, .. } => Some(shard),
            },
            Target::Node(_) => None,
        }
    }

    /// The task's path, `name` being its name; built anew for a leaf.
    pub(crate) fn path(&self, name: &str) -> Arc<str> {
        match self.target() {
            Target::Node(node) => Arc::clone(node.path()),
            Target::Leaf { parent, .. } => join(parent.path(), name),
        }
    }

    /// Writes the task's path, `name` being its name, without building or storing it.
    pub(crate) fn write_path(&self, name: &str, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        match self.target() {
            Target::Node(node) => f.write_str(node.path()),
            Target::Leaf { parent, .. } => {
                let base = parent.path();
                if !base.is_empty() {
                    f.write_str(base)?;
                    f.write_char('/')?;
                }
                f.write_str(name)
            }
        }
    }

    /// A number that tells this task from its siblings.
    pub(crate) fn identity(&self) -> u64 {
        let node: *const TaskNode<S> = &*self.node;
        node.addr() as u64 ^ (u64::from(self.slot) << 32 | u64::from(self.id))
    }

    /// The task's node; a leaf becomes one (named `name`), as in [`TaskRef::node`].
    #[cfg(test)]
    pub(crate) fn make_node(&self, name: &Name) -> NodeRef<S> {
        match self.target() {
            Target::Node(node) => node.clone(),
            Target::Leaf { parent, slot, id } => NodeRef::Task(leaf_node(parent, slot, id, name)),
        }
    }

    /// The task's node, where its children go: its own, or for a leaf, the node it becomes
    /// (named `name`), kept in `made` (made now, or by another reference before). For a
    /// task that has ended, a node that is done already: it names the task, and work
    /// attached through it goes to its nearest live ancestor (invariant 2).
    pub(crate) fn node<'a>(
        &'a self,
        name: &Name,
        made: &'a OnceLock<Arc<TaskNode<S>>>,
    ) -> Parent<'a, S> {
        match self.target() {
            Target::Node(node) => Parent::Ref(node),
            Target::Leaf { parent, slot, id } => {
                Parent::Task(made.get_or_init(|| leaf_node(parent, slot, id, name)))
            }
        }
    }

    /// Looks up a leaf's entry, under the lock of the entries it is in (its parent's, or a
    /// shard's): while the task is a leaf, runs `at_leaf` on those entries with the entry's
    /// index; once it has become a node, makes this reference refer to that node.
    #[inline]
    pub(super) fn lookup<R>(
        &mut self,
        at_leaf: impl FnOnce(Entries<'_, S>, usize) -> R,
    ) -> Lookup<R, S> {
        let id = self.id;
        let found = self.node.with_entries(self.slot, |mut entries, index| {
            match same(entries.children().get_mut(index), id) {
                None => Lookup::Gone,
                Some(Child::Leaf { .. }) => Lookup::Leaf(at_leaf(entries, index)),
                Some(Child::Node(node)) => Lookup::Node(node.clone()),
            }
        });
        if let Lookup::Node(node) = &found {
            *self = TaskRef::to_node(node.clone());
        }
        found
    }

    /// Stores `waker` (the task's own) to be woken by a cancellation walk, and returns the
    /// task's name: both from the same lock, which a task takes once each time it starts (a
    /// leaf's name lives in its entry, not in every reference to it).
    ///
    /// The waker stays until a cancellation walk takes it; so it must wake this task
    /// whenever it is polled — true of a tokio task's wakers, and our tasks are tokio tasks.
    /// After storing it, the task must read its service's `cancelled` flag before it waits
    /// (module docs, "Wake-ups"). A leaf that becomes a node takes it along.
    ///
    /// Under the same lock it records `status` for snapshots (when the task was started is
    /// recorded when it is attached).
    pub(crate) fn register(&mut self, waker: &Waker, status: Status) -> Name {
        if let Target::Leaf { .. } = self.target() {
            let found = self.lookup(
                |mut entries, index| match entries.children().get_mut(index) {
                    Some(Child::Leaf {
                        name,
                        waker: stored,
                        status: stored_status,
                        ..
                    }) => {
                        store(stored, waker);
                        *stored_status = status;
                        Some(name.clone())
                    }
                    _ => None,
                },
            );
            match found {
                // `lookup` runs the closure on the leaf it found, under the same lock.
                Lookup::Leaf(name) => return name.unwrap_or(Name::Static("")),
                // Now a reference to the node: registered there, below.
                Lookup::Node(_) => {}
                // Released: only the task's own reference registers, and it is released last.
                Lookup::Gone => return Name::Static(""),
            }
        }
        let mut state = lock(&self.node.state);
        match &mut state.waiter {
            Waiter::Cancel(stored) if stored.will_wake(waker) => {}
            waiter => *waiter = Waiter::Cancel(waker.clone()),
        }
        state.status = status;
        drop(state);
        self.node.name.clone()
    }

    /// The task's name, and for snapshots, that it is being restarted `restarts` times
    /// (after a delay, if `backoff`): one lock, which the restart takes anyway for the name
    /// it logs.
    pub(crate) fn restarting(&self, restarts: u32, backoff: bool) -> Name {
        let phase = if backoff {
            Phase::Backoff
        } else {
            Phase::Running
        };
        let update = |status: &mut Status| {
            *status = Status::new(phase, status.is_daemon(), status.is_body(), restarts);
        };
        let node = match self.target() {
            Target::Node(node) => node.clone(),
            Target::Leaf { parent, slot, id } => {
                let found = parent.with_child(slot, id, |child| match child {
                    Some(Child::Leaf { status, name, .. }) => {
                        update(status);
                        Err(name.clone())
                    }
                    // Made a node by a clone of its `Context`: its status moved there.
                    Some(Child::Node(node)) => Ok(node.clone()),
                    None => Err(Name::Static("")),
                });
                match found {
                    Ok(node) => node,
                    Err(name) => return name,
                }
            }
        };
        update(&mut lock(&node.state).status);
        node.name.clone()
    }

    /// The task's name (looked up under its parent's lock, for a leaf).
    pub(crate) fn name(&self) -> Name {
        match self.target() {
            Target::Node(node) => node.name.clone(),
            Target::Leaf { parent, slot, id } => parent.with_child(slot, id, |child| {
                child.map_or(Name::Static(""), |child| child.name().clone())
            }),
        }
    }

    /// Ready once every child of this task is done. A task with a node is then done, as in
    /// [`TaskNode::poll_stop`]; a leaf has no children, but must be looked up to know that
    /// it still is one (a clone of its `Context` may have started a child from it).
    pub(crate) fn poll_stop(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(node) = self.as_node() {
            return node.poll_stop(cx);
        }
        match self.lookup(|_, _| ()) {
            Lookup::Node(node) => node.poll_stop(cx),
            Lookup::Leaf(()) | Lookup::Gone => Poll::Ready(()),
        }
    }

    /// [`TaskNode::poll_stop_quietly`] for a service body (always its own node).
    pub(crate) fn poll_stop_quietly(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.as_node() {
            Some(node) => node.poll_stop_quietly(cx),
            None => self.poll_stop(cx),
        }
    }
}

/// The node the leaf in `parent`'s `slot` with `id` becomes (a node made from a leaf is never
/// a root); a done one if the task has ended.
fn leaf_node<S: Owner>(parent: &NodeRef<S>, slot: u32, id: u32, name: &Name) -> Arc<TaskNode<S>> {
    let node =
        |state| TaskNode::new_child(parent.clone(), (slot, id), name.clone(), false, None, state);
    let found = parent.with_child(slot, id, |child| match child? {
        Child::Node(NodeRef::Task(existing)) => Some(Arc::clone(existing)),
        // Never a leaf's: a root is attached as one.
        Child::Node(NodeRef::Root(_)) => None,
        child => {
            let waiter = child.take_waker().map_or(Waiter::None, Waiter::Cancel);
            let mut state = NodeState::new(true, waiter);
            if let Child::Leaf {
                status, started, ..
            } = child
            {
                (state.status, state.started) = (*status, *started);
            }
            let made = Arc::new(node(state));
            *child = Child::Node(NodeRef::Task(Arc::clone(&made)));
            Some(made)
        }
    });
    // Made after unlocking: the task has ended, its node is done.
    found.unwrap_or_else(|| Arc::new(node(NodeState::new(false, Waiter::None))))
}

// A `TaskRef` is three words (the node reference's tag and pointer, the slot and id): it
// sits in every task's future, which tokio moves around.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<TaskRef<super::Bare>>() == 3 * 8);
