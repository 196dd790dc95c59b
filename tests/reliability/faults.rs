//! Named fault cases: a panic deep in a tree of child services, a service nobody holds a
//! handle to, a task that blocks its thread, blocking work in `spawn_blocking`. Cases
//! already covered by `tests/runtime` are not repeated here; `RELIABILITY.md` lists where
//! each one lives. The abort warning and the memory baseline need process-wide state, so
//! they have binaries of their own (`reliability/abort_warning.rs`,
//! `reliability/memory.rs`).

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use service_runtime::prelude::*;
use service_tests::{Live, Log, LogOnDrop, guard, poll_until, quiet_injected_panics, svc};
use tokio::sync::{Notify, mpsc, oneshot};

/// The failures of `error` as `(path, kind, message)`.
fn failures(error: &ServiceError) -> Vec<(String, FailureKind, String)> {
    error
        .failures()
        .iter()
        .map(|f| (f.path().to_owned(), f.kind(), f.error().to_string()))
        .collect()
}

/// A service `name` whose body starts a task holding a guard of `live`, waits until every
/// guard of the test is up (`up` notified by the test), then panics.
fn panicking_leaf(name: &'static str, live: &Live, up: &Arc<Notify>) -> impl Service + use<> {
    let (live, up) = (live.clone(), Arc::clone(up));
    svc(name, move |cx| {
        let (live, up) = (live.clone(), Arc::clone(&up));
        async move {
            let _guard = live.guard();
            let task_live = live.clone();
            cx.run_task("leaf-task", move |_cx| async move {
                let _guard = task_live.guard();
                pending::<()>().await
            })?;
            up.notified().await;
            panic!("injected panic in the body of {name}");
        }
    })
}

/// A panic in the body of a child service two levels down (started from a task, then from a
/// body): it is a `Panic` failure with the child's path, reported by the child and by every
/// ancestor; everything is cancelled (the cause names the child) and nothing is left.
/// The same panic in a *daemon* child service is a `Panic`, not also a `DaemonExit`.
#[tokio::test]
async fn a_panic_in_a_child_services_body_is_reported_by_every_ancestor() {
    quiet_injected_panics();
    for daemon in [false, true] {
        let live = Live::new();
        let up = Arc::new(Notify::new());
        let (managers_tx, mut managers) = mpsc::unbounded_channel::<Manager>();
        let leaf = {
            let (live, up) = (live.clone(), Arc::clone(&up));
            move || panicking_leaf("Leaf", &live, &up)
        };
        let mid = {
            let (live, managers_tx) = (live.clone(), managers_tx.clone());
            move || {
                let (live, managers_tx, leaf) = (live.clone(), managers_tx.clone(), leaf.clone());
                svc("Mid", move |cx| {
                    let (live, managers_tx, leaf) =
                        (live.clone(), managers_tx.clone(), leaf.clone());
                    async move {
                        let _guard = live.guard();
                        let child = if daemon {
                            cx.run_daemon_child_service(leaf())?
                        } else {
                            cx.run_child_service(leaf())?
                        };
                        managers_tx.send(child.manager().clone()).unwrap();
                        pending().await
                    }
                })
            }
        };
        let top = {
            let live = live.clone();
            svc("Top", move |cx| {
                let (live, managers_tx, mid) = (live.clone(), managers_tx.clone(), mid.clone());
                async move {
                    let sibling_live = live.clone();
                    cx.run_task("sibling", move |_cx| async move {
                        let _guard = sibling_live.guard();
                        pending::<()>().await
                    })?;
                    cx.run_task("spawner", move |cx| async move {
                        let _guard = live.guard();
                        let child = cx.run_child_service(mid())?;
                        managers_tx.send(child.manager().clone()).unwrap();
                        pending::<Result<(), LifecycleError>>().await
                    })?;
                    pending().await
                }
            })
        };
        let handle = top.start();
        let mid = guard(managers.recv()).await.unwrap();
        let leaf = guard(managers.recv()).await.unwrap();
        // Top/sibling, Top/spawner, Mid's body, Leaf's body and Leaf/leaf-task.
        poll_until(|| live.count() == 5).await;
        up.notify_one();
        let error = guard(handle.wait_finished()).await.unwrap_err();

        let path = "Top/spawner/Mid/Leaf";
        let expected = vec![(
            path.to_owned(),
            FailureKind::Panic,
            "injected panic in the body of Leaf".to_owned(),
        )];
        assert_eq!(failures(&error), expected, "daemon: {daemon}");
        assert_eq!(error.failures()[0].task_name(), "Leaf");
        for manager in [&mid, &leaf] {
            let outcome = guard(manager.wait_finished()).await.unwrap_err();
            assert_eq!(failures(&outcome), expected, "{}", manager.path());
            assert!(manager.is_cancelled() && manager.did_error());
        }
        let cause = Some(CancelCause::Failure { path: path.into() });
        for manager in [handle.manager(), &mid, &leaf] {
            assert_eq!(manager.cancel_cause(), cause, "{}", manager.path());
        }
        assert_eq!(live.count(), 0, "daemon: {daemon}");
        let stats = handle.stats().tasks;
        assert_eq!((stats.total_count, stats.finished_count), (3, 3));
    }
}

