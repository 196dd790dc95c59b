//! The plan of a seed: a random tree of services and tasks, and the external cancels.

use std::sync::Arc;

use super::Mode;

/// SplitMix64: tiny, well mixed, and the same seed always gives the same sequence.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0xA076_1D64_78BD_642F) ^ 0xE703_7ED1_A0B4_28DB)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.below(choices.len() as u64) as usize]
    }

    /// One of `choices`, each with its weight (zero weights never chosen).
    fn weighted<T: Copy>(&mut self, choices: &[(u64, T)]) -> T {
        let total: u64 = choices.iter().map(|(w, _)| w).sum();
        let mut roll = self.below(total);
        for &(weight, choice) in choices {
            if roll < weight {
                return choice;
            }
            roll -= weight;
        }
        unreachable!("the roll is below the total weight")
    }
}

/// A service: its name, its grace period, and its body (a task plan that is never a daemon).
#[derive(Debug)]
pub(super) struct ServicePlan {
    pub(super) name: &'static str,
    /// `None`: it chooses none and inherits its parent's (zero at the top).
    pub(super) grace_ms: Option<u64>,
    pub(super) body: Arc<TaskPlan>,
}

/// Something a task starts.
#[derive(Debug)]
pub(super) enum Item {
    Task(Arc<TaskPlan>),
    Service {
        daemon: bool,
        /// A failure boundary (`cx.child(..).contained()`).
        contained: bool,
        plan: Arc<ServicePlan>,
    },
}

/// What one task does: its steps (waits and spawns), how it ends if it gets through them,
/// and what it does once cancelled.
#[derive(Debug)]
pub(super) struct TaskPlan {
    pub(super) name: &'static str,
    pub(super) daemon: bool,
    /// A failure boundary (`cx.task(..).contained()`): its failures, and those of everything
    /// it starts, end it alone and go to its handle.
    pub(super) contained: bool,
    /// The closure that makes the task's future panics (before there is a future).
    pub(super) maker_panics: bool,
    /// Races its steps against `cx.cancelled()`; otherwise it ignores cancellation until it
    /// is through its steps.
    pub(super) reacts: bool,
    pub(super) steps: Vec<Step>,
    pub(super) end: End,
    pub(super) on_cancel: OnCancel,
}

#[derive(Debug)]
pub(super) enum Step {
    /// Waits `ms` (virtual) milliseconds.
    Wait(u64),
    Spawn(Item),
}

#[derive(Clone, Copy, Debug)]
pub(super) enum End {
    /// Returns `Ok` (for a daemon: a `DaemonExit` unless cancelled).
    Return,
    Fail,
    Panic,
    /// Never returns: aborted at cancellation, at once with a zero grace, else when the
    /// grace ends (a `GraceExceeded` failure).
    Hang,
    /// Waits for cancellation, then does `on_cancel`.
    AwaitCancel,
    /// Cancels its own service (not a failure), then returns.
    CancelService,
}

/// What a task does once it sees cancellation.
#[derive(Debug)]
pub(super) struct OnCancel {
    /// Cleanup time; longer than the grace period means the task is aborted meanwhile. With
    /// a zero grace none of this runs: an aborted task is never polled again.
    pub(super) wait_ms: Option<u64>,
    /// Work started during cancellation: never runs.
    pub(super) spawns: Vec<Item>,
    pub(super) end: CancelEnd,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum CancelEnd {
    Return,
    Fail,
    Panic,
    Hang,
    /// Hangs holding a value whose `Drop` panics: the abort itself fails.
    PanicInDrop,
}

/// How failure-prone a seed is (percentages per task).
#[derive(Clone, Copy, Debug)]
pub(super) struct Profile {
    fail: u64,
    panic: u64,
    exit: u64,
}

const PROFILES: [Profile; 3] = [
    // Calm: only cancellation ends things.
    Profile {
        fail: 0,
        panic: 0,
        exit: 0,
    },
    Profile {
        fail: 2,
        panic: 1,
        exit: 3,
    },
    Profile {
        fail: 8,
        panic: 4,
        exit: 10,
    },
];

const TASK_NAMES: [&str; 6] = ["gossip", "handle", "flush", "sync", "dial", "tick"];
const SERVICE_NAMES: [&str; 4] = ["Store", "Peer", "Swarm", "Cache"];
const MAX_TASK_DEPTH: usize = 5;
const MAX_SERVICE_DEPTH: usize = 5;

/// A grace period: `None` (inherit) in 35 % of services (at the top: zero), zero in 25 %,
/// otherwise 1–120 ms.
fn grace(rng: &mut Rng) -> Option<u64> {
    match rng.below(100) {
        0..35 => None,
        35..60 => Some(0),
        _ => Some(rng.range(1, 120)),
    }
}

/// Builds a plan from a [`Rng`]. Every task gets a budget of items below it, shared out
/// evenly among its children, so that big plans are bushy rather than one long branch.
struct Generator<'a> {
    rng: &'a mut Rng,
    profile: Profile,
    /// Items planned so far.
    items: usize,
    /// Bounds of how many items one task starts (a body: `root_fanout`).
    fanout: (u64, u64),
    root_fanout: (u64, u64),
    /// Bounds of the wait before a task's end (when it fails, exits, cancels...).
    end_wait: (u64, u64),
    /// How often (percent) a task waits a little between two spawns.
    build_wait: u64,
}

