//! The tree alone: no manager, no tokio runtime (trees of [`Bare`] owners).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use super::{
    Bare, CancelWalk, NodeRef, Released, Status, attach_service, attach_task, find_services, leave,
    release, release_task, wake_tree,
};
use crate::sync::lock;

struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountWakes>, Waker) {
    let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&wakes));
    (wakes, waker)
}

/// A reference to a leaf task that has ended, whose slot a new sibling now holds, still
/// means the ended task: starting work from it does not touch the sibling (which keeps
/// its name and its own node), and the work is adopted by the parent under the ended
/// task's path.
#[test]
fn a_stale_reference_does_not_take_the_sibling_in_its_slot() {
    let root = Bare::tree("Svc");
    let finished = AtomicUsize::new(0);
    let mut short = attach_task(&root, &"short".into(), 10, false, 0).unwrap();
    let stale = short.clone();
    assert_eq!(
        release_task(&mut short, &finished, false),
        Released::Pending
    );
    let other = attach_task(&root, &"other".into(), 10, false, 0).unwrap();
    assert_eq!(other.slot(), stale.slot(), "the slot is reused");
    let ended = stale.make_node(&"short".into());
    let adopted = attach_task(&ended, &"adopted".into(), 10, false, 0).unwrap();
    assert_eq!(&*adopted.path("adopted"), "Svc/short/adopted");
    assert_sibling_untouched(&other);
}

/// The sibling that took a stale reference's slot keeps its name and its own node, with
/// nothing attached to it.
fn assert_sibling_untouched(other: &TaskRef<Bare>) {
    let node = other.make_node(&"other".into());
    assert_eq!(&**node.name(), "other");
    assert_eq!(&**node.path(), "Svc/other");
    assert!(
        lock(&node.state).children.is_empty(),
        "nothing attached to the sibling"
    );
}

/// A body parked with `poll_stop_quietly` is not woken by its service's cancellation, only
/// by its last task ending; then it finds its node done, and the release that follows
/// reports the root done.
#[test]
fn a_parked_body_is_woken_by_its_last_task_not_by_cancellation() {
    let root = Bare::tree("Svc");
    let finished = AtomicUsize::new(0);
    let mut task = attach_task(&root, &"task".into(), 10, false, 0).unwrap();
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(root.poll_stop_quietly(&mut cx), Poll::Pending);
    wake_tree(&root, &mut CancelWalk::default());
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        0,
        "woken by the cancellation"
    );
    assert_eq!(release_task(&mut task, &finished, false), Released::Pending);
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "not woken by its last task"
    );
    assert_eq!(root.poll_stop_quietly(&mut cx), Poll::Ready(()));
    assert_eq!(super::release_done(&root, &finished), Released::RootDone);
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

/// A task waiting to be cancelled is woken by the walk; one waiting for its children is
/// woken by its last child, not before.
#[test]
fn waiters_are_woken_by_what_they_wait_for() {
    let root = Bare::tree("Svc");
    let finished = AtomicUsize::new(0);
    let mut task = attach_task(&root, &"task".into(), 10, false, 0).unwrap();
    let (wakes, waker) = counting_waker();
    let _ = task.register(&waker, Status::default());
    let mut child = attach_task(
        &task.make_node(&"task".into()),
        &"child".into(),
        10,
        false,
        0,
    )
    .unwrap();
    wake_tree(&root, &mut CancelWalk::default());
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the walk wakes the task");
    let mut cx = Context::from_waker(&waker);
    assert_eq!(task.poll_stop(&mut cx), Poll::Pending, "its child is live");
    assert_eq!(
        release_task(&mut child, &finished, false),
        Released::Pending
    );
    assert_eq!(wakes.0.load(Ordering::SeqCst), 2, "the last child wakes it");
    assert_eq!(task.poll_stop(&mut cx), Poll::Ready(()));
    assert_eq!(release_task(&mut task, &finished, true), Released::Pending);
    assert_eq!(release(&root, &finished), Released::RootDone);
    assert_eq!(
        finished.load(Ordering::SeqCst),
        2,
        "both tasks counted once"
    );
}

