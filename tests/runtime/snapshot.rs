//! `Manager::snapshot`: the live tree of a service — every task and child service with its
//! kind, state, restarts and age — and its `Display`, an indented tree with collapsed
//! siblings.

use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use service_runtime::prelude::*;
use service_runtime::{Snapshot, TaskKind, TaskSnapshot, TaskState};
use service_tests::svc;
use tokio::sync::mpsc;

type Up = mpsc::UnboundedSender<&'static str>;

/// A child service whose daemon reports that it runs, then waits to be cancelled.
struct Store(Up);

impl Service for Store {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let up = self.0.clone();
        cx.run_daemon_task("flush", move |cx| async move {
            let _ = up.send("flush");
            cx.cancelled().await;
        })?;
        Ok(())
    }
}

/// The entry at `path`, failing if there is none or more than one.
fn at<'a>(snapshot: &'a Snapshot, path: &str) -> &'a TaskSnapshot {
    let mut found = snapshot.iter().filter(|task| task.path == path);
    let task = found
        .next()
        .unwrap_or_else(|| panic!("no `{path}` in\n{snapshot}"));
    assert!(found.next().is_none(), "`{path}` twice in\n{snapshot}");
    task
}

/// Receives `n` reports of tasks that run.
async fn ups(rx: &mut mpsc::UnboundedReceiver<&'static str>, n: usize) {
    for _ in 0..n {
        rx.recv().await.expect("a task reported");
    }
}

/// The printed tree: one line per group of same-named siblings of one kind, with their
/// kind, states, ages and restarts; child services nested with their own tasks.
#[tokio::test(start_paused = true)]
async fn display_is_an_indented_tree_with_collapsed_siblings() {
    let (up, mut rx) = mpsc::unbounded_channel();
    let node = svc("Node", move |cx| {
        let up = up.clone();
        async move {
            let to_gossip = up.clone();
            cx.run_daemon_task("gossip", move |cx| async move {
                for _ in 0..3 {
                    let up = to_gossip.clone();
                    cx.run_task("handle", move |cx| async move {
                        let _ = up.send("handle");
                        cx.cancelled().await;
                    })?;
                }
                let _ = to_gossip.send("gossip");
                cx.cancelled().await;
                Ok::<(), BoxError>(())
            })?;
            cx.run_child_service(Store(up.clone()))?;
            let policy = Restart::on_failure()
                .max_restarts(10)
                .within(Duration::from_secs(3600))
                .backoff(Duration::from_secs(30), Duration::from_secs(30))
                .without_jitter();
            cx.task("flaky").restart(policy).spawn(move |_cx| {
                let up = up.clone();
                async move {
                    let _ = up.send("flaky");
                    Err::<(), _>("flaky")
                }
            })?;
            Ok(())
        }
    })
    .start();
    ups(&mut rx, 6).await;
    assert_eq!(
        node.snapshot().to_string(),
        "\
Node (service, running, 0ms)
├─ gossip (daemon, running, 0ms)
│  └─ handle ×3 (task, 3 running, 0ms)
├─ Store (child service, running, 0ms)
│  └─ flush (daemon, running, 0ms)
└─ flaky (task, backing off, 0ms, 1 restart)"
    );
    // Its first restart at 30 s: it fails again and waits for the next.
    tokio::time::advance(Duration::from_secs(40)).await;
    ups(&mut rx, 1).await;
    assert_eq!(
        node.snapshot().to_string(),
        "\
Node (service, running, 40s)
├─ gossip (daemon, running, 40s)
│  └─ handle ×3 (task, 3 running, 40s)
├─ Store (child service, running, 40s)
│  └─ flush (daemon, running, 40s)
└─ flaky (task, backing off, 40s, 2 restarts)"
    );
    node.stop().await.unwrap();
}

