//! Edges of the lifecycle: a service cancelled before it ran, names that would make paths
//! ambiguous, the outermost service seen from deep inside, a runtime dropped under a daemon
//! child service, and what is logged when a supervised child heals.

use std::sync::{Arc, Mutex};

use service_runtime::prelude::*;
use service_tests::{guard, guard_thread, svc, warnings_of};
use tokio::sync::oneshot;

/// A service cancelled before anything started it finishes without running its body, and
/// running it afterwards returns that finished outcome rather than `AlreadyStarted`.
#[tokio::test]
async fn running_a_service_cancelled_before_start_returns_its_outcome() {
    let ran = Arc::new(Mutex::new(false));
    let body_ran = Arc::clone(&ran);
    let handle = ServiceHandle::new(svc("Svc", move |_cx| {
        *body_ran.lock().unwrap() = true;
        async { Ok(()) }
    }));
    handle.cancel();
    assert!(handle.is_finished() && handle.is_cancelled());
    guard(handle.run()).await.unwrap();
    assert!(!*ran.lock().unwrap(), "the body ran");
    assert_eq!(handle.start(), Ok(()));
}

/// A service that ran once still refuses a second run.
#[tokio::test]
async fn a_second_run_is_refused() {
    let handle = ServiceHandle::new(svc("Svc", |_cx| async { Ok(()) }));
    guard(handle.run()).await.unwrap();
    let error = guard(handle.run()).await.unwrap_err();
    assert_eq!(error.lifecycle(), Some(&LifecycleError::AlreadyStarted));
}

/// `/` separates the names of a path, so no task or service may have it in its name.
#[tokio::test]
async fn names_with_a_slash_are_refused() {
    let (tx, rx) = oneshot::channel();
    let tx = Mutex::new(Some(tx));
    let outcome = svc("Svc", move |cx| {
        let tx = tx.lock().unwrap().take();
        async move {
            let task = cx.run_task("a/b", |_cx| async {});
            let child = cx.run_child_service(svc("c/d", |_cx| async { Ok(()) }));
            let _ = tx.unwrap().send((task, child.map(|_| ())));
            Ok(())
        }
    })
    .run();
    guard(outcome).await.unwrap();
    let (task, child) = rx.await.unwrap();
    assert_eq!(
        task,
        Err(LifecycleError::InvalidName {
            name: "a/b".to_owned()
        })
    );
    assert_eq!(
        child,
        Err(LifecycleError::InvalidName {
            name: "c/d".to_owned()
        })
    );
    let top = ServiceHandle::new(svc("e/f", |_cx| async { Ok(()) }));
    assert_eq!(
        top.start(),
        Err(LifecycleError::InvalidName {
            name: "e/f".to_owned()
        })
    );
    assert!(top.is_finished());
}

/// `Context::root` is the outermost service, at any depth of child services; cancelling it
/// from a grandchild's task stops the whole tree, with the cause `Requested` at the top.
#[tokio::test]
async fn the_root_is_reachable_from_any_depth() {
    let (tx, rx) = oneshot::channel::<(String, String)>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let handle = svc("Top", move |cx| {
        let tx = Arc::clone(&tx);
        async move {
            cx.run_child_service(svc("Middle", move |cx| {
                let tx = Arc::clone(&tx);
                async move {
                    cx.run_child_service(svc("Leaf", move |cx| {
                        let tx = Arc::clone(&tx);
                        async move {
                            cx.run_daemon_task("work", move |cx| async move {
                                let names =
                                    (cx.root().name().to_owned(), cx.manager().path().to_owned());
                                let _ = tx.lock().unwrap().take().unwrap().send(names);
                                cx.root().cancel();
                                cx.cancelled().await;
                            })?;
                            Ok(())
                        }
                    }))?;
                    Ok(())
                }
            }))?;
            assert_eq!(cx.root().name(), "Top");
            Ok(())
        }
    })
    .start();
    let (root, own) = guard(rx).await.unwrap();
    assert_eq!((root.as_str(), own.as_str()), ("Top", "Top/Middle/Leaf"));
    guard(handle.wait_finished()).await.unwrap();
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Requested));
}

/// Dropping the tokio runtime while a daemon child service runs does not report the child
/// as a daemon that exited: it was torn down, it did not end on its own.
#[test]
fn a_runtime_dropped_under_a_daemon_child_reports_no_exit() {
    let handle = guard_thread(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let (up_tx, up_rx) = std::sync::mpsc::channel();
        let handle = runtime.block_on(async move {
            svc("Parent", move |cx| {
                let up_tx = up_tx.clone();
                async move {
                    cx.run_daemon_child_service(svc("Child", move |cx| {
                        let up_tx = up_tx.clone();
                        async move {
                            cx.run_daemon_task("loop", move |cx| async move {
                                let _ = up_tx.send(());
                                cx.cancelled().await;
                            })?;
                            Ok(())
                        }
                    }))?;
                    Ok(())
                }
            })
            .start()
        });
        up_rx.recv().unwrap();
        drop(runtime);
        handle
    });
    assert!(
        handle.is_finished(),
        "dropping the runtime finishes the service"
    );
    assert!(!handle.did_error(), "a failure was recorded");
    let outcome = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(handle.wait_finished());
    assert!(outcome.is_ok(), "{outcome:?}");
}

/// A supervised child service that fails and is restarted logs the healed failure at
/// `warn` (restarting), never at `error`.
#[test]
fn a_healed_child_failure_is_not_logged_as_an_error() {
    let log = warnings_of(|| async {
        let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (healed_tx, healed_rx) = oneshot::channel();
        let healed_tx = Arc::new(Mutex::new(Some(healed_tx)));
        let handle = svc("Parent", move |cx| {
            let (attempts, healed_tx) = (Arc::clone(&attempts), Arc::clone(&healed_tx));
            async move {
                cx.child(move || {
                    let (attempts, healed_tx) = (Arc::clone(&attempts), Arc::clone(&healed_tx));
                    svc("Flaky", move |_cx| {
                        let attempt = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let healed_tx = Arc::clone(&healed_tx);
                        async move {
                            if attempt == 0 {
                                return Err("first attempt fails".into());
                            }
                            if let Some(tx) = healed_tx.lock().unwrap().take() {
                                let _ = tx.send(());
                            }
                            std::future::pending().await
                        }
                    })
                })
                .restart(Restart::on_failure())
                .spawn()?;
                Ok(())
            }
        })
        .start();
        guard(healed_rx).await.unwrap();
        guard(handle.stop()).await.unwrap();
    });
    assert!(log.contains("WARN") && log.contains("restarting"), "{log}");
    assert!(
        !log.contains("ERROR"),
        "a healed failure was logged as an error:\n{log}"
    );
}
