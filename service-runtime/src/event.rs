//! [`Event`]: a one-shot broadcast flag, set once and awaited by any number of waiters.
//!
//! Most events are set with nobody waiting (a service's `started`, its `ready`): setting
//! one then is a single atomic operation, without the lock. A service has five, so an event
//! is kept small (40 bytes): the first waiter's waker is held inline, the others in a
//! [`Slots`] allocated when a second waiter comes.
//!
//! # Invariants
//!
//! 1. `state` gains `SET` once and `WAITING` at most once, and never loses either; both are
//!    added by read-modify-writes of the one atomic, so they are ordered.
//! 2. A waiter adds its waker to `wakers` and then `WAITING` to `state`, under the lock. If
//!    that finds `SET`, the waiter is done and takes its waker out again in the same
//!    critical section. Otherwise its `WAITING` came first, the setter's `SET` finds it, and
//!    the setter then takes the lock (after the waiter's critical section, which held it
//!    across both steps) and takes every waker there, to wake them once it has let go. No
//!    wake-up is lost.
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
    wakers: Mutex<Waiters>,
}

impl Default for Event {
    fn default() -> Self {
        Event {
            state: AtomicU8::new(0),
            wakers: Mutex::new(Waiters::default()),
        }
    }
}

/// The wakers of an event's waiters: slot 0 inline, slots `1..` in `more` (its slot
/// `i - 1`), allocated with the second waiter. Two words and a pointer.
#[derive(Default)]
struct Waiters {
    first: Option<Waker>,
    more: Option<Box<Slots<Waker>>>,
}

impl Waiters {
    fn insert(&mut self, waker: Waker) -> u32 {
        if self.first.is_none() {
            self.first = Some(waker);
            return 0;
        }
        // Fits: a `Slots` never holds more than `u32::MAX` values.
        self.more.get_or_insert_default().insert(waker) as u32 + 1
    }

    fn get_mut(&mut self, slot: u32) -> Option<&mut Waker> {
        match slot {
            0 => self.first.as_mut(),
            _ => self.more.as_mut()?.get_mut(slot as usize - 1),
        }
    }

    fn remove(&mut self, slot: u32) {
        match slot {
            0 => drop(self.first.take()),
            _ => {
                if let Some(more) = &mut self.more {
                    more.remove(slot as usize - 1);
                }
            }
        }
    }

    #[cfg(loom)]
    fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.as_ref().is_none_or(|more| more.is_empty())
    }

    /// Wakes every waker (the caller took them out of the lock first).
    fn wake_all(self) {
        if let Some(waker) = self.first {
            waker.wake();
        }
        if let Some(mut more) = self.more {
            for waker in more.drain() {
                waker.wake();
            }
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
        // Taken out whole, without allocating, and woken after letting go of the lock.
        let waiters = std::mem::take(&mut *lock(&self.wakers));
        waiters.wake_all();
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
        let index = match slot.and_then(|index| wakers.get_mut(index).map(|w| (index, w))) {
            Some((index, waker)) => {
                waker.clone_from(cx.waker());
                index
            }
            None => wakers.insert(cx.waker().clone()),
        };
        // Invariant 2: registered first, then announced; a setter that came first is seen.
        if self.state.fetch_or(WAITING, Ordering::AcqRel) & SET != 0 {
            wakers.remove(index);
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
            lock(&self.wakers).remove(index);
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
    use std::future::Future as _;

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

    /// Waiters past the inline slot (in the overflow set) are woken and unregistered as the
    /// first one is, and an event stays small: five of them sit in every service's state.
    #[tokio::test]
    async fn many_waiters_and_small_size() {
        #[cfg(target_pointer_width = "64")]
        assert_eq!(std::mem::size_of::<Event>(), 40);
        let event = std::sync::Arc::new(Event::default());
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let event = std::sync::Arc::clone(&event);
                let ready = ready_tx.clone();
                tokio::spawn(async move {
                    let mut wait = std::pin::pin!(event.wait());
                    // Registered once polled: then say so, and wait for the set.
                    std::future::poll_fn(|cx| {
                        let _ = wait.as_mut().poll(cx);
                        std::task::Poll::Ready(())
                    })
                    .await;
                    ready.send(()).unwrap();
                    wait.await;
                })
            })
            .collect();
        for _ in 0..5 {
            ready_rx.recv().await.unwrap();
        }
        // One that gives up in the middle leaves the others registered.
        {
            let mut gone = std::pin::pin!(event.wait());
            std::future::poll_fn(|cx| {
                assert!(gone.as_mut().poll(cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
        }
        event.set();
        for waiter in waiters {
            // A guard only: every waiter is woken by the set above.
            tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
                .await
                .expect("a waiter was not woken")
                .unwrap();
        }
    }
}
