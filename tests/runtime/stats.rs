//! Task statistics: every task started under a manager, at any depth, counts once (a child
//! service as one task of its parent), the body not at all; a task counts as finished once
//! it is done, however it ended.

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Live, guard, poll_until, stays_pending, svc};
use tokio::sync::{Notify, mpsc};

/// `(total, finished, pending)` of a manager's task stats.
fn counts(manager: &Manager) -> (usize, usize, usize) {
    let tasks = manager.stats().tasks;
    (
        tasks.total_count,
        tasks.finished_count,
        tasks.pending_count(),
    )
}

/// Lets every task run until it waits (under paused time), failing if the service finishes
/// meanwhile: after this, stats that are wrong late are wrong already.
async fn settled(manager: &Manager) {
    assert!(
        stays_pending(manager.wait_finished()).await,
        "the service finished"
    );
}

/// `pending_count` is `total_count - finished_count`; the fields are public and the types
/// `Copy + PartialEq`.
#[test]
fn pending_is_total_minus_finished() {
    let tasks = TaskStats {
        total_count: 10,
        finished_count: 3,
        restart_count: 0,
        contained_failure_count: 0,
    };
    assert_eq!(tasks.pending_count(), 7);
    let stats = Stats { tasks };
    let copy = stats;
    assert_eq!(copy, stats);
    assert_eq!(copy.tasks.total_count, 10);
}

/// Before the service runs, its stats are (0, 0, 0).
#[test]
fn stats_are_zero_before_run() {
    let handle = ServiceHandle::new(svc("Idle", |_cx| async { Ok(()) }));
    assert_eq!(counts(&handle), (0, 0, 0));
    assert_eq!(handle.stats(), Stats::default());
}

/// The body is not counted: one task that sleeps forever reads (1, 0, 1) while the body
/// still runs, then (1, 1, 0) once stopped.
#[tokio::test(start_paused = true)]
async fn body_is_not_counted() {
    let (ready_tx, mut ready) = mpsc::unbounded_channel();
    let handle = svc("Stats", move |cx| {
        let ready_tx = ready_tx.clone();
        async move {
            cx.run_task("sleep_forever", move |_cx| async move {
                ready_tx.send(()).unwrap();
                pending::<()>().await
            })?;
            pending().await
        }
    })
    .start();
    guard(ready.recv()).await.unwrap();
    settled(&handle).await;
    assert_eq!(counts(&handle), (1, 0, 1));
    guard(handle.stop()).await.unwrap();
    assert_eq!(counts(&handle), (1, 1, 0));
}

/// The body's own completion is never counted as a finished task: with the body returned
/// and one task still running, the stats read (1, 0, 1).
#[tokio::test(start_paused = true)]
async fn returned_body_is_not_counted_as_finished() {
    let (ready_tx, mut ready) = mpsc::unbounded_channel();
    let body_live = Live::new();
    let live = body_live.clone();
    let handle = svc("Stats", move |cx| {
        let ready_tx = ready_tx.clone();
        let body_guard = live.guard();
        async move {
            let _body_guard = body_guard;
            cx.run_task("sleep_forever", move |_cx| async move {
                ready_tx.send(()).unwrap();
                pending::<()>().await
            })?;
            Ok(())
        }
    })
    .start();
    guard(ready.recv()).await.unwrap();
    // The body's future has been dropped: it has returned and its task has ended.
    poll_until(|| body_live.count() == 0).await;
    settled(&handle).await;
    assert_eq!(counts(&handle), (1, 0, 1));
    assert!(handle.is_running());
    guard(handle.stop()).await.unwrap();
    assert_eq!(counts(&handle), (1, 1, 0));
}