impl Generator<'_> {
    fn service(&mut self, name: &'static str, service_depth: usize, budget: usize) -> ServicePlan {
        let grace_ms = grace(self.rng);
        let body = Arc::new(self.task(name, false, true, 0, service_depth, budget));
        ServicePlan {
            name,
            grace_ms,
            body,
        }
    }

    fn item(&mut self, depth: usize, service_depth: usize, budget: usize) -> Item {
        if service_depth + 1 < MAX_SERVICE_DEPTH && self.rng.percent(10) {
            let name = self.rng.pick(&SERVICE_NAMES);
            Item::Service {
                daemon: self.rng.percent(40),
                contained: self.rng.percent(25),
                plan: Arc::new(self.service(name, service_depth + 1, budget)),
            }
        } else {
            let name = self.rng.pick(&TASK_NAMES);
            let daemon = self.rng.percent(30);
            let mut task = self.task(name, daemon, false, depth, service_depth, budget);
            task.contained = self.rng.percent(10);
            Item::Task(Arc::new(task))
        }
    }

    /// A leaf started during cancellation (it must never run; if it did, it would fail).
    fn late_item(&mut self) -> Item {
        let name = self.rng.pick(&TASK_NAMES);
        if self.rng.percent(20) {
            let service = self.rng.pick(&SERVICE_NAMES);
            Item::Service {
                daemon: self.rng.percent(50),
                contained: self.rng.percent(30),
                plan: Arc::new(ServicePlan {
                    name: service,
                    grace_ms: grace(self.rng),
                    body: Arc::new(leaf(name, false, End::Fail)),
                }),
            }
        } else {
            let mut task = leaf(name, self.rng.percent(50), End::Fail);
            task.contained = self.rng.percent(30);
            Item::Task(Arc::new(task))
        }
    }

    fn task(
        &mut self,
        name: &'static str,
        daemon: bool,
        body: bool,
        depth: usize,
        service_depth: usize,
        budget: usize,
    ) -> TaskPlan {
        let p = self.profile;
        let fanout = if depth >= MAX_TASK_DEPTH {
            0
        } else {
            let (from, to) = if depth == 0 {
                self.root_fanout
            } else {
                self.fanout
            };
            (self.rng.range(from, to) as usize).min(budget)
        };
        let mut left = budget - fanout;
        let mut steps = Vec::new();
        for i in 0..fanout {
            // Starting is quick; the end (and any failure) comes later, at a random moment.
            if self.rng.percent(self.build_wait) {
                steps.push(Step::Wait(self.rng.range(0, 3)));
            }
            let share = left / (fanout - i);
            let before = self.items;
            self.items += 1;
            let item = self.item(depth + 1, service_depth, share);
            left -= self.items - before - 1;
            steps.push(Step::Spawn(item));
        }
        let (from, to) = self.end_wait;
        steps.push(Step::Wait(self.rng.range(from, to)));
        let end = if body {
            self.rng.weighted(&[
                (35, End::Return),
                (15, End::Hang),
                (30, End::AwaitCancel),
                (2, End::CancelService),
                (p.fail, End::Fail),
                (p.panic, End::Panic),
            ])
        } else if daemon {
            self.rng.weighted(&[
                (55, End::AwaitCancel),
                (15, End::Hang),
                (2, End::CancelService),
                (p.exit, End::Return),
                (p.fail, End::Fail),
                (p.panic, End::Panic),
            ])
        } else {
            self.rng.weighted(&[
                (55, End::Return),
                (15, End::AwaitCancel),
                (8, End::Hang),
                (1, End::CancelService),
                (p.fail, End::Fail),
                (p.panic, End::Panic),
            ])
        };
        let wait_ms = self.rng.percent(50).then(|| self.rng.range(0, 150));
        let mut spawns = Vec::new();
        if self.rng.percent(10) {
            for _ in 0..self.rng.range(1, 2) {
                spawns.push(self.late_item());
            }
        }
        let cancel_end = self.rng.weighted(&[
            (60, CancelEnd::Return),
            (15, CancelEnd::Hang),
            (p.fail * 2, CancelEnd::Fail),
            (p.panic, CancelEnd::Panic),
            (p.panic / 2, CancelEnd::PanicInDrop),
        ]);
        TaskPlan {
            name,
            daemon,
            contained: false,
            maker_panics: !body && self.rng.below(400) < p.panic,
            reacts: self.rng.percent(35),
            steps,
            end,
            on_cancel: OnCancel {
                wait_ms,
                spawns,
                end: cancel_end,
            },
        }
    }
}

