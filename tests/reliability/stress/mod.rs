//! Randomized stress with deterministic seeds (`RELIABILITY.md` has the figures).
//!
//! Each seed generates a plan — a tree of services, tasks, daemons and child services (task
//! trees up to 5 deep inside each service, services nested up to 5 deep), some of them
//! contained (failure boundaries: `cx.task(..).contained()`, `cx.child(..).contained()`,
//! daemons too), with random failures (error, panic, panic while being aborted, a panicking
//! task maker, daemon exits) at random moments, random grace periods (a service's own, zero,
//! or none: inherited from its parent, over several levels), tasks that react to
//! cancellation or ignore it, spawns during cancellation, `cx.cancel()` from inside, and
//! random external cancels and `abort()`s of the root and of child services — and runs it,
//! then checks:
//!
//! - it finishes (a timeout only as a guard against hangs; a hang lists what is still alive);
//! - no task state is left: every task's future, every closure that was never run and every
//!   child service value hold a [`TaskGuard`](oracle::TaskGuard), and none is alive afterwards;
//! - every manager (the root and every child service) and every contained task's handle
//!   reports exactly the failures that were injected in its subtree up to the first failure
//!   boundary, with the right path, kind and message, and nothing else: a contained failure
//!   once, in its handle, never in an ancestor;
//! - every task still running when a non-zero grace ended is a `GraceExceeded` failure
//!   naming the grace whose end aborted it (the earliest deadline of its chain of services:
//!   each cancelled service's cancellation plus its grace, or an `abort()`), and no other
//!   task is; on the paused clock it is aborted at that deadline exactly;
//! - an aborted task is never polled again: with a zero grace no task runs any code after
//!   its service is cancelled, and within a grace none runs after the grace ended;
//! - `finished_count == total_count`, `total_count` is the number of tasks, child services
//!   and contained tasks that really started, and `contained_failure_count` the number of
//!   contained pieces started there that failed;
//! - the flags agree with the outcome (`did_error`, `is_cancelled`, `cancel_cause`), and a
//!   contained failure neither cancels nor errors the service around it;
//! - no task is aborted before all of its descendants are done, and work started during
//!   cancellation never runs.
//!
//! # The oracle
//!
//! The expected failures are not guessed from the plan: a failure scheduled after the
//! service was already stopped may legitimately never happen. Instead each task records,
//! synchronously and just before it returns an error or panics, that it is about to fail
//! (with a unique number in the message). A daemon about to return records a `DaemonExit`
//! if its service is not cancelled at that moment. A daemon *child service* exits when its
//! last task is gone: every guard counts live futures per service (and per ancestor
//! service), and the guard whose drop brings a service's count to zero records a
//! `DaemonExit` if the parent service is not cancelled at that moment (a contained one in
//! its own outcome); if the service's body had returned, the runtime decides only when it
//! next polls that parked body, later in the same instant, so such an exit is settled once
//! the seed is over from the parent's and the child's causes and cancellation instants
//! (`check::settle`). A task whose guard is dropped without its future having returned was
//! aborted: within a non-zero grace that is a `GraceExceeded`, recorded by the runtime as
//! the grace ended. On the paused clock a watcher per service notes the instant it was
//! cancelled, so the oracle knows every deadline. On a current-thread runtime nothing runs
//! between those records and the runtime's own decision, so the expected list is exact,
//! order included — except that the `GraceExceeded` failures of one instant come in the
//! order the runtime polls the tasks whose grace ended (and an exit decided at a parked
//! body's poll when the runtime gets to it), so their place within that instant is free.
//!
//! Two modes: [`Mode::Paused`] (current-thread runtime, paused clock: deterministic, a seed
//! replays exactly) and [`Mode::MultiThread`] (two worker threads, real time: real races;
//! the plan replays, the interleaving does not). In the multi-thread mode a daemon exit
//! observed as "not cancelled" may still race a cancellation, so such exits are allowed,
//! not required; failures are compared as multisets (paired by maximum matchings); a
//! `GraceExceeded` may name any grace of its chain that was cancelled; and times are not
//! checked.
//!
//! `STRESS_SEEDS=N` runs seeds `0..N` (a soak); `STRESS_SEED=k` replays seed `k` alone
//! (`STRESS_PLAN=1` prints its plan, `STRESS_VERBOSE=1` its figures). A failing seed prints
//! itself with the command that replays it.