/// The body starts 2 tasks that sleep forever, 2 that return at once and
/// `run_with_children`, which starts 4 that sleep forever and returns; later a sleeping
/// task starts one more that returns at once. Settled: (10, 3, 7) — `run_with_children` is
/// not finished while its children live; after stop: (10, 10, 0).
#[tokio::test(start_paused = true)]
async fn full_scenario() {
    let (ready_tx, mut ready) = mpsc::unbounded_channel::<()>();
    let spawn_late = Arc::new(Notify::new());
    let late = Arc::clone(&spawn_late);
    let handle = svc("Stats", move |cx| {
        let ready_tx = ready_tx.clone();
        let late = Arc::clone(&late);
        async move {
            let sleeper = |ready_tx: mpsc::UnboundedSender<()>| {
                move |_cx: Context| async move {
                    ready_tx.send(()).unwrap();
                    pending::<()>().await
                }
            };
            let ready = ready_tx.clone();
            cx.run_task("sleep_forever", move |cx| async move {
                ready.send(()).unwrap();
                late.notified().await;
                cx.run_task("return_at_once", |_cx| async {})?;
                pending::<Result<(), LifecycleError>>().await
            })?;
            cx.run_task("sleep_forever", sleeper(ready_tx.clone()))?;
            cx.run_task("return_at_once", |_cx| async {})?;
            cx.run_task("return_at_once", |_cx| async {})?;
            cx.run_task("run_with_children", move |cx| async move {
                for _ in 0..4 {
                    cx.run_task("sleep_forever", sleeper(ready_tx.clone()))?;
                }
                Ok::<(), LifecycleError>(())
            })?;
            Ok(())
        }
    })
    .start();
    for _ in 0..6 {
        guard(ready.recv()).await.unwrap();
    }
    poll_until(|| handle.stats().tasks.finished_count >= 2).await;
    settled(&handle).await;
    assert_eq!(counts(&handle), (9, 2, 7));

    spawn_late.notify_one();
    poll_until(|| handle.stats().tasks.finished_count >= 3).await;
    settled(&handle).await;
    assert_eq!(counts(&handle), (10, 3, 7));

    guard(handle.stop()).await.unwrap();
    assert_eq!(counts(&handle), (10, 10, 0));
}

/// A task that failed counts as finished as soon as it is done, while the service is still
/// stopping (not only once the whole service has finished).
async fn failed_task_counts_as_finished(panics: bool) {
    let handle = svc("Stats", move |cx| async move {
        cx.run_task("stubborn", |_cx| pending::<()>())?;
        cx.run_task("fail", move |_cx| async move {
            if panics {
                panic!("boom");
            }
            Err::<(), _>("boom")
        })?;
        Ok(())
    })
    .with_grace(Duration::from_secs(5))
    .start();
    poll_until(|| handle.did_error() && handle.stats().tasks.finished_count >= 1).await;
    settled(&handle).await;
    // `stubborn` ignores cancellation and has 5 s of grace: the service is still stopping.
    assert!(handle.is_cancelled() && !handle.is_finished());
    assert_eq!(counts(&handle), (2, 1, 1));
    let error = guard(handle.wait_finished()).await.unwrap_err();
    let kinds: Vec<_> = error
        .failures()
        .iter()
        .map(|f| (f.path(), f.kind()))
        .collect();
    let failed = if panics {
        FailureKind::Panic
    } else {
        FailureKind::Error
    };
    // `stubborn` outlived its grace: that is a failure of the stop too.
    assert_eq!(
        kinds,
        [
            ("Stats/fail", failed),
            ("Stats/stubborn", FailureKind::GraceExceeded)
        ]
    );
    assert_eq!(counts(&handle), (2, 2, 0));
}

/// An errored task counts as finished (see [`failed_task_counts_as_finished`]).
#[tokio::test(start_paused = true)]
async fn errored_task_counts_as_finished() {
    failed_task_counts_as_finished(false).await;
}

/// A panicked task counts as finished (see [`failed_task_counts_as_finished`]).
#[tokio::test(start_paused = true)]
async fn panicked_task_counts_as_finished() {
    failed_task_counts_as_finished(true).await;
}

/// Work requested while the service is being cancelled — a task and a child service from
/// the body right after `cancel()`, a task from a task that saw the cancellation — is
/// accepted (`Ok`), never runs and is not counted.
#[tokio::test]
async fn work_requested_during_cancellation_is_not_counted() {
    let ran = Arc::new(AtomicBool::new(false));
    let ran_in = Arc::clone(&ran);
    let (child_tx, mut child_rx) = mpsc::unbounded_channel();
    let handle = ServiceHandle::new(svc("Stats", move |cx| {
        let ran = Arc::clone(&ran_in);
        let child_tx = child_tx.clone();
        async move {
            let late_ran = Arc::clone(&ran);
            cx.run_task("watcher", move |cx| async move {
                cx.cancelled().await;
                cx.run_task("late", move |_cx| async move {
                    late_ran.store(true, Ordering::SeqCst)
                })
            })?;
            cx.cancel();
            let after = Arc::clone(&ran);
            cx.run_task("after_cancel", move |_cx| async move {
                after.store(true, Ordering::SeqCst)
            })?;
            let child_ran = Arc::clone(&ran);
            let child = cx.run_child_service(svc("Late", move |_cx| {
                child_ran.store(true, Ordering::SeqCst);
                async { Ok(()) }
            }))?;
            child_tx.send(child.manager().clone()).unwrap();
            Ok(())
        }
    }));
    guard(handle.run()).await.unwrap();
    assert!(
        !ran.load(Ordering::SeqCst),
        "work started during cancellation ran"
    );
    assert_eq!(counts(&handle), (1, 1, 0));
    let child = child_rx.recv().await.unwrap();
    assert!(child.is_finished());
    assert_eq!(counts(&child), (0, 0, 0));
}

