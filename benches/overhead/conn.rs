//! W5's connections: the work of one connection, the same on both sides.

use std::error::Error;

/// One connection in this many fails.
pub(crate) const FAIL_EVERY: usize = 100;

/// How many times a connection's exchange waits (a `yield_now` each, as a read or a write
/// that is not ready yet would).
const WAITS: usize = 3;

/// The exchange of connection `id`: a few waits, then `Ok`, or an error for every
/// [`FAIL_EVERY`]th connection (ids `FAIL_EVERY - 1`, `2 * FAIL_EVERY - 1`, ...).
pub(crate) async fn exchange(id: usize) -> Result<(), Box<dyn Error + Send + Sync + 'static>> {
    for _ in 0..WAITS {
        tokio::task::yield_now().await;
    }
    if id % FAIL_EVERY == FAIL_EVERY - 1 {
        Err("the peer sent garbage".into())
    } else {
        Ok(())
    }
}
