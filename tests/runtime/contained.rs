//! Failure boundaries: contained tasks and child services fail alone. Their failures go to
//! their handles, not to their service, and cancellation still reaches them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Log, guard, svc, warnings_of};
use tokio::sync::{Notify, mpsc, oneshot};

/// Sends the handles of the contained work a body started.
type Handles<T> = Arc<Mutex<Option<oneshot::Sender<T>>>>;

fn handles<T>() -> (Handles<T>, oneshot::Receiver<T>) {
    let (tx, rx) = oneshot::channel();
    (Arc::new(Mutex::new(Some(tx))), rx)
}

fn send<T>(handles: &Handles<T>, value: T) {
    let _ = handles.lock().unwrap().take().unwrap().send(value);
}

/// One contained connection failing among 100 leaves the 99 others running; the node goes
/// on, did not error, and counts one contained failure.
#[tokio::test(start_paused = true)]
async fn one_bad_connection_among_a_hundred_fails_alone() {
    let (sent, received) = handles::<Vec<TaskHandle>>();
    let (up_tx, mut up) = mpsc::unbounded_channel::<()>();
    let node = svc("Host", move |cx| {
        let (sent, up_tx) = (Arc::clone(&sent), up_tx.clone());
        async move {
            let mut connections = Vec::new();
            for n in 0..100 {
                let up_tx = up_tx.clone();
                let handle =
                    cx.task(format!("conn-{n}"))
                        .contained()
                        .spawn(move |cx| async move {
                            let _ = up_tx.send(());
                            if n == 17 {
                                return Err::<(), _>("garbage from the peer");
                            }
                            cx.cancelled().await;
                            Ok(())
                        })?;
                connections.push(handle);
            }
            send(&sent, connections);
            Ok(())
        }
    })
    .start();
    let connections = guard(received).await.unwrap();
    for _ in 0..100 {
        guard(up.recv()).await.unwrap();
    }
    let error = guard(connections[17].wait_finished()).await.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error}");
    };
    assert_eq!(failure.path(), "Host/conn-17");
    assert_eq!(failure.error().to_string(), "garbage from the peer");
    let still_running = connections.iter().filter(|c| !c.is_finished()).count();
    assert_eq!(still_running, 99);
    assert!(!node.is_cancelled() && !node.did_error());
    let stats = node.stats().tasks;
    assert_eq!(stats.contained_failure_count, 1);
    assert_eq!((stats.total_count, stats.finished_count), (100, 1));
    guard(node.stop()).await.unwrap();
    for connection in &connections {
        guard(connection.wait_finished())
            .await
            .unwrap_or_else(|e| assert_eq!(connection.path(), "Host/conn-17", "{e}"));
    }
}

/// A contained task that fails stops its own subtree in order (its children before it is
/// finished), and the failure is in its handle only, with the path of the task inside it
/// that failed.
#[tokio::test]
async fn a_contained_failure_stops_its_subtree_and_reaches_only_its_handle() {
    let log = Log::new();
    let (sent, received) = handles::<TaskHandle>();
    let task_log = log.clone();
    let node = svc("Host", move |cx| {
        let (sent, log) = (Arc::clone(&sent), task_log.clone());
        async move {
            let connection = cx.task("conn-17").contained().spawn(move |cx| async move {
                let writer_log = log.clone();
                cx.run_task("writer", move |_cx| async move {
                    let _note = service_tests::LogOnDrop::new(&writer_log, "writer stopped");
                    std::future::pending::<()>().await
                })?;
                cx.run_task("reader", |_cx| async { Err::<(), _>("bad frame") })?;
                cx.cancelled().await;
                log.push("conn-17 saw its cancellation");
                Ok::<(), BoxError>(())
            })?;
            send(&sent, connection);
            cx.cancelled().await;
            Ok(())
        }
    })
    .start();
    let connection = guard(received).await.unwrap();
    let error = guard(connection.wait_finished()).await.unwrap_err();
    let paths: Vec<_> = error.failures().iter().map(TaskFailure::path).collect();
    assert_eq!(paths, ["Host/conn-17/reader"]);
    assert_eq!(log.entries(), ["writer stopped"]);
    assert!(!node.is_cancelled() && !node.did_error());
    guard(node.stop()).await.unwrap();
}

/// A contained child service's failure is in its handle's `wait_finished` and nowhere else.
#[tokio::test]
async fn a_contained_child_fails_into_its_own_handle() {
    let (sent, received) = handles::<ServiceHandle<_>>();
    let node = svc("Host", move |cx| {
        let sent = Arc::clone(&sent);
        async move {
            let child = cx
                .child(|| svc("Session", |_cx| async { Err("handshake failed".into()) }))
                .contained()
                .spawn()?;
            send(&sent, child);
            cx.cancelled().await;
            Ok(())
        }
    })
    .start();
    let child = guard(received).await.unwrap();
    let error = guard(child.wait_finished()).await.unwrap_err();
    assert_eq!(error.failures()[0].path(), "Host/Session");
    assert!(!node.is_cancelled() && !node.did_error());
    assert_eq!(node.stats().tasks.contained_failure_count, 1);
    guard(node.stop()).await.unwrap();
}

