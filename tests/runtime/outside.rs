//! Starting work from outside a service (`Manager::run_task`, `run_daemon_task`,
//! `run_child_service`, `task`, `child`): the new work is a root task of the service, with
//! `Context`'s contract, and is refused — never lost — when the service is not running.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use service_runtime::prelude::*;
use service_tests::{Live, Log, LogOnDrop, guard, svc};
use tokio::sync::{mpsc, oneshot};

/// A service whose body waits to be cancelled.
fn waiting(name: &'static str) -> impl Service {
    svc(name, |cx| async move {
        cx.cancelled().await;
        Ok(())
    })
}

/// Every way to start work from outside, each tried on `manager`; the outcomes in order,
/// and whether any of the work ran or any factory was called (`touched`).
fn start_everything(manager: &Manager, touched: &Arc<AtomicUsize>) -> Vec<String> {
    let t = || Arc::clone(touched);
    let touch = |t: Arc<AtomicUsize>| {
        move |_cx: Context| {
            let t = Arc::clone(&t);
            async move {
                t.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    let child = |t: Arc<AtomicUsize>| {
        move || {
            t.fetch_add(1, Ordering::SeqCst);
            waiting("Store")
        }
    };
    let finished = |handle: &Manager| {
        if handle.is_finished() {
            "finished"
        } else {
            "live"
        }
    };
    vec![
        format!("{:?}", manager.run_task("a", touch(t()))),
        format!("{:?}", manager.run_daemon_task("b", touch(t()))),
        format!(
            "{:?}",
            manager
                .task("c")
                .restart(Restart::always())
                .spawn(touch(t()))
        ),
        format!(
            "{:?}",
            manager
                .task("d")
                .contained()
                .spawn(touch(t()))
                .map(|h| h.is_finished())
        ),
        format!(
            "{:?}",
            manager
                .run_child_service(waiting("Child"))
                .map(|h| finished(h.manager()))
        ),
        format!(
            "{:?}",
            manager
                .child(child(t()))
                .spawn()
                .map(|h| finished(h.manager()))
        ),
        format!(
            "{:?}",
            manager
                .child(child(t()))
                .restart(Restart::always())
                .spawn()
                .map(|h| h.is_finished())
        ),
    ]
}

/// Work started from outside is a root task of the service: its path is under the
/// service's, it is cancelled with the service, and the service finishes only after it.
#[tokio::test]
async fn outside_work_is_a_root_task_of_the_service() {
    let handle = waiting("Svc").start();
    handle.wait_started().await;
    let log = Log::new();
    let (paths_tx, mut paths) = mpsc::unbounded_channel();
    for name in ["conn-1", "conn-2"] {
        let (log, paths) = (log.clone(), paths_tx.clone());
        handle
            .run_task(name, move |cx| async move {
                let _stopped = LogOnDrop::new(&log, format!("{} stopped", cx.name()));
                let _ = paths.send(cx.path().to_owned());
                cx.cancelled().await;
            })
            .unwrap();
    }
    let store = handle.run_child_service(waiting("Store")).unwrap();
    let mut seen = vec![
        guard(paths.recv()).await.unwrap(),
        guard(paths.recv()).await.unwrap(),
    ];
    seen.sort();
    assert_eq!(seen, ["Svc/conn-1", "Svc/conn-2"]);
    assert_eq!(store.path(), "Svc/Store");
    assert_eq!(handle.stats().tasks.total_count, 3);

    let manager = handle.manager().clone();
    let finished_after = log.clone();
    let watcher = tokio::spawn(async move {
        manager.wait_finished().await.unwrap();
        finished_after.push("service finished");
    });
    guard(handle.stop()).await.unwrap();
    guard(watcher).await.unwrap();
    assert!(store.is_finished());
    let entries = log.entries();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert_eq!(entries[2], "service finished", "{entries:?}");
}

/// Before the service has started there is no body to hang work under: every way to start
/// work fails with `NotRunning`, and no work runs nor factory is called.
#[tokio::test]
async fn before_start_everything_is_refused() {
    let handle = ServiceHandle::new(waiting("Svc"));
    let touched = Arc::new(AtomicUsize::new(0));
    let outcomes = start_everything(handle.manager(), &touched);
    assert!(
        outcomes.iter().all(|o| o == "Err(NotRunning)"),
        "{outcomes:?}"
    );
    handle.start().unwrap();
    guard(handle.stop()).await.unwrap();
    assert_eq!(touched.load(Ordering::SeqCst), 0);
}

/// Once the service is finished, every way fails with `NotRunning`.
#[tokio::test]
async fn after_finish_everything_is_refused() {
    let handle = waiting("Svc").start();
    guard(handle.stop()).await.unwrap();
    let touched = Arc::new(AtomicUsize::new(0));
    let outcomes = start_everything(handle.manager(), &touched);
    assert!(
        outcomes.iter().all(|o| o == "Err(NotRunning)"),
        "{outcomes:?}"
    );
    assert_eq!(touched.load(Ordering::SeqCst), 0);
}

/// While the service is being cancelled, starting succeeds and nothing starts, as from a
/// `Context`: the handles returned are finished already.
#[tokio::test]
async fn while_cancelling_nothing_starts() {
    let (release_tx, release) = oneshot::channel::<()>();
    let release = std::sync::Mutex::new(Some(release));
    let handle = svc("Svc", move |cx| {
        let release = release.lock().unwrap().take();
        async move {
            // Holds the service in its stop until released.
            cx.run_task("holder", move |_cx| async move {
                let _ = release.unwrap().await;
            })?;
            Ok(())
        }
    })
    .start();
    handle.wait_ready().await.unwrap();
    handle.cancel();
    assert!(handle.is_cancelled() && !handle.is_finished());
    let touched = Arc::new(AtomicUsize::new(0));
    let outcomes = start_everything(handle.manager(), &touched);
    assert_eq!(
        outcomes,
        [
            "Ok(())",
            "Ok(())",
            "Ok(())",
            "Ok(true)",
            "Ok(\"finished\")",
            "Ok(\"finished\")",
            "Ok(true)"
        ]
    );
    let _ = release_tx.send(());
    guard(handle.wait_finished()).await.unwrap();
    // The factories of the plain children run (a child builder makes its service to start
    // it); no task ran.
    assert_eq!(handle.stats().tasks.total_count, 1);
}

/// After the body returned, work started from outside joins the tasks still running, and
/// the service waits for it; once the last task is done the service is finished and work
/// is refused.
#[tokio::test]
async fn after_the_body_returned_work_joins_the_running_tasks() {
    let (release_tx, release) = oneshot::channel::<()>();
    let release = std::sync::Mutex::new(Some(release));
    let handle = svc("Svc", move |cx| {
        let release = release.lock().unwrap().take();
        async move {
            cx.run_task("first", move |_cx| async move {
                let _ = release.unwrap().await;
            })?;
            Ok(())
        }
    })
    .start();
    handle.wait_ready().await.unwrap();
    let (late_release_tx, late_release) = oneshot::channel::<()>();
    let (ran_tx, ran) = oneshot::channel();
    handle
        .run_task("late", move |_cx| async move {
            let _ = ran_tx.send(());
            let _ = late_release.await;
        })
        .unwrap();
    guard(ran).await.unwrap();
    let _ = release_tx.send(());
    // `first` is done; `late` keeps the service running.
    let manager = handle.manager().clone();
    let ended = tokio::spawn(async move { manager.wait_finished().await });
    assert!(!handle.is_finished());
    let _ = late_release_tx.send(());
    guard(ended).await.unwrap().unwrap();
    let touched = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        handle.run_task("too-late", |_cx| async {}),
        Err(LifecycleError::NotRunning)
    );
    drop(start_everything(handle.manager(), &touched));
    assert_eq!(touched.load(Ordering::SeqCst), 0);
    assert_eq!(handle.stats().tasks.finished_count, 2);
}

/// Outside a tokio runtime (a plain thread), starting fails with `NoRuntime`.
#[tokio::test]
async fn from_a_plain_thread_it_is_no_runtime() {
    let handle = waiting("Svc").start();
    handle.wait_started().await;
    let manager = handle.manager().clone();
    let outcome = std::thread::spawn(move || {
        (
            manager.run_task("a", |_cx| async {}),
            manager
                .task("b")
                .contained()
                .spawn(|_cx| async {})
                .map(drop),
            manager.run_child_service(waiting("Child")).map(drop),
        )
    })
    .join()
    .unwrap();
    let no_runtime = Err(LifecycleError::NoRuntime);
    assert_eq!(
        outcome,
        (no_runtime.clone(), no_runtime.clone(), no_runtime)
    );
    guard(handle.stop()).await.unwrap();
    assert_eq!(handle.stats().tasks.total_count, 0);
}

/// A failure of escalated outside work is a failure of the service, with the task's path;
/// contained outside work fails alone and its handle has the failure.
#[tokio::test]
async fn outside_failures_escalate_or_stay_contained() {
    let handle = waiting("Svc").start();
    handle.wait_started().await;
    let conn = handle
        .task("conn")
        .contained()
        .spawn(|_cx| async { Err::<(), _>("garbage") })
        .unwrap();
    let error = guard(conn.wait_finished()).await.unwrap_err();
    assert_eq!(error.failures()[0].path(), "Svc/conn");
    assert!(!handle.is_cancelled() && !handle.did_error());

    handle
        .run_task("poller", |_cx| async { Err::<(), _>("refused") })
        .unwrap();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    let [failure] = error.failures() else {
        panic!("{error}")
    };
    assert_eq!(failure.to_string(), "`Svc/poller` failed: refused");
    assert_eq!(handle.stats().tasks.contained_failure_count, 1);
}

/// Outside work in a child service hangs under the child's body: its path is the child's,
/// and it stops with the child when the parent stops.
#[tokio::test]
async fn outside_work_in_a_child_service() {
    let (child_tx, mut child) = mpsc::unbounded_channel();
    let parent = svc("Node", move |cx| {
        let child_tx = child_tx.clone();
        async move {
            let _ = child_tx.send(cx.run_child_service(waiting("Store"))?);
            cx.cancelled().await;
            Ok(())
        }
    })
    .start();
    let store = guard(child.recv()).await.unwrap();
    let (path_tx, path) = oneshot::channel();
    store
        .run_task("flush", |cx| async move {
            let _ = path_tx.send(cx.path().to_owned());
            cx.cancelled().await;
        })
        .unwrap();
    assert_eq!(guard(path).await.unwrap(), "Node/Store/flush");
    guard(parent.stop()).await.unwrap();
    assert!(store.is_finished());
    assert_eq!(store.stats().tasks.total_count, 1);
}

/// Another thread starting work while the service is cancelled: every piece of work that
/// ran is dropped before the service finishes (none outlives it), and every attempt either
/// ran or was refused. Repeated to meet the race at many points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_the_cancellation_from_another_thread_leaks_nothing() {
    for _ in 0..200 {
        let handle = waiting("Svc").start();
        handle.wait_started().await;
        let live = Live::new();
        // The starter says when it has started work; the cancellation then races its next.
        let (going_tx, going) = oneshot::channel::<()>();
        let starter = {
            let (manager, live) = (handle.manager().clone(), live.clone());
            let runtime = tokio::runtime::Handle::current();
            std::thread::spawn(move || {
                let _entered = runtime.enter();
                let mut going = Some(going_tx);
                let mut accepted = 0usize;
                loop {
                    let live = live.clone();
                    let outcome = manager.run_task("late", move |_cx| {
                        // Made when the task first runs: alive as long as its future.
                        let guard = live.guard();
                        async move { drop(guard) }
                    });
                    match outcome {
                        // Possibly started (cancelled in between): counted below.
                        Ok(()) if manager.is_cancelled() => break accepted,
                        Ok(()) => {
                            accepted += 1;
                            if let Some(going) = going.take() {
                                let _ = going.send(());
                            }
                        }
                        Err(LifecycleError::NotRunning) if manager.is_finished() => {
                            break accepted;
                        }
                        // The tasks end as fast as they start, but a slow runtime may
                        // let them pile up: try again.
                        Err(LifecycleError::TooManyChildren { .. }) => {}
                        Err(e) => panic!("refused while running: {e}"),
                    }
                }
            })
        };
        let _ = guard(going).await;
        handle.cancel();
        guard(handle.wait_finished()).await.unwrap();
        assert_eq!(live.count(), 0, "work outlived its service");
        let accepted = starter.join().unwrap();
        // Accepted before the cancellation was seen: started, so counted (and, as the live
        // count shows, gone before the service finished).
        assert!(handle.stats().tasks.total_count >= accepted);
        assert_eq!(
            handle.stats().tasks.total_count,
            handle.stats().tasks.finished_count
        );
    }
}
