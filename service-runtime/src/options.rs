//! Per-service settings.

use std::time::Duration;

/// Settings of one service, returned by [`Service::options`](crate::Service::options).
///
/// The struct is `#[non_exhaustive]` so that new settings can be added without breaking
/// anyone, so it cannot be written as a struct literal outside this crate. Build it in one
/// expression from [`Options::default()`] with the `with_*` methods, one per field:
///
/// ```
/// use std::time::Duration;
/// use service_runtime::Options;
///
/// let options = Options::default()
///     .with_grace(Duration::from_secs(2))
///     .with_drain(Duration::from_secs(5))
///     .with_max_children(10_000);
/// assert_eq!(options.grace, Some(Duration::from_secs(2)));
/// assert_eq!(options.drain, Duration::from_secs(5));
/// assert!(!options.manual_ready);
/// ```
///
/// or assign the fields of a mutable one:
///
/// ```
/// # use std::time::Duration;
/// # use service_runtime::Options;
/// let mut options = Options::default();
/// options.grace = Some(Duration::from_secs(2));
/// options.max_children = 10_000;
/// assert_eq!(options, Options::default().with_grace(Duration::from_secs(2)).with_max_children(10_000));
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
    /// `warn`, once. That wait is a tokio timer, so it needs the time driver (`enable_time`,
    /// or `#[tokio::main]`): on a runtime without one, a wait that has to wait panics, as
    /// every tokio timer does there (tokio offers no way to ask first).
    pub manual_ready: bool,
    /// How long the service keeps serving, reported not ready, once it is asked to shut
    /// down, before it is cancelled (and then stops within its grace). Default: zero — it
    /// is cancelled at once.
    ///
    /// The drain is for servers behind a load balancer (a Kubernetes `Service`): the moment
    /// SIGTERM arrives, [`Manager::is_ready`](crate::Manager::is_ready) turns false and
    /// [`Manager::status`](crate::Manager::status) says
    /// [`Draining`](crate::Status::Draining), so that a readiness probe takes the process out
    /// of rotation, while requests still in flight, and those routed to it until the probe
    /// notices, are served. It is started by
    /// [`run_until_signal`](crate::ServiceExt::run_until_signal) and
    /// [`run_until`](crate::ServiceExt::run_until) on the first signal (or when their future
    /// resolves), and by [`Manager::shutdown`]; [`Manager::cancel`](crate::Manager::cancel)
    /// does not drain. A second signal during the drain cuts it short and aborts, as it does
    /// during the stop. A service that is not ready when the shutdown begins is not drained
    /// (no traffic is routed to it). Only the service being shut down drains: its child
    /// services are cancelled with it, whatever drain they chose. `Duration::MAX` drains
    /// until something else stops the service.
    ///
    /// A non-zero drain needs the tokio time driver (`enable_time`, or `#[tokio::main]`).
    ///
    /// [`Manager::shutdown`]: crate::Manager::shutdown
    pub drain: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            grace: None,
            max_children: 1000,
            manual_ready: false,
            drain: Duration::ZERO,
        }
    }
}

/// One-expression construction: `Options::default().with_grace(..).with_drain(..)`.
impl Options {
    /// These options with `grace` as [`Options::grace`]: a `Duration`, or `None` for the
    /// parent's grace.
    #[must_use]
    pub fn with_grace(mut self, grace: impl Into<Option<Duration>>) -> Options {
        self.grace = grace.into();
        self
    }

    /// These options with `max_children` as [`Options::max_children`].
    #[must_use]
    pub fn with_max_children(mut self, max_children: usize) -> Options {
        self.max_children = max_children;
        self
    }

    /// These options with `manual_ready` as [`Options::manual_ready`].
    #[must_use]
    pub fn with_manual_ready(mut self, manual_ready: bool) -> Options {
        self.manual_ready = manual_ready;
        self
    }

    /// These options with `drain` as [`Options::drain`].
    #[must_use]
    pub fn with_drain(mut self, drain: Duration) -> Options {
        self.drain = drain;
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Options;

    /// Each `with_*` method sets its field and leaves the others as they were.
    #[test]
    fn each_with_method_sets_its_own_field() {
        let default = Options::default();
        assert_eq!(default.grace, None);
        assert_eq!(default.max_children, 1000);
        assert!(!default.manual_ready);
        assert_eq!(default.drain, Duration::ZERO);

        let second = Duration::from_secs(1);
        let grace = Options {
            grace: Some(second),
            ..Options::default()
        };
        assert_eq!(Options::default().with_grace(second), grace);
        let inherit = Options::default().with_grace(second).with_grace(None);
        assert_eq!(inherit, Options::default());
        let max_children = Options {
            max_children: 7,
            ..Options::default()
        };
        assert_eq!(Options::default().with_max_children(7), max_children);
        let manual_ready = Options {
            manual_ready: true,
            ..Options::default()
        };
        assert_eq!(Options::default().with_manual_ready(true), manual_ready);
        let drain = Options {
            drain: Duration::MAX,
            ..Options::default()
        };
        assert_eq!(Options::default().with_drain(Duration::MAX), drain);

        let all = Options::default()
            .with_grace(second)
            .with_max_children(3)
            .with_manual_ready(true)
            .with_drain(second * 2);
        assert_eq!(
            (all.grace, all.max_children, all.manual_ready, all.drain),
            (Some(second), 3, true, second * 2)
        );
    }
}
