//! Model checks of the synchronisation core with loom: every interleaving of the racing
//! operations below is explored, and a lost wake-up shows up as a deadlock loom reports.
//!
//! The tree's models build bare trees (of [`Bare`] owners, with a flag and a counter of their own: no
//! manager); the manager's models build a started [`ServiceState`] by hand (no tokio runtime
//! under loom).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p service-runtime --no-default-features --release --lib loom_models`
//! (`.ci/run` does, with a separate target directory).

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;

use loom::future::block_on;
use loom::thread;

use crate::handle::ServiceHandle;
use crate::manager::{Manager, Node, ServiceState};
use crate::options::Options;
use crate::serve::Service;
use crate::sync::{AtomicBool, AtomicUsize, Ordering};
use crate::tree::{
    Bare, CancelWalk, NodeRef, Released, Status, TaskRef, attach_task, release, release_task,
    wake_tree,
};
use crate::{BoxError, Context, LifecycleError};

/// A bare tree and what its owner keeps beside it: the cancellation flag and the count of
/// tasks that left.
struct Tree {
    root: NodeRef<Bare>,
    cancelled: AtomicBool,
    finished: AtomicUsize,
}

impl Tree {
    fn new() -> Arc<Tree> {
        Arc::new(Tree {
            root: Bare::tree("Svc"),
            cancelled: AtomicBool::new(false),
            finished: AtomicUsize::new(0),
        })
    }

