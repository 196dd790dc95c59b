//! [`Manager`]: the untyped, public view of a service — its flags, its outcome, the means
//! to stop it — over the [`ServiceState`] its clones share.
//!
//! The methods that start work from outside the service (`Manager::run_task`, `task`,
//! `child`, ...) are in the `builder` module: they are made of the builders, which sit above
//! this layer.

use std::fmt;
use std::sync::Arc;

use super::{GraceEnd, ServiceState, Start, check_name, in_runtime};
use crate::cause::CancelCause;
use crate::error::{LifecycleError, ServiceError};
use crate::stats::{Stats, TaskStats};
use crate::sync::Ordering;
use crate::tree::NodeRef;

/// The untyped view of a running (or runnable) service: its flags, its outcome, and the
/// means to stop it. Cheap to clone; dropping it never cancels anything.
///
/// Get one from a [`ServiceHandle`](crate::ServiceHandle) (it derefs to `Manager`) or from
/// [`Context::manager`](crate::Context::manager).
#[derive(Clone)]
pub struct Manager {
    pub(crate) state: Arc<ServiceState>,
}

impl Manager {
    /// The service's name.
    pub fn name(&self) -> &str {
        self.state.name()
    }

    /// The service's path in its tree of services (`Node/Store` for a child `Store` of
    /// `Node`); the prefix of its tasks' paths.
    pub fn path(&self) -> &str {
        self.state.path()
    }

    /// Whether the manager has begun running the service.
    pub fn is_started(&self) -> bool {
        self.state.started_event.is_set()
    }

    /// Started and not finished. A cancelled service is running until it is finished.
    pub fn is_running(&self) -> bool {
        self.is_started() && !self.is_finished()
    }

    /// Whether cancellation was requested: by [`Manager::cancel`], by a failure, or by the
    /// parent service. Stays false for a service that finished cleanly.
    pub fn is_cancelled(&self) -> bool {
        self.state.is_cancelled()
    }

    /// Whether the service and all its tasks and child services are done.
    pub fn is_finished(&self) -> bool {
        self.state.finished_event.is_set()
    }

    /// Whether at least one failure was recorded (its own or a child service's).
    pub fn did_error(&self) -> bool {
        self.state.did_error.load(Ordering::Acquire)
    }

    /// Requests cancellation and returns at once; the tasks stop in order in the
    /// background (see the crate docs, "Cancellation"). Idempotent; a no-op once finished.
    /// Before start, the service finishes at once without running its body.
    pub fn cancel(&self) {
        self.cancel_with(CancelCause::Requested);
    }

    /// [`Manager::cancel`] for a given cause.
    pub(crate) fn cancel_with(&self, cause: CancelCause) {
        self.state.cancel(cause);
        if self.state.claim_start(Start::CancelledFirst).is_ok() {
            self.state.finish_unstarted(Ok(()));
        }
    }

    /// Cuts every grace short: cancels the service (if it was not yet), and aborts every task
    /// still running in it and in its child services at once, leaves first — each task as
    /// soon as its children are done. An aborted task is never polled again. A no-op once
    /// finished.
    ///
    /// Tasks cut short within a non-zero grace are
    /// [`FailureKind::GraceExceeded`](crate::FailureKind::GraceExceeded) failures: the
    /// stop was not clean. With a zero grace, aborting is the ordinary way to stop.
    pub fn abort(&self) {
        self.cancel();
        self.state.end_grace(GraceEnd::Forced);
    }

    /// Cancels the service and waits until it is finished; returns its outcome.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future stops the waiting, not the cancellation.
    pub async fn stop(&self) -> Result<(), ServiceError> {
        self.cancel();
        self.wait_finished().await
    }