/// Siblings of one name but different states and ages share a line that counts each state
/// and gives the range of ages; members' children are merged into the group's.
#[tokio::test(start_paused = true)]
async fn a_group_counts_its_states_and_spans_its_ages() {
    let (up, mut rx) = mpsc::unbounded_channel();
    let (go, wait) = tokio::sync::watch::channel(false);
    let node = svc("Host", move |cx| {
        let (up, wait) = (up.clone(), wait.clone());
        async move {
            cx.run_daemon_task("listen", move |cx| async move {
                for n in 0..4 {
                    if n == 2 {
                        // Two connections now, two more 90 s later.
                        let mut wait = wait.clone();
                        let _ = wait.wait_for(|go| *go).await;
                    }
                    let up = up.clone();
                    cx.run_task("conn", move |cx| async move {
                        let to_reader = up.clone();
                        cx.run_task("reader", move |cx| async move {
                            let _ = to_reader.send("reader");
                            cx.cancelled().await;
                        })?;
                        if n % 2 == 0 {
                            // Its own work is over; its reader goes on.
                            return Ok(());
                        }
                        cx.cancelled().await;
                        Ok::<(), BoxError>(())
                    })?;
                }
                cx.cancelled().await;
                Ok::<(), BoxError>(())
            })?;
            // Another daemon: a sibling of another name, on a line of its own.
            cx.run_daemon_task("stats", |cx| async move { cx.cancelled().await })?;
            Ok(())
        }
    })
    .start();
    ups(&mut rx, 2).await;
    tokio::time::advance(Duration::from_secs(90)).await;
    go.send(true).unwrap();
    ups(&mut rx, 2).await;
    let snapshot = node.snapshot();
    assert_eq!(
        snapshot.to_string(),
        "\
Host (service, running, 1m30s)
├─ listen (daemon, running, 1m30s)
│  └─ conn ×4 (task, 2 running, 2 waiting for children, 0ms–1m30s)
│     └─ reader ×4 (task, 4 running, 0ms–1m30s)
└─ stats (daemon, running, 1m30s)"
    );
    assert_eq!(snapshot.len(), 1 + 2 + 4 + 4);
    node.stop().await.unwrap();
}

/// Each kind of work is told apart: the service's body, tasks, daemons, child services
/// (daemon or not) and contained work, with paths as failures name them.
#[tokio::test(start_paused = true)]
async fn kinds_and_paths() {
    let (up, mut rx) = mpsc::unbounded_channel();
    let node = svc("Node", move |cx| {
        let up = up.clone();
        async move {
            let to_worker = up.clone();
            cx.run_task("worker", move |cx| async move {
                cx.run_child_service(Store(to_worker.clone()))?;
                let _ = to_worker.send("worker");
                cx.cancelled().await;
                Ok::<(), BoxError>(())
            })?;
            let to_daemon = up.clone();
            cx.run_daemon_task("ticker", move |cx| async move {
                let _ = to_daemon.send("ticker");
                cx.cancelled().await;
            })?;
            cx.run_daemon_child_service(Store(up.clone()))?;
            let to_conn = up.clone();
            cx.task("conn").contained().spawn(move |cx| async move {
                let _ = to_conn.send("conn");
                cx.cancelled().await;
            })?;
            cx.child({
                let up = up.clone();
                move || Store(up)
            })
            .contained()
            .spawn()?;
            Ok(())
        }
    })
    .start();
    // worker, its Store's flush, ticker, the daemon Store's flush, conn, the contained
    // Store's flush.
    ups(&mut rx, 6).await;
    let snapshot = node.snapshot();
    let kinds: Vec<(&str, TaskKind, bool)> = snapshot
        .iter()
        .map(|task| (task.path.as_str(), task.kind, task.contained))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Node", TaskKind::Body, false),
            ("Node/worker", TaskKind::Task, false),
            ("Node/worker/Store", TaskKind::ChildService, false),
            ("Node/worker/Store/flush", TaskKind::Daemon, false),
            ("Node/ticker", TaskKind::Daemon, false),
            ("Node/Store", TaskKind::DaemonChildService, false),
            ("Node/Store/flush", TaskKind::Daemon, false),
            ("Node/conn", TaskKind::Task, true),
            ("Node/Store", TaskKind::ChildService, true),
            ("Node/Store/flush", TaskKind::Daemon, false),
        ]
    );
    assert!(snapshot.iter().all(|task| task.state == TaskState::Running));
    let text = snapshot.to_string();
    assert!(
        text.contains("├─ Store (daemon child service, running, 0ms)"),
        "{text}"
    );
    assert!(
        text.contains("├─ conn (contained task, running, 0ms)"),
        "{text}"
    );
    assert!(
        text.contains("└─ Store (contained child service, running, 0ms)"),
        "{text}"
    );
    node.stop().await.unwrap();
}