    /// What a service's cancellation does to its tree: the flag, then the walk.
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        wake_tree(&self.root, &mut CancelWalk::default());
    }

    fn attach(&self, parent: &NodeRef<Bare>, name: &'static str) -> TaskRef<Bare> {
        attach_task(parent, &name.into(), 10, false, 0).unwrap()
    }

    /// Waits as a task does until the tree is cancelled: its waker stored once, then the
    /// flag read on every poll.
    fn wait_cancelled(&self, task: &mut TaskRef<Bare>) {
        let mut registered = false;
        block_on(poll_fn(|cx| {
            if !registered {
                let _ = task.register(cx.waker(), Status::default());
                registered = true;
            }
            if self.cancelled.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
    }

    /// Runs `task` as the runner runs one that is aborted: it waits to be cancelled, then
    /// for its children, then leaves the tree.
    fn run_until_aborted(self: &Arc<Self>, mut task: TaskRef<Bare>) -> thread::JoinHandle<()> {
        let tree = Arc::clone(self);
        thread::spawn(move || {
            tree.wait_cancelled(&mut task);
            block_on(poll_fn(|cx| task.poll_stop(cx)));
            assert_eq!(
                release_task(&mut task, &tree.finished, true),
                Released::Pending
            );
        })
    }

    /// The body's work ends; the tree must then be done.
    fn end_body(&self) {
        assert_eq!(release(&self.root, &self.finished), Released::RootDone);
    }
}

/// Checks `model` with at most 3 preemptions: the three-thread models stay within seconds
/// this way (loom's guidance: the bugs it finds need few preemptions).
fn bounded(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(model);
}

/// Spawning races cancellation: the new task either sees the flag at once or is woken by
/// the cancellation walk — it never waits forever.
#[test]
fn cancel_racing_spawn() {
    loom::model(|| {
        let tree = Tree::new();
        let spawner = {
            let tree = Arc::clone(&tree);
            thread::spawn(move || {
                if tree.cancelled.load(Ordering::Acquire) {
                    return;
                }
                let mut child = tree.attach(&tree.root, "child");
                tree.wait_cancelled(&mut child);
                let _ = release_task(&mut child, &tree.finished, false);
            })
        };
        tree.cancel();
        spawner.join().unwrap();
        tree.end_body();
    });
}

/// A task finishing races cancellation: the tree completes exactly once, with the task
/// counted once.
#[test]
fn cancel_racing_a_task_finishing() {
    loom::model(|| {
        let tree = Tree::new();
        let mut child = tree.attach(&tree.root, "child");
        let finisher = {
            let tree = Arc::clone(&tree);
            thread::spawn(move || {
                assert_eq!(
                    release_task(&mut child, &tree.finished, false),
                    Released::Pending
                );
            })
        };
        tree.cancel();
        finisher.join().unwrap();
        tree.end_body();
        assert_eq!(tree.finished.load(Ordering::Acquire), 1);
    });
}

/// The last child finishing races its parent starting to wait for its children: the
/// parent is always woken.
#[test]
fn last_child_racing_the_parents_wait() {
    loom::model(|| {
        let tree = Tree::new();
        let mut parent = tree.attach(&tree.root, "parent");
        let mut child = tree.attach(&parent.make_node(&"parent".into()), "child");
        let finisher = {
            let tree = Arc::clone(&tree);
            thread::spawn(move || {
                let _ = release_task(&mut child, &tree.finished, false);
            })
        };
        block_on(poll_fn(|cx| parent.poll_stop(cx)));
        finisher.join().unwrap();
        assert_eq!(
            release_task(&mut parent, &tree.finished, true),
            Released::Pending
        );
        tree.end_body();
    });
}

/// A body that returned waits quietly for its last task, which finishes while the tree is
/// cancelled: the body is woken by that task (never only by the cancellation), and the
/// root is done once.
#[test]
fn returned_body_racing_its_last_task_and_a_cancel() {
    loom::model(|| {
        let tree = Tree::new();
        let mut child = tree.attach(&tree.root, "child");
        let finisher = {
            let tree = Arc::clone(&tree);
            thread::spawn(move || {
                assert_eq!(
                    release_task(&mut child, &tree.finished, false),
                    Released::Pending
                );
            })
        };
        let canceller = {
            let tree = Arc::clone(&tree);
            thread::spawn(move || tree.cancel())
        };
        block_on(poll_fn(|cx| tree.root.poll_stop_quietly(cx)));
        assert_eq!(
            crate::tree::release_done(&tree.root, &tree.finished),
            Released::RootDone
        );
        finisher.join().unwrap();
        canceller.join().unwrap();
    });
}

/// A leaf task waits to be cancelled, then for its children, while another reference to it
/// (a clone of its `Context`) starts a child from it — making it a node — and the tree is
/// cancelled: the task's waker moves with it, nobody waits forever, and every task is
/// counted once.
#[test]
fn a_leaf_becoming_a_node_racing_its_wait_and_a_cancel() {
    bounded(|| {
        let tree = Tree::new();
        let task = tree.attach(&tree.root, "task");
        let starter = {
            let (tree, other) = (Arc::clone(&tree), task.clone());
            thread::spawn(move || {
                if tree.cancelled.load(Ordering::Acquire) {
                    return 0;
                }
                let mut child = tree.attach(&other.make_node(&"task".into()), "child");
                tree.wait_cancelled(&mut child);
                let _ = release_task(&mut child, &tree.finished, false);
                1
            })
        };
        let runner = tree.run_until_aborted(task);
        tree.cancel();
        let started = starter.join().unwrap();
        runner.join().unwrap();
        tree.end_body();
        assert_eq!(tree.finished.load(Ordering::Acquire), 1 + started);
    });
}

/// A task with a child waits to be cancelled, its waker stored once; the child ends on its
/// own meanwhile. The child's release must leave the waker for the cancellation (the task
/// waits for cancellation, not for its children, and does not store it again).
#[test]
fn a_child_ending_leaves_its_parents_cancellation_waker() {
    bounded(|| {
        let tree = Tree::new();
        let task = tree.attach(&tree.root, "task");
        let mut child = tree.attach(&task.make_node(&"task".into()), "child");
        let runner = tree.run_until_aborted(task);
        let finisher = {
            let tree = Arc::clone(&tree);
            thread::spawn(move || {
                let _ = release_task(&mut child, &tree.finished, false);
            })
        };
        tree.cancel();
        finisher.join().unwrap();
        runner.join().unwrap();
        tree.end_body();
    });
}

/// A service whose manager is set up by hand (no tokio runtime under loom).
struct Nothing;

impl Service for Nothing {
    async fn serve(self: Arc<Self>, _cx: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

/// A started service, as `Manager::launch` leaves it.
fn started() -> Arc<ServiceState> {
    let state = Arc::new(ServiceState::new(
        Node::root("Svc"),
        Options::default(),
        None,
    ));
    assert!(state.claim_start(crate::manager::Start::Launched).is_ok());
    state.mark_started();
    state
}

/// Two waiters on `wait_finished` race the service finishing: both get the outcome.
#[test]
fn two_waiters_racing_completion() {
    bounded(|| {
        let state = started();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let manager = Manager::from_state(Arc::clone(&state));
                thread::spawn(move || block_on(manager.wait_finished()))
            })
            .collect();
        state.release_root();
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
        let state = started();
        let handle =
            ServiceHandle::from_parts(Manager::from_state(Arc::clone(&state)), Arc::new(Nothing));
        let caller = {
            let handle = handle.clone();
            thread::spawn(move || block_on(handle.call(|_svc| std::future::pending::<()>())))
        };
        handle.cancel();
        assert_eq!(caller.join().unwrap(), Err(LifecycleError::NotRunning));
        state.release_root();
    });
}

/// A parked body is polled (as by a spurious wake-up, from its own thread) while its
/// service's last task leaves on another: whoever finishes the service, a waiter that sees
/// it finished sees that task counted — a departure is counted before it can be seen.
#[test]
fn whoever_sees_finished_sees_the_final_counters() {
    loom::model(|| {
        let state = started();
        let root = NodeRef::Root(Arc::clone(&state));
        let mut task = attach_task(&root, &"task".into(), 10, false, 0).unwrap();
        state.count_started_task();
        let finisher = {
            let state = Arc::clone(&state);
            thread::spawn(move || state.release_task(&mut task, false))
        };
        // The body returned: it polls until its node is done, then leaves the tree.
        let mut body = TaskRef::to_node(root);
        let waker = futures_noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        while body.poll_stop_quietly(&mut cx).is_pending() {
            thread::yield_now();
        }
        state.release_task(&mut body, true);
        let manager = Manager::from_state(Arc::clone(&state));
        if manager.is_finished() {
            let tasks = manager.stats().tasks;
            assert_eq!((tasks.total_count, tasks.finished_count), (1, 1));
        }
        finisher.join().unwrap();
        assert!(manager.is_finished());
    });
}

/// A task within its grace waits for the grace to end and then returns by itself (leaving
/// the waiters), while `abort()` ends the grace from another thread: the task is woken or
/// finds the grace over, never waits forever, and leaves no waker behind.
#[test]
fn abort_racing_a_task_that_returns_within_its_grace() {
    loom::model(|| {
        let state = started();
        let task = {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                let mut slot = None;
                // One poll registers it (or finds the grace over); then it returns.
                let first = block_on(poll_fn(|cx| {
                    Poll::Ready(state.grace_over.poll_wait(&mut slot, cx))
                }));
                if first.is_pending() {
                    state.grace_over.unregister(&mut slot);
                }
            })
        };
        Manager::from_state(Arc::clone(&state)).abort();
        task.join().unwrap();
        assert!(state.grace_over.is_set());
        assert_eq!(state.grace_end(), Some(crate::manager::GraceEnd::Forced));
        assert!(state.grace_over.is_empty(), "a waker was left behind");
    });
}

