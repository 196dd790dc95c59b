//! Running one task: its future, its failure, its abort, its place in the tree.
//!
//! Each task is one tokio task running a [`TaskFuture`]: it makes the task's future, polls it
//! until it completes or the task is due to be aborted (the service is cancelled, the grace
//! period has run out, **and** all the task's children are done — so children always stop
//! before their parent), restarts it if its policy says so, and records how it ended.
//! Whatever happens, the task leaves the tree when its tokio task ends or is dropped (the
//! future's drop releases it, after dropping the task's own future), so the tree never waits
//! for a task that is gone, even when the tokio runtime itself shuts down.
//!
//! # The life of a task
//!
//! A task is in one [`Phase`]; these are all the moves (anything else is a bug). A task
//! begins in `First`, which is `Start` holding its one-shot closure (the future it makes
//! takes the closure's place: [`Maker`]); below, `Start` stands for both.
//!
//! | phase | event | next phase |
//! |---|---|---|
//! | `Start` | its future is made; its waker is stored for cancellation | `Run` (`Stop::Running`) |
//! | `Start` | making it panicked | as the `Run` rows for a panic |
//! | `Run` | its service is cancelled | `Run` (`Stop::Grace`, or `Stop::WaitChildren` with a zero grace) |
//! | `Run` | the grace period ran out: a `GraceExceeded` failure | `Run` (`Stop::WaitChildren`) |
//! | `Run` | waiting for children, the last one is done | `Done`: the future is dropped (aborted) |
//! | `Run` | the future returned or panicked, and its policy restarts it | `Start` (at the next poll: a restart always yields), or `Backoff` with a delay |
//! | `Run` | a service body returned cleanly | `Parked` |
//! | `Run` | the future returned or panicked otherwise | `Ended` (a failure is recorded if it failed) |
//! | `Backoff` | the delay is over | `Start` |
//! | `Start` | a restart finds its service cancelled | `Ended` |
//! | `Backoff` | its service is cancelled | `Ended` |
//! | `Parked` | the service's last task is done | `Done` |
//!
//! What a snapshot shows of a task follows these phases: each `Start` tells the tree the
//! task runs (with its role, restart count and, the first time, its start), under the lock
//! it takes there anyway to store its waker; a restart with a delay tells it the task backs
//! off, under the lock it takes for the name it logs. The stop stages are not written: a
//! snapshot reads them from the service's flags (cancelled, grace over).
//!
//! `Ended` and `Done` are final: the tokio task completes. The drop that follows releases the
//! task from the tree; `Done` means the tree already found the task's node done (one lock
//! less). Only the backoff has a timer of its own: the grace ends for all the tasks of a
//! service at once (`ServiceState::grace_over`: its deadline, an ancestor's, or `abort()`).
//!
//! A service body that returns cleanly drops its future at once but keeps its tokio task
//! parked until the service's tasks are all done: most bodies only start work and return,
//! and ending their tokio task right away would put its teardown (and the allocator's work to
//! free it) on every service's start-up path. Parked, the task costs no polls — cancellation
//! does not wake it — and its teardown happens with the rest of the service's, the way a
//! hand-written parent task awaiting its tasks ends.
//!
//! # Layer
//!
//! Above the manager and the tree: it reads its service's flags, records failures and
//! releases the task through [`ServiceState`], and waits through its [`TaskRef`](crate::tree::TaskRef). It makes
//! each future's [`Context`], and `Context` calls [`spawn`]: the one pair of modules that
//! use each other.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, Waker, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use tracing::Instrument;

use crate::clock;
use crate::context::Context;
use crate::error::{
    BoxError, FailureKind, GaveUp, GraceExceeded, PanicError, ServiceError, TaskFailure,
};
use crate::manager::{GraceEnd, Manager, ServiceState, Task};
use crate::name::Name;
use crate::output::IntoTaskResult;
use crate::restart::{Decision, Supervisor};
use crate::spec::{Role, Spec};
use crate::tree::{self, Status};

