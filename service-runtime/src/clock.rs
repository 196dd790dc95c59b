//! When tasks start, for snapshots: one clock read per poll of the task that starts them.
//!
//! A snapshot shows how long each task has run, counted from when it was started (attached
//! to its tree, [`crate::tree::attach_task`]). Reading the clock is a noticeable part of
//! starting a task (about 25 ns, 3 % of a leaf task's whole cost: BENCHMARKS.md, "The start
//! instant"), and a task that starts many — a listener, a batch — would read it once for
//! each. So the runner marks every poll of a
//! task ([`PollScope`]), and within one poll the first start reads the clock and the others
//! take that reading: a start is stamped at most one poll late, and polls are short.
//!
//! Outside any runner's poll (a service started from `main`, work started through a
//! `Manager` from a plain task), every start reads the clock.
//!
//! The marks are a per-thread counter, odd inside a poll: entering and leaving a poll each
//! add one, so a reading is reused only in the poll it was taken in, and a poll nested in
//! another (a `block_on` inside a task) counts as outside (even) and reads the clock itself.

use std::cell::Cell;

use tokio::time::Instant;

thread_local! {
    /// Odd while this thread is inside a runner's poll; changes at every entry and exit.
    static EPOCH: Cell<u64> = const { Cell::new(0) };
    /// The last reading taken inside a poll: its epoch, the origin it was measured from, and
    /// the nanoseconds since that origin.
    static READING: Cell<Reading> = const { Cell::new(Reading::NONE) };
}

#[derive(Clone, Copy)]
struct Reading {
    epoch: u64,
    origin: Option<Instant>,
    since: u64,
}

impl Reading {
    const NONE: Reading = Reading {
        epoch: 0,
        origin: None,
        since: 0,
    };
}

/// Nanoseconds from `origin` to now (saturating), read at most once per poll per origin.
#[inline]
pub(crate) fn since(origin: Instant) -> u64 {
    let epoch = EPOCH.get();
    if epoch % 2 == 1 {
        let last = READING.get();
        if last.epoch == epoch && last.origin == Some(origin) {
            return last.since;
        }
        let since = nanos_since(origin);
        READING.set(Reading {
            epoch,
            origin: Some(origin),
            since,
        });
        return since;
    }
    nanos_since(origin)
}

#[inline(never)]
fn nanos_since(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Marks a runner's poll, from its making to its drop (an unwinding panic drops it too).
pub(crate) struct PollScope(());

impl PollScope {
    #[inline]
    pub(crate) fn enter() -> PollScope {
        EPOCH.set(EPOCH.get().wrapping_add(1));
        PollScope(())
    }
}

impl Drop for PollScope {
    #[inline]
    fn drop(&mut self) {
        EPOCH.set(EPOCH.get().wrapping_add(1));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_reading_serves_a_whole_poll_and_none_outlives_it() {
        let origin = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        {
            let _poll = PollScope::enter();
            let first = since(origin);
            tokio::time::advance(Duration::from_secs(1)).await;
            // Same poll: the first reading stands.
            assert_eq!(since(origin), first);
            assert_eq!(first, 1_000_000_000);
            // Another origin is measured on its own.
            let other = origin + Duration::from_millis(500);
            assert_eq!(since(other), 1_500_000_000);
        }
        // Outside any poll: the clock itself, each time.
        assert_eq!(since(origin), 2_000_000_000);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(since(origin), 2_001_000_000);
        tokio::time::advance(Duration::from_millis(999)).await;
        let _poll = PollScope::enter();
        // A new poll reads the clock again.
        assert_eq!(since(origin), 3_000_000_000);
        tokio::time::advance(Duration::from_secs(1)).await;
        {
            // A poll nested in this one counts as outside: it reads the clock itself...
            let _nested = PollScope::enter();
            assert_eq!(since(origin), 4_000_000_000);
        }
        // ...and the outer poll, once back, reads it again too.
        assert_eq!(since(origin), 4_000_000_000);
    }

    #[tokio::test(start_paused = true)]
    async fn an_origin_in_the_future_gives_zero() {
        let origin = Instant::now() + Duration::from_secs(5);
        assert_eq!(since(origin), 0);
    }
}
