//! What the runtime must report: the failures tasks record just before they happen, the
//! services' states (their grace, when they were cancelled, their failure boundaries), and
//! the guards every piece of work holds.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Live, LiveGuard};
use tokio::time::Instant;

use super::Mode;

/// Where an expected failure comes from (for the run's figures).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// A task (or body) returned an error.
    Error,
    /// A task panicked, or the closure making its future did.
    Panic,
    /// A task's future panicked while being dropped at its abort.
    PanicInDrop,
    /// A daemon task returned while its service was running.
    DaemonExit,
    /// A daemon child service finished while its parent was running.
    ServiceExit,
    /// A task was still running when a non-zero grace ended (or `abort()` cut it short).
    GraceExceeded,
}

/// How many [`Origin`]s there are.
pub(super) const ORIGINS: usize = 6;

/// One failure the runtime must (or, if not `required`, may) report.
#[derive(Clone, Debug)]
pub(super) struct Expected {
    pub(super) origin: Origin,
    pub(super) seen: Seen,
    /// For a `GraceExceeded` whose grace ended at a tie (two deadlines at one instant): the
    /// other messages it may have.
    pub(super) alternatives: Vec<String>,
    /// The services whose error lists it: the failing task's service and its ancestors, up
    /// to the first failure boundary (included).
    pub(super) services: Vec<usize>,
    pub(super) required: bool,
    /// When it was recorded ([`Mode::Paused`] only: virtual time is exact there).
    pub(super) at: Option<Instant>,
    /// It may come anywhere among the failures of its instant (paused): a `GraceExceeded`
    /// (recorded as the runtime polls the tasks whose grace ended), or a daemon child's exit
    /// decided when its parked body is next polled.
    pub(super) floating: bool,
    /// A daemon child's exit decided later in the instant it was recorded: whether it
    /// happens is settled once the seed is over ([`Tentative`]).
    pub(super) tentative: Option<Tentative>,
}

/// A daemon child service whose last work ended while its parent was running, but whose
/// body had returned: the runtime finishes it — and decides whether it exited — only when
/// that parked body is next polled, later in the same instant. If the parent is cancelled in
/// between, there is no exit.
#[derive(Clone)]
pub(super) struct Tentative {
    pub(super) service: Arc<SvcState>,
    pub(super) parent: Arc<SvcState>,
    pub(super) at: Instant,
}

impl std::fmt::Debug for Tentative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tentative({} at {:?})", self.service.path, self.at)
    }
}

impl Expected {
    /// Whether `seen` is this failure.
    pub(super) fn matches(&self, seen: &Seen) -> bool {
        self.seen == *seen
            || (self.seen.path == seen.path
                && self.seen.kind == seen.kind
                && seen
                    .message
                    .as_ref()
                    .is_some_and(|m| self.alternatives.contains(m)))
    }
}

/// A failure as compared: path, kind, and the message (not compared for daemon exits).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Seen {
    pub(super) path: String,
    pub(super) kind: FailureKind,
    pub(super) message: Option<String>,
}

impl Seen {
    pub(super) fn of(failure: &TaskFailure) -> Seen {
        let message = match failure.kind() {
            FailureKind::DaemonExit => None,
            _ => Some(failure.error().to_string()),
        };
        Seen {
            path: failure.path().to_owned(),
            kind: failure.kind(),
            message,
        }
    }
}

/// The message of a `GraceExceeded` failure: the grace whose end aborted the task, or
/// `None` for `Manager::abort()`.
pub(super) fn grace_message(grace: Option<Duration>) -> String {
    match grace {
        Some(grace) => format!("did not stop within {grace:?} and was aborted"),
        None => "was still running when the stop was forced, and was aborted".to_owned(),
    }
}

