//! The handle of a restarting child service (`RestartingHandle`): it follows the instance
//! running now across restarts, stops the child, and reports how the supervision ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use service_runtime::prelude::*;
use service_tests::{guard, svc};
use tokio::sync::{Notify, mpsc};

/// What a test sees of a restarting child `Store` of a service `Node`: the child's handle,
/// each instance's number as it starts, and the means to make the running one crash.
struct Fixture<H> {
    node: ServiceHandle<H>,
    store: RestartingHandle<Instance>,
    started: mpsc::UnboundedReceiver<usize>,
    crash: Arc<Notify>,
    made: Arc<AtomicUsize>,
}

/// One instance of `Store`: it says it started, then fails when told to crash and ends
/// cleanly when cancelled.
type Instance = service_tests::FnService<Box<dyn Fn(Context) -> InstanceRun + Send + Sync>>;
type InstanceRun = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

fn instance(number: usize, started: mpsc::UnboundedSender<usize>, crash: Arc<Notify>) -> Instance {
    svc(
        "Store",
        Box::new(move |cx: Context| {
            let _ = started.send(number);
            let crash = Arc::clone(&crash);
            Box::pin(async move {
                tokio::select! {
                    () = crash.notified() => Err("store crashed".into()),
                    () = cx.cancelled() => Ok(()),
                }
            }) as InstanceRun
        }),
    )
}

/// Starts `Node`, whose body starts `Store` under `policy` (`contained` or not), hands its
/// handle out and runs until cancelled.
async fn start(policy: Restart, contained: bool) -> Fixture<impl Service> {
    let (handles_tx, mut handles) = mpsc::unbounded_channel();
    let (started_tx, started) = mpsc::unbounded_channel();
    let crash = Arc::new(Notify::new());
    let made = Arc::new(AtomicUsize::new(0));
    let (crash2, made2) = (Arc::clone(&crash), Arc::clone(&made));
    let node = svc("Node", move |cx| {
        let (started, crash, made) = (started_tx.clone(), Arc::clone(&crash2), Arc::clone(&made2));
        let factory = move || {
            let number = made.fetch_add(1, Ordering::SeqCst);
            instance(number, started.clone(), Arc::clone(&crash))
        };
        let builder = cx.child(factory).restart(policy.clone());
        let store = if contained {
            builder.contained().spawn()
        } else {
            builder.spawn()
        };
        let handles = handles_tx.clone();
        async move {
            let _ = handles.send(store?);
            // Runs on after the child: the tests see it is not ended by it.
            cx.cancelled().await;
            Ok(())
        }
    })
    .start();
    let store = guard(handles.recv()).await.unwrap();
    Fixture {
        node,
        store,
        started,
        crash,
        made,
    }
}

/// The handle follows the child across a restart: the instance running now is the fresh
/// one, the restart is counted, and once the parent stops no instance runs and the handle
/// is finished.
#[tokio::test(start_paused = true)]
async fn follows_the_instance_running_now() {
    let mut f = start(Restart::on_failure(), false).await;
    assert_eq!(f.store.name(), "Store");
    assert_eq!(f.store.path(), "Node/Store");
    assert_eq!(guard(f.started.recv()).await, Some(0));
    let first = guard(f.store.wait_instance()).await.unwrap();
    assert_eq!((f.store.restarts(), f.store.is_finished()), (0, false));
    assert!(f.store.stats().is_some());

    f.crash.notify_one();
    assert!(guard(first.wait_finished()).await.is_err());
    assert_eq!(guard(f.started.recv()).await, Some(1));
    let second = guard(f.store.wait_instance()).await.unwrap();
    assert!(!second.is_finished());
    assert!(first.is_finished(), "the handle gave the crashed instance");
    assert_eq!(f.store.restarts(), 1);
    assert_eq!(f.store.current().unwrap().path(), "Node/Store");

    guard(f.node.stop()).await.unwrap();
    assert!(f.store.is_finished());
    assert!(f.store.current().is_none() && f.store.stats().is_none());
    assert!(guard(f.store.wait_instance()).await.is_none());
    guard(f.store.wait_finished()).await.unwrap();
}

/// `cancel` stops the instance running now and starts no more, even under a policy that
/// restarts clean ends; the parent goes on, and the stop is no failure.
#[tokio::test(start_paused = true)]
async fn cancel_stops_the_child_and_starts_no_more() {
    for (policy, contained) in [
        (Restart::on_failure(), false),
        (Restart::always(), false),
        (Restart::always(), true),
    ] {
        let mut f = start(policy, contained).await;
        assert_eq!(guard(f.started.recv()).await, Some(0));
        let first = guard(f.store.wait_instance()).await.unwrap();
        f.store.cancel();
        guard(f.store.wait_finished()).await.unwrap();
        assert!(first.is_finished() && f.store.is_finished());
        assert_eq!(
            f.made.load(Ordering::SeqCst),
            1,
            "an instance was started after cancel"
        );
        assert!(f.node.is_running() && !f.node.is_cancelled());
        guard(f.node.stop()).await.unwrap();
    }
}

/// Contained, the handle has the failures that made the policy give up, and the parent is
/// not failed by them; escalated, the parent has them and the handle gives the last
/// instance's.
#[tokio::test(start_paused = true)]
async fn gives_the_failures_when_the_policy_gives_up() {
    for contained in [true, false] {
        let mut f = start(Restart::on_failure().max_restarts(1), contained).await;
        for number in 0..2 {
            assert_eq!(guard(f.started.recv()).await, Some(number));
            guard(f.store.wait_instance()).await.unwrap();
            f.crash.notify_one();
        }
        let error = guard(f.store.wait_finished()).await.unwrap_err();
        assert_eq!(error.failures()[0].path(), "Node/Store");
        assert!(f.store.is_finished() && f.store.current().is_none());
        if contained {
            assert!(
                error.to_string().contains("gave up after 1 restart"),
                "{error}"
            );
            assert!(!f.node.is_cancelled());
            guard(f.node.stop()).await.unwrap();
        } else {
            let node = guard(f.node.wait_finished()).await.unwrap_err();
            assert!(
                node.to_string().contains("gave up after 1 restart"),
                "{node}"
            );
        }
    }
}

/// Started while its parent is being cancelled, the child never runs: its handle is
/// finished at once.
#[tokio::test(start_paused = true)]
async fn started_while_cancelling_the_handle_is_finished() {
    for contained in [false, true] {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let node = svc("Node", move |cx| {
            let tx = tx.clone();
            async move {
                cx.cancel();
                let child = cx.child(|| svc("Store", |_cx| async { Ok(()) }));
                let builder = child.restart(Restart::always());
                let store = if contained {
                    builder.contained().spawn()?
                } else {
                    builder.spawn()?
                };
                let _ = tx.send(store);
                Ok(())
            }
        });
        guard(node.run()).await.unwrap();
        let store = rx.recv().await.unwrap();
        assert!(store.is_finished(), "{store:?}");
        assert!(guard(store.wait_instance()).await.is_none());
        guard(store.wait_finished()).await.unwrap();
    }
}