/// A child service's root is reported done to its owner, and stays in the parent's tree
/// until it leaves; leaving completes the parent's tree in turn, counted in the parent's
/// counter only when asked.
#[test]
fn a_child_root_leaves_its_parents_tree_when_told() {
    let root = Bare::tree("Parent");
    let parent_finished = AtomicUsize::new(0);
    let child_finished = AtomicUsize::new(0);
    let child =
        NodeRef::Root(attach_service(&root, "Child".into(), 10, None, 0, Bare::owning).unwrap());
    assert_eq!(&**child.path(), "Parent/Child");
    assert_eq!(
        release(&root, &parent_finished),
        Released::Pending,
        "the child is live"
    );
    assert_eq!(release(&child, &child_finished), Released::RootDone);
    assert!(
        !lock(&root.state).children.is_empty(),
        "still in the parent's tree"
    );
    assert_eq!(leave(&child, &parent_finished, true), Released::RootDone);
    assert_eq!(parent_finished.load(Ordering::SeqCst), 1);
    assert_eq!(child_finished.load(Ordering::SeqCst), 0);
    assert_eq!(
        leave(&root, &parent_finished, true),
        Released::Pending,
        "a top-level root"
    );
}

/// The cancellation walk collects the owners of the child services it meets and does not
/// walk their trees; a task attached to a done tree is refused.
#[test]
fn the_walk_stops_at_child_services() {
    let root = Bare::tree("Parent");
    let owner = attach_service(&root, "Child".into(), 10, None, 0, Bare::owning).unwrap();
    let child = NodeRef::Root(Arc::clone(&owner));
    let mut inner = attach_task(&child, &"inner".into(), 10, false, 0).unwrap();
    let (wakes, waker) = counting_waker();
    let _ = inner.register(&waker, Status::default());
    let mut walk = CancelWalk::default();
    wake_tree(&root, &mut walk);
    assert_eq!(walk.services.len(), 1);
    assert!(Arc::ptr_eq(&walk.services[0], &owner));
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        0,
        "the child's tree is its own to walk"
    );
    wake_tree(&child, &mut walk);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    let finished = AtomicUsize::new(0);
    assert_eq!(
        release_task(&mut inner, &finished, false),
        Released::Pending
    );
    assert_eq!(release(&child, &finished), Released::RootDone);
    assert!(matches!(
        attach_task(&child, &"late".into(), 10, false, 0),
        Err(crate::LifecycleError::NotRunning)
    ));
}

/// Finding the child services wakes nobody and leaves every stored waker where it is: a
/// cancellation that comes later still finds them (a grace ending before its child services
/// are cancelled must not take their wakers).
#[test]
fn finding_services_takes_no_waker() {
    let root = Bare::tree("Parent");
    let mut task = attach_task(&root, &"task".into(), 10, false, 0).unwrap();
    let _child = attach_service(&root, "Child".into(), 10, None, 0, Bare::owning).unwrap();
    let (wakes, waker) = counting_waker();
    let _ = task.register(&waker, Status::default());
    let mut walk = CancelWalk::default();
    find_services(&root, &mut walk);
    assert_eq!(walk.services.len(), 1);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    wake_tree(&root, &mut CancelWalk::default());
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the waker was taken");
}

// ---- Shards (module docs, "Shards") ----

use super::shards::{Place, SHARDS, THRESHOLD};
use super::{TaskRef, snapshot_walk};
use crate::name::Name;

/// Attaches `n` leaves named `child<i>` under `node`.
fn attach_many(node: &NodeRef<Bare>, n: usize) -> Vec<TaskRef<Bare>> {
    (0..n)
        .map(|i| {
            attach_task(
                node,
                &Name::from(std::borrow::Cow::Owned(format!("child{i}"))),
                usize::MAX,
                false,
                0,
            )
            .unwrap()
        })
        .collect()
}

