//! Running one task: its future, its failure, its abort, its place in the tree.
//!
//! Each task is one tokio task running a [`TaskFuture`]: it polls the task's future until the
//! future completes or the task is due to be aborted (the service is cancelled, the grace
//! period has run out, **and** all the task's children are done — so children always stop
//! before their parent). Whatever happens, the task leaves the tree when its tokio task ends
//! or is dropped (dropping its [`Own`] state releases it), so the tree never waits for a task
//! that is gone, even when the tokio runtime itself shuts down.
//!
//! A service body that returns cleanly drops its future at once but keeps its tokio task
//! parked until the service's tasks are all done (`Own::parked`): most bodies
//! only start work and return, and ending their tokio task right away would put its
//! teardown (and the allocator's work to free it) on every service's start-up path. Parked,
//! the task costs no polls — cancellation does not wake it — and its teardown happens with
//! the rest of the service's, the way a hand-written parent task awaiting its tasks ends.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, Waker, ready};

use pin_project_lite::pin_project;
use tracing::Instrument;

use tokio::time::Instant;

use crate::context::Context;
use crate::error::{BoxError, DaemonExitError, FailureKind, GaveUp, PanicError, TaskFailure};
use crate::manager::Manager;
use crate::output::IntoTaskResult;
use crate::restart::{Decision, Supervisor};
use crate::tree::{Name, TaskRef, release_task};

/// What kind of work a task node carries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The service body: not counted, never a daemon.
    Body,
    Task,
    Daemon,
}

/// Makes a task's future: once ([`Once`]), or for each restart ([`Again`]).
pub(crate) trait Maker<Fut> {
    /// The next future, or `None` once a one-shot maker is used up.
    fn make(&mut self, cx: Context) -> Option<Fut>;
}

/// A maker for a task that is never restarted.
pub(crate) struct Once<F>(pub(crate) Option<F>);

impl<F: FnOnce(Context) -> Fut, Fut> Maker<Fut> for Once<F> {
    fn make(&mut self, cx: Context) -> Option<Fut> {
        self.0.take().map(|f| f(cx))
    }
}

/// A maker for a task that may be restarted.
pub(crate) struct Again<F>(pub(crate) F);

impl<F: FnMut(Context) -> Fut, Fut> Maker<Fut> for Again<F> {
    fn make(&mut self, cx: Context) -> Option<Fut> {
        Some((self.0)(cx))
    }
}

/// Whether the caller is inside a tokio runtime (where tasks can be spawned). Inside a task,
/// one thread-local read; elsewhere (a runtime's `block_on`, a plain thread) the runtime
/// is looked up.
pub(crate) fn in_runtime() -> bool {
    tokio::task::try_id().is_some() || tokio::runtime::Handle::try_current().is_ok()
}

/// Spawns the tokio task that runs the futures `make` makes, as the task `task` named `name`
/// of `manager`'s service; with a `supervisor`, ended futures are restarted by its policy.
pub(crate) fn spawn<M, Fut>(
    manager: Manager,
    task: TaskRef,
    name: Name,
    role: Role,
    make: M,
    supervisor: Option<Box<Supervisor>>,
) where
    M: Maker<Fut> + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoTaskResult,
{
    // Root spans (`parent: None`): the path already names every ancestor, and a span chain
    // as deep as the task tree would make subscribers recurse once per level.
    let span = match role {
        Role::Body => {
            tracing::info_span!(parent: None, "service", service = %manager.shared.path())
        }
        Role::Task | Role::Daemon => tracing::info_span!(
            parent: None,
            "task",
            service = %manager.shared.path(),
            path = %task.path(&name)
        ),
    };
    let task = TaskFuture {
        future: None,
        make,
        timer: None,
        supervisor,
        own: Own {
            manager,
            task,
            role,
            abort: AbortStage::WaitCancel,
            parked: false,
            registered: false,
            stopped: false,
        },
    };
    // Without a subscriber that wants the span, spawn the bare future: no span to store and
    // enter on every poll.
    if span.is_disabled() {
        tokio::spawn(task);
    } else {
        tokio::spawn(task.instrument(span));
    }
}