/// Makes a task's future: once ([`OneShot`]), or for each restart ([`Repeating`]).
///
/// A maker comes in two parts: what waits in the task's first phase ([`Phase::First`]),
/// where it shares its space with the future it becomes — a one-shot closure — and what the
/// task keeps for its whole life, for restarts. A one-shot task so carries its closure or
/// its future, never both (tokio moves every task's future as it spawns and ends it).
pub(crate) trait Maker<Fut>: Sized {
    /// What the first phase holds.
    type First: Send + 'static;
    /// What the task keeps.
    type Kept: Send + 'static;

    fn split(self) -> (Self::First, Self::Kept);

    /// The next future: from `first` at the first start, else from `kept`; `None` once a
    /// one-shot maker is used up.
    fn make(first: Option<Self::First>, kept: &mut Self::Kept, cx: Context) -> Option<Fut>;
}

/// A maker for a task that is never restarted.
pub(crate) struct OneShot<F>(pub(crate) F);

impl<F: FnOnce(Context) -> Fut + Send + 'static, Fut> Maker<Fut> for OneShot<F> {
    type First = F;
    type Kept = ();

    fn split(self) -> (F, ()) {
        (self.0, ())
    }

    fn make(first: Option<F>, (): &mut (), cx: Context) -> Option<Fut> {
        first.map(|f| f(cx))
    }
}

/// A maker for a task that may be restarted.
pub(crate) struct Repeating<F>(pub(crate) F);

impl<F: FnMut(Context) -> Fut + Send + 'static, Fut> Maker<Fut> for Repeating<F> {
    type First = ();
    type Kept = Self;

    fn split(self) -> ((), Self) {
        ((), self)
    }

    fn make(_: Option<()>, kept: &mut Self, cx: Context) -> Option<Fut> {
        Some((kept.0)(cx))
    }
}

/// Spawns the tokio task that runs the futures `make` makes, as the task `task` named `name`
/// of `manager`'s service, run as `spec` says.
pub(crate) fn spawn<M, Fut>(manager: Manager, task: Task, name: Name, spec: Spec, make: M)
where
    M: Maker<Fut> + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoTaskResult,
{
    // Root spans (`parent: None`): the path already names every ancestor, and a span chain
    // as deep as the task tree would make subscribers recurse once per level.
    let span = match spec.role {
        Role::Body => {
            tracing::info_span!(parent: None, "service", service = %manager.state.path())
        }
        Role::Task | Role::Daemon => tracing::info_span!(
            parent: None,
            "task",
            service = %manager.state.path(),
            path = %SpanPath(&task, &name)
        ),
    };
    let tokio_name = TokioName::of(&manager, &task, &name, spec.role);
    let supervisor = spec
        .restart
        .filter(|policy| policy.restarts())
        .map(|policy| {
            // Seeded per task so that siblings restarted together spread apart.
            let seed = task.identity() ^ manager.stats().tasks.total_count as u64;
            Box::new(Supervisor::new(policy, seed))
        });
    let (first, make) = make.split();
    let task: TaskFuture<M, Fut> = TaskFuture {
        phase: Phase::First { first: Some(first) },
        make,
        supervisor,
        manager,
        task,
        role: spec.role,
    };
    // Without a subscriber that wants the span, spawn the bare future: no span to store and
    // enter on every poll.
    if span.is_disabled() {
        tokio_name.spawn(task);
    } else {
        tokio_name.spawn(task.instrument(span));
    }
}

/// The name of a task's tokio task: nothing, unless built with `--cfg tokio_unstable`.
#[cfg(not(tokio_unstable))]
struct TokioName;

