//! Per-service settings.

use std::time::Duration;

/// Settings of one service, returned by [`Service::options`](crate::Service::options).
///
/// The struct is `#[non_exhaustive]` so that new settings can be added without breaking
/// anyone: start from [`Options::default()`] and assign the fields you want to change.
///
/// ```
/// use std::time::Duration;
/// use service_runtime::Options;
///
/// let mut options = Options::default();
/// options.grace = Some(Duration::from_secs(2));
/// options.max_children = 10_000;
/// assert_eq!(options.grace, Some(Duration::from_secs(2)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// How long each task may take to return by itself once the service is cancelled, before
    /// it is aborted (its future dropped at its current await point). `None` (the default):
    /// the parent service's grace, and zero for a service without a parent — tasks are then
    /// aborted as soon as their children are done.
    ///
    /// The grace is also the budget of the service's whole subtree: when it runs out,
    /// everything below the service still running is aborted, whatever grace its child
    /// services chose. A task still running when a non-zero grace runs out is a
    /// [`FailureKind::GraceExceeded`](crate::FailureKind::GraceExceeded) failure. A huge
    /// grace (`Duration::MAX`) means "never abort".
    ///
    /// A non-zero grace needs the tokio time driver (`enable_time`, or `#[tokio::main]`).
    pub grace: Option<Duration>,
    /// The most live children one parent (a task, or the body) may have at once. Starting
    /// one more fails with [`LifecycleError::TooManyChildren`](crate::LifecycleError::TooManyChildren).
    /// Default: 1000.
    pub max_children: usize,
    /// Whether the service says itself when it is ready, with
    /// [`Context::ready`](crate::Context::ready). Default: false — the service is ready as
    /// soon as its body returns (or a task calls `ready` first), which means its tasks and
    /// daemons were *started* (spawned), not that they did anything yet. Set it when
    /// readiness must include work a task does (binding a listener, loading a cache).
    ///
    /// A `manual_ready` service that keeps a waiter waiting (its parent's start-up in the
    /// DSL, or [`Manager::wait_ready`](crate::Manager::wait_ready)) for 10 s is named in a
    /// `warn`, once.
    pub manual_ready: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            grace: None,
            max_children: 1000,
            manual_ready: false,
        }
    }
}
