//! The manager of one service: its lifecycle flags, its failures, its counters.
//!
//! # Invariants
//!
//! 1. `start` leaves [`Start::NotYet`] once, by whoever claims it first: [`Manager::launch`]
//!    ([`Start::Launched`]: it then runs the body) or [`Manager::cancel`] before start
//!    ([`Start::CancelledFirst`]: it then finishes the service without running its body).
//!    So the body runs at most once, and a run of a service cancelled before it started
//!    returns its (finished) outcome instead of `AlreadyStarted`.
//! 2. `finished` is set once, after `outcome`, by [`ServiceState::finish`]; it is reached only
//!    when the tree reports its root done, which is after every task of the tree has left
//!    it (tree invariant 4), and each was counted in `finished_count` before it left (with
//!    Release ordering, read with Acquire). Waiters that see `finished` therefore see the
//!    outcome and the final counters.
//! 3. Failures are appended under `record`'s lock, in the order they are recorded, and
//!    forwarded at once to every ancestor manager (flattened) up to the first boundary
//!    ([`ChildKind::Supervised`]: the supervising task decides; [`ChildKind::Contained`]:
//!    the contained work keeps them), then each manager that got one is cancelled. A
//!    failure is logged at `error` once, by the service where it stopped, unless a
//!    supervisor may still heal it. Boundaries only stop failures going up: cancellation
//!    goes down through them as through any child service (the walk meets their roots).
//! 4. A child service holds its [`ParentLink`] until it finishes; finishing takes it out,
//!    and then the child's root leaves the parent's tree ([`tree::leave`]), which may
//!    finish the parent in turn ([`ServiceState::finish_tree`], a loop: no recursion
//!    however deep the services nest). So a handle kept to a finished child keeps no task
//!    of its parent alive — only the chain of nodes that names its path (with the states
//!    of the services whose roots are in it: a root lives in its service's state), and the
//!    outermost service's state (for `Context::root`). An error keeps its service's path
//!    through [`TaskNode::lazy_path`], not through the state, whose outcome holds the error.
//!
//! 5. The grace ends once per service ([`ServiceState::end_grace`]; `grace_end` is set once,
//!    then `grace_over`): when its deadline passes (a timer started at cancellation, for a
//!    non-zero grace), when an ancestor's grace ends, or on [`Manager::abort`]. Ending it
//!    walks the service's tree for its child services and ends theirs too, in a loop, so
//!    a service's grace bounds its whole subtree whatever the children chose. A task in its
//!    grace waits on `grace_over` (an [`Event`] slot, registered before it reads the flag
//!    again — no lost wake-up: event invariant 2); one that leaves its grace first gives its
//!    slot back. `abort()` cancels first, so every task is past `Running` when it finds the
//!    grace over.
//!
//! # Layer
//!
//! Above the tree (it drives [`tree`] and does the work across services the tree reports:
//! finishing a service whose root is done, cancelling the child services a walk met) and
//! below the runner, `Context` and the handles, which call it; it calls none of them.
//!
//! # Lock order
//!
//! `record`, `parent` and `root` are leaf locks: nothing else is locked while one is held, no user
//! code runs under them, and a failure is forwarded to the parent after letting go.

use std::sync::{Arc, OnceLock};

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cause::CancelCause;
use crate::error::{Failures, LifecycleError, ServiceError, TaskFailure};
use crate::event::Event;
use crate::options::Options;

use crate::sync::{AtomicBool, AtomicU8, AtomicUsize, Mutex, Ordering, lock};
use crate::tree::{self, CancelWalk, Owner, Released, TaskNode, TaskRef, wake_tree};

mod api;
mod snapshot;

pub use api::Manager;

/// A node of a service's task tree; child services' roots carry their [`ServiceState`].
pub(crate) type Node = TaskNode<ServiceState>;
/// A task's place in its service's tree.
pub(crate) type Task = TaskRef<ServiceState>;