pin_project! {
    /// One task: makes the future, polls it, restarts it if its policy says so, and aborts
    /// it when due (a hand-written future, so that a task costs its own future plus a few
    /// words). Every word counts: tokio moves a task's future a few times as it spawns and
    /// ends it, and allocates its cell in 128-byte steps.
    struct TaskFuture<M, Fut> {
        // Declared first: dropped before `own` even when tokio drops the task unfinished.
        #[pin]
        future: Option<Fut>,
        make: M,
        // The grace period while `abort` is at `Grace`, or a restart's backoff while
        // `future` is `None` (never both: a cancelled task is not restarted). Boxed: most
        // tasks never need one, and an inline timer would make every task larger.
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
        // Boxed: only restartable tasks have one.
        supervisor: Option<Box<Supervisor>>,
        own: Own,
    }
}

/// How far a task has got on its way to being aborted.
#[derive(Clone, Copy)]
enum AbortStage {
    /// Until the service is cancelled.
    WaitCancel,
    /// The grace period after cancellation (`TaskFuture::timer`).
    Grace,
    /// Until all the task's children are done; then the task is aborted.
    WaitChildren { graced: bool },
}

enum Ended {
    Returned(Result<(), BoxError>),
    Panicked(PanicError),
    Aborted,
}

impl<M, Fut> Future for TaskFuture<M, Fut>
where
    M: Maker<Fut>,
    Fut: Future,
    Fut::Output: IntoTaskResult,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, task_cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut this = self.project();
        loop {
            let own = &mut *this.own;
            if own.parked {
                ready!(own.task.poll_stop_quietly(task_cx));
                own.stopped = true;
                return Poll::Ready(());
            }
            if this.future.is_none() {
                if let Some(backoff) = this.timer {
                    // Waiting out a restart's backoff: done at once if cancelled meanwhile.
                    let cancelled = own.manager.shared.cancelled_flag();
                    if own
                        .task
                        .poll_cancelled(task_cx, cancelled, &mut own.registered)
                        .is_ready()
                    {
                        return Poll::Ready(());
                    }
                    ready!(backoff.as_mut().poll(task_cx));
                    *this.timer = None;
                }
                if this.supervisor.is_none() {
                    tracing::trace!("task started");
                }
                let cx = own.context(task_cx.waker());
                match catch_unwind(AssertUnwindSafe(|| this.make.make(cx))) {
                    Ok(Some(future)) => this.future.set(Some(future)),
                    Ok(None) => return Poll::Ready(()),
                    Err(payload) => {
                        let ended = Ended::Panicked(PanicError::from_payload(&*payload));
                        match supervise(this.supervisor, this.timer, own, ended) {
                            Some(ended) => {
                                finish(own, ended, this.supervisor);
                                return Poll::Ready(());
                            }
                            None => continue,
                        }
                    }
                }
                if let Some(supervisor) = this.supervisor {
                    supervisor.started(Instant::now());
                }
            }
            let polled = match this.future.as_mut().as_pin_mut() {
                Some(future) => catch_unwind(AssertUnwindSafe(|| future.poll(task_cx))),
                None => Ok(Poll::Pending),
            };
            let ended = match polled {
                Ok(Poll::Ready(output)) => Ended::Returned(output.into_task_result()),
                Err(payload) => Ended::Panicked(PanicError::from_payload(&*payload)),
                Ok(Poll::Pending) => match poll_abort(this.timer, own, task_cx) {
                    Poll::Ready(()) => {
                        own.stopped = true;
                        Ended::Aborted
                    }
                    Poll::Pending => return Poll::Pending,
                },
            };
            // Drop the future here, where a panic in its destructors is caught too (the
            // first panic wins if polling it already panicked).
            let ended = match catch_unwind(AssertUnwindSafe(|| this.future.set(None))) {
                Err(payload) if !matches!(ended, Ended::Panicked(_)) => {
                    Ended::Panicked(PanicError::from_payload(&*payload))
                }
                _ => ended,
            };
            match supervise(this.supervisor, this.timer, own, ended) {
                Some(ended) => {
                    if finish(own, ended, this.supervisor) == Finished::BodyReturned {
                        own.parked = true;
                        continue;
                    }
                    return Poll::Ready(());
                }
                None => continue,
            }
        }
    }
}