/// A child service counts as one task of its parent; its own tasks, at any depth, count in
/// its own stats only.
#[tokio::test(start_paused = true)]
async fn child_service_counts_as_one_task_of_its_parent() {
    let (ready_tx, mut ready) = mpsc::unbounded_channel::<()>();
    let (child_tx, mut child_rx) = mpsc::unbounded_channel();
    let handle = svc("Parent", move |cx| {
        let ready_tx = ready_tx.clone();
        let child_tx = child_tx.clone();
        async move {
            let ready = ready_tx.clone();
            cx.run_task("own", move |_cx| async move {
                ready.send(()).unwrap();
                pending::<()>().await
            })?;
            let child = cx.run_child_service(svc("Child", move |cx| {
                let ready_tx = ready_tx.clone();
                async move {
                    let ready = ready_tx.clone();
                    cx.run_task("outer", move |cx| async move {
                        let ready_inner = ready.clone();
                        cx.run_task("inner", move |_cx| async move {
                            ready_inner.send(()).unwrap();
                            pending::<()>().await
                        })?;
                        ready.send(()).unwrap();
                        pending::<Result<(), LifecycleError>>().await
                    })?;
                    cx.run_task("other", move |_cx| async move {
                        ready_tx.send(()).unwrap();
                        pending::<()>().await
                    })?;
                    Ok(())
                }
            }))?;
            child_tx.send(child.manager().clone()).unwrap();
            Ok(())
        }
    })
    .start();
    let child = guard(child_rx.recv()).await.unwrap();
    for _ in 0..4 {
        guard(ready.recv()).await.unwrap();
    }
    settled(&handle).await;
    assert_eq!(counts(&handle), (2, 0, 2));
    assert_eq!(counts(&child), (3, 0, 3));
    guard(handle.stop()).await.unwrap();
    assert!(child.is_finished());
    assert_eq!(counts(&handle), (2, 2, 0));
    assert_eq!(counts(&child), (3, 3, 0));
}

/// How a service ends, for [`finished_equals_total_after_every_kind_of_finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Clean,
    TaskError,
    TaskPanic,
    DaemonExit,
    BodyError,
    ChildFails,
    Cancel,
}

/// After the service is finished, `finished_count == total_count`, however it finished.
/// Every scenario has four tasks, nested ones included.
#[tokio::test]
async fn finished_equals_total_after_every_kind_of_finish() {
    use End::*;
    for end in [
        Clean, TaskError, TaskPanic, DaemonExit, BodyError, ChildFails, Cancel,
    ] {
        let (all_started_tx, mut all_started) = mpsc::unbounded_channel();
        let handle = ServiceHandle::new(svc("Stats", move |cx| {
            let all_started_tx = all_started_tx.clone();
            async move {
                let nested_up = Arc::new(Notify::new());
                let nested_started = Arc::clone(&nested_up);
                cx.run_task("quick", |_cx| async {})?;
                cx.run_task("parent", move |cx| async move {
                    let nested = move |_cx: Context| async move {
                        nested_up.notify_one();
                        if end != Clean {
                            pending::<()>().await;
                        }
                    };
                    cx.run_task("nested", nested)
                })?;
                // `nested` runs before the service can end.
                nested_started.notified().await;
                match end {
                    Clean | Cancel => cx.run_task("quick", |_cx| async {})?,
                    TaskError => cx.run_task("fail", |_cx| async { Err::<(), _>("boom") })?,
                    TaskPanic => cx.run_task("fail", |_cx| async { panic!("boom") })?,
                    DaemonExit => cx.run_daemon_task("daemon", |_cx| async {})?,
                    BodyError => {
                        cx.run_task("quick", |_cx| async {})?;
                        return Err("boom".into());
                    }
                    ChildFails => {
                        cx.run_child_service(svc("Child", |cx| async move {
                            cx.run_task("fail", |_cx| async { Err::<(), _>("boom") })?;
                            Ok(())
                        }))?;
                    }
                }
                all_started_tx.send(()).unwrap();
                Ok(())
            }
        }));
        let outcome = if end == Cancel {
            handle.start().unwrap();
            guard(all_started.recv()).await.unwrap();
            guard(handle.stop()).await
        } else {
            guard(handle.run()).await
        };
        assert_eq!(
            outcome.is_ok(),
            matches!(end, Clean | Cancel),
            "{end:?}: {outcome:?}"
        );
        assert!(handle.is_finished(), "{end:?}");
        assert_eq!(counts(&handle), (4, 4, 0), "{end:?}");
    }
}