/// A task's age counts from when it was started, not from when it first ran (nor from when
/// its service did): the clock moves on between the three here, and the age shows it.
#[tokio::test(start_paused = true)]
async fn a_tasks_age_counts_from_its_start_not_its_first_poll() {
    let (up, mut rx) = mpsc::unbounded_channel();
    let node = svc("Node", move |cx| {
        let up = up.clone();
        async move {
            // Started 3 s after its service.
            tokio::time::advance(Duration::from_secs(3)).await;
            cx.run_task("late", move |cx| async move {
                let _ = up.send("late");
                cx.cancelled().await;
            })?;
            // The clock moves before `late` is first polled (this task has not yielded yet:
            // `advance` moves it, then yields).
            tokio::time::advance(Duration::from_secs(5)).await;
            Ok::<(), BoxError>(())
        }
    })
    .start();
    ups(&mut rx, 1).await;
    let snapshot = node.snapshot();
    let late = at(&snapshot, "Node/late");
    assert_eq!(
        (late.state, late.age),
        (TaskState::Running, Duration::from_secs(5))
    );
    node.stop().await.unwrap();
}

/// The tasks one poll of a task starts share one reading of the clock: the clock moves on
/// between two starts within one poll here, and both have the same age.
#[tokio::test(start_paused = true)]
async fn the_tasks_one_poll_starts_share_their_start() {
    let (up, mut rx) = mpsc::unbounded_channel();
    let node = svc("Node", move |cx| {
        let up = up.clone();
        async move {
            for name in ["first", "second"] {
                let up = up.clone();
                cx.run_task(name, move |cx| async move {
                    let _ = up.send(name);
                    cx.cancelled().await;
                })?;
                // Move the clock without ending this poll: `advance` moves it on its first
                // poll (then yields, and is dropped here).
                let mut advance = std::pin::pin!(tokio::time::advance(Duration::from_secs(5)));
                std::future::poll_fn(|task_cx| {
                    let _ = advance.as_mut().poll(task_cx);
                    std::task::Poll::Ready(())
                })
                .await;
            }
            Ok::<(), BoxError>(())
        }
    })
    .start();
    ups(&mut rx, 2).await;
    let snapshot = node.snapshot();
    let (first, second) = (at(&snapshot, "Node/first"), at(&snapshot, "Node/second"));
    assert_eq!(
        (first.age, second.age),
        (Duration::from_secs(10), Duration::from_secs(10))
    );
    node.stop().await.unwrap();
}

/// A task not yet polled is starting; one whose own work ended while its children run
/// waits for them.
#[tokio::test(start_paused = true)]
async fn starting_and_waiting_for_children() {
    let (seen, mut snapshot) = mpsc::unbounded_channel();
    let node = svc("Node", move |cx| {
        let seen = seen.clone();
        async move {
            cx.run_task("parent", move |cx| async move {
                cx.run_task("child", |cx| async move { cx.cancelled().await })?;
                cx.run_daemon_task("watch", |cx| async move { cx.cancelled().await })?;
                // Taken before `child` and `watch` are first polled (this task has not
                // yielded).
                let _ = seen.send(cx.manager().snapshot());
                Ok::<(), BoxError>(())
            })?;
            Ok(())
        }
    })
    .start();
    let early = snapshot.recv().await.unwrap();
    assert_eq!(at(&early, "Node/parent").state, TaskState::Running);
    let child = at(&early, "Node/parent/child");
    assert_eq!(
        (child.state, child.age),
        (TaskState::Starting, Duration::ZERO)
    );
    // A daemon is one from the start, not only once it runs.
    let watch = at(&early, "Node/parent/watch");
    assert_eq!(
        (watch.kind, watch.state),
        (TaskKind::Daemon, TaskState::Starting)
    );
    // `parent` returns; `child` runs on.
    service_tests::poll_until(|| {
        let later = node.snapshot();
        later
            .iter()
            .any(|task| task.path == "Node/parent/child" && task.state == TaskState::Running)
            && at(&later, "Node/parent").state == TaskState::WaitingForChildren
    })
    .await;
    node.stop().await.unwrap();
}