/// The shared state of one seed's run.
pub(super) struct World {
    pub(super) mode: Mode,
    pub(super) live: Live,
    /// The paths of the live guards, by guard number (what a hang report lists).
    live_paths: Mutex<Vec<Option<Arc<str>>>>,
    pub(super) next: AtomicUsize,
    pub(super) expected: Mutex<Vec<Expected>>,
    pub(super) violations: Mutex<Vec<String>>,
    /// Every service that was started: its state and its manager (contained child services
    /// included).
    pub(super) services: Mutex<Vec<(Arc<SvcState>, Manager)>>,
    /// Every contained task: its boundary's state and its handle.
    pub(super) contained_tasks: Mutex<Vec<(Arc<SvcState>, TaskHandle)>>,
    /// Cancel requests: the service's id, and whether it was already finished.
    pub(super) cancels: Mutex<Vec<(usize, bool)>>,
    /// Of those, `abort()`s.
    pub(super) forced: AtomicUsize,
    /// Tasks (contained ones included, child services not) whose code started.
    pub(super) tasks: AtomicUsize,
    /// Work started while its service was cancelled (so never run).
    pub(super) late_spawns: AtomicUsize,
    /// Tasks that ran and were aborted (dropped without returning).
    pub(super) aborts: AtomicUsize,
}

impl World {
    pub(super) fn new(mode: Mode) -> Arc<World> {
        Arc::new(World {
            mode,
            live: Live::new(),
            live_paths: Mutex::default(),
            next: AtomicUsize::new(0),
            expected: Mutex::default(),
            violations: Mutex::default(),
            services: Mutex::default(),
            contained_tasks: Mutex::default(),
            cancels: Mutex::default(),
            forced: AtomicUsize::new(0),
            tasks: AtomicUsize::new(0),
            late_spawns: AtomicUsize::new(0),
            aborts: AtomicUsize::new(0),
        })
    }

    pub(super) fn next_id(&self) -> usize {
        self.next.fetch_add(1, SeqCst)
    }

    pub(super) fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }

    fn expect(&self, expected: Expected) {
        self.expected.lock().unwrap().push(expected);
    }

    pub(super) fn cancel_requested(&self, id: usize, finished: bool) {
        self.cancels.lock().unwrap().push((id, finished));
    }

    /// What is still alive, for a seed that hangs: every live guard's path (a task, a closure
    /// or a service value), and every service and contained task that is not finished.
    pub(super) fn hang_report(&self) -> String {
        let mut report = String::from("live guards:\n");
        for path in self.live_paths.lock().unwrap().iter().flatten() {
            report += &format!("  {path}\n");
        }
        report += "not finished:\n";
        for (state, manager) in self.services.lock().unwrap().iter() {
            if !manager.is_finished() {
                report += &format!(
                    "  {manager:?} ({:?}, grace {:?})\n",
                    state.boundary, state.grace
                );
            }
        }
        for (state, handle) in self.contained_tasks.lock().unwrap().iter() {
            if !handle.is_finished() {
                report += &format!(
                    "  contained task {handle:?} (cancelled: {}, grace {:?})\n",
                    state.is_cancelled(),
                    state.grace
                );
            }
        }
        report
    }

    /// The current (virtual) instant, in [`Mode::Paused`].
    pub(super) fn now(&self) -> Option<Instant> {
        (self.mode == Mode::Paused).then(Instant::now)
    }
}

/// What kind of failure boundary a [`SvcState`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Boundary {
    /// A plain or daemon child service, or the root: its failures are its parent's too.
    None,
    /// A contained child service: its failures stay in it.
    Service,
    /// A contained task: the runtime runs it as a service of its own whose body is the task
    /// (same path), which its tasks see as the enclosing service's (`cx.manager()`,
    /// `cx.cancel()`), and which has no manager to check, only its [`TaskHandle`].
    Task,
}