#[cfg(not(tokio_unstable))]
impl TokioName {
    fn of(_: &Manager, _: &Task, _: &Name, _: Role) -> TokioName {
        TokioName
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(self, future: F) {
        tokio::spawn(future);
    }
}

/// The name of a task's tokio task, with `--cfg tokio_unstable`: the task's path, so that
/// tokio-console shows the tree. Tokio only puts the name in its `runtime.spawn` span
/// (what tokio-console reads), so the path, which a leaf task must build, is only built
/// when a subscriber wants that span; otherwise naming costs one callsite check.
#[cfg(tokio_unstable)]
struct TokioName(Option<Arc<str>>);

#[cfg(tokio_unstable)]
impl TokioName {
    fn of(manager: &Manager, task: &Task, name: &Name, role: Role) -> TokioName {
        let wanted = tracing::enabled!(
            kind: tracing::metadata::Kind::SPAN,
            target: "tokio::task",
            tracing::Level::TRACE
        );
        TokioName(wanted.then(|| match role {
            Role::Body => Arc::clone(manager.state.path()),
            Role::Task | Role::Daemon => task.path(name),
        }))
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(self, future: F) {
        let Some(name) = self.0 else {
            tokio::spawn(future);
            return;
        };
        // Tokio returns no error here today; if it ever did, the future would be dropped
        // unpolled, and a task future dropped leaves the tree (`TaskFuture`'s drop), as when
        // the runtime shuts down.
        let _ = tokio::task::Builder::new().name(&name).spawn(future);
    }
}

/// A task's path as a span field: written straight into the subscriber's buffer, without
/// building it (a leaf has no stored path; `TaskRef::path` would allocate one per task).
struct SpanPath<'a>(&'a Task, &'a Name);

impl std::fmt::Display for SpanPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.write_path(self.1, f)
    }
}

pin_project! {
    /// One task (module docs). A hand-written future, so that a task costs its own future
    /// plus a few words: tokio moves a task's future a few times as it spawns and ends it.
    struct TaskFuture<M: Maker<Fut>, Fut> {
        #[pin]
        phase: Phase<M::First, Fut>,
        make: M::Kept,
        // Boxed: only restartable tasks have one.
        supervisor: Option<Box<Supervisor>>,
        manager: Manager,
        task: Task,
        role: Role,
    }

    impl<M: Maker<Fut>, Fut> PinnedDrop for TaskFuture<M, Fut> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let found_done = match *this.phase.as_mut() {
                Phase::Done => true,
                Phase::Ended => false,
                // Dropped before its end: the tokio runtime is shutting down.
                Phase::First { .. }
                | Phase::Start
                | Phase::Run { .. }
                | Phase::Backoff { .. }
                | Phase::Parked => {
                    this.manager.state.mark_torn_down();
                    false
                }
            };
            if let PhaseProj::Run { stop, .. } = this.phase.as_mut().project() {
                leave_grace(stop, &this.manager.state);
            }
            // The task's own future goes first (children before parents holds for its
            // destructors too), and a panic there cannot keep the task in the tree.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| this.phase.set(Phase::Ended))) {
                // Only a task dropped unfinished (the tokio runtime shutting down) still has
                // its future here: its destructor's panic is a failure like any other.
                let panic = PanicError::from_payload(&*payload);
                record(&this.manager.state, this.task, FailureKind::Panic, Arc::new(panic), None);
            }
            this.manager.state.release_task(this.task, found_done);
        }
    }
}

pin_project! {
    /// Where a task is in its life (module docs, "The life of a task").
    #[project = PhaseProj]
    enum Phase<First, Fut> {
        /// Its first future is to be made, at its first poll: with what its maker keeps
        /// here (a one-shot closure), which the future then takes the place of.
        First { first: Option<First> },
        /// Its next future is to be made, to restart it.
        Start,
        /// Its future runs; `stop` says how far it is from being aborted.
        Run {
            #[pin]
            future: Fut,
            stop: Stop,
        },
        /// Waiting out a restart's delay (done at once if its service is cancelled).
        Backoff { timer: Pin<Box<Sleep>> },
        /// A service body that returned: its tokio task ends with its service's last task.
        Parked,
        /// Its future ended; the tree has yet to hear of it (the drop tells it).
        Ended,
        /// The tree found its node done (waiting for its children, or parked).
        Done,
    }
}

/// How far a running task is from being aborted.
enum Stop {
    /// Its service is not cancelled (its waker is stored for the cancellation walk).
    Running,
    /// Its service is cancelled, within its grace: `slot` is its place among the waiters for
    /// the grace to end (`ServiceState::grace_over`), once it waits.
    Grace { slot: Option<u32> },
    /// Its grace is over (`graced`: it had one, which ran out); once its children are done
    /// it is aborted.
    WaitChildren { graced: bool },
}

