//! No orphans, ever: a service is finished only when its body and every task and child
//! service it started are done. Every task holds a [`Live`] guard, and once `run()` or
//! `stop()` has returned, none is left — whatever way the service ended.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Live, guard, guard_thread, poll_until, svc};
use tokio::sync::{Notify, mpsc};

/// Tasks [`tree`] starts, guard holders all: 2 roots with 2 children each, one of which has
/// a child of its own.
const TREE: usize = 2 * (1 + 2 + 1);

/// Starts [`TREE`] tasks under `cx`, each holding a guard of `live` and never returning by
/// itself (so cancellation has to abort them), nested three deep.
fn tree(cx: &Context, live: &Live) -> Result<(), LifecycleError> {
    for _ in 0..2 {
        let live = live.clone();
        cx.run_task("root", move |cx| async move {
            let _guard = live.guard();
            for i in 0..2 {
                let live = live.clone();
                cx.run_task("child", move |cx| async move {
                    let _guard = live.guard();
                    if i == 0 {
                        let live = live.clone();
                        cx.run_task("grandchild", move |_cx| async move {
                            let _guard = live.guard();
                            pending::<()>().await
                        })?;
                    }
                    pending::<Result<(), LifecycleError>>().await
                })?;
            }
            pending::<Result<(), LifecycleError>>().await
        })?;
    }
    Ok(())
}

/// How the service under test ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Error,
    Panic,
    DaemonExit,
}

/// A service with a body and a [`tree`] holding guards; once the whole tree is live, a task
/// ends the service as `end` says.
fn ending(live: &Live, end: End) -> impl Service + use<> {
    let live = live.clone();
    svc("Node", move |cx| {
        let live = live.clone();
        async move {
            let _guard = live.guard();
            tree(&cx, &live)?;
            let watched = live.clone();
            let trigger = move |_cx: Context| async move {
                poll_until(|| watched.count() == 1 + TREE).await;
                match end {
                    End::Error => Err("broke"),
                    End::Panic => panic!("broke"),
                    End::DaemonExit => Ok(()),
                }
            };
            match end {
                End::DaemonExit => cx.run_daemon_task("trigger", trigger)?,
                _ => cx.run_task("trigger", trigger)?,
            }
            pending().await
        }
    })
}

/// After a clean exit (the body returns, tasks return after their children) no task is
/// left.
#[tokio::test]
async fn none_after_a_clean_exit() {
    let live = Live::new();
    let task_live = live.clone();
    let service = svc("Node", move |cx| {
        let live = task_live.clone();
        async move {
            let _guard = live.guard();
            for _ in 0..3 {
                let live = live.clone();
                cx.run_task("parent", move |cx| async move {
                    let _guard = live.guard();
                    for _ in 0..3 {
                        let live = live.clone();
                        cx.run_task("child", move |_cx| async move {
                            let _guard = live.guard();
                            for _ in 0..10 {
                                tokio::task::yield_now().await;
                            }
                        })?;
                    }
                    Ok::<(), LifecycleError>(())
                })?;
            }
            Ok(())
        }
    });
    let handle = ServiceHandle::new(service);
    guard(handle.run()).await.unwrap();
    assert_eq!(handle.stats().tasks.total_count, 12);
    assert_eq!(live.count(), 0);
}

/// After a task error, no task is left.
#[tokio::test]
async fn none_after_an_error() {
    let live = Live::new();
    let error = guard(ending(&live, End::Error).run()).await.unwrap_err();
    assert_eq!(error.failures()[0].path(), "Node/trigger");
    assert_eq!(live.count(), 0);
}

/// After a panic (a failure like an error), no task is left.
#[tokio::test]
async fn none_after_a_panic() {
    let live = Live::new();
    let error = guard(ending(&live, End::Panic).run()).await.unwrap_err();
    assert_eq!(error.failures()[0].kind(), FailureKind::Panic);
    assert_eq!(live.count(), 0);
}

