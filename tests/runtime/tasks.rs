//! Tasks: starting, waiting for children, work requested at the wrong time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use service_runtime::prelude::*;
use service_tests::{Log, guard, poll_until, stays_pending, svc};
use tokio::sync::{Notify, mpsc, oneshot};

/// A task started while the body waits runs.
#[tokio::test]
async fn a_task_runs() {
    let (tx, rx) = oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let handle = svc("Svc", move |cx| {
        let tx = tx.lock().unwrap().take();
        async move {
            cx.run_task("set", move |_cx| async move {
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
            })?;
            std::future::pending().await
        }
    })
    .start();
    guard(rx).await.unwrap();
    guard(handle.stop()).await.unwrap();
}

/// A body that returns right after starting a task leaves the service running until the
/// task is done.
#[tokio::test(start_paused = true)]
async fn body_returning_does_not_finish_the_service() {
    let release = Arc::new(Notify::new());
    let task_release = Arc::clone(&release);
    let (returned_tx, returned) = oneshot::channel();
    let returned_tx = std::sync::Mutex::new(Some(returned_tx));
    let handle = svc("Svc", move |cx| {
        let release = Arc::clone(&task_release);
        let returned = returned_tx.lock().unwrap().take();
        async move {
            cx.run_task("slow", move |_cx| async move { release.notified().await })?;
            if let Some(returned) = returned {
                let _ = returned.send(());
            }
            Ok(())
        }
    })
    .start();
    guard(returned).await.unwrap();
    assert!(
        stays_pending(handle.wait_finished()).await,
        "the body returned, but its task still runs"
    );
    assert!(handle.is_running());
    release.notify_one();
    guard(handle.wait_finished()).await.unwrap();
    assert!(!handle.is_cancelled());
}

/// The body returned and a task blocks forever: cancel still finishes it.
#[tokio::test(start_paused = true)]
async fn blocked_task_after_body_returned_is_cancelled() {
    let handle = svc("Svc", |cx| async move {
        cx.run_task("forever", |_cx| std::future::pending::<()>())?;
        Ok(())
    })
    .start();
    assert!(stays_pending(handle.wait_finished()).await);
    guard(handle.stop()).await.unwrap();
}

/// A task whose future returned is done only after its children are.
#[tokio::test(start_paused = true)]
async fn a_task_is_done_only_when_its_children_are() {
    struct SendOnDrop(Option<oneshot::Sender<()>>);
    impl Drop for SendOnDrop {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }
    let log = Log::new();
    let release = Arc::new(Notify::new());
    let (returned_tx, returned_rx) = oneshot::channel();
    let returned_tx = std::sync::Mutex::new(Some(returned_tx));
    let (log2, release2) = (log.clone(), Arc::clone(&release));
    let handle = svc("Svc", move |cx| {
        let (log, release) = (log2.clone(), Arc::clone(&release2));
        let on_drop = SendOnDrop(returned_tx.lock().unwrap().take());
        async move {
            cx.run_task("parent", move |cx| async move {
                let _on_drop = on_drop;
                let child_log = log.clone();
                cx.run_task("child", move |_cx| async move {
                    release.notified().await;
                    child_log.push("child done");
                })?;
                log.push("parent returned");
                Ok::<(), LifecycleError>(())
            })?;
            Ok(())
        }
    })
    .start();
    // The parent's future is gone; once every task has had its chance to run, it still
    // counts as pending because its child runs.
    guard(returned_rx).await.unwrap();
    assert!(stays_pending(handle.wait_finished()).await);
    assert_eq!(
        handle.stats().tasks.finished_count,
        0,
        "parent must wait for its child"
    );
    assert_eq!(handle.stats().tasks.pending_count(), 2);
    release.notify_one();
    guard(handle.wait_finished()).await.unwrap();
    assert_eq!(log.entries(), ["parent returned", "child done"]);
    assert_eq!(handle.stats().tasks.finished_count, 2);
}

/// Work requested while the service is being cancelled returns `Ok`, never runs and is not
/// counted.
#[tokio::test]
async fn work_requested_during_cancellation_never_runs() {
    let ran = Arc::new(AtomicBool::new(false));
    let ran2 = Arc::clone(&ran);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = svc("Svc", move |cx| {
        let (ran, tx) = (Arc::clone(&ran2), tx.clone());
        async move {
            cx.cancel();
            let flag = Arc::clone(&ran);
            let task = cx.run_task("late", move |_cx| async move {
                flag.store(true, Ordering::SeqCst)
            });
            let flag = Arc::clone(&ran);
            let daemon = cx.run_daemon_task("late_daemon", move |_cx| async move {
                flag.store(true, Ordering::SeqCst)
            });
            let child = cx
                .run_child_service(svc("LateChild", move |_cx| {
                    let ran = Arc::clone(&ran);
                    async move {
                        ran.store(true, Ordering::SeqCst);
                        Ok(())
                    }
                }))
                .map(|child| child.manager().clone());
            tx.send((task, daemon, child)).unwrap();
            Ok(())
        }
    })
    .start();
    guard(handle.wait_finished()).await.unwrap();
    let (task, daemon, child) = rx.recv().await.unwrap();
    assert_eq!(task, Ok(()));
    assert_eq!(daemon, Ok(()));
    let child = child.unwrap();
    // The child's handle resolves its waiters: it is finished without having run.
    guard(child.wait_finished()).await.unwrap();
    assert!(child.is_finished());
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(handle.stats().tasks.total_count, 0);
}