/// What the test knows of one service (or contained task: its boundary).
pub(super) struct SvcState {
    pub(super) id: usize,
    pub(super) path: String,
    pub(super) daemon: bool,
    pub(super) boundary: Boundary,
    /// Its grace as the runtime must apply it: its own, or inherited from its parent (zero
    /// at the top); a contained task's is its service's.
    pub(super) grace: Duration,
    /// The service whose task started it.
    pub(super) parent: Option<Arc<SvcState>>,
    /// The `Context` of its body (of a contained task: the task's), once made: whether it is
    /// cancelled.
    pub(super) cx: OnceLock<Context>,
    /// Live guards of this service and of every service below it.
    pub(super) futures: AtomicUsize,
    /// Tasks and child services of this service whose code started (what `total_count`
    /// counts; a contained task counts as one task of the service that started it).
    pub(super) started: AtomicUsize,
    /// When it was cancelled ([`Mode::Paused`]: seen by a watcher, which runs in the same
    /// instant).
    cancelled_at: Mutex<Option<Instant>>,
    /// When `abort()` was called on it (just before the call).
    forced_at: Mutex<Option<Instant>>,
    forced: AtomicBool,
    /// The last [`SvcState::deadline_and_messages`], for the other tasks its grace's end
    /// aborts in the same instant.
    last_end: Mutex<Option<(Instant, Vec<String>)>>,
    /// Its body returned `Ok`: the runtime keeps it parked until the service's last task is
    /// done, and finishes the service when it next polls it.
    pub(super) body_parked: AtomicBool,
}

impl SvcState {
    pub(super) fn new(
        world: &World,
        path: String,
        daemon: bool,
        boundary: Boundary,
        grace: Duration,
        parent: Option<Arc<SvcState>>,
    ) -> Arc<SvcState> {
        Arc::new(SvcState {
            id: world.next_id(),
            path,
            daemon,
            boundary,
            grace,
            parent,
            cx: OnceLock::new(),
            futures: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            cancelled_at: Mutex::new(None),
            forced_at: Mutex::new(None),
            forced: AtomicBool::new(false),
            last_end: Mutex::new(None),
            body_parked: AtomicBool::new(false),
        })
    }

    /// This service and its ancestors, innermost first, across failure boundaries (a grace
    /// bounds its whole subtree, contained work included).
    pub(super) fn chain(&self) -> impl Iterator<Item = &SvcState> {
        std::iter::successors(Some(self), |s| s.parent.as_deref())
    }

    /// The `Arc` of `s`, a member of this service's chain.
    pub(super) fn chain_arc(self: &Arc<Self>, s: &SvcState) -> Arc<SvcState> {
        let mut service = self;
        loop {
            if std::ptr::eq(&**service, s) {
                return Arc::clone(service);
            }
            service = service.parent.as_ref().expect("`s` is in the chain");
        }
    }

    /// The services that report a failure of this one's tasks: it and its ancestors up to
    /// the first failure boundary, included.
    pub(super) fn ids(&self) -> Vec<usize> {
        let mut ids = Vec::new();
        for s in self.chain() {
            ids.push(s.id);
            if s.boundary != Boundary::None {
                break;
            }
        }
        ids
    }

    /// The service its tasks see as theirs: itself, or for a contained task the service it
    /// is part of.
    pub(super) fn enclosing(&self) -> &SvcState {
        let mut service = self;
        while service.boundary == Boundary::Task {
            service = service
                .parent
                .as_ref()
                .expect("a contained task has a parent");
        }
        service
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.cx.get().is_some_and(Context::is_cancelled)
    }

    /// Its parent is cancelled (false at the top).
    pub(super) fn parent_cancelled(&self) -> bool {
        self.parent.as_ref().is_some_and(|p| p.is_cancelled())
    }

    /// When its watcher saw it cancelled ([`Mode::Paused`]).
    pub(super) fn cancelled_at(&self) -> Option<Instant> {
        *self.cancelled_at.lock().unwrap()
    }

    /// Its watcher saw it cancelled, now.
    pub(super) fn cancelled_now(&self) {
        self.cancelled_at
            .lock()
            .unwrap()
            .get_or_insert(Instant::now());
    }

    /// `abort()` is about to be called on it.
    pub(super) fn forced_now(&self) {
        self.forced.store(true, SeqCst);
        self.forced_at.lock().unwrap().get_or_insert(Instant::now());
    }