/// After a daemon exits, no task is left.
#[tokio::test]
async fn none_after_a_daemon_exit() {
    let live = Live::new();
    let error = guard(ending(&live, End::DaemonExit).run())
        .await
        .unwrap_err();
    assert_eq!(error.failures()[0].kind(), FailureKind::DaemonExit);
    assert_eq!(live.count(), 0);
}

/// After an external cancel (`stop()`), no task is left.
#[tokio::test]
async fn none_after_an_external_cancel() {
    let live = Live::new();
    let task_live = live.clone();
    let handle = svc("Node", move |cx| {
        let live = task_live.clone();
        async move {
            let _guard = live.guard();
            tree(&cx, &live)?;
            pending().await
        }
    })
    .start();
    poll_until(|| live.count() == 1 + TREE).await;
    guard(handle.stop()).await.unwrap();
    assert_eq!(live.count(), 0);
}

/// A service `name` with a [`tree`] under its body that, unless it is the last of `names`,
/// starts the next one as a child service and sends its manager to `managers`.
fn nested(
    names: &'static [&'static str],
    live: &Live,
    managers: &mpsc::UnboundedSender<Manager>,
) -> impl Service + use<> {
    let live = live.clone();
    let managers = managers.clone();
    svc(names[0], move |cx| {
        let live = live.clone();
        let managers = managers.clone();
        async move {
            let _guard = live.guard();
            tree(&cx, &live)?;
            if names.len() > 1 {
                let child = cx.run_child_service(nested(&names[1..], &live, &managers))?;
                managers.send(child.manager().clone()).unwrap();
            }
            pending().await
        }
    })
}

/// Cancelling a parent leaves no task of its child service; the child is cancelled and
/// finished when the parent's `stop()` returns.
#[tokio::test]
async fn none_after_the_parent_is_cancelled() {
    let live = Live::new();
    let (managers_tx, mut managers) = mpsc::unbounded_channel();
    let handle = nested(&["Parent", "Child"], &live, &managers_tx).start();
    poll_until(|| live.count() == 2 * (1 + TREE)).await;
    let child = managers.recv().await.unwrap();
    guard(handle.stop()).await.unwrap();
    assert!(child.is_cancelled() && child.is_finished());
    assert_eq!(live.count(), 0);
}

/// Child services nested three deep, with tasks in each: after the top service is stopped,
/// or fails because of the deepest one, nothing is left at any level.
#[tokio::test]
async fn none_with_child_services_three_deep() {
    // Stopped from outside.
    let live = Live::new();
    let (managers_tx, mut managers) = mpsc::unbounded_channel();
    let handle = nested(&["A", "B", "C"], &live, &managers_tx).start();
    poll_until(|| live.count() == 3 * (1 + TREE)).await;
    guard(handle.stop()).await.unwrap();
    assert_eq!(live.count(), 0);
    for manager in [
        managers.recv().await.unwrap(),
        managers.recv().await.unwrap(),
    ] {
        assert!(manager.is_finished(), "{manager:?}");
    }

    // Failed from the deepest service.
    let live = Live::new();
    let task_live = live.clone();
    let deepest = move || {
        let live = task_live.clone();
        svc("C", move |cx| {
            let live = live.clone();
            async move {
                let _guard = live.guard();
                tree(&cx, &live)?;
                let watched = live.clone();
                cx.run_task("fail", move |_cx| async move {
                    poll_until(|| watched.count() == 3 * (1 + TREE)).await;
                    Err::<(), _>("deep failure")
                })?;
                pending().await
            }
        })
    };
    let middle = {
        let live = live.clone();
        svc("B", move |cx| {
            let live = live.clone();
            let deepest = deepest.clone();
            async move {
                let _guard = live.guard();
                tree(&cx, &live)?;
                cx.run_task("spawner", move |cx| async move {
                    cx.run_child_service(deepest())?;
                    pending::<Result<(), LifecycleError>>().await
                })?;
                pending().await
            }
        })
    };
    let top = {
        let live = live.clone();
        let middle = Arc::new(std::sync::Mutex::new(Some(middle)));
        svc("A", move |cx| {
            let live = live.clone();
            let middle = middle.lock().unwrap().take().unwrap();
            async move {
                let _guard = live.guard();
                tree(&cx, &live)?;
                cx.run_child_service(middle)?;
                pending().await
            }
        })
    };
    let error = guard(top.run()).await.unwrap_err();
    assert_eq!(error.failures()[0].path(), "A/B/spawner/C/fail");
    assert_eq!(live.count(), 0);
}