mod check;
mod oracle;
mod plan;
mod races;
mod run;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::quiet_injected_panics;

use oracle::{Boundary, ORIGINS, SvcState, World};
use plan::{BIG_EVERY, Cancel, FINAL_CANCEL_MS, Plan, generate};
use run::{StressService, pause};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Current-thread runtime, paused clock: deterministic.
    Paused,
    /// Two worker threads, real time: real races.
    MultiThread,
}

/// What one seed did, summed over a run.
#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    seeds: usize,
    /// Tasks started, child services not included.
    tasks: usize,
    /// Services started, the root included.
    services: usize,
    /// Failures reported by the root and by every failure boundary (so each failure once).
    failures: usize,
    cancels: usize,
    /// Of those cancels, `abort()`s.
    forced: usize,
    /// Failures reported, by [`Origin`](oracle::Origin).
    origins: [usize; ORIGINS],
    /// Contained tasks and contained child services started.
    contained: usize,
    /// Of those, how many failed.
    contained_failed: usize,
    /// Failures that stayed in a contained task or child service.
    contained_failures: usize,
    /// Daemon child exits decided when a parked body was next polled, in the instant its
    /// last work ended: how many happened, did not, or could not be told apart.
    settled: [usize; 3],
    late_spawns: usize,
    aborts: usize,
    /// A hash of what happened: every service's path, counters, cause and failures, in
    /// order, and every contained task's failures. The same seed in [`Mode::Paused`] always
    /// gives the same one.
    fingerprint: u64,
}

impl std::ops::AddAssign for Summary {
    fn add_assign(&mut self, other: Summary) {
        self.seeds += other.seeds;
        self.tasks += other.tasks;
        self.services += other.services;
        self.failures += other.failures;
        self.cancels += other.cancels;
        self.forced += other.forced;
        for (total, n) in self.origins.iter_mut().zip(other.origins) {
            *total += n;
        }
        self.contained += other.contained;
        self.contained_failed += other.contained_failed;
        self.contained_failures += other.contained_failures;
        for (total, n) in self.settled.iter_mut().zip(other.settled) {
            *total += n;
        }
        self.late_spawns += other.late_spawns;
        self.aborts += other.aborts;
        self.fingerprint ^= other.fingerprint;
    }
}

/// Runs seed `seed` in `mode` on a runtime of its own and checks everything.
fn run_seed(seed: u64, mode: Mode) -> Summary {
    let plan = generate(seed, mode);
    if std::env::var_os("STRESS_PLAN").is_some() {
        eprintln!("{plan:#?}");
    }
    let runtime = match mode {
        Mode::Paused => tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build(),
        Mode::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build(),
    }
    .expect("a runtime");
    runtime.block_on(drive(plan, mode))
}

