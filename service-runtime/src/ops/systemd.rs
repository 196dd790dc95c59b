//! systemd's service notifications (`sd_notify(3)`), sent while `run_until_signal` (or
//! `run_until`) runs a service in a process that systemd started with `NOTIFY_SOCKET` set.
//! The protocol is the `sd-notify` crate's; this module decides what to say and when:
//!
//! - `READY=1` (with a `STATUS=` line) once the service is ready;
//! - `STOPPING=1` (with a `STATUS=` line) when it begins to stop: at the shutdown request,
//!   before the drain, or when it is cancelled otherwise (a failure);
//! - `WATCHDOG=1` every half of `WATCHDOG_USEC` when systemd asks for it (and
//!   `WATCHDOG_PID`, if set, is this process), from a task on the runtime itself: a runtime
//!   too stalled to run it stops pinging, which is what the watchdog is for;
//! - a `STATUS=` line with the task counts ([`Manager::stats`]) with those pings, or every
//!   [`STATUS_EVERY`] without a watchdog, when it changed.
//!
//! # Invariants
//!
//! 1. `said` is locked around each decision and its message, so the messages leave in the
//!    order of the stages: `READY=1` is never sent after `STOPPING=1`, each once at most.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::manager::{Manager, deadline};
use crate::sync::{AtomicBool, Mutex, Ordering, lock};

/// How often the status line is refreshed (if it changed) when there is no watchdog to
/// ping.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// Where notifications go: systemd's socket, or a test's record.
pub(crate) trait Sink: Send + Sync + 'static {
    fn send(&self, states: &[NotifyState<'_>]);
}

/// The socket named by `NOTIFY_SOCKET`, through `sd_notify`.
#[derive(Default)]
struct Socket {
    /// A failure was logged at `warn` already (the next ones are `debug`).
    failed: AtomicBool,
}

impl Sink for Socket {
    fn send(&self, states: &[NotifyState<'_>]) {
        if let Err(error) = sd_notify::notify(states) {
            // Relaxed: only which level to log at.
            if self.failed.swap(true, Ordering::Relaxed) {
                tracing::debug!(%error, "cannot notify systemd");
            } else {
                tracing::warn!(%error, "cannot notify systemd; the next failures are logged at debug");
            }
        }
    }
}

/// Where the service is, as far as systemd has been told.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Starting,
    Ready,
    Stopping,
}

struct Said {
    stage: Stage,
    /// The last `STATUS=` text sent.
    status: String,
}

/// The notifications of one run (module docs).
pub(crate) struct Notifier {
    sink: Box<dyn Sink>,
    /// The watchdog timeout systemd asked for, if any.
    watchdog: Option<Duration>,
    said: Mutex<Said>,
}

impl Notifier {
    /// A notifier for systemd's socket, if `NOTIFY_SOCKET` is set (the one check made when
    /// it is not).
    pub(crate) fn from_env() -> Option<Arc<Notifier>> {
        std::env::var_os("NOTIFY_SOCKET")?;
        // `sd_notify` reads `WATCHDOG_USEC` and checks `WATCHDOG_PID` against this process.
        let watchdog = sd_notify::watchdog_enabled();
        Some(Arc::new(Notifier::new(
            Box::new(Socket::default()),
            watchdog,
        )))
    }

    /// A notifier sending to `sink`, pinging a watchdog of `watchdog` (none if zero).
    pub(crate) fn new(sink: Box<dyn Sink>, watchdog: Option<Duration>) -> Notifier {
        Notifier {
            sink,
            watchdog: watchdog.filter(|timeout| !timeout.is_zero()),
            said: Mutex::new(Said {
                stage: Stage::Starting,
                status: String::new(),
            }),
        }
    }

    /// Starts the task that says `READY=1`, `STOPPING=1` on a cancellation, pings the
    /// watchdog and refreshes the status, until the returned [`Watch`] is dropped.
    pub(crate) fn watch(self: Arc<Self>, manager: &Manager) -> Watch {
        let task = tokio::spawn(watch(Arc::clone(&self), manager.clone()));
        Watch {
            notifier: self,
            task,
        }
    }

    /// How often the task wakes: half the watchdog timeout, or [`STATUS_EVERY`].
    fn period(&self) -> Duration {
        self.watchdog.map_or(STATUS_EVERY, |timeout| timeout / 2)
    }

    /// The service is ready: `READY=1`, unless it began to stop first.
    fn ready(&self, manager: &Manager) {
        let mut said = lock(&self.said);
        if said.stage != Stage::Starting {
            return;
        }
        said.stage = Stage::Ready;
        said.status = status_line(manager);
        self.sink
            .send(&[NotifyState::Ready, NotifyState::Status(&said.status)]);
    }

    /// The service begins to stop: `STOPPING=1`, once.
    pub(crate) fn stopping(&self, manager: &Manager) {
        let mut said = lock(&self.said);
        if said.stage == Stage::Stopping {
            return;
        }
        said.stage = Stage::Stopping;
        said.status = status_line(manager);
        self.sink
            .send(&[NotifyState::Stopping, NotifyState::Status(&said.status)]);
    }

    /// A period passed: `WATCHDOG=1` if systemd watches, and the status if it changed.
    fn tick(&self, manager: &Manager) {
        let mut said = lock(&self.said);
        let status = status_line(manager);
        let changed = status != said.status;
        if changed {
            said.status = status;
        }
        let status = NotifyState::Status(&said.status);
        match (self.watchdog.is_some(), changed) {
            (true, true) => self.sink.send(&[NotifyState::Watchdog, status]),
            (true, false) => self.sink.send(&[NotifyState::Watchdog]),
            (false, true) => self.sink.send(&[status]),
            (false, false) => {}
        }
    }
}

/// The status line: the service's [`Status`](crate::Status) and its task counts.
fn status_line(manager: &Manager) -> String {
    let tasks = manager.stats().tasks;
    format!(
        "{}; tasks: {} running, {} started",
        manager.status(),
        tasks.pending_count(),
        tasks.total_count
    )
}

/// The notifications' task; it ends when dropped.
pub(crate) struct Watch {
    notifier: Arc<Notifier>,
    task: JoinHandle<()>,
}

impl Watch {
    pub(crate) fn notifier(&self) -> &Notifier {
        &self.notifier
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The task of [`Notifier::watch`].
async fn watch(notifier: Arc<Notifier>, manager: Manager) {
    let period = notifier.period();
    let mut ready = std::pin::pin!(manager.wait_ready());
    let mut awaiting_ready = true;
    let mut cancelled = std::pin::pin!(manager.state.cancel_event.wait());
    let mut awaiting_cancel = true;
    let mut next = deadline(Instant::now(), period);
    loop {
        tokio::select! {
            result = &mut ready, if awaiting_ready => {
                awaiting_ready = false;
                if result.is_ok() {
                    notifier.ready(&manager);
                }
            }
            () = &mut cancelled, if awaiting_cancel => {
                awaiting_cancel = false;
                notifier.stopping(&manager);
            }
            () = tokio::time::sleep_until(next) => {
                notifier.tick(&manager);
                // From now, not from the missed deadline: a runtime that stalled does not
                // make up for it with a burst.
                next = deadline(Instant::now(), period);
            }
        }
    }
}

#[cfg(test)]
mod tests;