/// A contained task fails while its service is cancelled: the failure stays in the
/// boundary whichever comes first — the service does not error and counts one contained
/// failure — and both finish.
#[test]
fn a_contained_failure_racing_the_parents_cancellation() {
    bounded(|| {
        let parent = started();
        let boundary = crate::tree::attach_service(
            &NodeRef::Root(Arc::clone(&parent)),
            "conn".into(),
            10,
            None,
            0,
            |root| ServiceState::boundary(root, &parent),
        )
        .unwrap();
        parent.count_started_task();
        assert!(
            boundary
                .claim_start(crate::manager::Start::Launched)
                .is_ok()
        );
        let failing = {
            let boundary = Arc::clone(&boundary);
            thread::spawn(move || {
                boundary.record_failure(crate::error::TaskFailure::new(
                    "conn".into(),
                    "Svc/conn".into(),
                    crate::FailureKind::Error,
                    Arc::new(crate::error::PanicError("reset".to_owned())),
                ));
            })
        };
        Manager::from_state(Arc::clone(&parent)).cancel();
        failing.join().unwrap();
        assert!(boundary.is_cancelled());
        boundary.release_root();
        parent.release_root();
        let parent = Manager::from_state(parent);
        assert!(parent.is_finished() && !parent.did_error());
        let tasks = parent.stats().tasks;
        assert_eq!((tasks.total_count, tasks.finished_count), (1, 1));
        assert_eq!(tasks.contained_failure_count, 1);
        let boundary = Manager::from_state(boundary);
        assert_eq!(
            block_on(boundary.wait_finished())
                .unwrap_err()
                .failures()
                .len(),
            1
        );
    });
}