/// A service with a [`tree`] and a daemon child service with a tree of its own, all
/// ignoring cancellation for an hour of grace; a task notifies `cancelled` once it sees the
/// cancellation (and ignores it too).
fn stopping(live: &Live, cancelled: &Arc<Notify>) -> impl Service + use<> {
    let live = live.clone();
    let cancelled = Arc::clone(cancelled);
    svc("Stopping", move |cx| {
        let live = live.clone();
        let cancelled = Arc::clone(&cancelled);
        async move {
            let _guard = live.guard();
            tree(&cx, &live)?;
            cx.run_task("sees-cancel", move |cx| async move {
                cx.cancelled().await;
                cancelled.notify_one();
                pending::<()>().await
            })?;
            let daemon_live = live.clone();
            cx.run_daemon_child_service(svc("Daemon", move |cx| {
                let live = daemon_live.clone();
                async move {
                    let _guard = live.guard();
                    tree(&cx, &live)?;
                    pending().await
                }
            }))?;
            pending().await
        }
    })
    .with_grace(Duration::from_secs(3600))
}

/// Runs services on a runtime built by `build` and drops the runtime while they run: a
/// started service with a child service, a spawned `run()` future, and a service in the
/// middle of its grace period after `cancel()`. Returns the live count afterwards and
/// whether the started services reached finished.
fn drop_runtime_while_running(build: fn() -> tokio::runtime::Runtime) -> (usize, bool, bool) {
    guard_thread(move || {
        let runtime = build();
        let live = Live::new();
        let (managers_tx, _managers) = mpsc::unbounded_channel();
        let (started, cancelling) = runtime.block_on(async {
            let started = nested(&["Started", "Child"], &live, &managers_tx).start();
            tokio::spawn(nested(&["Spawned"], &live, &managers_tx).run());
            let cancelled = Arc::new(Notify::new());
            let cancelling = stopping(&live, &cancelled).start();
            poll_until(|| live.count() == 5 * (1 + TREE)).await;
            cancelling.cancel();
            guard(cancelled.notified()).await;
            assert!(cancelling.is_running(), "the grace period is an hour");
            (started, cancelling)
        });
        drop(runtime);
        (
            live.count(),
            started.is_finished(),
            cancelling.is_finished(),
        )
    })
}

/// Dropping a multi-thread runtime while services run does not hang or panic, and leaves
/// nothing alive: no service is left running with nobody able to stop it.
#[test]
fn none_after_a_multi_thread_runtime_is_dropped() {
    let (live, started, cancelling) = drop_runtime_while_running(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    });
    assert_eq!(live, 0);
    assert!(started && cancelling, "a service was left unfinished");
}

/// As [`none_after_a_multi_thread_runtime_is_dropped`], with a current-thread runtime.
#[test]
fn none_after_a_current_thread_runtime_is_dropped() {
    let (live, started, cancelling) = drop_runtime_while_running(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    });
    assert_eq!(live, 0);
    assert!(started && cancelling, "a service was left unfinished");
}

/// Starts the next link of a chain of `left` more nested tasks under `cx`; the deepest
/// notifies `bottom`. With `wait`, every link waits forever (cancellation aborts them
/// deepest first); without, every link but the deepest returns at once and stays not done
/// until its child is.
fn link(cx: &Context, left: usize, wait: bool, live: Live, bottom: Arc<Notify>) {
    cx.run_task("link", move |cx| async move {
        let _guard = live.guard();
        if left == 0 {
            bottom.notify_one();
            pending::<()>().await;
        } else {
            link(&cx, left - 1, wait, live.clone(), bottom);
            if wait {
                pending::<()>().await;
            }
        }
    })
    .expect("a link starts");
}

