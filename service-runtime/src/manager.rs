//! The manager of one service: its lifecycle flags, its failures, its counters.
//!
//! # Invariants
//!
//! 1. `started` goes from false to true once, by whoever swaps it first: [`Manager::launch`]
//!    (which then runs the body) or [`Manager::cancel`] before start (which then finishes the
//!    service without running its body). So the body runs at most once.
//! 2. `finished` is set once, after `outcome`, by [`Shared::finish`]; it is reached only when
//!    the body's node is done, which is after every node of the tree is done (tree
//!    invariant 4) — so after the last `finished_count` increment. Waiters that see
//!    `finished` therefore see the outcome and final counters.
//! 3. Failures are appended under `failures`' lock, in the order they are recorded, and
//!    forwarded at once to every ancestor manager (flattened), then each manager that got one
//!    is cancelled.
//! 4. A child service holds its [`ParentLink`] until it finishes; finishing takes it out
//!    and hands the parent to the completion walk ([`release`]), which takes the child's
//!    root out of the parent's tree. So a handle kept to a finished child keeps no manager
//!    or task of its parent alive — only the chain of nodes that names its path.
//!
//! # Lock order
//!
//! `failures`, `parent` and `root` are leaf locks: nothing else is locked while one is held, no user
//! code runs under them, and a failure is forwarded to the parent after letting go.

use std::fmt;
use std::sync::{Arc, OnceLock};

use tokio::time::Instant;

use crate::cause::CancelCause;
use crate::error::{Failures, LifecycleError, ServiceError, TaskFailure};
use crate::event::Event;
use crate::options::Options;
use crate::stats::{Stats, TaskStats};
use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering, lock};
use crate::tree::{TaskNode, Walk, release, wake_tree};

/// The untyped view of a running (or runnable) service: its flags, its outcome, and the
/// means to stop it. Cheap to clone; dropping it never cancels anything.
///
/// Get one from a [`ServiceHandle`](crate::ServiceHandle) (it derefs to `Manager`) or from
/// [`Context::manager`](crate::Context::manager).
#[derive(Clone)]
pub struct Manager {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    /// The root of this service's task tree (the body's node), which names the service.
    /// A child service's hangs in its parent's tree, so its path is the service's path.
    pub(crate) root: Arc<TaskNode>,
    pub(crate) options: Options,
    /// Set once, when this service is asked to stop; read on every spawn (so an atomic,
    /// not the token's lock).
    cancelled: AtomicBool,
    /// Set right after `cancelled`: what `Context::cancelled` and `ServiceHandle::call`
    /// wait on.
    pub(crate) cancel_event: Event,
    cancelled_at: OnceLock<Instant>,
    cause: OnceLock<CancelCause>,
    started: AtomicBool,
    started_event: Event,
    ready_event: Event,
    pub(crate) finished_event: Event,
    outcome: OnceLock<Result<(), ServiceError>>,
    failures: Mutex<Vec<TaskFailure>>,
    did_error: AtomicBool,
    total: AtomicUsize,
    finished: AtomicUsize,
    restarts: AtomicUsize,
    parent: Mutex<Option<ParentLink>>,
}

/// How a child service reports to its parent.
pub(crate) struct ParentLink {
    pub(crate) manager: Arc<Shared>,
    pub(crate) daemon: bool,
    /// The child of a supervising task (restart policy): failures stop here, and it is not
    /// counted as a task of the parent (its supervising task is).
    pub(crate) supervised: bool,
}

/// Where the completion walk goes on once a child service is finished: its parent.
pub(crate) struct Up {
    pub(crate) manager: Arc<Shared>,
    /// Whether the child counts as one of the parent's tasks.
    pub(crate) counted: bool,
}

