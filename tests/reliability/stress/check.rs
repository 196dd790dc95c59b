//! The checks of one seed, once its root service is finished.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::atomic::Ordering::SeqCst;

use service_runtime::prelude::*;

use super::oracle::{Boundary, Expected, ORIGINS, Seen, SvcState, Tentative, World};
use super::{Mode, Summary};

/// The [`Seen`] of each failure, made once: a failure is reported by its service and every
/// ancestor up to a boundary, as clones sharing one error.
#[derive(Default)]
struct SeenCache(HashMap<*const (), Rc<Seen>>);

impl SeenCache {
    fn of(&mut self, failure: &TaskFailure) -> Rc<Seen> {
        let key = failure.error() as *const _ as *const ();
        if let Some(seen) = self.0.get(&key)
            && seen.path == failure.path()
            && seen.kind == failure.kind()
        {
            return Rc::clone(seen);
        }
        let seen = Rc::new(Seen::of(failure));
        self.0.insert(key, Rc::clone(&seen));
        seen
    }
}

/// What a service or contained task reported.
fn reported(
    cache: &mut SeenCache,
    path: &str,
    outcome: &Result<(), ServiceError>,
) -> Vec<Rc<Seen>> {
    match outcome {
        Ok(()) => Vec::new(),
        Err(e @ ServiceError::Failed(failures)) => {
            assert!(!failures.is_empty(), "`{path}` failed with no failure: {e}");
            for failure in failures.iter() {
                let name = failure.path().rsplit('/').next().unwrap();
                assert_eq!(failure.task_name(), name, "{failure}");
            }
            failures.iter().map(|f| cache.of(f)).collect()
        }
        Err(e) => panic!("`{path}` ended with {e:?}"),
    }
}

/// Compares what `path` reported with what it must: on the paused clock exactly, in order —
/// except that `GraceExceeded` failures recorded at one instant may come in any order among
/// the failures of that instant (the runtime records them as it polls the tasks whose grace
/// ended); in the multi-thread mode as multisets, failures not `required` allowed to be
/// missing. Returns the expected failures that were reported.
fn compare<'a>(
    mode: Mode,
    path: &str,
    reported: &[Rc<Seen>],
    mine: &[&'a Expected],
) -> Vec<&'a Expected> {
    match mode {
        Mode::Paused => {
            let fail = |why: String| -> ! {
                panic!(
                    "failures of `{path}`: {why}\n  got: {reported:#?}\n want: {:#?}",
                    mine.iter()
                        .map(|e| (&e.seen, &e.alternatives))
                        .collect::<Vec<_>>()
                )
            };
            let in_order = mine.iter().copied().filter(|e| !e.floating);
            // The failures free within their instant, by path: a big seed's stop has
            // thousands of them.
            let mut floating: HashMap<&str, Vec<&Expected>> = HashMap::new();
            for e in mine {
                if e.floating {
                    floating.entry(&e.seen.path).or_default().push(e);
                }
            }
            let mut in_order = in_order.peekable();
            let mut last = None;
            for (i, seen) in reported.iter().enumerate() {
                let next_in_order = in_order.next_if(|e| e.matches(seen));
                // Of the floating failures it can be (same-named services have the same
                // paths, and their graces end at different instants), the earliest that
                // keeps the instants in order: identical failures are interchangeable, so
                // the earliest leaves the most room to those after it.
                let mut free = || {
                    let f = floating.get_mut(seen.path.as_str())?;
                    let at = (0..f.len())
                        .filter(|&k| f[k].matches(seen) && f[k].at >= last)
                        .min_by_key(|&k| f[k].at)?;
                    Some(f.swap_remove(at))
                };
                let e = match next_in_order {
                    Some(e) => e,
                    None => match free() {
                        Some(e) => e,
                        None => match in_order.peek() {
                            Some(e) if seen.kind != FailureKind::GraceExceeded => {
                                fail(format!("#{i} is {seen:?}, expected {:?}", e.seen))
                            }
                            _ => fail(format!(
                                "#{i} {seen:?} is not expected (or not at this place in time)"
                            )),
                        },
                    },
                };
                if e.at < last {
                    fail(format!(
                        "#{i} {seen:?} was recorded before the failure ahead of it"
                    ));
                }
                last = e.at;
            }
            if let Some(e) = in_order.next() {
                fail(format!("{:?} is missing", e.seen));
            }
            if let Some(e) = floating.values().flatten().find(|e| e.required) {
                fail(format!("{:?} is missing", e.seen));
            }
            mine.to_vec()
        }
        Mode::MultiThread => {
            // Several expectations can fit one report (same-named siblings, a grace message
            // with alternatives), so a greedy pass can pair a report with the expectation
            // another report needed. Two maximum matchings decide instead: every report
            // must be matched to an expectation, and every required expectation to a
            // report; by the Mendelsohn–Dulmage theorem one matching then does both.
            let fits = |r: usize, e: usize| mine[e].matches(&reported[r]);
            let by_report = max_matching(reported.len(), mine.len(), &fits);
            if let Some(r) = by_report.iter().position(Option::is_none) {
                panic!(
                    "`{path}` reported {:?}, which was not injected; expected {mine:#?}",
                    reported[r]
                );
            }
            let required: Vec<usize> = (0..mine.len()).filter(|&e| mine[e].required).collect();
            let by_required =
                max_matching(required.len(), reported.len(), &|q, r| fits(r, required[q]));
            let missing: Vec<&Expected> = by_required
                .iter()
                .enumerate()
                .filter(|(_, r)| r.is_none())
                .map(|(q, _)| mine[required[q]])
                .collect();
            assert!(
                missing.is_empty(),
                "`{path}` did not report {missing:#?}; reported {reported:#?}"
            );
            by_report
                .into_iter()
                .map(|e| mine[e.expect("every report is matched")])
                .collect()
        }
    }
}