/// The state of one service, shared by its manager's clones, its tasks and its children.
pub(crate) struct ServiceState {
    /// The root of this service's task tree (the body's node), which names the service.
    /// A child service's hangs in its parent's tree, so its path is the service's path;
    /// the parent's entry for it is this state ([`tree::Owner`]: one allocation for both).
    pub(crate) root: Node,
    pub(crate) options: Options,
    /// Set once, when this service is asked to stop; read on every spawn and by every task
    /// that wakes up (so an atomic, not an event's lock).
    cancelled: AtomicBool,
    /// Set right after `cancelled`: what `Context::cancelled` and `ServiceHandle::call`
    /// wait on.
    pub(crate) cancel_event: Event,
    cancelled_at: OnceLock<Instant>,
    /// Made the first time a task asks for a `CancellationToken`, and cancelled with this
    /// service ([`ServiceState::cancellation_token`]): nothing when none is asked for.
    token: OnceLock<CancellationToken>,
    /// The grace of this service's tasks: its own, or its parent's when it chose none.
    pub(crate) grace: Duration,
    /// Set when the grace is over for the tasks still running: the deadline passed, the
    /// parent's grace ended (a service's grace bounds its whole subtree), or `abort()`.
    pub(crate) grace_over: Event,
    /// Why the grace ended, set just before `grace_over`.
    grace_end: OnceLock<GraceEnd>,
    /// Where the grace timer runs (kept at launch when the grace is not zero, so that a
    /// cancellation from outside the runtime can start it).
    runtime: OnceLock<tokio::runtime::Handle>,
    start: AtomicU8,
    started_event: Event,
    ready_event: Event,
    /// A waiter warned that this `manual_ready` service kept it waiting
    /// ([`ServiceState::wait_ready_event`]): the warning is given once.
    ready_stall_warned: AtomicBool,
    pub(crate) finished_event: Event,
    /// The failures, the cause and the outcome: one lock, taken once when the service is
    /// cancelled and once when it finishes.
    record: Mutex<Record>,
    did_error: AtomicBool,
    total: AtomicUsize,
    /// Tasks that left the tree: counted by the tree as they leave (tree module docs).
    pub(crate) finished: AtomicUsize,
    restarts: AtomicUsize,
    /// A task of this service was dropped unfinished (the tokio runtime shut down): the
    /// service did not end on its own, so a daemon child ending this way did not exit.
    torn_down: AtomicBool,
    /// The outermost service of this tree (`None` for the outermost itself).
    outermost: Option<Manager>,
    /// For the boundary of a contained task: the service it is part of, which its tasks see
    /// as theirs (`Context::manager`).
    enclosing: Option<Manager>,
    /// Contained children of this service that failed.
    contained_failures: AtomicUsize,
    parent: Mutex<Option<ParentLink>>,
    /// Set once, when a shutdown with a drain begins (`Manager::shutdown`, in `ops`): the
    /// service reports not ready from then on.
    pub(crate) draining: AtomicBool,
    /// What its tasks' starts are measured from, for snapshots: when the outermost service's
    /// state was made, inherited by every service below it (one clock read per tree, not
    /// per service).
    born: Instant,
}

/// What a service keeps under its `record` lock.
#[derive(Default)]
struct Record {
    /// Every failure recorded here, in order (invariant 3).
    failures: Vec<TaskFailure>,
    /// Why it was cancelled: set before the `cancelled` flag, and the first cause wins.
    cause: Option<CancelCause>,
    /// Set once, before `finished_event` (invariant 2).
    outcome: Option<Result<(), ServiceError>>,
}

/// Why a service's grace ended before its tasks did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GraceEnd {
    /// The deadline of a grace this long passed (this service's, or an ancestor's).
    Deadline(Duration),
    /// `Manager::abort()` cut it short.
    Forced,
}