fn leaf(name: &'static str, daemon: bool, end: End) -> TaskPlan {
    TaskPlan {
        name,
        daemon,
        contained: false,
        maker_panics: false,
        reacts: false,
        steps: Vec::new(),
        end,
        on_cancel: OnCancel {
            wait_ms: None,
            spawns: Vec::new(),
            end: CancelEnd::Fail,
        },
    }
}

/// An external cancel: at `at_ms`, of the `target`-th known service (modulo how many are
/// known then; 0 is the root); with `abort`, `Manager::abort()` (every grace below it ends
/// at once).
#[derive(Clone, Copy, Debug)]
pub(super) struct Cancel {
    pub(super) at_ms: u64,
    pub(super) target: usize,
    pub(super) abort: bool,
}

/// The moment the driver cancels the root, whatever happened before: every plan ends.
pub(super) const FINAL_CANCEL_MS: u64 = 700;

/// A seed's plan: the root service and the external cancels.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) root: ServicePlan,
    pub(super) cancels: Vec<Cancel>,
    pub(super) profile: Profile,
    pub(super) items: usize,
}

/// One seed in `BIG_EVERY` is big: about 10,000 items.
pub(super) const BIG_EVERY: u64 = 25;

/// One seed in [`BIG_EVERY`] is big (about 10,000 items); the others have up to 150.
pub(super) fn generate(seed: u64, mode: Mode) -> Plan {
    let mut rng = Rng::new(seed.wrapping_add(match mode {
        Mode::Paused => 0,
        Mode::MultiThread => 1 << 40,
    }));
    let mut profile = PROFILES[rng.below(3) as usize];
    let big = seed % BIG_EVERY == BIG_EVERY - 1;
    if big {
        // Ten thousand tasks with the usual rates would fail all over before the tree is
        // built; a few failures, at random moments, among a tree that is mostly up.
        profile = Profile {
            fail: profile.fail / 4,
            panic: profile.panic / 4,
            exit: profile.exit / 4,
        };
    }
    let (budget, fanout, root_fanout, end_wait, build_wait) = if big {
        (10_000, (2, 6), (20, 40), (150, 600), 10)
    } else {
        (rng.range(5, 150) as usize, (0, 3), (1, 8), (0, 400), 30)
    };
    let mut generator = Generator {
        rng: &mut rng,
        profile,
        items: 0,
        fanout,
        root_fanout,
        end_wait,
        build_wait,
    };
    let root = generator.service("Root", 0, budget);
    let items = generator.items;
    let mut cancels: Vec<Cancel> = (0..rng.range(0, 3))
        .map(|_| Cancel {
            at_ms: rng.range(0, 500),
            target: rng.below(6) as usize,
            abort: rng.percent(20),
        })
        .collect();
    // Sometimes the stop of the whole tree is cut short, within the longest grace.
    if rng.percent(15) {
        cancels.push(Cancel {
            at_ms: FINAL_CANCEL_MS + rng.range(1, 100),
            target: 0,
            abort: true,
        });
    }
    Plan {
        root,
        cancels,
        profile,
        items,
    }
}