/// A waker that does nothing: the body above polls in a loop instead of waiting.
fn futures_noop_waker() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    std::task::Waker::from(Arc::new(Noop))
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
                    Poll::Ready(())
                }));
            })
        };
        event.set();
        waiter.join().unwrap();
        quitter.join().unwrap();
        assert!(event.is_set());
    });
}

// ---- Shards (`tree`, "Shards"; under loom a node shards past one child, into two) ----

/// Attaches to `node` one child that stays in its own entries, then two that go to its two
/// shards, and lets the first leave: what is left are two children in different shards.
fn two_sharded_children(tree: &Tree, node: &NodeRef<Bare>) -> [TaskRef<Bare>; 2] {
    let mut own = tree.attach(node, "own");
    let children = [tree.attach(node, "one"), tree.attach(node, "two")];
    assert_eq!(own.shard(), None);
    assert_eq!(children.each_ref().map(TaskRef::shard), [Some(1), Some(0)]);
    assert_eq!(
        release_task(&mut own, &tree.finished, false),
        Released::Pending
    );
    children
}

/// Two children in different shards leave at once while their parent waits for its
/// children: the parent is woken (a lost wake-up is a deadlock), and only once both have
/// left — counted, and the node done in the same step.
#[test]
fn two_shards_emptying_while_the_parent_waits() {
    loom::model(|| {
        let tree = Tree::new();
        let mut parent = tree.attach(&tree.root, "parent");
        let node = parent.make_node(&"parent".into());
        let leavers = two_sharded_children(&tree, &node).map(|mut child| {
            let tree = Arc::clone(&tree);
            thread::spawn(move || {
                assert_eq!(
                    release_task(&mut child, &tree.finished, false),
                    Released::Pending
                );
            })
        });
        block_on(poll_fn(|cx| parent.poll_stop(cx)));
        assert_eq!(
            tree.finished.load(Ordering::Acquire),
            3,
            "ready before both children left"
        );
        assert_eq!(
            release_task(&mut parent, &tree.finished, true),
            Released::Pending
        );
        for leaver in leavers {
            leaver.join().unwrap();
        }
        tree.end_body();
        assert_eq!(tree.finished.load(Ordering::Acquire), 4);
    });
}