/// How a task's future ended.
enum Ending {
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
        // The tasks this poll starts share one clock read for their start.
        let _poll = clock::PollScope::enter();
        let mut this = self.project();
        loop {
            let ending = match this.phase.as_mut().project() {
                PhaseProj::First { .. } | PhaseProj::Start => {
                    match this.supervisor {
                        None => tracing::trace!("task started"),
                        // Cancelled while a restart waited for its turn: no more incarnations.
                        Some(supervisor)
                            if supervisor.restarts() > 0 && this.manager.state.is_cancelled() =>
                        {
                            this.phase.set(Phase::Ended);
                            return Poll::Ready(());
                        }
                        Some(_) => {}
                    }
                    let status = status(*this.role, this.supervisor.as_deref());
                    let cx = context(this.manager, this.task, task_cx.waker(), status);
                    let first = match this.phase.as_mut().project() {
                        PhaseProj::First { first } => first.take(),
                        _ => None,
                    };
                    match catch_unwind(AssertUnwindSafe(|| M::make(first, this.make, cx))) {
                        Ok(Some(future)) => {
                            this.phase.set(Phase::Run {
                                future,
                                stop: Stop::Running,
                            });
                            if let Some(supervisor) = this.supervisor {
                                supervisor.started(Instant::now());
                            }
                            continue;
                        }
                        Ok(None) => {
                            this.phase.set(Phase::Ended);
                            return Poll::Ready(());
                        }
                        Err(payload) => {
                            this.phase.set(Phase::Ended);
                            Ending::Panicked(PanicError::from_payload(&*payload))
                        }
                    }
                }
                PhaseProj::Run { future, stop } => {
                    // The stop stage first: once the grace is over (at once with a zero
                    // grace), the future is never polled again, only kept until the task's
                    // children are done, then dropped.
                    let state = &this.manager.state;
                    let ending = match poll_stop(stop, state, this.task, task_cx) {
                        Next::PollFuture => {
                            match catch_unwind(AssertUnwindSafe(|| future.poll(task_cx))) {
                                Ok(Poll::Ready(output)) => {
                                    Ending::Returned(output.into_task_result())
                                }
                                Ok(Poll::Pending) => return Poll::Pending,
                                Err(payload) => {
                                    Ending::Panicked(PanicError::from_payload(&*payload))
                                }
                            }
                        }
                        Next::Abort(Poll::Pending) => return Poll::Pending,
                        Next::Abort(Poll::Ready(())) => Ending::Aborted,
                    };
                    leave_grace(stop, state);
                    let next = match ending {
                        Ending::Aborted => Phase::Done,
                        _ => Phase::Ended,
                    };
                    // Drop the future here, where a panic in its destructors is caught too
                    // (the first panic wins if polling it already panicked).
                    match catch_unwind(AssertUnwindSafe(|| this.phase.set(next))) {
                        Err(payload) if !matches!(ending, Ending::Panicked(_)) => {
                            Ending::Panicked(PanicError::from_payload(&*payload))
                        }
                        _ => ending,
                    }
                }
                PhaseProj::Backoff { timer } => {
                    if this.manager.state.is_cancelled() {
                        this.phase.set(Phase::Ended);
                        return Poll::Ready(());
                    }
                    ready!(timer.as_mut().poll(task_cx));
                    this.phase.set(Phase::Start);
                    continue;
                }
                PhaseProj::Parked => {
                    ready!(this.task.poll_stop_quietly(task_cx));
                    this.phase.set(Phase::Done);
                    return Poll::Ready(());
                }
                PhaseProj::Ended | PhaseProj::Done => return Poll::Ready(()),
            };
            let state = &this.manager.state;
            let verdict = supervise(this.supervisor, state, this.task, *this.role, &ending);
            if let Verdict::Restart(delay) = verdict {
                if !delay.is_zero() {
                    this.phase.set(Phase::Backoff {
                        timer: Box::pin(tokio::time::sleep(delay)),
                    });
                    continue;
                }
                // Made again at the next poll, not in this one: a task that fails at once must
                // still let the scheduler run others (timers, the task that cancels it).
                this.phase.set(Phase::Start);
                task_cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let given_up = verdict == Verdict::GivenUp;
            let finished = finish(
                state,
                this.task,
                *this.role,
                ending,
                this.supervisor,
                given_up,
            );
            if finished == Finished::Parks {
                this.phase.set(Phase::Parked);
                continue;
            }
            return Poll::Ready(());
        }
    }
}