/// Applies the restart policy to an ended task: `None` when it is restarted (after
/// `backoff`, if set), the ending otherwise.
fn supervise(
    supervisor: &mut Option<Box<Supervisor>>,
    backoff: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    own: &Own,
    ended: Ended,
) -> Option<Ended> {
    let Some(supervisor) = supervisor else {
        return Some(ended);
    };
    let failed = match &ended {
        Ended::Aborted => return Some(ended),
        Ended::Returned(Ok(())) => false,
        Ended::Returned(Err(_)) | Ended::Panicked(_) => true,
    };
    if own.manager.is_cancelled() {
        return Some(ended);
    }
    match supervisor.decide(failed, own.role == Role::Daemon, Instant::now()) {
        Decision::Restart(delay) => {
            own.manager.shared.count_restart();
            let cause = match &ended {
                Ended::Returned(Err(e)) => e.to_string(),
                Ended::Panicked(p) => format!("panicked: {p}"),
                _ => "exited".to_owned(),
            };
            tracing::warn!(path = %own.path(), %cause, restart = supervisor.restarts(), ?delay, "restarting task");
            if !delay.is_zero() {
                *backoff = Some(Box::pin(tokio::time::sleep(delay)));
            }
            None
        }
        Decision::Finish | Decision::GiveUp(_) => Some(ended),
    }
}

/// Ready when the task must be aborted: its service is cancelled, its grace period has run
/// out, and all its children are done.
fn poll_abort(
    timer: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    own: &mut Own,
    task_cx: &mut std::task::Context<'_>,
) -> Poll<()> {
    let shared = &own.manager.shared;
    loop {
        match own.abort {
            AbortStage::WaitCancel => {
                let cancelled = shared.cancelled_flag();
                ready!(
                    own.task
                        .poll_cancelled(task_cx, cancelled, &mut own.registered)
                );
                let grace = shared.options.grace;
                own.abort = if grace.is_zero() {
                    AbortStage::WaitChildren { graced: false }
                } else {
                    let deadline = shared.cancelled_at() + grace;
                    *timer = Some(Box::pin(tokio::time::sleep_until(deadline)));
                    AbortStage::Grace
                };
            }
            AbortStage::Grace => {
                if let Some(sleep) = timer {
                    ready!(sleep.as_mut().poll(task_cx));
                }
                *timer = None;
                own.abort = AbortStage::WaitChildren { graced: true };
            }
            AbortStage::WaitChildren { graced } => {
                ready!(own.task.poll_stop(task_cx));
                if graced {
                    let grace = shared.options.grace;
                    tracing::warn!(path = %own.path(), ?grace, "task still running after its grace period; aborting it");
                }
                return Poll::Ready(());
            }
        }
    }
}