/// How long a waiter waits for a `manual_ready` service's readiness before a warning names
/// the service ([`ServiceState::wait_ready_event`]).
pub(crate) const READY_STALL_WARNING: Duration = Duration::from_secs(10);

/// `start + grace`, or for a grace too long to add (`Duration::MAX`), a point decades away:
/// never reached, and no overflow.
pub(crate) fn deadline(start: Instant, grace: Duration) -> Instant {
    const DECADES: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    start.checked_add(grace).unwrap_or_else(|| start + DECADES)
}

/// Who started a service (manager invariant 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Start {
    NotYet,
    /// Its manager launched its body.
    Launched,
    /// It was cancelled first, and finished without running.
    CancelledFirst,
}

/// Checks that `name` can be a segment of a path: it has no `/`.
#[inline]
pub(crate) fn check_name(name: &str) -> Result<(), LifecycleError> {
    // Bytes: `/` is ASCII, never part of another character, and a byte scan of a short name
    // is a few instructions where the `char` search sets up a `memchr`.
    if name.as_bytes().contains(&b'/') {
        return Err(invalid_name(name));
    }
    Ok(())
}

/// [`check_name`]'s error, out of line: the check itself stays a scan.
#[cold]
#[inline(never)]
fn invalid_name(name: &str) -> LifecycleError {
    LifecycleError::InvalidName {
        name: name.to_owned(),
    }
}

/// How a child service reports to its parent.
pub(crate) struct ParentLink {
    pub(crate) parent: Arc<ServiceState>,
    pub(crate) kind: ChildKind,
}

/// How a child service is tied to its parent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ChildKind {
    /// Its failures are its parent's; it may end whenever it likes.
    Plain,
    /// Its failures are its parent's, and so is its ending while the parent runs
    /// (`DaemonExit`).
    Daemon,
    /// The child of a supervising task (restart policy): its failures go to that task,
    /// which restarts it or reports them, and it is not counted as a task of the parent
    /// (its supervising task is). Daemon or not, that task decides.
    Supervised,
    /// A failure boundary: its failures, and for a `daemon` its ending while the parent
    /// runs, stay in it (its outcome has them); the parent only counts that it failed. A
    /// contained task is one too: a boundary whose body is the task.
    Contained { daemon: bool },
}

impl Owner for ServiceState {
    fn root(&self) -> &Node {
        &self.root
    }

    fn root_mut(&mut self) -> &mut Node {
        &mut self.root
    }
}

impl ServiceState {
    /// A service whose tree grows from `root`: a fresh [`TaskNode::root`] for a top-level
    /// service, or the node a child service is given in its parent's tree (made under the
    /// lock there, by [`tree::attach_service`]: this locks nothing).
    pub(crate) fn new(root: Node, options: Options, parent: Option<ParentLink>) -> ServiceState {
        let inherited = parent
            .as_ref()
            .map_or(Duration::ZERO, |link| link.parent.grace);
        let grace = options.grace.unwrap_or(inherited);
        let outermost = parent.as_ref().map(|link| match link.parent.outermost() {
            Some(outermost) => outermost.clone(),
            None => Manager::from_state(Arc::clone(&link.parent)),
        });
        let born = parent
            .as_ref()
            .map_or_else(Instant::now, |link| link.parent.born);
        ServiceState {
            root,
            options,
            cancelled: AtomicBool::new(false),
            cancel_event: Event::default(),
            cancelled_at: OnceLock::new(),
            token: OnceLock::new(),
            grace,
            grace_over: Event::default(),
            grace_end: OnceLock::new(),
            runtime: OnceLock::new(),
            start: AtomicU8::new(Start::NotYet as u8),
            started_event: Event::default(),
            ready_event: Event::default(),
            ready_stall_warned: AtomicBool::new(false),
            finished_event: Event::default(),
            record: Mutex::new(Record::default()),
            did_error: AtomicBool::new(false),
            total: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            restarts: AtomicUsize::new(0),
            torn_down: AtomicBool::new(false),
            outermost,
            enclosing: None,
            contained_failures: AtomicUsize::new(0),
            parent: Mutex::new(parent),
            draining: AtomicBool::new(false),
            born,
        }
    }