/// Nobody holds a handle to the service any more: dropping handles does not stop it, and it
/// can still be stopped — from inside (`cx.cancel()`), by a failure, or (for a child whose
/// handle its parent dropped) by its parent's cancellation. Every time, all its tasks are
/// aborted in order and the body's cleanup runs last.
#[tokio::test]
async fn a_service_whose_handles_were_all_dropped_can_still_be_cancelled() {
    enum Stop {
        FromInside,
        ByAFailure,
    }
    for stop in [Stop::FromInside, Stop::ByAFailure] {
        let live = Live::new();
        let log = Log::new();
        let (ping_tx, ping_rx) = oneshot::channel::<()>();
        let (pong_tx, pong_rx) = oneshot::channel::<bool>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let channels = std::sync::Mutex::new(Some((ping_rx, pong_tx, stop_rx)));
        let (task_live, task_log) = (live.clone(), log.clone());
        let fail = matches!(stop, Stop::ByAFailure);
        let handle = svc("Orphan", move |cx| {
            let (live, log) = (task_live.clone(), task_log.clone());
            let channels = channels.lock().unwrap().take();
            async move {
                let _cleanup = LogOnDrop::new(&log, "body");
                let _guard = live.guard();
                for name in ["idle-1", "idle-2"] {
                    let (live, log) = (live.clone(), log.clone());
                    cx.run_task(name, move |_cx| async move {
                        let _cleanup = LogOnDrop::new(&log, "idle");
                        let _guard = live.guard();
                        pending::<()>().await
                    })?;
                }
                cx.run_task("responder", move |cx| async move {
                    let _guard = live.guard();
                    let (ping_rx, pong_tx, stop_rx) = channels.expect("the body runs once");
                    ping_rx.await.unwrap();
                    pong_tx.send(cx.is_cancelled()).unwrap();
                    stop_rx.await.unwrap();
                    if fail {
                        return Err("the orphan gives up");
                    }
                    cx.cancel();
                    Ok(())
                })?;
                pending().await
            }
        })
        .start();
        drop(handle);
        // The handle is gone; the service still runs, and is not cancelled.
        poll_until(|| live.count() == 4).await;
        ping_tx.send(()).unwrap();
        assert_eq!(guard(pong_rx).await, Ok(false));
        // Now it stops itself: the tasks are aborted, the body's cleanup runs last.
        stop_tx.send(()).unwrap();
        poll_until(|| log.entries().len() == 3).await;
        assert_eq!(log.entries(), ["idle", "idle", "body"]);
        assert_eq!(live.count(), 0);
    }

    // A child service whose handle its parent dropped at once is stopped with the parent
    // (a daemon child too, and not as a failure).
    let live = Live::new();
    let task_live = live.clone();
    let parent = svc("Parent", move |cx| {
        let live = task_live.clone();
        async move {
            for daemon in [false, true] {
                let live = live.clone();
                let child = svc(if daemon { "DaemonChild" } else { "Child" }, move |cx| {
                    let live = live.clone();
                    async move {
                        let _guard = live.guard();
                        cx.run_task("work", move |_cx| async move {
                            let _guard = live.guard();
                            pending::<()>().await
                        })?;
                        pending().await
                    }
                });
                let handle = if daemon {
                    cx.run_daemon_child_service(child)?
                } else {
                    cx.run_child_service(child)?
                };
                drop(handle);
            }
            pending().await
        }
    })
    .start();
    // Both children's bodies and tasks are up.
    poll_until(|| live.count() == 4).await;
    guard(parent.stop()).await.unwrap();
    assert_eq!(live.count(), 0);
}