/// A node keeps its first `THRESHOLD` children in its own entries and the next in its
/// shards, every shard used; it is not done while any shard holds a child, and once it has
/// none it goes back to its own entries for new children.
#[test]
fn a_node_shards_past_its_threshold_and_goes_back() {
    let root = Bare::tree("Svc");
    let finished = AtomicUsize::new(0);
    let mut tasks = attach_many(&root, THRESHOLD + 2 * SHARDS);
    for task in &tasks[..THRESHOLD] {
        assert_eq!(task.shard(), None);
    }
    let mut used = [0; SHARDS];
    for task in &tasks[THRESHOLD..] {
        used[task.shard().expect("past the threshold")] += 1;
    }
    assert_eq!(used, [2; SHARDS], "every shard takes its share");
    // The own entries empty first: new children still go to the shards.
    for task in &mut tasks[..THRESHOLD] {
        assert_eq!(release_task(task, &finished, false), Released::Pending);
    }
    let mut late = attach_task(&root, &"late".into(), usize::MAX, false, 0).unwrap();
    assert!(late.shard().is_some(), "sharded until the node is empty");
    assert_eq!(release_task(&mut late, &finished, false), Released::Pending);
    for task in &mut tasks[THRESHOLD..] {
        assert_eq!(release_task(task, &finished, false), Released::Pending);
    }
    assert!(!super::is_done(&root), "its own work goes on");
    let mut back = attach_task(&root, &"back".into(), usize::MAX, false, 0).unwrap();
    assert_eq!(back.shard(), None, "back to its own entries");
    assert_eq!(release_task(&mut back, &finished, false), Released::Pending);
    assert_eq!(release(&root, &finished), Released::RootDone);
    assert_eq!(finished.load(Ordering::SeqCst), THRESHOLD + 2 * SHARDS + 2);
}

/// A node whose own work has ended is done exactly when the last child in any shard leaves:
/// that release reports the root done, no earlier one does, and nothing attaches after.
#[test]
fn a_sharded_node_is_done_when_its_last_shard_empties() {
    let root = Bare::tree("Svc");
    let finished = AtomicUsize::new(0);
    let mut tasks = attach_many(&root, THRESHOLD + 3 * SHARDS);
    assert_eq!(release(&root, &finished), Released::Pending);
    // Own entries first, then the shards' children in an order that empties each shard
    // before the next.
    tasks[THRESHOLD..].sort_by_key(TaskRef::shard);
    let last = tasks.pop().unwrap();
    for task in &mut tasks {
        assert_eq!(release_task(task, &finished, false), Released::Pending);
        assert!(!super::is_done(&root));
    }
    let mut last = last;
    assert_eq!(
        release_task(&mut last, &finished, false),
        Released::RootDone
    );
    assert!(super::is_done(&root));
    assert!(matches!(
        attach_task(&root, &"late".into(), usize::MAX, false, 0),
        Err(crate::LifecycleError::NotRunning)
    ));
    assert_eq!(finished.load(Ordering::SeqCst), THRESHOLD + 3 * SHARDS);
}

/// A task waiting for its children, some in shards, is woken once, by the last of them.
#[test]
fn a_task_waiting_for_sharded_children_is_woken_by_the_last() {
    let root = Bare::tree("Svc");
    let finished = AtomicUsize::new(0);
    let mut task = attach_task(&root, &"task".into(), 10, false, 0).unwrap();
    let node = task.make_node(&"task".into());
    let mut children = attach_many(&node, THRESHOLD + SHARDS);
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(task.poll_stop(&mut cx), Poll::Pending);
    let last = children.remove(THRESHOLD);
    for child in &mut children {
        assert_eq!(release_task(child, &finished, false), Released::Pending);
    }
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "woken before the last");
    let mut last = last;
    assert_eq!(release_task(&mut last, &finished, false), Released::Pending);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "not woken by the last");
    assert_eq!(task.poll_stop(&mut cx), Poll::Ready(()));
    assert_eq!(release_task(&mut task, &finished, true), Released::Pending);
    assert_eq!(release(&root, &finished), Released::RootDone);
}