/// A maximum matching of `left` items to `right` items where `fits(l, r)` (Kuhn's augmenting
/// paths; the lists are a few hundred long): for each left item, the right item it got.
fn max_matching(
    left: usize,
    right: usize,
    fits: &dyn Fn(usize, usize) -> bool,
) -> Vec<Option<usize>> {
    fn augment(
        l: usize,
        right: usize,
        fits: &dyn Fn(usize, usize) -> bool,
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for r in 0..right {
            if seen[r] || !fits(l, r) {
                continue;
            }
            seen[r] = true;
            if owner[r].is_none_or(|other| augment(other, right, fits, seen, owner)) {
                owner[r] = Some(l);
                return true;
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; right];
    for l in 0..left {
        let mut seen = vec![false; right];
        augment(l, right, fits, &mut seen, &mut owner);
    }
    let mut got = vec![None; left];
    for (r, l) in owner.into_iter().enumerate() {
        if let Some(l) = l {
            got[l] = Some(r);
        }
    }
    got
}

/// What became of a [`Tentative`] exit.
#[derive(Clone, Copy)]
enum Settled {
    Happened,
    Not,
    /// Nothing observable tells.
    Either,
}

/// Whether a daemon child's exit that the runtime decided when its parked body was next
/// polled happened: yes if its parent was cancelled at a later instant (or never); if in the
/// same instant, no when the cancellation reached the child before it finished (its cause
/// is `Parent`), yes when the child was never cancelled (it finished first) or when the
/// parent's cause is the child's path (the exit is what cancelled it), and either if the
/// child was cancelled before for a reason of its own and the parent for another.
fn settle(tentative: &Tentative, causes: &HashMap<usize, Option<CancelCause>>) -> Settled {
    let Tentative {
        service,
        parent,
        at,
    } = tentative;
    match parent.cancelled_at() {
        None => Settled::Happened,
        Some(cancelled) if cancelled > *at => Settled::Happened,
        Some(cancelled) if cancelled == *at => {
            let cause = causes
                .get(&service.id)
                .unwrap_or_else(|| panic!("`{}` has no manager", service.path));
            let exit_cancelled_parent = matches!(
                causes.get(&parent.id),
                Some(Some(CancelCause::Failure { path })) if **path == *service.path
            );
            match cause {
                Some(CancelCause::Parent) => Settled::Not,
                None => Settled::Happened,
                Some(_) if exit_cancelled_parent => Settled::Happened,
                Some(_) => Settled::Either,
            }
        }
        Some(cancelled) => panic!(
            "`{}` was seen running at {at:?}, but cancelled at {cancelled:?}",
            parent.path
        ),
    }
}

/// Every check of one seed, once the root is finished.
pub(super) async fn check(world: &World) -> Summary {
    let mode = world.mode;
    assert_eq!(
        world.live.count(),
        0,
        "task state is alive after the root finished"
    );
    let violations = world.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "violations: {violations:#?}");
    let expected = std::mem::take(&mut *world.expected.lock().unwrap());
    let services = std::mem::take(&mut *world.services.lock().unwrap());
    let contained_tasks = std::mem::take(&mut *world.contained_tasks.lock().unwrap());
    // How each service and contained task began to stop (for a contained task, as its
    // outcome tells: only a failed one says).
    let mut causes: HashMap<usize, Option<CancelCause>> = services
        .iter()
        .map(|(s, m)| (s.id, m.cancel_cause()))
        .collect();
    let mut task_outcomes = Vec::new();
    for (state, handle) in &contained_tasks {
        let outcome = handle.wait_finished().await;
        if let Err(ServiceError::Failed(failures)) = &outcome {
            causes.insert(state.id, failures.cancel_cause().cloned());
        }
        task_outcomes.push(outcome);
    }
    let mut settled = [0; 3];
    let expected: Vec<Expected> = expected
        .into_iter()
        .filter_map(|mut e| {
            if let Some(tentative) = &e.tentative {
                let outcome = settle(tentative, &causes);
                settled[outcome as usize] += 1;
                match outcome {
                    Settled::Happened => e.required = true,
                    Settled::Either => e.required = false,
                    Settled::Not => return None,
                }
            }
            Some(e)
        })
        .collect();
    let cancels = world.cancels.lock().unwrap().clone();
    let mut failures = 0;
    let mut origins = [0; ORIGINS];
    let mut fingerprint = std::hash::DefaultHasher::new();
    // The expected failures of each service, in order.
    let mut by_service: HashMap<usize, Vec<&Expected>> = HashMap::new();
    for e in &expected {
        for id in &e.services {
            by_service.entry(*id).or_default().push(e);
        }
    }
    // Whether each contained piece of work failed, by id.
    let mut failed: HashMap<usize, bool> = HashMap::new();
    let mut cache = SeenCache::default();
    // Kept to the end: the cache knows their failures by address.
    let mut contained_outcomes = Vec::new();
    let mut compare_one = |state: &SvcState, outcome: &Result<(), ServiceError>| {
        let path = &state.path;
        let reported = reported(&mut cache, path, outcome);
        let mine = by_service.remove(&state.id).unwrap_or_default();
        let matched = compare(mode, path, &reported, &mine);
        // Each failure is counted once: where its report stops.
        if state.parent.is_none() || state.boundary != Boundary::None {
            failures += reported.len();
            for e in matched {
                origins[e.origin as usize] += 1;
            }
        }
        if state.boundary != Boundary::None {
            failed.insert(state.id, outcome.is_err());
        }
        (path, &reported).hash(&mut fingerprint);
        reported
    };

    let mut contained_failures = 0;
    for ((state, handle), outcome) in contained_tasks.iter().zip(task_outcomes) {
        let path = &state.path;
        assert!(
            handle.is_finished(),
            "contained task `{path}` is not finished"
        );
        let reported = compare_one(state, &outcome);
        contained_failures += reported.len();
        contained_outcomes.push(outcome);
    }
    let mut outcomes = Vec::new();
    for (state, manager) in &services {
        let path = &state.path;
        assert!(
            manager.is_started() && manager.is_finished() && !manager.is_running(),
            "`{path}` is not finished: {manager:?}"
        );
        let outcome = manager.wait_finished().await;
        let reported = compare_one(state, &outcome);
        if state.boundary != Boundary::None {
            contained_failures += reported.len();
        }
        outcomes.push((outcome, reported));
    }

    // How many contained pieces each service started that failed.
    let mut failed_below: HashMap<usize, usize> = HashMap::new();
    let pieces = services.iter().map(|(s, _)| s);
    for piece in pieces.chain(contained_tasks.iter().map(|(s, _)| s)) {
        if let (Some(parent), Some(true)) = (&piece.parent, failed.get(&piece.id)) {
            *failed_below.entry(parent.id).or_default() += 1;
        }
    }
    for ((state, manager), (outcome, reported)) in services.iter().zip(&outcomes) {
        let path = &state.path;
        assert_eq!(manager.did_error(), outcome.is_err(), "`{path}`: did_error");
        let stats = manager.stats().tasks;
        assert_eq!(
            stats.finished_count, stats.total_count,
            "`{path}`: finished_count"
        );
        if mode == Mode::Paused {
            assert_eq!(
                stats.total_count,
                state.started.load(SeqCst),
                "`{path}`: total_count"
            );
        }
        // Every contained piece it started that failed counts once; nothing else does.
        assert_eq!(
            stats.contained_failure_count,
            failed_below.get(&state.id).copied().unwrap_or(0),
            "`{path}`: contained_failure_count"
        );
        (path, stats.total_count, stats.contained_failure_count).hash(&mut fingerprint);
        format!("{:?}", manager.cancel_cause()).hash(&mut fingerprint);

        let cause = manager.cancel_cause();
        assert_eq!(manager.is_cancelled(), cause.is_some(), "`{path}`");
        if manager.did_error() && !manager.is_cancelled() {
            // The one failure that does not cancel: a contained daemon child service that
            // quit (its last task ended) records its exit in its own outcome as it finishes.
            let own_exit = [Seen {
                path: path.clone(),
                kind: FailureKind::DaemonExit,
                message: None,
            }];
            assert!(
                state.boundary == Boundary::Service
                    && state.daemon
                    && reported.len() == 1
                    && *reported[0] == own_exit[0],
                "`{path}` failed but is not cancelled: {reported:#?}"
            );
        }
        let requests: Vec<bool> = cancels
            .iter()
            .filter(|(id, _)| *id == state.id)
            .map(|&(_, finished)| finished)
            .collect();
        match &cause {
            None => {
                if mode == Mode::Paused {
                    assert!(
                        requests.iter().all(|&finished| finished),
                        "`{path}` was asked to stop while running but is not cancelled"
                    );
                }
            }
            Some(CancelCause::Failure { path: first }) => {
                assert!(
                    reported.iter().any(|s| *s.path == **first),
                    "`{path}` stopped by `{first}`, not among {reported:#?}"
                );
                if mode == Mode::Paused {
                    assert_eq!(&**first, reported[0].path.as_str(), "`{path}`: cause");
                }
            }
            Some(CancelCause::Requested) => {
                assert!(
                    requests.iter().any(|&finished| !finished)
                        || (mode == Mode::MultiThread && !requests.is_empty()),
                    "`{path}` cancelled on request, but nobody asked"
                );
            }
            Some(CancelCause::Parent) => {
                assert!(
                    state.parent_cancelled(),
                    "`{path}` cancelled with its parent, which is not cancelled"
                );
            }
            Some(other) => panic!("`{path}`: unexpected cause {other:?}"),
        }
    }
    let contained = contained_tasks.len()
        + services
            .iter()
            .filter(|(s, _)| s.boundary != Boundary::None)
            .count();
    Summary {
        seeds: 1,
        tasks: world.tasks.load(SeqCst),
        services: services.len(),
        failures,
        cancels: cancels.len(),
        forced: world.forced.load(SeqCst),
        origins,
        contained,
        contained_failed: failed.values().filter(|&&f| f).count(),
        contained_failures,
        settled,
        late_spawns: world.late_spawns.load(SeqCst),
        aborts: world.aborts.load(SeqCst),
        fingerprint: fingerprint.finish(),
    }
}
