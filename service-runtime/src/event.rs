//! A one-shot broadcast flag: set once, awaited by any number of waiters.

use tokio_util::sync::CancellationToken;

/// Set once; every current and future waiter then completes.
///
/// It is a [`CancellationToken`] used for what it guarantees rather than for what it is
/// named: setting is idempotent, the flag is read without a lock, and a waiter created
/// before or after `set` never misses it (the token checks its state after registering).
#[derive(Default)]
pub(crate) struct Event(CancellationToken);

impl Event {
    pub(crate) fn set(&self) {
        self.0.cancel();
    }

    pub(crate) fn is_set(&self) -> bool {
        self.0.is_cancelled()
    }

    /// # Cancel safety
    /// Dropping the future loses nothing: the flag stays set for the next waiter.
    pub(crate) async fn wait(&self) {
        self.0.cancelled().await;
    }
}
