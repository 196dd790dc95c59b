//! The synchronisation primitives the runtime's core is built on, in one place so that the
//! loom model checker can swap them: under `--cfg loom` the tree, the events and the
//! manager's flags run on loom's mutexes and atomics, which explore every interleaving
//! (see `RELIABILITY.md`).

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
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
