//! The tree alone: no manager, no tokio runtime (trees of `()`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use super::{
    CancelWalk, Released, Status, TaskNode, attach_service, attach_task, find_services, leave,
    release, release_task, wake_tree,
};
use crate::sync::lock;

type Node = TaskNode<()>;

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
    let root = Node::root("Svc");
    let finished = AtomicUsize::new(0);
    let mut short = attach_task(&root, &"short".into(), 10, false).unwrap();
    let stale = short.clone();
    assert_eq!(
        release_task(&mut short, &finished, false),
        Released::Pending
    );
    let other = attach_task(&root, &"other".into(), 10, false).unwrap();
    assert_eq!(other.slot(), stale.slot(), "the slot is reused");
    let ended = stale.make_node(&"short".into());
    let adopted = attach_task(&ended, &"adopted".into(), 10, false).unwrap();
    assert_eq!(&*adopted.path("adopted"), "Svc/short/adopted");
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
    let root = Node::root("Svc");
    let finished = AtomicUsize::new(0);
    let mut task = attach_task(&root, &"task".into(), 10, false).unwrap();
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
    let root = Node::root("Svc");
    let finished = AtomicUsize::new(0);
    let mut task = attach_task(&root, &"task".into(), 10, false).unwrap();
    let (wakes, waker) = counting_waker();
    let _ = task.register(&waker, Status::default(), 0);
    let mut child =
        attach_task(&task.make_node(&"task".into()), &"child".into(), 10, false).unwrap();
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
    let root = Node::root("Parent");
    let parent_finished = AtomicUsize::new(0);
    let child_finished = AtomicUsize::new(0);
    let child = attach_service(&root, "Child".into(), 10, None).unwrap();
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
    let root = Node::root("Parent");
    let child = attach_service(&root, "Child".into(), 10, None).unwrap();
    let owner = Arc::new(());
    child.set_service(&owner);
    let mut inner = attach_task(&child, &"inner".into(), 10, false).unwrap();
    let (wakes, waker) = counting_waker();
    let _ = inner.register(&waker, Status::default(), 0);
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
        attach_task(&child, &"late".into(), 10, false),
        Err(crate::LifecycleError::NotRunning)
    ));
}

/// Finding the child services wakes nobody and leaves every stored waker where it is: a
/// cancellation that comes later still finds them (a grace ending before its child services
/// are cancelled must not take their wakers).
#[test]
fn finding_services_takes_no_waker() {
    let root = Node::root("Parent");
    let mut task = attach_task(&root, &"task".into(), 10, false).unwrap();
    let child = attach_service(&root, "Child".into(), 10, None).unwrap();
    let owner = Arc::new(());
    child.set_service(&owner);
    let (wakes, waker) = counting_waker();
    let _ = task.register(&waker, Status::default(), 0);
    let mut walk = CancelWalk::default();
    find_services(&root, &mut walk);
    assert_eq!(walk.services.len(), 1);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    wake_tree(&root, &mut CancelWalk::default());
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the waker was taken");
}
