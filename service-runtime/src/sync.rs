//! The synchronisation primitives the runtime's core is built on, in one place so that the
//! loom model checker can swap them: under `--cfg loom` the tree, the events and the
//! manager's flags run on loom's mutexes and atomics, which explore every interleaving
//! (see `RELIABILITY.md`).
//!
//! With the non-default feature `lock-stats` (for the benchmarks only), [`lock`] also times
//! every critical section: how long each lock was waited for and held, kept apart for the
//! tree's node locks, its shard locks and all others ([`lock_stats`]). Without the feature
//! `lock` is the plain `Mutex::lock`, and none of this is compiled.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning.
///
/// No user code runs while the runtime holds one of its locks, so a poisoned lock can only
/// come from a bug of ours that already panicked; the data it guards is still consistent
/// because every critical section leaves it so before calling anything that could panic.
#[cfg(any(loom, not(feature = "lock-stats")))]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(all(not(loom), feature = "lock-stats"))]
pub(crate) use lock_stats::lock;

/// Hold and wait times of the runtime's locks (feature `lock-stats`, for the benchmarks).
#[cfg(all(not(loom), feature = "lock-stats"))]
pub mod lock_stats {
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use super::{Mutex, MutexGuard};

    /// Counters of one kind of lock.
    struct Counters {
        count: AtomicU64,
        held_ns: AtomicU64,
        /// Of `held_ns`, the sections shorter than 100 µs (without the holder's preemptions).
        held_short_ns: AtomicU64,
        max_held_ns: AtomicU64,
        waited_ns: AtomicU64,
        max_waited_ns: AtomicU64,
        /// Sections held at least 1 µs, 10 µs, 100 µs, 1 ms.
        longer_than: [AtomicU64; 4],
    }

    impl Counters {
        const fn new() -> Counters {
            Counters {
                count: AtomicU64::new(0),
                held_ns: AtomicU64::new(0),
                held_short_ns: AtomicU64::new(0),
                max_held_ns: AtomicU64::new(0),
                waited_ns: AtomicU64::new(0),
                max_waited_ns: AtomicU64::new(0),
                longer_than: [const { AtomicU64::new(0) }; 4],
            }
        }

        fn take(&self) -> Hold {
            // Relaxed: statistics, read once the measured work is over.
            let ns = |a: &AtomicU64| Duration::from_nanos(a.swap(0, Ordering::Relaxed));
            Hold {
                count: self.count.swap(0, Ordering::Relaxed),
                held: ns(&self.held_ns),
                held_short: ns(&self.held_short_ns),
                max_held: ns(&self.max_held_ns),
                waited: ns(&self.waited_ns),
                max_waited: ns(&self.max_waited_ns),
                longer_than: self
                    .longer_than
                    .each_ref()
                    .map(|a| a.swap(0, Ordering::Relaxed)),
            }
        }
    }

    static NODE: Counters = Counters::new();
    static SHARD: Counters = Counters::new();
    static OTHER: Counters = Counters::new();

    /// What the locks of one kind did since the last [`take`].
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Hold {
        /// Critical sections.
        pub count: u64,
        /// Their total length.
        pub held: Duration,
        /// The total length of those shorter than 100 µs: on a busy machine the longer ones
        /// are mostly the holder's thread being preempted.
        pub held_short: Duration,
        /// The longest one.
        pub max_held: Duration,
        /// Total time spent waiting to get in.
        pub waited: Duration,
        /// The longest wait.
        pub max_waited: Duration,
        /// How many sections were held at least 1 µs, 10 µs, 100 µs and 1 ms.
        pub longer_than: [u64; 4],
    }

    /// The tree's node locks, its shard locks, and every other lock of the runtime.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct LockStats {
        /// Node locks (`NodeState`): attaching, releasing, registering, cancellation walks.
        pub node: Hold,
        /// Shard locks (the children of a node past its threshold): inserting, registering
        /// and releasing those children, cancellation walks.
        pub shard: Hold,
        /// The others: events' waiter lists, failures, parent links.
        pub other: Hold,
    }

    /// The counters since the last call (or since the start), reset to zero.
    pub fn take() -> LockStats {
        LockStats {
            node: NODE.take(),
            shard: SHARD.take(),
            other: OTHER.take(),
        }
    }

    /// A guard that records how long it was held when dropped.
    pub(crate) struct Timed<'a, T> {
        /// `Some` until dropped: the drop lets go of the lock before recording.
        guard: Option<MutexGuard<'a, T>>,
        since: Instant,
        counters: &'static Counters,
    }

    fn nanos(d: Duration) -> u64 {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    /// `super::lock`, timed.
    pub(crate) fn lock<T>(mutex: &Mutex<T>) -> Timed<'_, T> {
        let name = std::any::type_name::<T>();
        let counters = if name.contains("::NodeState<") {
            &NODE
        } else if name.contains("::Slots<") && name.contains("::tree::Child<") {
            &SHARD
        } else {
            &OTHER
        };
        let asked = Instant::now();
        let guard = mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let since = Instant::now();
        let waited = nanos(since - asked);
        // Relaxed: statistics.
        counters.waited_ns.fetch_add(waited, Ordering::Relaxed);
        counters.max_waited_ns.fetch_max(waited, Ordering::Relaxed);
        Timed {
            guard: Some(guard),
            since,
            counters,
        }
    }

    impl<T> Deref for Timed<'_, T> {
        type Target = T;

        fn deref(&self) -> &T {
            self.guard.as_ref().expect("held until dropped")
        }
    }

    impl<T> DerefMut for Timed<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.guard.as_mut().expect("held until dropped")
        }
    }

    impl<T> Drop for Timed<'_, T> {
        fn drop(&mut self) {
            let held = nanos(self.since.elapsed());
            // Unlocked first: recording is not part of the critical section.
            drop(self.guard.take());
            let counters = self.counters;
            // Relaxed: statistics.
            counters.count.fetch_add(1, Ordering::Relaxed);
            counters.held_ns.fetch_add(held, Ordering::Relaxed);
            if held < 100_000 {
                counters.held_short_ns.fetch_add(held, Ordering::Relaxed);
            }
            counters.max_held_ns.fetch_max(held, Ordering::Relaxed);
            for (bucket, limit) in counters
                .longer_than
                .iter()
                .zip([1_000, 10_000, 100_000, 1_000_000])
            {
                if held < limit {
                    break;
                }
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