/// A contained daemon that quits ends itself, not its service; so does a contained daemon
/// child service.
#[tokio::test]
async fn a_contained_daemon_that_quits_ends_itself() {
    let (sent, received) = handles::<(TaskHandle, ServiceHandle<_>)>();
    let node = svc("Host", move |cx| {
        let sent = Arc::clone(&sent);
        async move {
            let task = cx
                .task("pinger")
                .daemon()
                .contained()
                .spawn(|_cx| async {})?;
            let child = cx
                .child(|| svc("Feed", |_cx| async { Ok(()) }))
                .daemon()
                .contained()
                .spawn()?;
            send(&sent, (task, child));
            cx.cancelled().await;
            Ok(())
        }
    })
    .start();
    let (task, child) = guard(received).await.unwrap();
    let task_error = guard(task.wait_finished()).await.unwrap_err();
    assert_eq!(task_error.failures()[0].kind(), FailureKind::DaemonExit);
    assert_eq!(task_error.failures()[0].path(), "Host/pinger");
    let child_error = guard(child.wait_finished()).await.unwrap_err();
    assert_eq!(child_error.failures()[0].kind(), FailureKind::DaemonExit);
    assert_eq!(child_error.failures()[0].path(), "Host/Feed");
    assert!(!node.is_cancelled() && !node.did_error());
    assert_eq!(node.stats().tasks.contained_failure_count, 2);
    guard(node.stop()).await.unwrap();
}

/// A contained supervisor that gives up ends only the contained work; its handle has the
/// last failure with the restarts noted.
#[tokio::test(start_paused = true)]
async fn a_contained_supervisor_that_gives_up_ends_alone() {
    let (sent, received) = handles::<(TaskHandle, _)>();
    let node = svc("Host", move |cx| {
        let sent = Arc::clone(&sent);
        async move {
            let task = cx
                .task("dialer")
                .restart(Restart::on_failure().max_restarts(2))
                .contained()
                .spawn(|_cx| async { Err::<(), _>("refused") })?;
            let child = cx
                .child(|| svc("Link", |_cx| async { Err("down".into()) }))
                .restart(Restart::on_failure().max_restarts(1))
                .contained()
                .spawn()?;
            send(&sent, (task, child));
            cx.cancelled().await;
            Ok(())
        }
    })
    .start();
    let (task, child) = guard(received).await.unwrap();
    let error = guard(task.wait_finished()).await.unwrap_err();
    assert_eq!(
        error.failures()[0].to_string(),
        "`Host/dialer` failed: refused (gave up after 2 restarts within 5s)"
    );
    let error = guard(child.wait_finished()).await.unwrap_err();
    assert_eq!(error.failures()[0].path(), "Host/Link");
    assert!(
        error.failures()[0]
            .to_string()
            .contains("gave up after 1 restart")
    );
    assert!(!node.is_cancelled() && !node.did_error());
    assert_eq!(node.stats().tasks.contained_failure_count, 2);
    guard(node.stop()).await.unwrap();
}

/// Cancellation still flows down: stopping the service stops its contained work in order,
/// and that is no failure of theirs.
#[tokio::test(start_paused = true)]
async fn contained_work_is_cancelled_with_its_service() {
    let log = Log::new();
    let (sent, received) = handles::<TaskHandle>();
    let running = Arc::new(Notify::new());
    let (task_log, task_running) = (log.clone(), Arc::clone(&running));
    let node = svc("Host", move |cx| {
        let (sent, log, running) = (
            Arc::clone(&sent),
            task_log.clone(),
            Arc::clone(&task_running),
        );
        async move {
            let connection = cx.task("conn-1").contained().spawn(move |cx| async move {
                let inner_log = log.clone();
                cx.run_task("reader", move |cx| async move {
                    cx.cancelled().await;
                    inner_log.push("reader stopped");
                })?;
                running.notify_one();
                cx.cancelled().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
                log.push("conn-1 stopped");
                Ok::<(), BoxError>(())
            })?;
            send(&sent, connection);
            Ok(())
        }
    })
    .with_grace(Duration::from_secs(1))
    .start();
    let connection = guard(received).await.unwrap();
    guard(running.notified()).await;
    guard(node.stop()).await.unwrap();
    assert!(connection.is_finished());
    guard(connection.wait_finished()).await.unwrap();
    assert_eq!(log.entries(), ["reader stopped", "conn-1 stopped"]);
}

/// Inside a contained task, `cx.manager()` is the service's manager and `cx.cancel()`
/// cancels the whole service.
#[tokio::test]
async fn inside_contained_work_the_service_is_the_services() {
    let (sent, received) = handles::<String>();
    let node = svc("Host", move |cx| {
        let sent = Arc::clone(&sent);
        async move {
            cx.task("conn-1").contained().spawn(move |cx| async move {
                send(&sent, cx.manager().path().to_owned());
                cx.cancel();
            })?;
            Ok(())
        }
    })
    .start();
    assert_eq!(guard(received).await.unwrap(), "Host");
    guard(node.wait_finished()).await.unwrap();
    assert_eq!(node.cancel_cause(), Some(CancelCause::Requested));
}

/// A contained failure is logged once, at `error`, with its path.
#[test]
fn a_contained_failure_is_logged_once() {
    let log = warnings_of(|| async {
        let (sent, received) = handles::<TaskHandle>();
        let node = svc("Host", move |cx| {
            let sent = Arc::clone(&sent);
            async move {
                let connection = cx
                    .task("conn-3")
                    .contained()
                    .spawn(|_cx| async { Err::<(), _>("reset by peer") })?;
                send(&sent, connection);
                cx.cancelled().await;
                Ok(())
            }
        })
        .start();
        let connection = guard(received).await.unwrap();
        let _ = guard(connection.wait_finished()).await;
        guard(node.stop()).await.unwrap();
    });
    let errors: Vec<_> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(
        errors[0].contains("Host/conn-3") && errors[0].contains("reset by peer"),
        "{log}"
    );
}