/// Starting work once the service is finished is `NotRunning`.
#[tokio::test]
async fn work_requested_after_finish_is_refused() {
    let (tx, rx) = oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    svc("Svc", move |cx| {
        drop(tx.lock().unwrap().take().map(|tx| tx.send(cx.clone())));
        async { Ok(()) }
    })
    .run()
    .await
    .unwrap();
    let cx: Context = rx.await.unwrap();
    assert_eq!(
        cx.run_task("late", |_cx| async {}),
        Err(LifecycleError::NotRunning)
    );
    assert_eq!(
        cx.run_daemon_task("late", |_cx| async {}),
        Err(LifecycleError::NotRunning)
    );
    let child = cx.run_child_service(svc("Child", |_cx| async { Ok(()) }));
    assert_eq!(child.unwrap_err(), LifecycleError::NotRunning);
}

/// A `Context` kept after its task is done still starts work while the service runs: the
/// work is adopted by the nearest live ancestor, keeps the path it was given, and the
/// service waits for it.
#[tokio::test(start_paused = true)]
async fn a_context_that_outlived_its_task_starts_work_under_an_ancestor() {
    let (cx_tx, mut cx_rx) = mpsc::unbounded_channel::<Context>();
    let (path_tx, mut path_rx) = mpsc::unbounded_channel::<String>();
    let release = Arc::new(Notify::new());
    let release2 = Arc::clone(&release);
    let handle = svc("Svc", move |cx| {
        let (cx_tx, release) = (cx_tx.clone(), Arc::clone(&release2));
        async move {
            cx.run_task("short", move |cx| async move { cx_tx.send(cx).unwrap() })?;
            release.notified().await;
            Ok(())
        }
    })
    .start();
    let stale = guard(cx_rx.recv()).await.unwrap();
    poll_until(|| handle.stats().tasks.finished_count == 1).await;
    let hold = Arc::new(Notify::new());
    let hold2 = Arc::clone(&hold);
    stale
        .run_task("adopted", move |cx| async move {
            path_tx.send(cx.path().to_owned()).unwrap();
            hold2.notified().await;
        })
        .unwrap();
    assert_eq!(guard(path_rx.recv()).await.unwrap(), "Svc/short/adopted");
    release.notify_one();
    assert!(
        stays_pending(handle.wait_finished()).await,
        "the service waits for the adopted task"
    );
    hold.notify_one();
    guard(handle.wait_finished()).await.unwrap();
    assert_eq!(handle.stats().tasks.total_count, 2);
    assert_eq!(handle.stats().tasks.finished_count, 2);
}

/// Task bodies may return `()`, or `Result<(), E>` for io, anyhow, string and boxed errors;
/// task names may be `&'static str` or `String`.
#[tokio::test]
async fn task_return_types_and_names() {
    let error = svc("Svc", |cx| async move {
        cx.run_task("unit", |_cx| async {})?;
        cx.run_task(String::from("io"), |_cx| async {
            Ok::<(), std::io::Error>(())
        })?;
        cx.run_task("anyhow", |_cx| async {
            Err::<(), _>(anyhow::anyhow!("anyhow failure"))
        })?;
        Ok(())
    })
    .run()
    .await
    .unwrap_err();
    assert_eq!(error.failures().len(), 1);
    assert_eq!(error.failures()[0].path(), "Svc/anyhow");
    assert_eq!(error.failures()[0].error().to_string(), "anyhow failure");
}

/// A body blocked inside an endless stream-like loop can be cancelled.
#[tokio::test]
async fn endless_loop_with_await_points_is_cancelled() {
    let (tx, mut rx) = mpsc::channel::<u64>(1);
    let handle = svc("Loop", move |_cx| {
        let tx = tx.clone();
        async move {
            let mut n = 0;
            loop {
                if tx.send(n).await.is_err() {
                    std::future::pending::<()>().await;
                }
                n += 1;
            }
        }
    })
    .start();
    assert_eq!(guard(rx.recv()).await, Some(0));
    handle.cancel();
    drop(rx);
    guard(handle.wait_finished()).await.unwrap();
}