    /// The boundary of a contained task at `root`, a child of `parent`'s tree: a service of
    /// its own (its failures stay in it), with `parent`'s settings and grace, that its tasks
    /// see as `parent`'s service.
    pub(crate) fn boundary(root: Node, parent: &Arc<ServiceState>) -> ServiceState {
        let options = Options {
            grace: None,
            ..parent.options.clone()
        };
        let link = ParentLink {
            parent: Arc::clone(parent),
            kind: ChildKind::Contained { daemon: false },
        };
        let mut state = ServiceState::new(root, options, Some(link));
        state.enclosing = Some(match &parent.enclosing {
            Some(enclosing) => enclosing.clone(),
            None => Manager::from_state(Arc::clone(parent)),
        });
        state
    }

    /// The service the tasks of this one see as theirs: itself, or for the boundary of a
    /// contained task, the service it is part of.
    pub(crate) fn enclosing(&self) -> Option<&Manager> {
        self.enclosing.as_ref()
    }

    /// The service's name.
    pub(crate) fn name(&self) -> &str {
        self.root.name()
    }

    /// The service's path: `Node`, or `Node/Store` for its child `Store`.
    pub(crate) fn path(&self) -> &Arc<str> {
        self.root.path()
    }

    /// Nanoseconds since `born` (saturating): when a task is started, for snapshots (one
    /// clock read per poll of the task that starts it: [`clock`](crate::clock)).
    #[inline]
    pub(crate) fn since_start(&self) -> u64 {
        crate::clock::since(self.born)
    }

    /// When cancellation began.
    pub(crate) fn cancelled_at(&self) -> Instant {
        *self.cancelled_at.get_or_init(Instant::now)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        // Acquire pairs with the Release half of the swap in `cancel`.
        self.cancelled.load(Ordering::Acquire)
    }

    /// A token cancelled when this service is (already cancelled if it is): a child of the
    /// service's one token, so cancelling it cancels nothing else.
    pub(crate) fn cancellation_token(&self) -> CancellationToken {
        let token = self.token.get_or_init(CancellationToken::new);
        // A read-modify-write, not a load: if it reads `false`, it comes before the
        // canceller's swap in the flag's order and synchronises with it, so the canceller's
        // `token.get()` after its swap sees the token made above and cancels it. Otherwise
        // the flag is set, and the token is cancelled here (cancelling twice is harmless).
        if self.cancelled.fetch_or(false, Ordering::AcqRel) {
            token.cancel();
        }
        token.child_token()
    }

    /// Cancels this service for `cause` and, through its tree, every child service below it
    /// (for `Parent`).
    pub(crate) fn cancel(self: &Arc<Self>, cause: CancelCause) {
        let mut walk = CancelWalk::default();
        self.cancel_one(cause, &mut walk);
        while let Some(child) = walk.services.pop() {
            child.cancel_one(CancelCause::Parent, &mut walk);
        }
    }

    /// Cancels this service alone: sets the flag, wakes its tasks, and adds the child
    /// services found in its tree to `walk` (cancelled by the caller's loop: no recursion).
    fn cancel_one(self: &Arc<Self>, cause: CancelCause, walk: &mut CancelWalk<ServiceState>) {
        if self.finished_event.is_set() {
            return;
        }
        // The first cause wins; it is set before the flag, so whoever sees the flag sees it.
        lock(&self.record).cause.get_or_insert(cause);
        if !self.grace.is_zero() {
            // The grace's deadline counts from here (a zero grace has none: no clock read).
            self.cancelled_at();
        }
        // AcqRel: only one canceller proceeds; the store must precede the walk's locks
        // (tree module docs, "Wake-ups").
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        self.cancel_event.set();
        if let Some(token) = self.token.get() {
            token.cancel();
        }
        tracing::trace!(service = %self.path(), "service cancelled");
        wake_tree(&self.root, walk);
        self.start_grace_timer();
    }