/// Records how a task ended: a failure for an error, a panic, or a daemon that returned
/// while its service was running. A supervised task that ends this way has given up: its
/// failure notes the restarts it had.
fn finish(own: &Own, ended: Ended, supervisor: &Option<Box<Supervisor>>) -> Finished {
    let shared = &own.manager.shared;
    let (kind, error): (FailureKind, Arc<dyn std::error::Error + Send + Sync>) = match ended {
        Ended::Returned(Ok(())) if own.role == Role::Daemon && !own.manager.is_cancelled() => {
            let (name, path) = own.name_and_path();
            let failure = daemon_exit(&name, path, false);
            (failure.kind(), failure.error_arc())
        }
        Ended::Returned(Ok(())) => {
            tracing::trace!("task returned");
            if own.role == Role::Body {
                shared.body_returned();
                return Finished::BodyReturned;
            }
            return Finished::Ended;
        }
        Ended::Aborted => {
            tracing::trace!("task aborted");
            return Finished::Ended;
        }
        Ended::Returned(Err(error)) => match error.downcast::<ChildFailed>() {
            // A supervised child service gave up: its own failures, with their paths.
            Ok(child) => {
                for failure in child.0.failures() {
                    shared.record_failure(gave_up(failure.clone(), supervisor));
                }
                return Finished::Ended;
            }
            Err(error) => (FailureKind::Error, Arc::from(error)),
        },
        Ended::Panicked(panic) => (FailureKind::Panic, Arc::new(panic)),
    };
    let (name, path) = own.name_and_path();
    let failure = TaskFailure::new(name.to_cow(), path, kind, error);
    shared.record_failure(gave_up(failure, supervisor));
    Finished::Ended
}

/// What [`finish`] leaves a task to do.
#[derive(PartialEq, Eq)]
enum Finished {
    /// Nothing: the tokio task ends.
    Ended,
    /// The service body returned cleanly: the task parks (`TaskFuture::parked`).
    BodyReturned,
}

/// Notes on `failure` how many restarts its task had before giving up (if it had any).
fn gave_up(failure: TaskFailure, supervisor: &Option<Box<Supervisor>>) -> TaskFailure {
    match supervisor {
        Some(supervisor) if supervisor.restarts() > 0 => failure.map_error(|cause| {
            Arc::new(GaveUp {
                restarts: supervisor.restarts(),
                within: supervisor.policy().window(),
                cause,
            })
        }),
        _ => failure,
    }
}

/// The error of a supervised child service that ended badly, carried out of its supervising
/// task to be reported failure by failure.
#[derive(Debug)]
pub(crate) struct ChildFailed(pub(crate) crate::error::ServiceError);

impl std::fmt::Display for ChildFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ChildFailed {}

/// The failure of a daemon that ended while its service was running.
pub(crate) fn daemon_exit(name: &Name, path: Arc<str>, service: bool) -> TaskFailure {
    let name = name.to_cow();
    TaskFailure::new(
        name.clone(),
        path,
        FailureKind::DaemonExit,
        Arc::new(DaemonExitError { name, service }),
    )
}

/// A task's own view of itself: its service and its place in the tree (its name is looked
/// up there when needed: this is kept small, inside every task). Releases the task from the
/// tree when its tokio task ends, however it ends (also when the tokio runtime drops the
/// task unfinished).
struct Own {
    manager: Manager,
    task: TaskRef,
    role: Role,
    abort: AbortStage,
    /// A service body that returned: its tokio task ends with its service's last task
    /// (module docs).
    parked: bool,
    /// The task's waker is stored for cancellation ([`TaskRef::register`]).
    registered: bool,
    /// The task was found done by [`TaskRef::poll_stop`].
    stopped: bool,
}

impl Own {
    /// A new `Context` for the task, for the next future it runs; registers the task's
    /// `waker` for cancellation on the way (one lock for both).
    fn context(&mut self, waker: &Waker) -> Context {
        let name = self.task.register(waker);
        self.registered = true;
        Context::new(self.manager.clone(), self.task.clone(), name)
    }

    /// The task's name and path (looked up in the tree: failures and logs only).
    fn name_and_path(&self) -> (Name, Arc<str>) {
        let name = self.task.name();
        let path = self.task.path(&name);
        (name, path)
    }

    /// The task's path, for logs.
    fn path(&self) -> Arc<str> {
        self.name_and_path().1
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        release_task(&mut self.task, &self.manager.shared, self.stopped);
    }
}