async fn drive(plan: Plan, mode: Mode) -> Summary {
    let world = World::new(mode);
    let Plan {
        root,
        cancels,
        profile,
        items,
    } = plan;
    let grace = run::grace(mode, root.grace_ms.unwrap_or(0));
    let state = SvcState::new(
        &world,
        root.name.to_owned(),
        false,
        Boundary::None,
        grace,
        None,
    );
    let handle = ServiceHandle::new(StressService::new(
        &world,
        Arc::new(root),
        Arc::clone(&state),
        Vec::new(),
        false,
    ));
    world
        .services
        .lock()
        .unwrap()
        .push((Arc::clone(&state), handle.manager().clone()));
    handle.start().expect("the root starts");

    let canceller = {
        let world = Arc::clone(&world);
        let mut cancels = cancels;
        cancels.push(Cancel {
            at_ms: FINAL_CANCEL_MS,
            target: 0,
            abort: false,
        });
        cancels.sort_by_key(|c| c.at_ms);
        tokio::spawn(async move {
            let began = tokio::time::Instant::now();
            let mut now_ms = 0;
            for cancel in cancels {
                match mode {
                    Mode::Paused => {
                        tokio::time::sleep_until(began + Duration::from_millis(cancel.at_ms)).await
                    }
                    Mode::MultiThread => pause(mode, cancel.at_ms - now_ms).await,
                }
                now_ms = cancel.at_ms;
                let (state, manager) = {
                    let services = world.services.lock().unwrap();
                    let (state, manager) = &services[cancel.target % services.len()];
                    (Arc::clone(state), manager.clone())
                };
                world.cancel_requested(state.id, manager.is_finished());
                if cancel.abort {
                    world
                        .forced
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    state.forced_now();
                    manager.abort();
                } else {
                    manager.cancel();
                }
            }
        })
    };
    let limit = match mode {
        // Virtual time: if everything is stuck, the clock jumps here at once.
        Mode::Paused => Duration::from_secs(3600),
        Mode::MultiThread => Duration::from_secs(30),
    };
    tokio::time::timeout(limit, handle.wait_finished())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the service did not finish (profile {profile:?}, {items} items): {:?}\n{}",
                handle.manager(),
                world.hang_report()
            )
        })
        .ok();
    canceller.abort();
    let _ = canceller.await;
    drop(handle);

    let summary = check::check(&world).await;
    if std::env::var_os("STRESS_VERBOSE").is_some() {
        eprintln!(
            "  profile {profile:?}, {items} items planned: {} tasks started, {} services, {} \
             contained, {} cancels",
            summary.tasks, summary.services, summary.contained, summary.cancels
        );
    }
    summary
}

/// Runs seed `seed` of `test` on a thread of its own, with a watchdog; panics (after printing
/// how to replay it) if it fails or hangs.
fn run_one(test: &str, seed: u64, mode: Mode, traced: bool) -> Summary {
    let replay = format!(
        "replay: STRESS_SEED={seed} cargo test -p service-tests --test reliability {test} -- --nocapture"
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let summary = if traced {
            service_tests::anchor_tracing();
            let subscriber = tracing_subscriber::registry();
            tracing::subscriber::with_default(subscriber, || {
                assert!(!tracing::info_span!("probe").is_disabled());
                run_seed(seed, mode)
            })
        } else {
            run_seed(seed, mode)
        };
        let _ = tx.send(summary);
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(summary) => {
            thread.join().expect("the seed's thread");
            summary
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("stress seed {seed} ({mode:?}) hung for 120 s; {replay}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let panic = thread.join().expect_err("the seed's thread panicked");
            eprintln!("stress seed {seed} ({mode:?}) FAILED; {replay}");
            std::panic::resume_unwind(panic);
        }
    }
}

/// Seeds to run: `STRESS_SEED=k` alone, else `0..STRESS_SEEDS` (default `default`).
fn seeds(default: u64) -> Vec<u64> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.parse::<u64>().unwrap_or_else(|_| panic!("{name}={v}")))
    };
    match var("STRESS_SEED") {
        Some(seed) => vec![seed],
        None => (0..var("STRESS_SEEDS").unwrap_or(default)).collect(),
    }
}

