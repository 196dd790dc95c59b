//! Model checks of the synchronisation core with loom: every interleaving of the racing
//! operations below is explored, and a lost wake-up shows up as a deadlock loom reports.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p service-runtime --no-default-features --release --lib loom_models`
//! (`.ci/run` does, with a separate target directory).

use std::future::{Future, poll_fn};
use std::sync::Arc;

use loom::future::block_on;
use loom::thread;

use crate::cause::CancelCause;
use crate::handle::ServiceHandle;
use crate::manager::{Manager, Shared};
use crate::options::Options;
use crate::serve::Service;
use crate::tree::{TaskNode, TaskRef, attach_task, release, release_stopped, release_task};
use crate::{BoxError, Context, LifecycleError};

/// A service whose manager is set up by hand (no tokio runtime under loom).
struct Nothing;

impl Service for Nothing {
    async fn serve(self: Arc<Self>, _cx: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

/// A started manager with its root node, as `Manager::launch` leaves them.
fn started() -> (Arc<Shared>, Arc<TaskNode>) {
    let shared = Shared::new(TaskNode::root("Svc"), Options::default(), None);
    assert!(shared.try_start());
    let root = Arc::clone(&shared.root);
    shared.mark_started();
    (shared, root)
}

/// Checks `model` with at most 3 preemptions: the three-thread models stay within seconds
/// this way (loom's guidance: the bugs it finds need few preemptions).
fn bounded(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(model);
}

/// Waits as the task `task` does until its service is cancelled (storing its waker once).
fn wait_cancelled(task: &mut TaskRef, shared: &Shared) {
    let mut registered = false;
    block_on(poll_fn(|cx| {
        task.poll_cancelled(cx, shared.cancelled_flag(), &mut registered)
    }));
}

/// Runs the task `task` as the runner does one that is aborted: it waits to be cancelled,
/// then for its children, then leaves the tree.
fn run_until_aborted(mut task: TaskRef, shared: &Arc<Shared>) -> thread::JoinHandle<()> {
    let shared = Arc::clone(shared);
    thread::spawn(move || {
        wait_cancelled(&mut task, &shared);
        block_on(poll_fn(|cx| task.poll_stop(cx)));
        release_task(&mut task, &shared, true);
    })
}

/// Spawning races cancellation: the new task either sees the flag at once or is woken by
/// the cancellation walk — it never waits forever.
#[test]
fn cancel_racing_spawn() {
    loom::model(|| {
        let (shared, root) = started();
        let spawner = {
            let (shared, root) = (Arc::clone(&shared), Arc::clone(&root));
            thread::spawn(move || {
                if shared.is_cancelled() {
                    return;
                }
                let mut child = attach_task(&root, &"child".into(), 10).unwrap();
                wait_cancelled(&mut child, &shared);
                release_task(&mut child, &shared, false);
            })
        };
        shared.cancel(CancelCause::Requested);
        spawner.join().unwrap();
        release(&root, &shared);
        assert!(Manager::from_shared(shared).is_finished());
    });
}

/// A task finishing races cancellation: the tree completes exactly once, with the
/// finished count equal to the started count.
#[test]
fn cancel_racing_a_task_finishing() {
    loom::model(|| {
        let (shared, root) = started();
        let mut child = attach_task(&root, &"child".into(), 10).unwrap();
        shared.count_started_task();
        let finisher = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || release_task(&mut child, &shared, false))
        };
        shared.cancel(CancelCause::Requested);
        finisher.join().unwrap();
        release(&root, &shared);
        let manager = Manager::from_shared(shared);
        assert!(manager.is_finished() && manager.is_cancelled());
        let tasks = manager.stats().tasks;
        assert_eq!((tasks.total_count, tasks.finished_count), (1, 1));
    });
}

/// The last child finishing races its parent starting to wait for its children: the
/// parent is always woken.
#[test]
fn last_child_racing_the_parents_wait() {
    loom::model(|| {
        let (shared, root) = started();
        let mut parent = attach_task(&root, &"parent".into(), 10).unwrap();
        let mut child =
            attach_task(&parent.make_node(&"parent".into()), &"child".into(), 10).unwrap();
        let finisher = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || release_task(&mut child, &shared, false))
        };
        block_on(poll_fn(|cx| parent.poll_stop(cx)));
        finisher.join().unwrap();
        release_task(&mut parent, &shared, true);
        release(&root, &shared);
        assert!(Manager::from_shared(shared).is_finished());
    });
}

