//! [`CancelCause`]: why a service began to stop.

use std::fmt;
use std::sync::Arc;

/// Why a service was cancelled, from [`Manager::cancel_cause`](crate::Manager::cancel_cause);
/// the first cause wins.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelCause {
    /// [`Manager::cancel`](crate::Manager::cancel) or [`Manager::stop`](crate::Manager::stop)
    /// (or [`Context::cancel`](crate::Context::cancel)) was called.
    Requested,
    /// The shutdown future given to [`run_until`](crate::ServiceExt::run_until) resolved,
    /// for example on a signal.
    Shutdown,
    /// A task failed: the path of the first failure.
    Failure {
        /// The failing task's path (shared, not copied, by every service it stops).
        path: Arc<str>,
    },
    /// The parent service was cancelled (or the future running the service was dropped).
    Parent,
}

impl fmt::Display for CancelCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelCause::Requested => f.write_str("cancelled on request"),
            CancelCause::Shutdown => f.write_str("shut down"),
            CancelCause::Failure { path } => write!(f, "stopped by the failure of `{path}`"),
            CancelCause::Parent => f.write_str("cancelled with its parent"),
        }
    }
}
