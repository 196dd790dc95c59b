//! Operations: what a service manager outside the process (systemd, Kubernetes) needs to
//! see and to ask — a service's [`Status`] at a glance, and the orderly shutdown with a drain
//! ([`Manager::shutdown`], [`Options::drain`](crate::Options::drain)) that
//! `run_until_signal` and `run_until` start.
//!
//! Nothing here is on a task's path: the drain lives in `shutdown` (its flag is read only by
//! `is_ready` and `status`), and the systemd notifications in a task of their own that
//! `run_until*` start only when `NOTIFY_SOCKET` is set ([`Announcer`]).
//!
//! # Invariants
//!
//! 1. `draining` is set once, by the one `shutdown` call that claims it (a swap), and only
//!    while the service is ready and not cancelled; the same call cancels the service when
//!    the drain has passed, or at once if its future is dropped first. So a drain always
//!    ends in a cancellation (or in the service finishing by itself), and a service is never
//!    left reported not ready yet running on with nobody to stop it.

use std::fmt;

use tokio::time::Instant;

use crate::cause::CancelCause;
use crate::error::ServiceError;
use crate::manager::{Manager, deadline};
use crate::sync::Ordering;

#[cfg(all(feature = "systemd", unix))]
pub(crate) mod systemd;

/// Where a service is in its life, at a glance: what a health or readiness probe answers
/// from ([`Manager::status`]).
///
/// The stages come in this order, and a service never goes back; it may skip stages (a
/// service cancelled before it is ready goes from `Starting` to `Stopping`, one without a
/// drain from `Ready` to `Stopping`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Not started yet.
    NotStarted,
    /// Started; its start-up work is not done yet ([`Manager::is_ready`] is false).
    Starting,
    /// Ready: its start-up work is done and it has not begun to stop.
    Ready,
    /// Asked to shut down, and serving on until its drain delay
    /// ([`Options::drain`](crate::Options::drain)) has passed; reported not ready.
    Draining,
    /// Cancelled: its tasks are stopping, within their grace.
    Stopping,
    /// Finished: every task and child service is done.
    Finished,
}