    /// Waits until the service has started.
    ///
    /// A service cancelled before it started counts as started (and finished) at once, so
    /// this never waits for a service that will not run.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_started(&self) {
        self.state.started_event.wait().await;
    }

    /// Whether the service is ready: its start-up work was *started*, not finished.
    ///
    /// - By default, a service is ready once its body has returned: the tasks and daemons
    ///   it started have been spawned — not finished, and maybe not even polled once — and
    ///   (in the DSL) each `#[child]` declared before them was ready. (Or earlier, if a task
    ///   calls [`Context::ready`](crate::Context::ready) first.)
    /// - With [`Options::manual_ready`](crate::Options::manual_ready), it is ready only
    ///   once its body or a task calls [`Context::ready`](crate::Context::ready): readiness
    ///   then means what that call says (a listener bound, a cache loaded).
    ///
    /// A service that was cancelled before it was ready never becomes ready.
    ///
    /// It is false again once the service begins to stop — draining
    /// ([`Options::drain`](crate::Options::drain)) or cancelled: a service that is stopping
    /// takes no new work. [`Manager::status`] tells the stages apart.
    pub fn is_ready(&self) -> bool {
        // Acquire pairs with the Release store that begins a drain (`ops`).
        self.state.ready_event.is_set()
            && !self.is_cancelled()
            && !self.state.draining.load(Ordering::Acquire)
    }

    /// Waits until the service is ready ([`Manager::is_ready`]: its start-up work was
    /// started — its tasks spawned, not finished — or, with `manual_ready`, it said so).
    ///
    /// Fails at once, with the failures so far, if the service fails before it is ready; and
    /// with its outcome (or `LifecycleError::FinishedBeforeReady`) if it finishes first.
    ///
    /// Waiting for a `manual_ready` service that is not ready yet arms a timer: if it is
    /// still not ready after 10 s, a `warn` names it by its path (once per service,
    /// however many wait), so that a parent whose start-up waits for a child that never
    /// calls [`Context::ready`](crate::Context::ready) does not stall silently. The timer
    /// needs the tokio time driver (`#[tokio::main]` and `#[tokio::test]` enable it).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_ready(&self) -> Result<(), ServiceError> {
        let state = &self.state;
        loop {
            tokio::select! {
                biased;
                () = state.wait_ready_event() => return Ok(()),
                () = state.finished_event.wait() => {
                    self.outcome()?;
                    return Err(ServiceError::Lifecycle(LifecycleError::FinishedBeforeReady));
                }
                () = state.cancel_event.wait(), if !state.is_cancelled() => {}
            }
            // Cancelled: never ready now. A failure fails the wait at once; otherwise the
            // service's end decides.
            if self.is_ready() {
                return Ok(());
            }
            if self.did_error() {
                return Err(state.failures_so_far());
            }
            if state.is_cancelled() {
                self.wait_finished().await?;
                return Err(ServiceError::Lifecycle(LifecycleError::FinishedBeforeReady));
            }
        }
    }

    /// Waits until the service is finished and returns its outcome; any number of waiters
    /// get the same outcome.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_finished(&self) -> Result<(), ServiceError> {
        self.state.finished_event.wait().await;
        self.outcome()
    }

    /// The outcome, once finished; `Ok(())` before then.
    fn outcome(&self) -> Result<(), ServiceError> {
        self.state.outcome()
    }

    /// Why the service was cancelled, once it was; the first cause wins.
    pub fn cancel_cause(&self) -> Option<CancelCause> {
        if self.is_cancelled() {
            self.state.cause()
        } else {
            None
        }
    }

    /// A snapshot of the task counters.
    pub fn stats(&self) -> Stats {
        // `finished` first, with Acquire: each departure was counted with Release after its
        // task's start was counted in `total`, so this `total` is at least that many and the
        // snapshot never shows more finished than started tasks.
        let finished_count = self.state.finished.load(Ordering::Acquire);
        let total_count = self.state.total.load(Ordering::Relaxed);
        Stats {
            tasks: TaskStats {
                total_count,
                finished_count,
                restart_count: self.state.restarts.load(Ordering::Relaxed),
                contained_failure_count: self.state.contained_failures.load(Ordering::Relaxed),
            },
        }
    }

    pub(crate) fn from_state(state: Arc<ServiceState>) -> Manager {
        Manager { state }
    }

    /// Starts the service if nobody did yet: spawns the body (`body` is only called then).
    /// `checked`: the caller already knows it runs inside a runtime and that the name is
    /// valid (a child service started from a task, [`Context::spawn_child`]).
    ///
    /// [`Context::spawn_child`]: crate::Context
    pub(crate) fn launch<F>(&self, body: F, checked: bool) -> Result<(), LifecycleError>
    where
        F: FnOnce(&Manager, NodeRef<ServiceState>),
    {
        match self.state.claim_start(Start::Launched) {
            Ok(()) => {}
            // Cancelled before it started: finished without running, nothing to start.
            Err(Start::CancelledFirst) => return Ok(()),
            Err(_) => return Err(LifecycleError::AlreadyStarted),
        }
        let refused = if checked {
            None
        } else if !in_runtime() {
            Some(LifecycleError::NoRuntime)
        } else {
            check_name(self.name()).err()
        };
        if let Some(error) = refused {
            self.state
                .finish_unstarted(Err(ServiceError::Lifecycle(error.clone())));
            return Err(error);
        }
        if self.state.is_cancelled() {
            // Cancelled (by its parent) before its body could start: it never runs.
            self.state.finish_unstarted(Ok(()));
            return Ok(());
        }
        if !self.state.grace.is_zero() {
            // Inside a runtime: checked above.
            let _ = self.state.runtime.set(tokio::runtime::Handle::current());
        }
        self.state.mark_started();
        body(self, NodeRef::Root(Arc::clone(&self.state)));
        Ok(())
    }
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.stats().tasks;
        f.debug_struct("Manager")
            .field("path", &self.path())
            .field("started", &self.is_started())
            .field("cancelled", &self.is_cancelled())
            .field("finished", &self.is_finished())
            .field("did_error", &self.did_error())
            .field("tasks", &(stats.total_count, stats.finished_count))
            .finish()
    }
}