impl Shared {
    /// A manager whose tree grows from `root`: a fresh [`TaskNode::root`] for a top-level
    /// service, or the node a child service was given in its parent's tree.
    pub(crate) fn new(
        root: Arc<TaskNode>,
        options: Options,
        parent: Option<ParentLink>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            root,
            options,
            cancelled: AtomicBool::new(false),
            cancel_event: Event::default(),
            cancelled_at: OnceLock::new(),
            cause: OnceLock::new(),
            started: AtomicBool::new(false),
            started_event: Event::default(),
            ready_event: Event::default(),
            finished_event: Event::default(),
            outcome: OnceLock::new(),
            failures: Mutex::new(Vec::new()),
            did_error: AtomicBool::new(false),
            total: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            restarts: AtomicUsize::new(0),
            parent: Mutex::new(parent),
        })
    }

    /// The service's name.
    pub(crate) fn name(&self) -> &str {
        self.root.name()
    }

    /// The service's path: `Node`, or `Node/Store` for its child `Store`.
    pub(crate) fn path(&self) -> &Arc<str> {
        self.root.path()
    }

    /// When cancellation began.
    pub(crate) fn cancelled_at(&self) -> Instant {
        *self.cancelled_at.get_or_init(Instant::now)
    }

    pub(crate) fn cancelled_flag(&self) -> &AtomicBool {
        &self.cancelled
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        // Acquire pairs with the Release half of the swap in `cancel`.
        self.cancelled.load(Ordering::Acquire)
    }

    /// Cancels this service for `cause` and, through its tree, every child service below it
    /// (for `Parent`).
    pub(crate) fn cancel(&self, cause: CancelCause) {
        let mut walk = Walk::default();
        self.cancel_one(cause, &mut walk);
        while let Some(child) = walk.services.pop() {
            child.cancel_one(CancelCause::Parent, &mut walk);
        }
    }

    /// Cancels this service alone: sets the flag, wakes its tasks, and adds the child
    /// services found in its tree to `walk` (cancelled by the caller's loop: no recursion).
    fn cancel_one(&self, cause: CancelCause, walk: &mut Walk) {
        if self.finished_event.is_set() {
            return;
        }
        // The first cause wins; it is set before the flag, so whoever sees the flag sees it.
        let _ = self.cause.set(cause);
        self.cancelled_at();
        // AcqRel: only one canceller proceeds; the store must precede the walk's locks
        // (tree module docs, "Wake-ups").
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        self.cancel_event.set();
        tracing::debug!(service = %self.path(), "service cancelled");
        wake_tree(&self.root, walk);
    }

    pub(crate) fn count_restart(&self) {
        // Relaxed: a statistic, as in `count_started_task`.
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_started_task(&self) {
        // Relaxed: the counters are statistics; their final values are published to waiters
        // by `finished_event` (manager invariant 2).
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a failure here and in every ancestor, then cancels each of them.
    pub(crate) fn record_failure(self: &Arc<Self>, failure: TaskFailure) {
        tracing::error!(
            service = %self.path(),
            path = %failure.path(),
            kind = %failure.kind(),
            error = %failure.error(),
            "task failed"
        );
        let mut manager = Arc::clone(self);
        loop {
            lock(&manager.failures).push(failure.clone());
            manager.did_error.store(true, Ordering::Release);
            manager.cancel(CancelCause::Failure {
                path: failure.path().to_owned(),
            });
            // A supervised child's failures go to its supervising task, which restarts it or
            // reports them; an unsupervised child's go straight to every ancestor.
            let parent = lock(&manager.parent)
                .as_ref()
                .filter(|link| !link.supervised)
                .map(|link| Arc::clone(&link.manager));
            match parent {
                Some(parent) => manager = parent,
                None => return,
            }
        }
    }

    /// The root node is done: publish the outcome, wake the waiters, report to the parent;
    /// returns the parent, where the completion walk ([`release`]) goes on.
    pub(crate) fn finish(&self) -> Option<Up> {
        let failures = std::mem::take(&mut *lock(&self.failures));
        let outcome = if failures.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Failed(Failures::new(
                Arc::clone(self.path()),
                failures,
                self.cause.get().cloned(),
            )))
        };
        let _ = self.outcome.set(outcome);
        self.finished_event.set();
        tracing::debug!(service = %self.path(), "service finished");
        let link = lock(&self.parent).take()?;
        if link.daemon && !link.supervised && !link.manager.is_cancelled() {
            link.manager.record_failure(crate::runner::daemon_exit(
                self.root.name(),
                Arc::clone(self.root.path()),
                true,
            ));
        }
        Some(Up {
            manager: link.manager,
            counted: !link.supervised,
        })
    }

    /// Marks the service ready (once; never after it was cancelled).
    pub(crate) fn mark_ready(&self) {
        if !self.is_cancelled() && !self.ready_event.is_set() {
            self.ready_event.set();
            tracing::debug!(service = %self.path(), "service ready");
        }
    }

    /// The body returned cleanly: without `manual_ready`, that is the end of start-up.
    pub(crate) fn body_returned(&self) {
        if !self.options.manual_ready {
            self.mark_ready();
        }
    }

    /// The failures so far, as an error (for waiters that give up before the end).
    fn failures_so_far(&self) -> ServiceError {
        ServiceError::Failed(Failures::new(
            Arc::clone(self.path()),
            lock(&self.failures).clone(),
            self.cause.get().cloned(),
        ))
    }

    /// Marks the service started; false if it already was.
    pub(crate) fn try_start(&self) -> bool {
        // AcqRel: the winner's later writes (launching the body) must not be reordered
        // before the swap, and a loser must see the winner's state.
        !self.started.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn mark_started(&self) {
        self.started_event.set();
        tracing::debug!(service = %self.path(), "service started");
    }

    /// Finishes a service whose body never ran (cancelled before start, or not startable).
    pub(crate) fn finish_unstarted(&self, outcome: Result<(), ServiceError>) {
        self.started_event.set();
        if let Err(e) = &outcome {
            tracing::error!(service = %self.path(), error = %e, "service could not start");
        }
        let _ = self.outcome.set(outcome);
        // The root was never run: releasing it finishes the service (keeping this outcome)
        // and, for a child, takes it out of its parent's tree.
        release(&self.root, self);
    }

    /// A task of this service is done.
    pub(crate) fn task_done(&self) {
        // Relaxed: a statistic, as in `count_started_task`.
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}

impl Manager {
    /// The service's name.
    pub fn name(&self) -> &str {
        self.shared.name()
    }

    /// The service's path in its tree of services (`Node/Store` for a child `Store` of
    /// `Node`); the prefix of its tasks' paths.
    pub fn path(&self) -> &str {
        self.shared.path()
    }

    /// Whether the manager has begun running the service.
    pub fn is_started(&self) -> bool {
        self.shared.started_event.is_set()
    }

    /// Started and not finished. A cancelled service is running until it is finished.
    pub fn is_running(&self) -> bool {
        self.is_started() && !self.is_finished()
    }

    /// Whether cancellation was requested: by [`Manager::cancel`], by a failure, or by the
    /// parent service. Stays false for a service that finished cleanly.
    pub fn is_cancelled(&self) -> bool {
        self.shared.is_cancelled()
    }

    /// Whether the service and all its tasks and child services are done.
    pub fn is_finished(&self) -> bool {
        self.shared.finished_event.is_set()
    }

    /// Whether at least one failure was recorded (its own or a child service's).
    pub fn did_error(&self) -> bool {
        self.shared.did_error.load(Ordering::Acquire)
    }

    /// Requests cancellation and returns at once; the tasks stop in order in the
    /// background (see the crate docs, "Cancellation"). Idempotent; a no-op once finished.
    /// Before start, the service finishes at once without running its body.
    pub fn cancel(&self) {
        self.cancel_with(CancelCause::Requested);
    }

    /// [`Manager::cancel`] for a given cause.
    pub(crate) fn cancel_with(&self, cause: CancelCause) {
        self.shared.cancel(cause);
        if self.shared.try_start() {
            self.shared.finish_unstarted(Ok(()));
        }
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
        self.shared.started_event.wait().await;
    }

    /// Whether the service is ready: its start-up work is done (its body returned, or a task
    /// called [`Context::ready`](crate::Context::ready); with
    /// [`Options::manual_ready`](crate::Options::manual_ready), only the latter).
    pub fn is_ready(&self) -> bool {
        self.shared.ready_event.is_set()
    }

    /// Waits until the service is ready.
    ///
    /// Fails at once, with the failures so far, if the service fails before it is ready; and
    /// with its outcome (or `LifecycleError::FinishedBeforeReady`) if it finishes first.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_ready(&self) -> Result<(), ServiceError> {
        let shared = &self.shared;
        loop {
            tokio::select! {
                biased;
                () = shared.ready_event.wait() => return Ok(()),
                () = shared.finished_event.wait() => {
                    self.outcome()?;
                    return Err(ServiceError::Lifecycle(LifecycleError::FinishedBeforeReady));
                }
                () = shared.cancel_event.wait(), if !shared.is_cancelled() => {}
            }
            // Cancelled: never ready now. A failure fails the wait at once; otherwise the
            // service's end decides.
            if self.is_ready() {
                return Ok(());
            }
            if self.did_error() {
                return Err(shared.failures_so_far());
            }
            if shared.is_cancelled() {
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
        self.shared.finished_event.wait().await;
        self.outcome()
    }

    /// The outcome, once finished; `Ok(())` before then.
    fn outcome(&self) -> Result<(), ServiceError> {
        self.shared.outcome.get().cloned().unwrap_or(Ok(()))
    }

    /// Why the service was cancelled, once it was; the first cause wins.
    pub fn cancel_cause(&self) -> Option<CancelCause> {
        if self.is_cancelled() {
            self.shared.cause.get().cloned()
        } else {
            None
        }
    }

    /// A snapshot of the task counters.
    pub fn stats(&self) -> Stats {
        // Read `finished` first: a task is counted in `total` before it can finish, so the
        // snapshot never shows more finished than started tasks.
        let finished_count = self.shared.finished.load(Ordering::Relaxed);
        let total_count = self.shared.total.load(Ordering::Relaxed);
        Stats {
            tasks: TaskStats {
                total_count,
                finished_count,
                restart_count: self.shared.restarts.load(Ordering::Relaxed),
            },
        }
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Manager {
        Manager { shared }
    }

    /// Starts the service if nobody did yet: spawns the body (`body` is only called then).
    pub(crate) fn launch<F>(&self, body: F) -> Result<(), LifecycleError>
    where
        F: FnOnce(&Manager, Arc<TaskNode>),
    {
        if !self.shared.try_start() {
            return Err(LifecycleError::AlreadyStarted);
        }
        if !crate::runner::in_runtime() {
            let error = LifecycleError::NoRuntime;
            self.shared
                .finish_unstarted(Err(ServiceError::Lifecycle(error.clone())));
            return Err(error);
        }
        if self.shared.is_cancelled() {
            // Cancelled (by its parent) before its body could start: it never runs.
            self.shared.finish_unstarted(Ok(()));
            return Ok(());
        }
        self.shared.mark_started();
        body(self, Arc::clone(&self.shared.root));
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