/// A task whose own work has ended has its last child in a shard; the child leaves — which
/// completes the task's node — while a clone of the task's `Context` starts a new child
/// from it. The new child goes to the node only if the node is not done (and then the node
/// waits for it), else to the root; either way every task is counted once and the root is
/// done once, at the end.
#[test]
fn attach_racing_the_last_sharded_child_leaving() {
    loom::model(|| {
        let tree = Tree::new();
        let mut task = tree.attach(&tree.root, "task");
        let node = task.make_node(&"task".into());
        let mut own = tree.attach(&node, "own");
        let mut last = tree.attach(&node, "last");
        assert_eq!(last.shard(), Some(1));
        assert_eq!(
            release_task(&mut own, &tree.finished, false),
            Released::Pending
        );
        assert_eq!(
            release_task(&mut task, &tree.finished, false),
            Released::Pending
        );
        let leaver = {
            let tree = Arc::clone(&tree);
            thread::spawn(move || {
                assert_eq!(
                    release_task(&mut last, &tree.finished, false),
                    Released::Pending
                );
            })
        };
        let mut late = attach_task(&node, &"late".into(), 10, false, 0).unwrap();
        let under_node = late.as_node().is_none();
        if under_node {
            assert!(!crate::tree::is_done(&node), "attached to a done node");
        }
        assert_eq!(
            release_task(&mut late, &tree.finished, false),
            Released::Pending
        );
        leaver.join().unwrap();
        assert!(crate::tree::is_done(&node));
        tree.end_body();
        assert_eq!(tree.finished.load(Ordering::Acquire), 4);
    });
}

/// The cancellation walk races a child leaving another shard: the child in the shard the
/// walk visits is woken (a lost wake-up is a deadlock) and both leave once.
#[test]
fn cancel_racing_a_leave_in_another_shard() {
    bounded(|| {
        let tree = Tree::new();
        let [waiting, mut leaving] = two_sharded_children(&tree, &tree.root);
        let waker = futures_noop_waker();
        let _ = leaving.register(&waker, Status::default());
        let waiter = tree.run_until_aborted(waiting);
        let leaver = {
            let tree = Arc::clone(&tree);
            thread::spawn(move || {
                assert_eq!(
                    release_task(&mut leaving, &tree.finished, false),
                    Released::Pending
                );
            })
        };
        tree.cancel();
        waiter.join().unwrap();
        leaver.join().unwrap();
        tree.end_body();
        assert_eq!(tree.finished.load(Ordering::Acquire), 3);
    });
}

// ---- Snapshots (`tree::snapshot`) ----

/// A snapshot races a task that starts, becomes a node, starts a child, is marked for a
/// restart and leaves with its child: whatever the interleaving, the snapshot shows no task
/// twice, the child only under its parent, the parent's status as one of the states it went
/// through, and its start, set when it was attached, in each of them (carried when it became
/// a node).
#[test]
fn a_snapshot_racing_a_task_that_grows_restarts_and_leaves() {
    use crate::tree::{Phase, snapshot_walk};
    bounded(|| {
        let tree = Tree::new();
        let mut task = attach_task(&tree.root, &"task".into(), 10, false, 7).unwrap();
        let runner = {
            let tree = Arc::clone(&tree);
            thread::spawn(move || {
                let waker = futures_noop_waker();
                let _ = task.register(&waker, Status::new(Phase::Running, false, false, 0));
                let node = task.make_node(&"task".into());
                let mut child = tree.attach(&node, "child");
                let _ = task.restarting(1, true);
                let _ = release_task(&mut child, &tree.finished, false);
                let mut task = TaskRef::to_node(node);
                let _ = release_task(&mut task, &tree.finished, false);
            })
        };
        let seen = snapshot_walk(&tree.root);
        runner.join().unwrap();
        tree.end_body();
        let names: Vec<&str> = seen.iter().map(|entry| &*entry.name).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "{names:?}");
        for (index, entry) in seen.iter().enumerate() {
            match &*entry.name {
                "Svc" => assert_eq!(entry.parent, None),
                "task" => {
                    assert_eq!(entry.parent, Some(0));
                    let (phase, restarts) = (entry.status.phase(), entry.status.restarts());
                    assert_eq!(entry.started, 7, "{phase:?}");
                    match phase {
                        Phase::Starting | Phase::Running => assert_eq!(restarts, 0),
                        Phase::Backoff => assert_eq!(restarts, 1),
                    }
                }
                "child" => {
                    let parent = entry.parent.expect("the child has a parent");
                    assert!(parent < index);
                    assert_eq!(&*seen[parent].name, "task");
                }
                other => panic!("unexpected entry `{other}`"),
            }
        }
    });
}