/// A new `Context` for the task's next future; stores the task's `waker` for cancellation on
/// the way, and its `status` for snapshots (one lock for both).
fn context(manager: &Manager, task: &mut Task, waker: &Waker, status: Status) -> Context {
    let name = task.register(waker, status);
    Context::new(manager.clone(), task.clone(), name)
}

/// What a snapshot shows of a task that (re)starts.
fn status(role: Role, supervisor: Option<&Supervisor>) -> Status {
    let restarts = supervisor.map_or(0, |s| u32::try_from(s.restarts()).unwrap_or(u32::MAX));
    Status::new(
        tree::Phase::Running,
        role == Role::Daemon,
        role == Role::Body,
        restarts,
    )
}

/// What a running task does next, its stop stage advanced first ([`poll_stop`]).
enum Next {
    /// Poll its future: its service is not cancelled, or its grace has not run out.
    PollFuture,
    /// Its grace is over: it is aborted once its children are done (`Pending` until then).
    Abort(Poll<()>),
}

/// Advances the stop stage of a running task: its service cancelled, the grace period
/// running, then over.
fn poll_stop(
    stop: &mut Stop,
    state: &Arc<ServiceState>,
    task: &mut Task,
    task_cx: &mut std::task::Context<'_>,
) -> Next {
    loop {
        match stop {
            Stop::Running => {
                // The waker is stored since the task started, and this read comes after
                // (tree module docs, "Wake-ups").
                if !state.is_cancelled() {
                    return Next::PollFuture;
                }
                *stop = if state.grace.is_zero() {
                    Stop::WaitChildren { graced: false }
                } else {
                    Stop::Grace { slot: None }
                };
            }
            Stop::Grace { slot } => {
                if state.grace_over.poll_wait(slot, task_cx).is_pending() {
                    return Next::PollFuture;
                }
                // Still running when the grace ran out: the stop was not clean.
                let grace = match state.grace_end() {
                    Some(GraceEnd::Deadline(grace)) => Some(grace),
                    Some(GraceEnd::Forced) | None => None,
                };
                record(
                    state,
                    task,
                    FailureKind::GraceExceeded,
                    Arc::new(GraceExceeded { grace }),
                    None,
                );
                *stop = Stop::WaitChildren { graced: true };
            }
            Stop::WaitChildren { graced } => {
                let children = task.poll_stop(task_cx);
                if children.is_ready() && *graced {
                    // As it is aborted: after its children, so leaves are logged first.
                    let path = task.path(&task.name());
                    let grace = state.grace;
                    tracing::warn!(%path, ?grace, "task still running after its grace period; aborting it");
                }
                return Next::Abort(children);
            }
        }
    }
}

/// A task that leaves its grace before it ends (it returned, or is dropped) stops waiting
/// for the grace to end.
fn leave_grace(stop: &mut Stop, state: &ServiceState) {
    if let Stop::Grace { slot } = stop {
        state.grace_over.unregister(slot);
    }
}

/// What the restart policy makes of a task whose future ended.
#[derive(PartialEq, Eq)]
enum Verdict {
    /// Made again after the delay.
    Restart(Duration),
    /// Ended, as it would without a policy.
    Ends,
    /// Ended because it was restarted too often: a failure even if it returned cleanly.
    GivenUp,
}

/// Applies the restart policy to a task whose future ended.
fn supervise(
    supervisor: &mut Option<Box<Supervisor>>,
    state: &ServiceState,
    task: &Task,
    role: Role,
    ending: &Ending,
) -> Verdict {
    let Some(supervisor) = supervisor.as_mut() else {
        return Verdict::Ends;
    };
    let failed = match ending {
        Ending::Aborted => return Verdict::Ends,
        Ending::Returned(Ok(())) => false,
        Ending::Returned(Err(_)) | Ending::Panicked(_) => true,
    };
    if state.is_cancelled() {
        return Verdict::Ends;
    }
    match supervisor.decide(failed, role == Role::Daemon, Instant::now()) {
        Decision::Restart(delay) => {
            state.count_restart();
            let cause = match ending {
                Ending::Returned(Err(e)) => e.to_string(),
                Ending::Panicked(p) => format!("panicked: {p}"),
                _ => "exited".to_owned(),
            };
            let restarts = u32::try_from(supervisor.restarts()).unwrap_or(u32::MAX);
            let name = task.restarting(restarts, !delay.is_zero());
            let path = task.path(&name);
            tracing::warn!(%path, %cause, restart = supervisor.restarts(), ?delay, "restarting task");
            Verdict::Restart(delay)
        }
        Decision::Finish => Verdict::Ends,
        Decision::GiveUp(_) => Verdict::GivenUp,
    }
}

