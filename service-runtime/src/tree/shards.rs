//! The shards of a node with many children (module docs of `tree`, "Shards"): where a child's
//! entry is, and how a child leaves a shard.

use std::sync::OnceLock;
use std::task::Waker;

use super::{Child, NodeState, Owner, Removed};
use crate::slots::Slots;
use crate::sync::{AtomicUsize, Mutex, Ordering};

/// How many shards a sharded node has. Sixteen: a power of two, so the child id picks one
/// with a mask; enough that sixteen spawners (or workers ending children) at once take
/// different locks, so that the node's own lock, still taken once per child to attach it
/// (where an unsharded node takes it three times), is the next wall. Small enough that a
/// node's shards take 2 KB, next to the 3.5 KB its first 64 children's entries take
/// already. Fixed rather than the number of workers: the tree knows nothing of tokio, and
/// a fixed mask keeps a child's shard deterministic (tests, loom). Two under loom, so that
/// models shard with two children.
pub(super) const SHARDS: usize = if cfg!(loom) { 2 } else { 16 };

/// Children a node keeps in its own `children` before it shards: past this many live
/// children, new ones go to the shards. W3's nodes (11 children) and every task (none) stay
/// below it. One under loom: the models' second child is in a shard.
pub(super) const THRESHOLD: usize = if cfg!(loom) { 1 } else { 64 };

/// Fewer cores than this and nodes do not shard (outside the crate's own tests and models).
const SHARDING_CORES: usize = 8;

/// The children a node keeps in its own `children` before it shards on this machine:
/// [`THRESHOLD`] with [`SHARDING_CORES`] cores or more; otherwise as many as a slot can
/// index, so that in practice it never shards. On a few cores a lock is rarely contended,
/// and the shards' extra section per child and their spread-out cache lines are pure cost
/// (a hot parent of 100,000 children took 15 % longer sharded on 2 cores). The crate's
/// unit tests and loom models use [`THRESHOLD`] whatever the machine, so the shards are
/// tested where CI runs, and so does a build with `lock-stats` (benchmarks only), so that
/// the hot-parent benchmark shows the sharded locks on any machine.
#[inline]
pub(super) fn threshold() -> usize {
    if cfg!(any(test, loom, feature = "lock-stats")) {
        return THRESHOLD;
    }
    static ON_THIS_MACHINE: OnceLock<usize> = OnceLock::new();
    *ON_THIS_MACHINE.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if cores >= SHARDING_CORES {
            THRESHOLD
        } else {
            INDEX_MASK as usize
        }
    })
}

/// Bits of a slot (a [`TaskRef`](super::TaskRef)'s, a node's own) that say where the entry
/// is: 0 in the node's own `children`, `i + 1` in shard `i`; the rest is the index there.
const SHARD_SHIFT: u32 = 27;
const INDEX_MASK: u32 = (1 << SHARD_SHIFT) - 1;

// The tag of the last shard must not make a slot look like `IS_NODE` (all ones).
const _: () = assert!(SHARDS < (1 << (32 - SHARD_SHIFT)) - 1);

/// Where the entry a slot names is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// In the node's own `children`, at this index.
    Own(usize),
    /// In shard `shard`, at `index`.
    Shard { shard: usize, index: usize },
}

impl Place {
    #[inline]
    pub(super) fn of(slot: u32) -> Place {
        let index = (slot & INDEX_MASK) as usize;
        match slot >> SHARD_SHIFT {
            0 => Place::Own(index),
            tag => Place::Shard {
                shard: tag as usize - 1,
                index,
            },
        }
    }

    /// The slot of the entry at `index` in the node's own `children`.
    pub(super) fn own(index: usize) -> u32 {
        // Fits: a node's own `children` never hold more than `threshold()` entries, at most
        // `INDEX_MASK`.
        index as u32
    }

    /// The slot of the entry at `index` in shard `shard`.
    pub(super) fn in_shard(shard: usize, index: usize) -> u32 {
        // 2²⁷ entries in one shard would take 7 GB of entries alone.
        assert!(
            index <= INDEX_MASK as usize,
            "too many children in one shard"
        );
        // Fits: `SHARDS` is below the tag's range (asserted above).
        (shard as u32 + 1) << SHARD_SHIFT | index as u32
    }
}

/// One shard: some of a node's children, under a lock of their own, and how many there are
/// or are being attached there (read without the lock, by whoever checks the node is
/// empty). Aligned so that two shards never share a cache line.
#[repr(align(128))]
pub(super) struct Shard<S: Owner> {
    pub(super) children: Mutex<Slots<Child<S>>>,
    /// Incremented by `attach` under the node's lock, before the entry is inserted;
    /// decremented when the entry is removed, under the shard's lock.
    live: AtomicUsize,
}