/// Two waiters on `wait_finished` race the service finishing: both get the outcome.
#[test]
fn two_waiters_racing_completion() {
    bounded(|| {
        let (shared, root) = started();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let manager = Manager::from_shared(Arc::clone(&shared));
                thread::spawn(move || block_on(manager.wait_finished()))
            })
            .collect();
        release(&root, &shared);
        for waiter in waiters {
            assert!(waiter.join().unwrap().is_ok());
        }
    });
}

/// An external call races cancellation: the call either completes before, or is dropped
/// and fails with `NotRunning`; it never hangs.
#[test]
fn external_call_racing_cancel() {
    loom::model(|| {
        let (shared, root) = started();
        let handle =
            ServiceHandle::from_parts(Manager::from_shared(Arc::clone(&shared)), Arc::new(Nothing));
        let caller = {
            let handle = handle.clone();
            thread::spawn(move || block_on(handle.call(|_svc| std::future::pending::<()>())))
        };
        handle.cancel();
        assert_eq!(caller.join().unwrap(), Err(LifecycleError::NotRunning));
        release(&root, &shared);
    });
}

/// An event is set while one waiter registers and another gives up after registering: the
/// first is always woken, and the one that gave up leaves nothing behind.
#[test]
fn event_set_racing_a_waiter_and_a_drop() {
    loom::model(|| {
        let event = Arc::new(crate::event::Event::default());
        let waiter = {
            let event = Arc::clone(&event);
            thread::spawn(move || block_on(event.wait()))
        };
        let quitter = {
            let event = Arc::clone(&event);
            thread::spawn(move || {
                let mut wait = Box::pin(event.wait());
                // One poll registers (or finds the event set); then the future is dropped.
                block_on(poll_fn(|cx| {
                    let _ = wait.as_mut().poll(cx);
                    std::task::Poll::Ready(())
                }));
            })
        };
        event.set();
        waiter.join().unwrap();
        quitter.join().unwrap();
        assert!(event.is_set());
    });
}

/// A body that returned waits quietly for its service's last task, which finishes while the
/// service is cancelled: the body is woken by that task (never only by the cancellation),
/// and the service finishes.
#[test]
fn returned_body_racing_its_last_task_and_a_cancel() {
    loom::model(|| {
        let (shared, root) = started();
        let mut child = attach_task(&root, &"child".into(), 10).unwrap();
        let finisher = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || release_task(&mut child, &shared, false))
        };
        let canceller = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || shared.cancel(CancelCause::Requested))
        };
        block_on(poll_fn(|cx| root.poll_stop_quietly(cx)));
        release_stopped(&root, &shared);
        finisher.join().unwrap();
        canceller.join().unwrap();
        assert!(Manager::from_shared(shared).is_finished());
    });
}

/// A leaf task waits to be cancelled, then for its children, while another reference to it
/// (a clone of its `Context`) starts a child from it — making it a node — and the service is
/// cancelled: the task's waker moves with it, nobody waits forever, and every task is
/// counted once.
#[test]
fn a_leaf_becoming_a_node_racing_its_wait_and_a_cancel() {
    bounded(|| {
        let (shared, root) = started();
        let task = attach_task(&root, &"task".into(), 10).unwrap();
        shared.count_started_task();
        let starter = {
            let (shared, other) = (Arc::clone(&shared), task.clone());
            thread::spawn(move || {
                if shared.is_cancelled() {
                    return;
                }
                let mut child =
                    attach_task(&other.make_node(&"task".into()), &"child".into(), 10).unwrap();
                shared.count_started_task();
                wait_cancelled(&mut child, &shared);
                release_task(&mut child, &shared, false);
            })
        };
        let runner = run_until_aborted(task, &shared);
        shared.cancel(CancelCause::Requested);
        starter.join().unwrap();
        runner.join().unwrap();
        release(&root, &shared);
        let manager = Manager::from_shared(shared);
        assert!(manager.is_finished());
        let tasks = manager.stats().tasks;
        assert_eq!(tasks.total_count, tasks.finished_count);
    });
}

/// A task with a child waits to be cancelled, its waker stored once; the child ends on its
/// own meanwhile. The child's release must leave the waker for the cancellation (the task
/// waits for cancellation, not for its children, and does not store it again).
#[test]
fn a_child_ending_leaves_its_parents_cancellation_waker() {
    bounded(|| {
        let (shared, root) = started();
        let task = attach_task(&root, &"task".into(), 10).unwrap();
        let mut child = attach_task(&task.make_node(&"task".into()), &"child".into(), 10).unwrap();
        let runner = run_until_aborted(task, &shared);
        let finisher = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || release_task(&mut child, &shared, false))
        };
        shared.cancel(CancelCause::Requested);
        finisher.join().unwrap();
        runner.join().unwrap();
        release(&root, &shared);
        assert!(Manager::from_shared(shared).is_finished());
    });
}