/// What [`finish`] leaves a task to do.
#[derive(PartialEq, Eq)]
enum Finished {
    /// Nothing: the tokio task ends.
    Ends,
    /// The service body returned cleanly: the task parks ([`Phase::Parked`]).
    Parks,
}

/// Records how a task ended: a failure for an error, a panic, or a daemon that returned
/// while its service was running. A supervised task that ends this way has given up: its
/// failure notes the restarts it had.
fn finish(
    state: &Arc<ServiceState>,
    task: &Task,
    role: Role,
    ending: Ending,
    supervisor: &Option<Box<Supervisor>>,
    given_up: bool,
) -> Finished {
    let supervisor = supervisor.as_deref();
    match ending {
        // Restarted too often after clean exits (`Restart::always`): never silent.
        Ending::Returned(Ok(())) if given_up && role != Role::Daemon => {
            record(
                state,
                task,
                FailureKind::Error,
                Arc::new(Exited),
                supervisor,
            );
        }
        Ending::Returned(Ok(())) if role == Role::Daemon && !state.is_cancelled() => {
            let name = task.name();
            let path = task.path(&name);
            let failure = TaskFailure::daemon_exit(name.to_cow(), path, false);
            state.record_failure(gave_up(failure, supervisor));
        }
        Ending::Returned(Ok(())) => {
            tracing::trace!("task returned");
            if role == Role::Body {
                state.body_returned();
                return Finished::Parks;
            }
        }
        Ending::Aborted => tracing::trace!("task aborted"),
        Ending::Returned(Err(error)) => match error.downcast::<ChildFailed>() {
            // A supervised child service gave up: its own failures, with their paths.
            Ok(child) => {
                for failure in child.0.failures() {
                    state.record_failure(gave_up(failure.clone(), supervisor));
                }
            }
            Err(error) => record(
                state,
                task,
                FailureKind::Error,
                Arc::from(error),
                supervisor,
            ),
        },
        Ending::Panicked(panic) => {
            record(state, task, FailureKind::Panic, Arc::new(panic), supervisor);
        }
    }
    Finished::Ends
}

/// Records the failure of `task` of `kind` with `error`.
fn record(
    state: &Arc<ServiceState>,
    task: &Task,
    kind: FailureKind,
    error: Arc<dyn std::error::Error + Send + Sync>,
    supervisor: Option<&Supervisor>,
) {
    let name = task.name();
    let path = task.path(&name);
    let failure = TaskFailure::new(name.to_cow(), path, kind, error);
    state.record_failure(gave_up(failure, supervisor));
}

/// Notes on `failure` how many restarts its task had before giving up (if it had any).
fn gave_up(failure: TaskFailure, supervisor: Option<&Supervisor>) -> TaskFailure {
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

/// The cause of a task that exited cleanly once too often for its restart policy.
#[derive(Debug)]
struct Exited;

impl std::fmt::Display for Exited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("exited")
    }
}

impl std::error::Error for Exited {}

/// The error of a supervised child service that ended badly, carried out of its supervising
/// task to be reported failure by failure.
#[derive(Debug)]
pub(crate) struct ChildFailed(pub(crate) ServiceError);

impl std::fmt::Display for ChildFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ChildFailed {}

// What a one-shot task carries, in 64-bit words, for a closure of one word: the phase (one
// word for the tag and the grace waiter's slot, one for the closure or the future that takes
// its place), the supervisor, the manager, the task reference (three), the role. Tokio
// copies every task's future as it spawns and ends it.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<Stop>() == 8);
    assert!(
        std::mem::size_of::<
            TaskFuture<OneShot<fn(Context) -> std::future::Ready<()>>, std::future::Ready<()>>,
        >() == 8 * 8
    );
};

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, tokio_unstable, not(loom)))]
mod tokio_names;