    /// The ends of grace in its chain, as known so far ([`Mode::Paused`]): every cancelled
    /// service's deadline with a non-zero grace (the moment it was cancelled plus its
    /// grace), and every `abort()` (`None`).
    fn grace_ends(&self) -> impl Iterator<Item = (Instant, Option<Duration>)> {
        self.chain().flat_map(|s| {
            let own = (!s.grace.is_zero())
                .then(|| *s.cancelled_at.lock().unwrap())
                .flatten()
                .map(|at| (at + s.grace, Some(s.grace)));
            let forced = s.forced_at.lock().unwrap().map(|at| (at, None));
            own.into_iter().chain(forced)
        })
    }

    /// When the grace of this service's tasks ends, as known so far ([`Mode::Paused`]): the
    /// earliest of its chain's [`grace_ends`](SvcState::grace_ends).
    fn deadline(&self) -> Option<Instant> {
        self.grace_ends().map(|(at, _)| at).min()
    }

    /// [`SvcState::deadline`], with the messages a task aborted then has (more than one
    /// for a tie).
    fn deadline_and_messages(&self) -> Option<(Instant, Vec<String>)> {
        let deadline = self.deadline()?;
        let mut last = self.last_end.lock().unwrap();
        if let Some((at, messages)) = &*last
            && *at == deadline
        {
            return Some((deadline, messages.clone()));
        }
        let mut messages = Vec::new();
        for (at, grace) in self.grace_ends() {
            let message = grace_message(grace);
            if at == deadline && !messages.contains(&message) {
                messages.push(message);
            }
        }
        *last = Some((deadline, messages.clone()));
        Some((deadline, messages))
    }

    /// Whether `abort()` was called on a service of its chain.
    fn forced_in_chain(&self) -> bool {
        self.chain().any(|s| s.forced.load(SeqCst))
    }

    /// The messages a task of this service aborted at the end of its grace may have, when
    /// time is not exact ([`Mode::MultiThread`]): any non-zero grace of a cancelled service
    /// in its chain, or a forced stop.
    fn possible_grace_messages(&self) -> Vec<String> {
        let mut messages: Vec<String> = self
            .chain()
            .filter(|s| !s.grace.is_zero() && s.is_cancelled())
            .map(|s| grace_message(Some(s.grace)))
            .collect();
        if self.forced_in_chain() {
            messages.push(grace_message(None));
        }
        messages.dedup();
        messages
    }

    /// Checks, as a task of this service is polled ([`Mode::Paused`]), that it may be: with
    /// a zero grace not after its service was cancelled; with a non-zero grace not after its
    /// grace ended (at the very instant it ends, either order is right).
    pub(super) fn check_poll(&self, world: &World, path: &str) {
        if !self.is_cancelled() {
            return;
        }
        if self.grace.is_zero() {
            world.violation(format!(
                "`{path}` was polled after its service was cancelled, with a zero grace"
            ));
            return;
        }
        if self.forced_in_chain() {
            world.violation(format!("`{path}` was polled after `abort()`"));
            return;
        }
        if let Some(deadline) = self.deadline() {
            let now = Instant::now();
            if now > deadline {
                world.violation(format!(
                    "`{path}` was polled {:?} after its grace ended",
                    now - deadline
                ));
            }
        }
    }
}

/// Held by every task's future (and, before it runs, by the closure that makes it, or by
/// the child service value): counts live work, records the failures the task is about to
/// have, and checks on drop that an aborted task has no live descendants (and, if its grace
/// was not zero, records its `GraceExceeded`).
pub(super) struct TaskGuard {
    world: Arc<World>,
    pub(super) service: Arc<SvcState>,
    pub(super) path: Arc<str>,
    /// The `descendants` counters of every ancestor task (across services).
    ancestors: Vec<Arc<AtomicUsize>>,
    descendants: Arc<AtomicUsize>,
    /// The task's future was made (so the runtime runs it, or aborts it).
    made: AtomicBool,
    /// The task's future has started.
    ran: AtomicBool,
    /// The runtime will record a failure for this task right after dropping its future.
    will_fail: AtomicBool,
    /// The task returned or panicked by itself (was not aborted).
    ended: AtomicBool,
    /// Its number in [`World::live_paths`].
    number: usize,
    /// The guard of its service's body.
    body: bool,
    _live: LiveGuard,
}