impl Status {
    /// The status in lowercase words (`"not started"`, `"ready"`, `"draining"`, …), as
    /// [`Display`](fmt::Display) prints it: for probe bodies and status lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "not started",
            Status::Starting => "starting",
            Status::Ready => "ready",
            Status::Draining => "draining",
            Status::Stopping => "stopping",
            Status::Finished => "finished",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status and the orderly shutdown (this module's docs).
impl Manager {
    /// Where the service is in its life: ready, draining, stopping, finished (see
    /// [`Status`]). A readiness probe answers "ready" for [`Status::Ready`] alone, which is
    /// what [`Manager::is_ready`] says.
    pub fn status(&self) -> Status {
        if self.is_finished() {
            Status::Finished
        } else if self.is_cancelled() {
            Status::Stopping
        } else if self.is_draining() {
            Status::Draining
        } else if self.is_ready() {
            // Neither cancelled nor draining (above): its start-up work is done.
            Status::Ready
        } else if self.is_started() {
            Status::Starting
        } else {
            Status::NotStarted
        }
    }

    /// Shuts the service down in order and returns its outcome: the stop a signal starts.
    ///
    /// A ready service with a non-zero [`Options::drain`](crate::Options::drain) is first
    /// *drained*: it reports not ready at once ([`Status::Draining`]) and serves on; when the
    /// drain has passed it is cancelled (cause [`CancelCause::Shutdown`]) and stops within
    /// its grace. Otherwise it is cancelled at once. If the service finishes by itself during
    /// the drain, that is the outcome. A second call during a drain waits for the same stop.
    ///
    /// Unlike [`Manager::stop`] this is meant to be called from outside the service (a
    /// handle, an admin endpoint): a task awaiting its own service's shutdown would wait for
    /// itself to stop.
    ///
    /// # Cancel safety
    /// Dropping the future during the drain cuts the drain short: the service is cancelled
    /// at once (cause `Shutdown`). Dropping it afterwards stops the waiting only.
    pub async fn shutdown(&self) -> Result<(), ServiceError> {
        let begun = self.begin_shutdown();
        self.complete_shutdown(begun).await
    }

    /// The part of [`Manager::shutdown`] that does not wait: claims the drain (reporting the
    /// service not ready from now on), or cancels the service at once when there is none to
    /// do. Dropping what it returns before [`Manager::complete_shutdown`] has run cancels a
    /// draining service at once (invariant 1).
    pub(crate) fn begin_shutdown(&self) -> Begun<'_> {
        let drain = self.state.options.drain;
        // AcqRel: one caller claims the drain; its Release half publishes the flag to
        // `is_ready` and `status`.
        if !drain.is_zero() && self.is_ready() && !self.state.draining.swap(true, Ordering::AcqRel)
        {
            tracing::info!(
                service = %self.path(),
                ?drain,
                "draining: reported not ready, cancelled when the drain has passed"
            );
            return Begun::Draining {
                until: deadline(Instant::now(), drain),
                cut_short: ShutdownOnDrop(self),
            };
        }
        if self.is_draining() {
            // Another call drains, and cancels the service when it is over.
            return Begun::DrainedElsewhere;
        }
        self.cancel_with(CancelCause::Shutdown);
        Begun::Cancelled
    }

    /// The rest of [`Manager::shutdown`]: waits out the drain, cancels the service, and
    /// waits until it is finished.
    pub(crate) async fn complete_shutdown(&self, begun: Begun<'_>) -> Result<(), ServiceError> {
        if let Begun::Draining { until, cut_short } = begun {
            tokio::select! {
                biased;
                () = self.state.finished_event.wait() => {}
                () = tokio::time::sleep_until(until) => {}
            }
            // Cancelling now, as dropping the guard would (a no-op if finished).
            drop(cut_short);
        }
        self.wait_finished().await
    }

    /// Whether a drain began (it stays so).
    fn is_draining(&self) -> bool {
        // Acquire pairs with the claim in `shutdown`.
        self.state.draining.load(Ordering::Acquire)
    }
}

/// How a shutdown began ([`Manager::begin_shutdown`]).
pub(crate) enum Begun<'a> {
    /// This shutdown drains until `until`, and cancels the service then — or when
    /// `cut_short` is dropped, whichever comes first.
    Draining {
        until: Instant,
        cut_short: ShutdownOnDrop<'a>,
    },
    /// Another shutdown drains, and cancels the service when it is over.
    DrainedElsewhere,
    /// The service is cancelled (there was nothing to drain).
    Cancelled,
}

/// Cancels a draining service (cause `Shutdown`) when dropped: at the drain's end, or
/// sooner if the shutdown is dropped.
pub(crate) struct ShutdownOnDrop<'a>(&'a Manager);

impl Drop for ShutdownOnDrop<'_> {
    fn drop(&mut self) {
        self.0.cancel_with(CancelCause::Shutdown);
    }
}

/// What `run_until*` tell the service manager outside the process about the service they
/// run: with the `systemd` feature and `NOTIFY_SOCKET` set, systemd's notifications
/// (`systemd` module); otherwise nothing, at no cost.
pub(crate) struct Announcer {
    #[cfg(all(feature = "systemd", unix))]
    systemd: Option<systemd::Watch>,
}

impl Announcer {
    /// Starts announcing `manager`'s service, as the environment asks.
    pub(crate) fn start(manager: &Manager) -> Announcer {
        #[cfg(all(feature = "systemd", unix))]
        {
            Announcer {
                systemd: systemd::Notifier::from_env().map(|notifier| notifier.watch(manager)),
            }
        }
        #[cfg(not(all(feature = "systemd", unix)))]
        {
            let _ = manager;
            Announcer {}
        }
    }

    /// Announces to systemd through `notifier` (the tests' way in).
    #[cfg(all(feature = "systemd", unix, test))]
    pub(crate) fn systemd(
        notifier: std::sync::Arc<systemd::Notifier>,
        manager: &Manager,
    ) -> Announcer {
        Announcer {
            systemd: Some(notifier.watch(manager)),
        }
    }

    /// The service begins to stop (a shutdown was requested).
    pub(crate) fn stopping(&self, manager: &Manager) {
        #[cfg(all(feature = "systemd", unix))]
        if let Some(watch) = &self.systemd {
            watch.notifier().stopping(manager);
        }
        #[cfg(not(all(feature = "systemd", unix)))]
        let _ = manager;
    }
}