/// Runs the seeds of `test` in `mode` on `lanes` threads at once (taking the next seed as
/// each finishes), each seed on a thread of its own with a watchdog; a failing seed prints
/// how to replay it, and stops the lanes. `traced`: with a subscriber that enables every
/// span, scoped to the seed's thread (so only for [`Mode::Paused`], whose tasks all run
/// there).
fn run_seeds(test: &str, mode: Mode, traced: bool, default: u64, lanes: usize) {
    quiet_injected_panics();
    let seeds = seeds(default);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let total = Mutex::new(Summary::default());
    let began = std::time::Instant::now();
    let lane = || -> std::thread::Result<()> {
        while !failed.load(SeqCst) {
            let Some(&seed) = seeds.get(next.fetch_add(1, SeqCst)) else {
                break;
            };
            let run = std::panic::catch_unwind(|| run_one(test, seed, mode, traced));
            match run {
                Ok(summary) => *total.lock().unwrap() += summary,
                Err(panic) => {
                    failed.store(true, SeqCst);
                    return Err(panic);
                }
            }
        }
        Ok(())
    };
    let outcomes: Vec<std::thread::Result<()>> = std::thread::scope(|scope| {
        let lanes: Vec<_> = (0..lanes.clamp(1, seeds.len().max(1)))
            .map(|_| scope.spawn(lane))
            .collect();
        lanes
            .into_iter()
            .map(|lane| lane.join().expect("a lane catches its seeds' panics"))
            .collect()
    });
    if let Some(Err(panic)) = outcomes.into_iter().find(Result::is_err) {
        std::panic::resume_unwind(panic);
    }
    let total = total.into_inner().unwrap();
    let [
        errors,
        panics,
        drop_panics,
        daemon_exits,
        service_exits,
        grace_exceeded,
    ] = total.origins;
    eprintln!(
        "{test}: {} seeds in {:.1?}: {} tasks and {} services started, {} aborted; {} failures \
         reported ({errors} errors, {panics} panics, {drop_panics} panics while aborted, \
         {daemon_exits} daemon exits, {service_exits} daemon child service exits, \
         {grace_exceeded} grace exceeded); {} contained tasks and services, {} of them failed, \
         with {} failures; {} cancels ({} aborts); {} spawns during cancellation; daemon child \
         exits decided at a parked body's next poll: {} happened, {} did not, {} undecidable",
        total.seeds,
        began.elapsed(),
        total.tasks,
        total.services,
        total.aborts,
        total.failures,
        total.contained,
        total.contained_failed,
        total.contained_failures,
        total.cancels,
        total.forced,
        total.late_spawns,
        total.settled[0],
        total.settled[1],
        total.settled[2],
    );
}

/// Seeds `0..1000` (`STRESS_SEEDS`) on a current-thread runtime with a paused clock:
/// deterministic, exact oracle (failures compared in order). Two seeds at a time, each on
/// a runtime of its own: seeds are independent, so this changes nothing but the wall time.
#[test]
fn stress_paused() {
    run_seeds("stress_paused", Mode::Paused, false, 1000, 2);
}

/// Seeds `0..200` (`STRESS_SEEDS`) as in [`stress_paused`], with a tracing subscriber that
/// enables every span: the runtime then runs each task inside its span (instrumented), a
/// code path of its own.
#[test]
fn stress_paused_traced() {
    run_seeds("stress_paused_traced", Mode::Paused, true, 200, 2);
}

/// Seeds `0..250` (`STRESS_SEEDS`) on two worker threads in real time: real races;
/// failures compared as multisets. One seed at a time, so that its two workers have the
/// machine's cores.
#[test]
fn stress_multi_thread() {
    run_seeds("stress_multi_thread", Mode::MultiThread, false, 250, 1);
}

/// A seed in [`Mode::Paused`] replays exactly: run twice, it does the same things (same
/// services, counters, causes and failures, in the same order). What makes a failing seed
/// worth printing.
#[test]
fn a_paused_seed_replays_exactly() {
    quiet_injected_panics();
    for seed in [0, 1, 2, 3, BIG_EVERY - 1] {
        let first = run_seed(seed, Mode::Paused);
        let second = run_seed(seed, Mode::Paused);
        assert_eq!(first.fingerprint, second.fingerprint, "seed {seed}");
        assert_eq!(
            (first.tasks, first.services, first.cancels, first.forced),
            (second.tasks, second.services, second.cancels, second.forced),
            "seed {seed}"
        );
        assert_eq!(
            (first.origins, first.contained, first.contained_failed),
            (second.origins, second.contained, second.contained_failed),
            "seed {seed}"
        );
    }
}
