//! The synchronisation primitives the runtime's core is built on, in one place so that a
//! model checker can swap them (see `RELIABILITY.md`).

pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