/// A stale reference to a child that was in a shard, whose slot a new sibling holds now,
/// still means the ended task (as for a node's own entries).
#[test]
fn a_stale_reference_into_a_shard_does_not_take_the_sibling() {
    let root = Bare::tree("Svc");
    let finished = AtomicUsize::new(0);
    let _own = attach_many(&root, THRESHOLD);
    let mut short = attach_task(&root, &"short".into(), usize::MAX, false, 0).unwrap();
    let stale = short.clone();
    assert_eq!(
        release_task(&mut short, &finished, false),
        Released::Pending
    );
    // The next child with the same shard reuses the slot.
    let _others = attach_many(&root, SHARDS - 1);
    let other = attach_task(&root, &"other".into(), usize::MAX, false, 0).unwrap();
    assert_eq!(other.slot(), stale.slot(), "the slot is reused");
    assert_eq!(&*stale.name(), "", "the ended task has no entry");
    let ended = stale.make_node(&"short".into());
    let adopted = attach_task(&ended, &"adopted".into(), usize::MAX, false, 0).unwrap();
    assert_eq!(&*adopted.path("adopted"), "Svc/short/adopted");
    let adopted = adopted.as_node().expect("an adopted task is a node");
    assert!(
        adopted.parent.as_ref().unwrap().ptr_eq(&root),
        "adopted by the root"
    );
    assert!(matches!(Place::of(adopted.slot), Place::Shard { .. }));
    assert_sibling_untouched(&other);
}

/// The cancellation walk reaches the children in every shard — leaves, and nodes with
/// children of their own — and finding services finds those in shards.
#[test]
fn the_walk_reaches_every_shard() {
    let root = Bare::tree("Svc");
    let mut tasks = attach_many(&root, THRESHOLD + 2 * SHARDS);
    let (wakes, waker) = counting_waker();
    for task in &mut tasks {
        let _ = task.register(&waker, Status::default());
    }
    // One node with a child of its own in each shard (the first `SHARDS` sharded tasks).
    let mut grandchildren: Vec<TaskRef<Bare>> = tasks[THRESHOLD..THRESHOLD + SHARDS]
        .iter()
        .map(|task| {
            let node = task.make_node(&"child".into());
            attach_task(&node, &"grandchild".into(), 10, false, 0).unwrap()
        })
        .collect();
    for grandchild in &mut grandchildren {
        let _ = grandchild.register(&waker, Status::default());
    }
    let service = attach_service(&root, "Child".into(), usize::MAX, None, 0, Bare::owning).unwrap();
    assert!(matches!(Place::of(service.root.slot), Place::Shard { .. }));
    let mut walk = CancelWalk::default();
    find_services(&root, &mut walk);
    assert_eq!(walk.services.len(), 1, "the service in a shard is found");
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    wake_tree(&root, &mut CancelWalk::default());
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        tasks.len() + grandchildren.len(),
        "every task woken once"
    );
}

/// A snapshot sees every child of a sharded node once, under it.
#[test]
fn a_snapshot_sees_every_shard() {
    let root = Bare::tree("Svc");
    let tasks = attach_many(&root, THRESHOLD + 2 * SHARDS);
    let grandchild = attach_task(
        &tasks[THRESHOLD].make_node(&Name::from(std::borrow::Cow::Owned(format!(
            "child{THRESHOLD}"
        )))),
        &"grandchild".into(),
        10,
        false,
        0,
    )
    .unwrap();
    let seen = snapshot_walk(&root);
    assert_eq!(seen.len(), 1 + tasks.len() + 1);
    let mut names: Vec<&str> = seen[1..].iter().map(|entry| &*entry.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), tasks.len() + 1, "no task twice");
    let under = seen
        .iter()
        .find(|entry| &*entry.name == "grandchild")
        .and_then(|entry| entry.parent)
        .unwrap();
    assert_eq!(seen[under].path, format!("Svc/child{THRESHOLD}"));
    assert!(seen[0].has_children);
    assert_eq!(super::snapshot_held_most(), 1, "one lock at a time");
    drop(grandchild);
}

/// The limit on live children counts those in shards.
#[test]
fn the_limit_counts_sharded_children() {
    let root = Bare::tree("Svc");
    let limit = THRESHOLD + SHARDS;
    let _tasks: Vec<TaskRef<Bare>> = (0..limit)
        .map(|_| attach_task(&root, &"same".into(), limit, false, 0).unwrap())
        .collect();
    match attach_task(&root, &"one more".into(), limit, false, 0) {
        Err(crate::LifecycleError::TooManyChildren { most_common, .. }) => {
            assert_eq!(most_common, [("same".to_owned(), limit)]);
        }
        other => panic!("expected TooManyChildren, got {:?}", other.map(|_| ())),
    }
}
