//! [`Event`]: a one-shot broadcast flag, set once and awaited by any number of waiters.
//!
//! Most events are set with nobody waiting (a service's `started`, its `ready`): setting
//! one then is a single atomic operation, without the lock.
//!
//! # Invariants
//!
//! 1. `state` gains `SET` once and `WAITING` at most once, and never loses either; both are
//!    added by read-modify-writes of the one atomic, so they are ordered.
//! 2. A waiter adds its waker to `wakers` and then `WAITING` to `state`, under the lock. If
//!    that finds `SET`, the waiter is done and takes its waker out again in the same
//!    critical section. Otherwise its `WAITING` came first, the setter's `SET` finds it, and
//!    the setter then takes the lock (after the waiter's critical section, which held it
//!    across both steps) and wakes every waker there. No wake-up is lost.
//! 3. So once `SET` is in `state`, nobody adds a waker that stays: a slot a waiter holds is
//!    its own until it takes it out or the setter takes them all.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::slots::Slots;
use crate::sync::{AtomicU8, Mutex, Ordering, lock};

const SET: u8 = 1;
const WAITING: u8 = 2;

pub(crate) struct Event {
    state: AtomicU8,
    wakers: Mutex<Slots<Waker>>,
}

impl Default for Event {
    fn default() -> Self {
        Event {
            state: AtomicU8::new(0),
            wakers: Mutex::new(Slots::default()),
        }
    }
}

impl Event {
    /// Sets the flag and wakes every waiter; idempotent.
    pub(crate) fn set(&self) {
        // AcqRel: the Release half publishes what the setter did before (for whoever sees
        // the flag); the Acquire half orders the lock below after a waiter's registration.
        let before = self.state.fetch_or(SET, Ordering::AcqRel);
        if before & SET != 0 || before & WAITING == 0 {
            return;
        }
        let wakers: Vec<Waker> = lock(&self.wakers).drain().collect();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether no waiter is registered (for the models' leak checks).
    #[cfg(loom)]
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.wakers).is_empty()
    }

    pub(crate) fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) & SET != 0
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

impl Event {
    /// Ready once the flag is set; until then the waker of `cx` is kept in the slot noted in
    /// `slot` (registered on the first poll, updated on later ones). Whoever stops polling
    /// before it is ready must call [`Event::unregister`] with the same `slot`.
    pub(crate) fn poll_wait(&self, slot: &mut Option<u32>, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_set() {
            *slot = None;
            return Poll::Ready(());
        }
        let mut wakers = lock(&self.wakers);
        let index = match slot.and_then(|index| wakers.get_mut(index as usize).map(|w| (index, w)))
        {
            Some((index, waker)) => {
                waker.clone_from(cx.waker());
                index
            }
            // Fits: a `Slots` never holds more than `u32::MAX` values.
            None => wakers.insert(cx.waker().clone()) as u32,
        };
        // Invariant 2: registered first, then announced; a setter that came first is seen.
        if self.state.fetch_or(WAITING, Ordering::AcqRel) & SET != 0 {
            wakers.remove(index as usize);
            drop(wakers);
            *slot = None;
            return Poll::Ready(());
        }
        drop(wakers);
        *slot = Some(index);
        Poll::Pending
    }

    /// Gives up the waiting that `slot` notes (see [`Event::poll_wait`]).
    pub(crate) fn unregister(&self, slot: &mut Option<u32>) {
        if let Some(index) = slot.take() {
            // Our slot is ours or already taken by the setter (invariant 3): either way,
            // nobody else's waker is there.
            lock(&self.wakers).remove(index as usize);
        }
    }
}

/// The future of [`Event::wait`].
pub(crate) struct Wait<'a> {
    event: &'a Event,
    /// Our entry among the waiters, once registered.
    slot: Option<u32>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Wait { event, slot } = &mut *self;
        event.poll_wait(slot, cx)
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        self.event.unregister(&mut self.slot);
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