impl TaskGuard {
    pub(super) fn new(
        world: &Arc<World>,
        service: Arc<SvcState>,
        path: Arc<str>,
        ancestors: Vec<Arc<AtomicUsize>>,
        body: bool,
    ) -> TaskGuard {
        for s in service.chain() {
            s.futures.fetch_add(1, SeqCst);
        }
        for a in &ancestors {
            a.fetch_add(1, SeqCst);
        }
        let number = {
            let mut paths = world.live_paths.lock().unwrap();
            paths.push(Some(Arc::clone(&path)));
            paths.len() - 1
        };
        TaskGuard {
            world: Arc::clone(world),
            service,
            path,
            ancestors,
            descendants: Arc::default(),
            made: AtomicBool::new(false),
            ran: AtomicBool::new(false),
            will_fail: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            number,
            body,
            _live: world.live.guard(),
        }
    }

    /// The task's future has been made.
    pub(super) fn made(&self) {
        self.made.store(true, SeqCst);
    }

    /// The task's future has started.
    pub(super) fn ran(&self) {
        self.ran.store(true, SeqCst);
    }

    pub(super) fn for_child(&self) -> Vec<Arc<AtomicUsize>> {
        let mut ancestors = self.ancestors.clone();
        ancestors.push(Arc::clone(&self.descendants));
        ancestors
    }

    fn expect(&self, origin: Origin, seen: Seen, services: Vec<usize>, required: bool) {
        self.world.expect(Expected {
            origin,
            seen,
            alternatives: Vec::new(),
            services,
            required,
            at: self.world.now(),
            floating: false,
            tentative: None,
        });
    }

    /// Records that this task is about to fail with `kind`; returns the message to fail
    /// with. `ended`: it fails by itself (not while being aborted).
    pub(super) fn inject(&self, kind: FailureKind, ended: bool) -> String {
        self.will_fail.store(true, SeqCst);
        if ended {
            self.ended.store(true, SeqCst);
        }
        let n = self.world.next_id();
        let (message, origin) = match (kind, ended) {
            (FailureKind::Panic, true) => (format!("injected panic #{n}"), Origin::Panic),
            (FailureKind::Panic, false) => (format!("injected panic #{n}"), Origin::PanicInDrop),
            _ => (format!("injected error #{n}"), Origin::Error),
        };
        let seen = Seen {
            path: self.path.to_string(),
            kind,
            message: Some(message.clone()),
        };
        self.expect(origin, seen, self.service.ids(), true);
        message
    }

    pub(super) fn fail(&self) -> Result<(), BoxError> {
        Err(self.inject(FailureKind::Error, true).into())
    }

    pub(super) fn panic(&self) -> ! {
        let message = self.inject(FailureKind::Panic, true);
        panic!("{message}")
    }

    /// Records that this task is about to return `Ok`: a daemon exit if it is a daemon and
    /// its service is not cancelled.
    pub(super) fn ok(&self, cx: &Context, daemon: bool) -> Result<(), BoxError> {
        self.ended.store(true, SeqCst);
        if self.body {
            self.service.body_parked.store(true, SeqCst);
        }
        if daemon && !cx.is_cancelled() {
            let required = self.world.mode == Mode::Paused;
            self.will_fail.store(required, SeqCst);
            let seen = Seen {
                path: self.path.to_string(),
                kind: FailureKind::DaemonExit,
                message: None,
            };
            self.expect(Origin::DaemonExit, seen, self.service.ids(), required);
        }
        Ok(())
    }

