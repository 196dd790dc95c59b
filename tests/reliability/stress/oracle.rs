//! What the runtime must report: the failures tasks record just before they happen, the
//! services' states, and the guards every piece of work holds.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use service_runtime::prelude::*;
use service_tests::{Live, LiveGuard};

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
}

/// One failure the runtime must (or, if not `required`, may) report.
#[derive(Clone, Debug)]
pub(super) struct Expected {
    pub(super) origin: Origin,
    pub(super) seen: Seen,
    /// The services whose error lists it: the failing task's service and its ancestors.
    pub(super) services: Vec<usize>,
    pub(super) required: bool,
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

/// The shared state of one seed's run.
pub(super) struct World {
    pub(super) mode: Mode,
    pub(super) live: Live,
    pub(super) next: AtomicUsize,
    pub(super) expected: Mutex<Vec<Expected>>,
    pub(super) violations: Mutex<Vec<String>>,
    /// Every service that was started: its state and its manager.
    pub(super) services: Mutex<Vec<(Arc<SvcState>, Manager)>>,
    /// Cancel requests: the service's id, and whether it was already finished.
    pub(super) cancels: Mutex<Vec<(usize, bool)>>,
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
            next: AtomicUsize::new(0),
            expected: Mutex::default(),
            violations: Mutex::default(),
            services: Mutex::default(),
            cancels: Mutex::default(),
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

    pub(super) fn expect(&self, origin: Origin, seen: Seen, services: Vec<usize>, required: bool) {
        self.expected.lock().unwrap().push(Expected {
            origin,
            seen,
            services,
            required,
        });
    }

    pub(super) fn cancel_requested(&self, id: usize, finished: bool) {
        self.cancels.lock().unwrap().push((id, finished));
    }
}

/// What the test knows of one service.
pub(super) struct SvcState {
    pub(super) id: usize,
    pub(super) path: String,
    pub(super) daemon: bool,
    /// The parent's manager and state.
    pub(super) parent: Option<(Manager, Arc<SvcState>)>,
    /// Live guards of this service and of every service below it.
    pub(super) futures: AtomicUsize,
    /// Tasks and child services of this service whose code started (what `total_count`
    /// counts).
    pub(super) started: AtomicUsize,
}

impl SvcState {
    pub(super) fn new(
        world: &World,
        path: String,
        daemon: bool,
        parent: Option<(Manager, Arc<SvcState>)>,
    ) -> Arc<SvcState> {
        Arc::new(SvcState {
            id: world.next_id(),
            path,
            daemon,
            parent,
            futures: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
        })
    }

    /// This service and its ancestors, innermost first.
    pub(super) fn chain(&self) -> Vec<&SvcState> {
        let mut chain = vec![self];
        let mut service = self;
        while let Some((_, parent)) = &service.parent {
            chain.push(parent);
            service = parent;
        }
        chain
    }

    pub(super) fn ids(&self) -> Vec<usize> {
        self.chain().iter().map(|s| s.id).collect()
    }
}

/// Held by every task's future (and, before it runs, by the closure that makes it, or by
/// the child service value): counts live work, records the failures the task is about to
/// have, and checks on drop that an aborted task has no live descendants.
pub(super) struct TaskGuard {
    world: Arc<World>,
    pub(super) service: Arc<SvcState>,
    pub(super) path: String,
    /// The `descendants` counters of every ancestor task (across services).
    ancestors: Vec<Arc<AtomicUsize>>,
    descendants: Arc<AtomicUsize>,
    /// The task's future has started.
    ran: AtomicBool,
    /// The runtime will record a failure for this task right after dropping its future.
    will_fail: AtomicBool,
    /// The task returned or panicked by itself (was not aborted).
    ended: AtomicBool,
    _live: LiveGuard,
}

impl TaskGuard {
    pub(super) fn new(
        world: &Arc<World>,
        service: Arc<SvcState>,
        path: String,
        ancestors: Vec<Arc<AtomicUsize>>,
    ) -> TaskGuard {
        for s in service.chain() {
            s.futures.fetch_add(1, SeqCst);
        }
        for a in &ancestors {
            a.fetch_add(1, SeqCst);
        }
        TaskGuard {
            world: Arc::clone(world),
            service,
            path,
            ancestors,
            descendants: Arc::default(),
            ran: AtomicBool::new(false),
            will_fail: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            _live: world.live.guard(),
        }
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
        self.world.expect(
            origin,
            Seen {
                path: self.path.clone(),
                kind,
                message: Some(message.clone()),
            },
            self.service.ids(),
            true,
        );
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
        if daemon && !cx.is_cancelled() {
            let required = self.world.mode == Mode::Paused;
            self.will_fail.store(required, SeqCst);
            self.world.expect(
                Origin::DaemonExit,
                Seen {
                    path: self.path.clone(),
                    kind: FailureKind::DaemonExit,
                    message: None,
                },
                self.service.ids(),
                required,
            );
        }
        Ok(())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
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
        }
        for a in &self.ancestors {
            a.fetch_sub(1, SeqCst);
        }
        // A service whose count drops to zero here finishes right after this drop (and after
        // this task's own failure, if any, which cancels every ancestor).
        let mut failing = self.will_fail.load(SeqCst);
        for s in self.service.chain() {
            let last = s.futures.fetch_sub(1, SeqCst) == 1;
            if !last || failing || !s.daemon {
                continue;
            }
            let Some((parent, parent_state)) = &s.parent else {
                continue;
            };
            if !parent.is_cancelled() {
                let required = self.world.mode == Mode::Paused;
                failing = required;
                self.world.expect(
                    Origin::ServiceExit,
                    Seen {
                        path: s.path.clone(),
                        kind: FailureKind::DaemonExit,
                        message: None,
                    },
                    parent_state.ids(),
                    required,
                );
            }
        }
    }
}