/// Cancellation is cooperative: it takes effect at await points. A task that blocks its
/// worker thread (no `.await`) cannot be stopped while it blocks; on a multi-thread runtime
/// the rest of the service is stopped meanwhile by the other workers, the service is not
/// finished while the task blocks, and the task is aborted at its first await point once it
/// stops blocking — the code after that point never runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_blocking_its_thread_is_aborted_at_its_next_await_point() {
    let log = Log::new();
    let release = Arc::new(AtomicBool::new(false));
    let (up_tx, mut up) = mpsc::unbounded_channel::<&'static str>();
    let (polite_tx, polite_gone) = oneshot::channel::<()>();
    let polite_tx = std::sync::Mutex::new(Some(polite_tx));
    let (task_log, task_release) = (log.clone(), Arc::clone(&release));
    let handle = svc("Svc", move |cx| {
        let (log, release, up_tx) = (task_log.clone(), Arc::clone(&task_release), up_tx.clone());
        let polite_tx = polite_tx.lock().unwrap().take();
        async move {
            let polite_up = up_tx.clone();
            cx.run_task("polite", move |cx| async move {
                // Dropped (and so the test told) when this task is gone.
                let _gone = polite_tx;
                polite_up.send("polite").unwrap();
                cx.cancelled().await;
            })?;
            cx.run_task("blocker", move |_cx| async move {
                let _cleanup = LogOnDrop::new(&log, "blocker dropped");
                up_tx.send("blocker").unwrap();
                // Blocks this worker thread: no await point until released.
                while !release.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                log.push("blocker reached an await point");
                tokio::task::yield_now().await;
                log.push("blocker resumed after the await point");
            })?;
            pending().await
        }
    })
    .start();
    let mut started = vec![
        guard(up.recv()).await.unwrap(),
        guard(up.recv()).await.unwrap(),
    ];
    started.sort_unstable();
    assert_eq!(started, ["blocker", "polite"]);

    handle.cancel();
    // The other worker stops the polite task while the blocker still blocks.
    let _ = guard(polite_gone).await;
    assert!(handle.is_cancelled() && !handle.is_finished());
    assert!(log.entries().is_empty());

    release.store(true, Ordering::Release);
    guard(handle.wait_finished()).await.unwrap();
    assert_eq!(
        log.entries(),
        ["blocker reached an await point", "blocker dropped"]
    );
}

/// The remedy for blocking work: `tokio::task::spawn_blocking`, awaited by the task. The
/// task is aborted at once when its service stops — even on a current-thread runtime — and
/// the service finishes without waiting for the blocking closure, which cannot be interrupted
/// and runs to its end on the blocking pool, detached: it is the one thing a service does
/// not own.
#[tokio::test]
async fn blocking_work_in_spawn_blocking_does_not_hold_up_cancellation() {
    let live = Live::new();
    let (entered_tx, entered) = oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done) = oneshot::channel::<()>();
    let slots = std::sync::Mutex::new(Some((entered_tx, release_rx, done_tx)));
    let task_live = live.clone();
    let handle = svc("Svc", move |cx| {
        let live = task_live.clone();
        let slots = slots.lock().unwrap().take();
        async move {
            cx.run_task("worker", move |_cx| async move {
                let _guard = live.guard();
                let (entered_tx, release_rx, done_tx) = slots.expect("the body runs once");
                tokio::task::spawn_blocking(move || {
                    entered_tx.send(()).unwrap();
                    // Blocks its (blocking-pool) thread until the test releases it.
                    release_rx.recv().unwrap();
                    done_tx.send(()).unwrap();
                })
                .await
                .unwrap();
            })?;
            pending().await
        }
    })
    .start();
    guard(entered).await.unwrap();
    guard(handle.stop()).await.unwrap();
    assert_eq!(live.count(), 0, "the task's own state is dropped at once");
    // The blocking closure is still running; once released it completes on its own.
    release_tx.send(()).unwrap();
    guard(done).await.unwrap();
}