impl Manager {
    /// The live tree of the service at this moment: every task and child service with its
    /// name, path, kind, state, restart count and age; child services nested with their own.
    /// Its `Display` is an indented tree a person reads at a glance:
    ///
    /// ```text
    /// Node (service, running, 5m03s)
    /// ├─ gossip (daemon, running, 5m03s)
    /// │  └─ conn ×998 (contained task, 990 running, 8 stopping, 1s–4m59s)
    /// └─ Store (child service, running, 5m03s)
    ///    └─ flush (daemon, backing off, 12s, 2 restarts)
    /// ```
    ///
    /// A snapshot never shows a task twice, nor a child without its parent, and taking one
    /// never keeps a task waiting for longer than it takes to copy one node's entries: the
    /// walk holds one node's lock at a time. It is not one atomic moment across the whole
    /// tree: a task started under a part already read is missing, one that ended after its
    /// parent was read is still shown. A finished service's snapshot is its service alone.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use service_runtime::prelude::*;
    /// use service_runtime::{TaskKind, TaskState};
    ///
    /// struct Node;
    ///
    /// impl Service for Node {
    ///     async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
    ///         cx.run_daemon_task("gossip", |cx| async move { cx.cancelled().await })?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let node = Node.start();
    /// node.wait_ready().await.unwrap();
    /// let snapshot = node.snapshot();
    /// let gossip = &snapshot.root.children[0];
    /// assert_eq!(gossip.path, "Node/gossip");
    /// assert_eq!(gossip.state, TaskState::Running);
    /// println!("{snapshot}");
    /// node.stop().await.unwrap();
    /// # }
    /// ```
    pub fn snapshot(&self) -> crate::snapshot::Snapshot {
        self.state.snapshot()
    }
}
