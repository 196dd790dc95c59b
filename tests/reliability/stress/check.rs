//! The checks of one seed, once its root service is finished.

use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering::SeqCst;

use service_runtime::prelude::*;

use super::oracle::{Expected, Seen, World};
use super::{Mode, Summary};

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
    let expected = world.expected.lock().unwrap().clone();
    let services = world.services.lock().unwrap().clone();
    let cancels = world.cancels.lock().unwrap().clone();
    let mut tasks = 0;
    let mut origins = [0; 5];
    let mut fingerprint = std::hash::DefaultHasher::new();
    for (state, manager) in &services {
        let path = &state.path;
        assert!(
            manager.is_started() && manager.is_finished() && !manager.is_running(),
            "`{path}` is not finished: {manager:?}"
        );
        let outcome = manager.wait_finished().await;
        let reported: Vec<Seen> = match &outcome {
            Ok(()) => Vec::new(),
            Err(ServiceError::Failed(failures)) => failures.iter().map(Seen::of).collect(),
            Err(e) => panic!("`{path}` ended with {e:?}"),
        };
        if let Err(e) = &outcome {
            assert!(!reported.is_empty(), "`{path}` failed with no failure: {e}");
            for failure in e.failures() {
                let name = failure.path().rsplit('/').next().unwrap();
                assert_eq!(failure.task_name(), name, "{failure}");
            }
        }
        let mine: Vec<&Expected> = expected
            .iter()
            .filter(|e| e.services.contains(&state.id))
            .collect();
        // The expected failures the report matched.
        let matched: Vec<&Expected> = match mode {
            Mode::Paused => {
                let want: Vec<&Seen> = mine.iter().map(|e| &e.seen).collect();
                let got: Vec<&Seen> = reported.iter().collect();
                assert_eq!(got, want, "failures of `{path}`");
                mine.clone()
            }
            Mode::MultiThread => {
                let mut unmatched: Vec<&Expected> = mine.clone();
                let mut matched = Vec::new();
                for seen in &reported {
                    let at = unmatched
                        .iter()
                        .position(|e| e.seen == *seen && e.required)
                        .or_else(|| unmatched.iter().position(|e| e.seen == *seen));
                    match at {
                        Some(at) => matched.push(unmatched.remove(at)),
                        None => panic!(
                            "`{path}` reported {seen:?}, which was not injected; expected {mine:#?}"
                        ),
                    }
                }
                let missing: Vec<_> = unmatched.iter().filter(|e| e.required).collect();
                assert!(
                    missing.is_empty(),
                    "`{path}` did not report {missing:#?}; reported {reported:#?}"
                );
                matched
            }
        };
        if state.parent.is_none() {
            for e in matched {
                origins[e.origin as usize] += 1;
            }
        }
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
        tasks += stats.total_count;
        (path, stats.total_count, &reported).hash(&mut fingerprint);
        format!("{:?}", manager.cancel_cause()).hash(&mut fingerprint);

        let cause = manager.cancel_cause();
        assert_eq!(manager.is_cancelled(), cause.is_some(), "`{path}`");
        if manager.did_error() {
            assert!(
                manager.is_cancelled(),
                "`{path}` failed but is not cancelled"
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
                let parent = state.parent.as_ref().map(|(p, _)| p.is_cancelled());
                assert_eq!(parent, Some(true), "`{path}` cancelled with its parent");
            }
            Some(other) => panic!("`{path}`: unexpected cause {other:?}"),
        }
    }
    Summary {
        seeds: 1,
        // A child service counts as a task of its parent; count it as a service only.
        tasks: tasks - (services.len() - 1),
        services: services.len(),
        failures: 0,
        cancels: cancels.len(),
        origins,
        late_spawns: world.late_spawns.load(SeqCst),
        aborts: world.aborts.load(SeqCst),
        fingerprint: fingerprint.finish(),
    }
}