/// Once its service is cancelled, a task is stopping within its grace; a cancelled task
/// whose grace is over (zero here) waits for a child service that has a grace of its own.
#[tokio::test(start_paused = true)]
async fn stopping_within_the_grace_and_waiting_for_children() {
    let (up, mut rx) = mpsc::unbounded_channel();
    let slow = svc("Slow", move |cx| {
        let up = up.clone();
        async move {
            cx.run_task("stubborn", move |_cx| async move {
                let _ = up.send("stubborn");
                pending::<()>().await;
            })?;
            Ok(())
        }
    })
    .with_grace(Duration::from_secs(10));
    let slow = std::sync::Mutex::new(Some(slow));
    let node = svc("Node", move |cx| {
        let slow = slow.lock().unwrap().take();
        async move {
            cx.run_task("owner", move |cx| async move {
                if let Some(slow) = slow {
                    cx.run_child_service(slow)?;
                }
                pending::<()>().await;
                Ok::<(), BoxError>(())
            })?;
            Ok(())
        }
    })
    .with_grace(Duration::ZERO)
    .start();
    rx.recv().await.unwrap();
    node.cancel();
    let snapshot = node.snapshot();
    assert_eq!(at(&snapshot, "Node").state, TaskState::WaitingForChildren);
    assert_eq!(
        at(&snapshot, "Node/owner").state,
        TaskState::WaitingForChildren
    );
    assert_eq!(at(&snapshot, "Node/owner/Slow").state, TaskState::Stopping);
    assert_eq!(
        at(&snapshot, "Node/owner/Slow/stubborn").state,
        TaskState::Stopping
    );
    let error = node.wait_finished().await.unwrap_err();
    assert_eq!(error.failures()[0].path(), "Node/owner/Slow/stubborn");
    // Finished: the service alone.
    let finished = node.snapshot();
    assert_eq!(finished.len(), 1);
    assert!(finished.root.children.is_empty());
}

/// A task waiting out its restart delay backs off; once its service is cancelled it is
/// stopping (it is done at once).
#[tokio::test(start_paused = true)]
async fn backoff_and_restart_count() {
    let (up, mut rx) = mpsc::unbounded_channel();
    let node = svc("Node", move |cx| {
        let up = up.clone();
        async move {
            let policy = Restart::always()
                .max_restarts(100)
                .within(Duration::from_secs(3600))
                .backoff(Duration::from_secs(5), Duration::from_secs(5))
                .without_jitter();
            cx.task("worker")
                .daemon()
                .restart(policy)
                .spawn(move |_cx| {
                    let up = up.clone();
                    async move {
                        let _ = up.send("worker");
                    }
                })?;
            Ok(())
        }
    })
    .start();
    for restarts in 1..=3u32 {
        rx.recv().await.unwrap();
        let snapshot = node.snapshot();
        let worker = at(&snapshot, "Node/worker");
        assert_eq!(
            (worker.kind, worker.state, worker.restarts),
            (TaskKind::Daemon, TaskState::Backoff, restarts)
        );
        assert_eq!(worker.age, Duration::from_secs(5 * u64::from(restarts - 1)));
        tokio::time::advance(Duration::from_secs(5)).await;
    }
    assert_eq!(node.stats().tasks.restart_count, 3);
    node.stop().await.unwrap();
}

/// The snapshot types are plain data: public fields, `Clone`, `Debug`, and `Display` for
/// the kinds and states.
#[tokio::test]
async fn plain_data() {
    let node = svc("Node", |_cx| async { Ok(()) }).start();
    node.wait_ready().await.unwrap();
    let snapshot = node.snapshot();
    let copy = snapshot.clone();
    assert_eq!(copy.root, snapshot.root);
    assert!(format!("{snapshot:?}").contains("Body"));
    assert_eq!(
        TaskState::WaitingForChildren.to_string(),
        "waiting for children"
    );
    assert_eq!(
        TaskKind::DaemonChildService.to_string(),
        "daemon child service"
    );
    node.stop().await.unwrap();
}

/// Links of a chain of nested tasks: each starts the next, down to `depth`.
const DEPTH: usize = 20_000;

fn link(
    cx: Context,
    depth: usize,
    up: Up,
) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>> {
    Box::pin(async move {
        if depth < DEPTH {
            cx.run_task("link", move |cx| link(cx, depth + 1, up))?;
        } else {
            let _ = up.send("deepest");
        }
        cx.cancelled().await;
        Ok(())
    })
}

/// A chain of 20,000 nested tasks: taking and dropping its snapshot need no stack per level
/// (printing is iterative too, but its indentation makes its text quadratic in the depth).
#[tokio::test]
async fn a_deep_chain_needs_no_stack() {
    let (up, mut rx) = mpsc::unbounded_channel();
    let node = svc("Deep", move |cx| {
        let up = up.clone();
        async move {
            cx.run_task("link", move |cx| link(cx, 1, up))?;
            Ok(())
        }
    })
    .start();
    ups(&mut rx, 1).await;
    let snapshot = node.snapshot();
    assert_eq!(snapshot.len(), DEPTH + 1);
    let deepest = snapshot.iter().last().unwrap();
    assert_eq!(deepest.path.len(), "Deep".len() + DEPTH * "/link".len());
    drop(snapshot);
    node.stop().await.unwrap();
}