    /// Ends the grace of this service when its deadline passes (nothing to do for a zero
    /// grace: its tasks are aborted at once).
    fn start_grace_timer(self: &Arc<Self>) {
        if self.grace.is_zero() {
            return;
        }
        let Some(runtime) = self.runtime.get() else {
            // Never launched: no task to give a grace to.
            return;
        };
        let state = Arc::clone(self);
        let deadline = deadline(self.cancelled_at(), self.grace);
        let grace = self.grace;
        runtime.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => state.end_grace(GraceEnd::Deadline(grace)),
                () = state.finished_event.wait() => {}
            }
        });
    }

    /// Ends the grace of this service and of every service below it: the tasks still
    /// running are aborted, leaves first. The first end wins.
    pub(crate) fn end_grace(&self, end: GraceEnd) {
        let mut walk = CancelWalk::default();
        self.end_grace_one(end, &mut walk);
        while let Some(child) = walk.services.pop() {
            child.end_grace_one(end, &mut walk);
        }
    }

    fn end_grace_one(&self, end: GraceEnd, walk: &mut CancelWalk<ServiceState>) {
        if self.finished_event.is_set() || self.grace_end.set(end).is_err() {
            return;
        }
        self.grace_over.set();
        tracing::debug!(service = %self.path(), ?end, "grace over");
        // Only the child services: a child not cancelled yet (the cancellation cascades
        // service by service) keeps the wakers its tasks stored for its cancellation, and
        // its tasks then find the grace over as soon as they are cancelled.
        tree::find_services(&self.root, walk);
    }

    /// Why the grace ended, once it did.
    pub(crate) fn grace_end(&self) -> Option<GraceEnd> {
        self.grace_end.get().copied()
    }

    pub(crate) fn count_restart(&self) {
        // Relaxed: a statistic, as in `count_started_task`.
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_started_task(&self) {
        // Relaxed: the task is counted before it is spawned, and its departure, counted with
        // Release after that, carries this count to whoever reads `finished` with Acquire
        // (`Manager::stats`); the final values reach waiters through `finished_event`.
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a failure here and in every ancestor, then cancels each of them.
    pub(crate) fn record_failure(self: &Arc<Self>, failure: TaskFailure) {
        let mut manager = Arc::clone(self);
        let stopped_at = loop {
            lock(&manager.record).failures.push(failure.clone());
            manager.did_error.store(true, Ordering::Release);
            manager.cancel(CancelCause::Failure {
                path: failure.shared_path(),
            });
            // A plain or daemon child's failures go straight to every ancestor; a supervised
            // child's stop at its supervising task, which restarts it or reports them.
            let link = lock(&manager.parent)
                .as_ref()
                .map(|link| (link.kind, Arc::clone(&link.parent)));
            match link {
                Some((ChildKind::Plain | ChildKind::Daemon, parent)) => manager = parent,
                link => break link.map(|(kind, _)| kind),
            }
        };
        if stopped_at == Some(ChildKind::Supervised) {
            // Healed by a restart (logged at `warn`) or reported when the policy gives up.
            tracing::debug!(path = %failure.path(), error = %failure.error(), "supervised child failed");
        } else {
            tracing::error!(
                service = %self.path(),
                path = %failure.path(),
                kind = %failure.kind(),
                error = %failure.error(),
                "task failed"
            );
        }
    }

    /// The outermost service of this tree, unless this is it (then `None`).
    pub(crate) fn outermost(&self) -> Option<&Manager> {
        self.outermost.as_ref()
    }

    /// A task of this service was dropped unfinished.
    pub(crate) fn mark_torn_down(&self) {
        self.torn_down.store(true, Ordering::Relaxed);
    }

    /// The task `task` of this service has ended: it leaves the tree, and if that leaves
    /// the root done, the service finishes ([`ServiceState::finish_tree`]). `found_done`:
    /// the task found its node done when it waited for its children.
    pub(crate) fn release_task(&self, task: &mut Task, found_done: bool) {
        if tree::release_task(task, &self.finished, found_done) == Released::RootDone {
            self.finish_tree();
        }
    }

    /// [`ServiceState::release_task`] for the body, whose node is the root.
    pub(crate) fn release_root(&self) {
        if tree::release(&self.root, &self.finished) == Released::RootDone {
            self.finish_tree();
        }
    }

    /// The root is done: finish this service; its root then leaves its parent's tree, which
    /// may finish the parent, and so on up (a loop, however deep the services nest).
    pub(crate) fn finish_tree(&self) {
        let mut owned: Arc<ServiceState>;
        let mut service = self;
        loop {
            let Some(link) = service.finish() else {
                return;
            };
            let counted = link.kind != ChildKind::Supervised;
            if tree::leave(&service.root, &link.parent.finished, counted) == Released::Pending {
                return;
            }
            owned = link.parent;
            service = &owned;
        }
    }

    /// Publishes the outcome, wakes the waiters, reports a daemon child's exit (to the
    /// parent, or for a contained one in its own outcome) and a contained child's failure;
    /// returns the link to the parent (taken: invariant 4).
    fn finish(&self) -> Option<ParentLink> {
        let link = lock(&self.parent).take();
        // Relaxed: a task that was dropped marked this before it left the tree, and the tree's
        // locks order its leaving before this finish.
        let torn_down = self.torn_down.load(Ordering::Relaxed);
        let exited = link.as_ref().and_then(|link| {
            let daemon = matches!(
                link.kind,
                ChildKind::Daemon | ChildKind::Contained { daemon: true }
            );
            (daemon && !link.parent.is_cancelled() && !torn_down).then(|| {
                TaskFailure::daemon_exit(
                    self.root.name().to_cow(),
                    Arc::clone(self.root.path()),
                    true,
                )
            })
        });
        let contained = link
            .as_ref()
            .is_some_and(|link| matches!(link.kind, ChildKind::Contained { .. }));
        if let (Some(exit), true) = (&exited, contained) {
            tracing::error!(path = %exit.path(), error = %exit.error(), "contained daemon child service exited");
            lock(&self.record).failures.push(exit.clone());
            self.did_error.store(true, Ordering::Release);
        }
        // `failed`: failures were recorded here; `ended_in_error`: the outcome is an error,
        // which it also is for a service that could not start (its outcome set before).
        let (failed, ended_in_error) = {
            let mut record = lock(&self.record);
            let failures = std::mem::take(&mut record.failures);
            let failed = !failures.is_empty();
            if record.outcome.is_none() {
                record.outcome = Some(if failed {
                    Err(self.failed_with(failures, record.cause.clone()))
                } else {
                    Ok(())
                });
            }
            (failed, record.outcome.as_ref().is_some_and(Result::is_err))
        };
        self.finished_event.set();
        // One `debug` line at each end of a service's life (started, finished): a server's
        // per-connection services log two lines each at `debug`, the steps between at `trace`.
        tracing::debug!(
            service = %self.path(),
            failed = ended_in_error,
            cause = self.cause().as_ref().map(tracing::field::display),
            "service finished"
        );
        let link = link?;
        if contained {
            if failed {
                // Relaxed: a statistic, as in `count_started_task`.
                link.parent
                    .contained_failures
                    .fetch_add(1, Ordering::Relaxed);
            }
        } else if let Some(exit) = exited {
            link.parent.record_failure(exit);
        }
        Some(link)
    }

    /// Marks the service ready (once; never after it was cancelled).
    pub(crate) fn mark_ready(&self) {
        if !self.is_cancelled() && !self.ready_event.is_set() {
            self.ready_event.set();
            tracing::trace!(service = %self.path(), "service ready");
        }
    }

    /// Until the service is ready. A `manual_ready` service that keeps a waiter waiting for
    /// [`READY_STALL_WARNING`] is named in a `warn` (once per service, whoever waits): a
    /// parent whose start-up waits for a child that never calls `Context::ready` would
    /// otherwise stall silently. Without `manual_ready` there is no timer — readiness is
    /// the body returning — and none either once ready, or outside a runtime (no timers).
    /// The timer is the waiter's: dropping this future (the service finished, failed or
    /// was cancelled first) disarms it.
    pub(crate) async fn wait_ready_event(&self) {
        if !self.options.manual_ready
            || self.ready_event.is_set()
            || tokio::runtime::Handle::try_current().is_err()
        {
            return self.ready_event.wait().await;
        }
        tokio::select! {
            biased;
            () = self.ready_event.wait() => return,
            () = tokio::time::sleep(READY_STALL_WARNING) => {}
        }
        // Relaxed: only which waiter warns is decided here; nothing is published.
        if !self.ready_stall_warned.swap(true, Ordering::Relaxed) {
            let service = self.path();
            tracing::warn!(
                %service,
                "`{service}` is still not ready after {READY_STALL_WARNING:?}: it is `manual_ready` and has not called `Context::ready`, and whoever waits for it (its parent's start-up, a `wait_ready`) is still waiting"
            );
        }
        self.ready_event.wait().await;
    }

    /// The body returned cleanly: without `manual_ready`, that is the end of start-up.
    pub(crate) fn body_returned(&self) {
        if !self.options.manual_ready {
            self.mark_ready();
        }
    }

    /// The failures so far, as an error (for waiters that give up before the end).
    fn failures_so_far(&self) -> ServiceError {
        let record = lock(&self.record);
        self.failed_with(record.failures.clone(), record.cause.clone())
    }

    /// This service's error for `failures`: it names the service through its root's lazy
    /// path, not through this state (whose outcome holds the error: that would be a cycle).
    fn failed_with(&self, failures: Vec<TaskFailure>, cause: Option<CancelCause>) -> ServiceError {
        ServiceError::Failed(Failures::new(
            Arc::new(self.root.lazy_path()),
            failures,
            cause,
        ))
    }

    /// The outcome, once finished; `Ok(())` before then.
    pub(crate) fn outcome(&self) -> Result<(), ServiceError> {
        lock(&self.record).outcome.clone().unwrap_or(Ok(()))
    }

    /// Why the service was cancelled, once it was.
    pub(crate) fn cause(&self) -> Option<CancelCause> {
        lock(&self.record).cause.clone()
    }

    /// Claims the start of the service for `by`; the state it was in if someone did first.
    pub(crate) fn claim_start(&self, by: Start) -> Result<(), Start> {
        // AcqRel: the winner's later writes (launching the body) must not be reordered
        // before the claim, and a loser must see the winner's state.
        match self.start.compare_exchange(
            Start::NotYet as u8,
            by as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(state) if state == Start::Launched as u8 => Err(Start::Launched),
            Err(_) => Err(Start::CancelledFirst),
        }
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
        lock(&self.record).outcome.get_or_insert(outcome);
        // The root was never run: releasing it finishes the service (keeping this outcome)
        // and, for a child, takes it out of its parent's tree.
        self.release_root();
    }
}

/// Whether the caller is inside a tokio runtime (where tasks can be spawned): the
/// precondition of starting anything. Inside a task, one thread-local read; elsewhere (a
/// runtime's `block_on`, a plain thread) the runtime is looked up.
pub(crate) fn in_runtime() -> bool {
    tokio::task::try_id().is_some() || tokio::runtime::Handle::try_current().is_ok()
}
