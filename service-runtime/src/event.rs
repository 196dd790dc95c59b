//! [`Event`]: a one-shot broadcast flag, set once and awaited by any number of waiters.
//!
//! # Invariants
//!
//! 1. `set` goes from false to true once, under `waiters`' lock, and in the same critical
//!    section every registered waker is taken out; so a waiter holding a slot index while
//!    the flag is false owns that slot, and once the flag is true no slot is owned.
//! 2. A waiter registers (or refreshes) its waker and reads the flag under the same lock:
//!    either it sees the flag, or its waker is in the set `set` takes. No wake-up is lost.
//!
//! The flag is mirrored in an atomic so that reading it takes no lock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::slots::Slots;
use crate::sync::{AtomicBool, Mutex, Ordering, lock};

pub(crate) struct Event {
    is_set: AtomicBool,
    waiters: Mutex<Waiters>,
}

struct Waiters {
    set: bool,
    wakers: Slots<Waker>,
}

impl Default for Event {
    fn default() -> Self {
        Event {
            is_set: AtomicBool::new(false),
            waiters: Mutex::new(Waiters {
                set: false,
                wakers: Slots::default(),
            }),
        }
    }
}

impl Event {
    /// Sets the flag and wakes every waiter; idempotent.
    pub(crate) fn set(&self) {
        let wakers: Vec<Waker> = {
            let mut waiters = lock(&self.waiters);
            if waiters.set {
                return;
            }
            waiters.set = true;
            // Release: what the setter did before is visible to whoever reads the flag set.
            self.is_set.store(true, Ordering::Release);
            if waiters.wakers.is_empty() {
                return;
            }
            waiters.wakers.drain().collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.is_set.load(Ordering::Acquire)
    }

    /// Resolves once the flag is set.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future unregisters it.
    pub(crate) fn wait(&self) -> Wait<'_> {
        Wait {
            event: self,
            slot: None,
        }
    }
}

/// The future of [`Event::wait`].
pub(crate) struct Wait<'a> {
    event: &'a Event,
    /// Our entry among the waiters, once registered.
    slot: Option<usize>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.event.is_set() {
            self.slot = None;
            return Poll::Ready(());
        }
        let mut waiters = lock(&self.event.waiters);
        if waiters.set {
            drop(waiters);
            self.slot = None;
            return Poll::Ready(());
        }
        match self.slot.and_then(|slot| waiters.wakers.get_mut(slot)) {
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                let slot = waiters.wakers.insert(cx.waker().clone());
                drop(waiters);
                self.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let mut waiters = lock(&self.event.waiters);
            // Once set, the slots were taken by `set` (invariant 1): nothing is ours.
            if !waiters.set {
                waiters.wakers.remove(slot);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Event;

    #[tokio::test]
    async fn waiters_before_and_after_set_complete() {
        let event = std::sync::Arc::new(Event::default());
        let early: Vec<_> = (0..3)
            .map(|_| {
                let event = std::sync::Arc::clone(&event);
                tokio::spawn(async move { event.wait().await })
            })
            .collect();
        tokio::task::yield_now().await;
        // A waiter that gives up unregisters without disturbing the others.
        drop(tokio::time::timeout(std::time::Duration::ZERO, event.wait()).await);
        event.set();
        for waiter in early {
            waiter.await.unwrap();
        }
        event.wait().await;
        assert!(event.is_set());
    }
}