/// The shards of a node, made the first time it shards and kept for its life (boxed: a
/// node that never shards pays one word for them).
pub(super) struct Shards<S: Owner>(Box<[Shard<S>; SHARDS]>);

impl<S: Owner> Shards<S> {
    pub(super) fn new() -> Shards<S> {
        Shards(Box::new(std::array::from_fn(|_| Shard {
            children: Mutex::new(Slots::default()),
            live: AtomicUsize::new(0),
        })))
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Shard<S>> {
        self.0.iter()
    }

    pub(super) fn get(&self, shard: usize) -> &Shard<S> {
        &self.0[shard]
    }

    /// The children in all shards, or being attached there. Acquire: a count seen at zero
    /// comes after what the child that left did before (counting itself finished).
    pub(super) fn live(&self) -> usize {
        self.0
            .iter()
            .map(|shard| shard.live.load(Ordering::Acquire))
            .sum()
    }

    pub(super) fn are_empty(&self) -> bool {
        self.0
            .iter()
            .all(|shard| shard.live.load(Ordering::Acquire) == 0)
    }

    /// Counts a child about to be attached to the shard its id picks, under the node's lock
    /// (so that a node found empty under its lock has no child on the way); returns that
    /// shard's index.
    pub(super) fn count_in(&self, id: u32) -> usize {
        let shard = id as usize & (SHARDS - 1);
        // Relaxed: read under the node's lock (which orders it) or by a read-modify-write.
        self.0[shard].live.fetch_add(1, Ordering::Relaxed);
        shard
    }
}

/// The entries a slot is in, locked: the node's own `children` (with its state) or a
/// shard's ([`TaskNode::with_entries`](super::TaskNode::with_entries)).
pub(super) enum Entries<'a, S: Owner> {
    Own(&'a mut NodeState<S>, &'a OnceLock<Shards<S>>),
    Shard(&'a mut Slots<Child<S>>, &'a Shard<S>),
}

impl<S: Owner> Entries<'_, S> {
    pub(super) fn children(&mut self) -> &mut Slots<Child<S>> {
        match self {
            Entries::Own(state, _) => &mut state.children,
            Entries::Shard(children, _) => children,
        }
    }

    /// Takes the child at `index` out; the rest of its leaving happens after unlocking
    /// ([`Removed::finish`]). From the node's own `children`, this decides at once whether
    /// the node has no child left; from a shard, the child uncounts itself, and if that
    /// empties the shard the node is checked afterwards, under its own lock.
    #[inline]
    pub(super) fn remove(self, index: usize) -> Removed<S> {
        match self {
            Entries::Own(state, shards) => {
                let child = state.children.remove(index);
                let (waker, parent_done) = match child {
                    Some(_) => state.emptied(shards.get()),
                    None => (None, false),
                };
                Removed {
                    child,
                    parent_done,
                    emptied_shard: false,
                    waker,
                }
            }
            Entries::Shard(children, shard) => {
                let child = children.remove(index);
                // Release: whoever reads the count at zero (Acquire, under the node's lock)
                // sees what this child did before it left, its departure counted among them.
                let emptied_shard =
                    child.is_some() && shard.live.fetch_sub(1, Ordering::Release) == 1;
                Removed {
                    child,
                    parent_done: false,
                    emptied_shard,
                    waker: None,
                }
            }
        }
    }
}

impl<S: Owner> NodeState<S> {
    /// Whether the node has no child, in its own `children` or in a shard.
    #[inline]
    pub(super) fn has_no_child(&self, shards: Option<&Shards<S>>) -> bool {
        self.children.is_empty() && shards.is_none_or(Shards::are_empty)
    }

    /// How many live children the node has, in its own `children` and its shards.
    pub(super) fn live(&self, shards: Option<&Shards<S>>) -> usize {
        self.children.len() + shards.map_or(0, Shards::live)
    }

    /// After a child left (the node's lock held): if no child is left, the node goes back
    /// to its own `children` for new ones, its task's waker if it waits for its children,
    /// and whether this completes the node (exactly one caller is told so: `done`).
    #[inline]
    pub(super) fn emptied(&mut self, shards: Option<&Shards<S>>) -> (Option<Waker>, bool) {
        if !self.has_no_child(shards) {
            return (None, false);
        }
        self.sharded = false;
        let waker = self.waiter.take_for_last_child();
        let completes = !self.running && !self.done;
        self.done |= completes;
        (waker, completes)
    }
}