    /// This task was aborted while its service's grace was not zero: the runtime recorded a
    /// `GraceExceeded` for it as the grace ended, which (on the paused clock) is now.
    fn grace_exceeded(&self) {
        let world = &self.world;
        let (message, alternatives) = match world.mode {
            Mode::Paused => {
                let now = Instant::now();
                match self.service.deadline_and_messages() {
                    Some((deadline, mut messages)) => {
                        if deadline != now {
                            world.violation(format!(
                                "`{}` was aborted {} its grace ended ({:?} apart)",
                                self.path,
                                if now < deadline { "before" } else { "after" },
                                now.max(deadline) - now.min(deadline)
                            ));
                        }
                        let first = messages.remove(0);
                        (first, messages)
                    }
                    None => {
                        world.violation(format!(
                            "`{}` was aborted with a grace of {:?}, but no grace of its \
                             chain has ended",
                            self.path, self.service.grace
                        ));
                        (String::new(), Vec::new())
                    }
                }
            }
            Mode::MultiThread => {
                let mut messages = self.service.possible_grace_messages();
                if messages.is_empty() {
                    world.violation(format!(
                        "`{}` was aborted with a grace of {:?}, but nothing above it is \
                         cancelled",
                        self.path, self.service.grace
                    ));
                    messages.push(String::new());
                }
                let first = messages.remove(0);
                (first, messages)
            }
        };
        world.expect(Expected {
            origin: Origin::GraceExceeded,
            seen: Seen {
                path: self.path.to_string(),
                kind: FailureKind::GraceExceeded,
                message: Some(message),
            },
            alternatives,
            services: self.service.ids(),
            required: true,
            at: world.now(),
            floating: true,
            tentative: None,
        });
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.world.live_paths.lock().unwrap()[self.number] = None;
        let descendants = self.descendants.load(SeqCst);
        if !self.ended.load(SeqCst) {
            if descendants != 0 {
                self.world.violation(format!(
                    "`{}` was aborted (or dropped) while {descendants} descendants were live",
                    self.path
                ));
            }
            if self.ran.load(SeqCst) {
                self.world.aborts.fetch_add(1, SeqCst);
            }
            // Aborted (not merely a closure or a service value that never ran): within a
            // non-zero grace only when that grace ended, which is a failure. Recorded by the
            // runtime before it waited for the task's children and dropped its future.
            if self.made.load(SeqCst) && !self.service.grace.is_zero() {
                self.grace_exceeded();
            }
        }
        for a in &self.ancestors {
            a.fetch_sub(1, SeqCst);
        }
        // A service whose count drops to zero here finishes right after this drop (and after
        // this task's own failure, if any, which cancels its ancestors up to the first
        // failure boundary) — or, if its body had returned (parked), when the runtime next
        // polls that body, later in this instant; and so does every service above it.
        let mut failing = self.will_fail.load(SeqCst);
        let mut deferred = false;
        // A tentative exit below: whether the services above see their parent cancelled
        // at their finish is not known either.
        let mut uncertain = false;
        let paused = self.world.mode == Mode::Paused;
        for s in self.service.chain() {
            let last = s.futures.fetch_sub(1, SeqCst) == 1;
            let contained = s.boundary != Boundary::None;
            let own_body = self.body && std::ptr::eq(s, &*self.service);
            deferred |= last && !own_body && s.body_parked.load(SeqCst);
            // A pending failure from below cancels `s`'s parent unless `s` is a boundary.
            let parent_stops = failing && !contained;
            if last
                && s.daemon
                && !parent_stops
                && let Some(parent) = &s.parent
                && !parent.is_cancelled()
            {
                let tentative = (paused && deferred && !uncertain).then(|| Tentative {
                    service: self.service.chain_arc(s),
                    parent: Arc::clone(parent),
                    at: Instant::now(),
                });
                let required = paused && !uncertain;
                // A contained daemon's exit ends it alone: it is in its own outcome.
                let services = if contained { vec![s.id] } else { parent.ids() };
                self.world.expect(Expected {
                    origin: Origin::ServiceExit,
                    seen: Seen {
                        path: s.path.clone(),
                        kind: FailureKind::DaemonExit,
                        message: None,
                    },
                    alternatives: Vec::new(),
                    services,
                    required,
                    at: self.world.now(),
                    floating: deferred,
                    tentative: tentative.clone(),
                });
                if tentative.is_some() {
                    uncertain = true;
                    failing = false;
                } else {
                    failing = required && !contained;
                }
                continue;
            }
            if contained {
                failing = false;
            }
        }
    }
}