/// A chain of 3,000 nested tasks, each started by the previous one, starts and stops
/// without overflowing a stack (no recursion per level), and leaves nothing alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_3000_nested_tasks_starts_and_stops() {
    const DEPTH: usize = 3_000;
    for wait in [true, false] {
        let live = Live::new();
        let bottom = Arc::new(Notify::new());
        let (task_live, task_bottom) = (live.clone(), Arc::clone(&bottom));
        let handle = svc("Chain", move |cx| {
            link(
                &cx,
                DEPTH - 1,
                wait,
                task_live.clone(),
                Arc::clone(&task_bottom),
            );
            async { Ok(()) }
        })
        .start();
        guard(bottom.notified()).await;
        assert_eq!(handle.stats().tasks.total_count, DEPTH);
        guard(handle.stop()).await.unwrap();
        assert_eq!(live.count(), 0, "wait: {wait}");
        assert_eq!(handle.stats().tasks.finished_count, DEPTH, "wait: {wait}");
    }
}

/// One link of a chain of nested child services: its body starts the next link as its
/// child service and returns; the deepest holds a guard, hands its manager to `deepest` and
/// notifies `bottom`, then waits to be cancelled, or fails.
struct Nested {
    left: usize,
    fail: bool,
    live: Live,
    bottom: Arc<Notify>,
    deepest: Arc<std::sync::Mutex<Option<Manager>>>,
}

impl Service for Nested {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        if self.left > 0 {
            cx.run_child_service(Nested {
                left: self.left - 1,
                fail: self.fail,
                live: self.live.clone(),
                bottom: Arc::clone(&self.bottom),
                deepest: Arc::clone(&self.deepest),
            })?;
            return Ok(());
        }
        let _guard = self.live.guard();
        *self.deepest.lock().unwrap() = Some(cx.manager().clone());
        self.bottom.notify_one();
        if self.fail {
            return Err("the deepest link failed".into());
        }
        cx.cancelled().await;
        Ok(())
    }

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "Link".into()
    }
}

/// A chain of 20,000 child services, each started by the one above: stopped from the top,
/// or failed from the bottom, every level finishes, the failure reaches the top with the
/// deepest task's path, and nothing is left alive. A manager kept to the deepest keeps the
/// chain's states (each child's root lives in its state, and refers to its parent's);
/// dropping it frees them all without a stack frame per level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_20000_nested_child_services_stops_and_is_freed() {
    const DEPTH: usize = 20_000;
    for fail in [false, true] {
        let live = Live::new();
        let bottom = Arc::new(Notify::new());
        let deepest = Arc::new(std::sync::Mutex::new(None));
        let handle = Nested {
            left: DEPTH - 1,
            fail,
            live: live.clone(),
            bottom: Arc::clone(&bottom),
            deepest: Arc::clone(&deepest),
        }
        .start();
        guard(bottom.notified()).await;
        let outcome = if fail {
            guard(handle.wait_finished()).await
        } else {
            guard(handle.stop()).await
        };
        assert_eq!(live.count(), 0, "fail: {fail}");
        match outcome {
            Ok(()) => assert!(!fail, "the deepest failure was lost"),
            Err(ServiceError::Failed(failures)) => {
                assert!(fail, "stopping the chain failed");
                assert_eq!(failures.len(), 1, "reported once");
                let path = failures[0].path();
                assert_eq!(path.matches("Link").count(), DEPTH, "{}", &path[..60]);
                assert_eq!(failures.service(), "Link", "the top's error names the top");
            }
            Err(other) => panic!("not a failure: {other}"),
        }
        drop(handle);
        let deepest = deepest.lock().unwrap().take().expect("the deepest ran");
        assert!(deepest.is_finished());
        assert_eq!(deepest.path().matches("Link").count(), DEPTH);
        // The last reference to the chain goes here, on this thread: it unlinks in a loop.
        drop(deepest);
    }
}
