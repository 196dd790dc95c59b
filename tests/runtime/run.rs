//! Ways to run a service: `run`, `run_until`, `start`, `ServiceHandle::new`, and what
//! happens when they are misused.

use std::future::pending;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Live, Log, guard, stays_pending, svc};
use tokio::sync::{mpsc, oneshot};

/// A service whose daemon waits to be cancelled, holding a [`Live`] guard; it sends its
/// manager out once the daemon runs.
fn idle(live: &Live, manager_tx: mpsc::UnboundedSender<Manager>) -> impl Service + use<> {
    let live = live.clone();
    svc("Idle", move |cx| {
        let live = live.clone();
        let manager_tx = manager_tx.clone();
        async move {
            cx.run_daemon_task("serve", move |cx| async move {
                let _guard = live.guard();
                manager_tx.send(cx.manager().clone()).unwrap();
                cx.cancelled().await
            })?;
            Ok(())
        }
    })
}

/// `run_until` runs the service until the shutdown future resolves, then cancels it and
/// waits: `Ok`, flags cancelled and finished, no task left.
#[tokio::test]
async fn run_until_stops_when_shutdown_resolves() {
    let live = Live::new();
    let (manager_tx, mut managers) = mpsc::unbounded_channel();
    let (shutdown_tx, shutdown) = oneshot::channel::<()>();
    let run = idle(&live, manager_tx).run_until(async move {
        shutdown.await.unwrap();
    });
    let drive = async {
        let manager = managers.recv().await.unwrap();
        assert!(manager.is_running() && !manager.is_cancelled());
        shutdown_tx.send(()).unwrap();
        manager
    };
    let (outcome, manager) = guard(async { tokio::join!(run, drive) }).await;
    outcome.unwrap();
    assert!(manager.is_cancelled() && manager.is_finished() && !manager.is_running());
    assert!(!manager.did_error());
    assert_eq!(live.count(), 0);
}

/// If the service fails before the shutdown future resolves, `run_until` returns the
/// failure.
#[tokio::test]
async fn run_until_returns_failures_of_the_service() {
    let outcome = guard(
        svc("Failing", |cx| async move {
            cx.run_task("worker", |_cx| async { Err::<(), _>("worker broke") })?;
            pending().await
        })
        .run_until(pending()),
    )
    .await;
    let error = outcome.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error:?}");
    };
    assert_eq!(failure.path(), "Failing/worker");
    assert_eq!(failure.kind(), FailureKind::Error);
}

/// A service that finishes cleanly before the shutdown future resolves ends `run_until`
/// with `Ok`, without being cancelled.
#[tokio::test]
async fn run_until_returns_when_the_service_finishes_first() {
    let (manager_tx, mut managers) = mpsc::unbounded_channel();
    let outcome = guard(
        svc("Short", move |cx| {
            let manager_tx = manager_tx.clone();
            async move {
                manager_tx.send(cx.manager().clone()).unwrap();
                cx.run_task("work", |_cx| async { tokio::task::yield_now().await })?;
                Ok(())
            }
        })
        .run_until(pending()),
    )
    .await;
    outcome.unwrap();
    let manager = managers.recv().await.unwrap();
    assert!(manager.is_finished() && !manager.is_cancelled());
}

/// Dropping the future of `run()` cancels the service as its parent would (not a failure);
/// the service still stops in order and reaches finished in the background, waking its
/// waiters.
#[tokio::test(start_paused = true)]
async fn dropping_run_cancels_the_service_which_still_finishes() {
    let log = Log::new();
    let (manager_tx, mut managers) = mpsc::unbounded_channel();
    let (cleaning_tx, mut cleaning) = mpsc::unbounded_channel();
    let (proceed_tx, proceed) = oneshot::channel::<()>();
    let proceed = Arc::new(std::sync::Mutex::new(Some(proceed)));
    let service = {
        let log = log.clone();
        svc("Dropped", move |cx| {
            let log = log.clone();
            let (manager_tx, cleaning_tx) = (manager_tx.clone(), cleaning_tx.clone());
            let proceed = proceed.lock().unwrap().take();
            async move {
                cx.run_task("cleanup", move |cx| async move {
                    manager_tx.send(cx.manager().clone()).unwrap();
                    cx.cancelled().await;
                    log.push("cleanup started");
                    cleaning_tx.send(()).unwrap();
                    proceed.unwrap().await.unwrap();
                    log.push("cleanup done");
                })?;
                Ok(())
            }
        })
        .with_grace(Duration::from_secs(60))
    };
    let manager = {
        let mut run = pin!(service.run());
        tokio::select! {
            outcome = &mut run => panic!("the service ended: {outcome:?}"),
            manager = managers.recv() => manager.unwrap(),
        }
    };
    assert!(
        manager.is_cancelled(),
        "dropping `run` did not cancel the service"
    );
    assert!(manager.is_running());
    let waiter = tokio::spawn({
        let manager = manager.clone();
        async move { manager.wait_finished().await }
    });
    guard(cleaning.recv()).await.unwrap();
    assert!(!manager.is_finished());
    proceed_tx.send(()).unwrap();
    guard(manager.wait_finished()).await.unwrap();
    guard(waiter).await.unwrap().unwrap();
    assert_eq!(log.entries(), ["cleanup started", "cleanup done"]);
    assert!(!manager.did_error());
}

/// `ServiceExt::start` spawns the service and returns a running handle at once.
#[tokio::test]
async fn start_returns_a_running_handle() {
    let live = Live::new();
    let (manager_tx, mut managers) = mpsc::unbounded_channel();
    let handle = idle(&live, manager_tx).start();
    assert!(handle.is_started() && handle.is_running() && !handle.is_finished());
    let manager = guard(managers.recv()).await.unwrap();
    assert_eq!(manager.name(), handle.name());
    assert_eq!(live.count(), 1);
    guard(handle.stop()).await.unwrap();
    assert!(
        manager.is_finished(),
        "the handle and the task's manager differ"
    );
    assert_eq!(live.count(), 0);
}

/// `ServiceHandle::new` builds a manager that is not started; `run` then runs the service
/// to completion.
#[tokio::test(start_paused = true)]
async fn new_then_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let handle = ServiceHandle::new(svc("Later", move |cx| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            cx.run_task("work", |_cx| async {})?;
            Ok(())
        }
    }));
    assert!(stays_pending(handle.wait_started()).await);
    assert!(!handle.is_started());
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    guard(handle.run()).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(handle.is_finished() && !handle.is_cancelled());
    assert_eq!(handle.stats().tasks.total_count, 1);
}

/// A service runs at most once. A second `run` (after the first, or while it runs) returns
/// `AlreadyStarted` inside `ServiceError::Lifecycle`; a second `start` returns it as `Err`;
/// the body ran once.
#[tokio::test]
async fn run_or_start_twice_is_already_started() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let handle = ServiceHandle::new(svc("Once", move |cx| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            cx.run_daemon_task("serve", |cx| async move { cx.cancelled().await })?;
            Ok(())
        }
    }));
    assert_eq!(handle.start(), Ok(()));
    assert_eq!(handle.start(), Err(LifecycleError::AlreadyStarted));
    let error = guard(handle.run()).await.unwrap_err();
    assert!(
        matches!(
            error,
            ServiceError::Lifecycle(LifecycleError::AlreadyStarted)
        ),
        "{error:?}"
    );
    assert!(error.failures().is_empty());
    assert!(
        handle.is_running() && !handle.is_cancelled(),
        "the second run touched the first"
    );
    guard(handle.stop()).await.unwrap();
    let error = guard(handle.run()).await.unwrap_err();
    assert_eq!(error.lifecycle(), Some(&LifecycleError::AlreadyStarted));
    assert_eq!(handle.start(), Err(LifecycleError::AlreadyStarted));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// A service cancelled before it started is done: its body never runs, and starting or
/// running it later returns that finished outcome (nothing ever started it, so it is not
/// `AlreadyStarted`).
#[tokio::test]
async fn start_after_cancel_before_start_returns_the_outcome() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let handle = ServiceHandle::new(svc("Never", move |_cx| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    }));
    handle.cancel();
    assert_eq!(handle.start(), Ok(()));
    guard(handle.run()).await.unwrap();
    guard(handle.wait_finished()).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

/// Starting a service outside a tokio runtime fails with `NoRuntime` (misuse is a
/// `LifecycleError`, never a panic), and the body never runs; `ServiceExt::start` there
/// returns a handle that is not running.
#[test]
fn start_outside_a_runtime_is_no_runtime() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let handle = ServiceHandle::new(svc("Outside", move |_cx| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    }));
    assert_eq!(handle.start(), Err(LifecycleError::NoRuntime));
    assert!(!handle.is_running());
    let counted = Arc::clone(&runs);
    let started = svc("Outside", move |_cx| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    })
    .start();
    assert!(!started.is_running(), "nothing can run it");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

/// A `Context` carried to a plain thread, outside the runtime, cannot start work there —
/// `run_task`, `run_daemon_task` and `run_child_service` return `NoRuntime`, never panic —
/// and the service is unaffected.
#[tokio::test]
async fn starting_work_from_a_plain_thread_is_no_runtime() {
    let (result_tx, result_rx) = oneshot::channel();
    let result_tx = Arc::new(std::sync::Mutex::new(Some(result_tx)));
    let service = svc("Host", move |cx| {
        let result_tx = Arc::clone(&result_tx);
        async move {
            let thread_cx = cx.clone();
            std::thread::spawn(move || {
                let task = thread_cx.run_task("t", |_cx| async {});
                let daemon = thread_cx.run_daemon_task("d", |_cx| pending::<()>());
                let child = thread_cx
                    .run_child_service(svc("Child", |_cx| async { Ok(()) }))
                    .map(|_| ());
                let sender = result_tx.lock().unwrap().take().unwrap();
                sender.send((task, daemon, child)).unwrap();
            });
            Ok(())
        }
    });
    let handle = service.start();
    let (task, daemon, child) = guard(result_rx).await.unwrap();
    assert_eq!(task, Err(LifecycleError::NoRuntime));
    assert_eq!(daemon, Err(LifecycleError::NoRuntime));
    assert_eq!(child, Err(LifecycleError::NoRuntime));
    assert_eq!(handle.stats().tasks.total_count, 0, "nothing was started");
    handle.cancel();
    guard(handle.wait_finished()).await.unwrap();
}

mod deep {
    pub(super) mod inside {
        use std::sync::Arc;

        use service_runtime::prelude::*;

        /// A service that relies on the default name.
        #[derive(Debug)]
        pub(crate) struct Plain;

        impl Service for Plain {
            async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
                cx.run_task("work", |_cx| async { Err::<(), _>("broke") })?;
                Ok(())
            }
        }

        /// A generic service that relies on the default name.
        #[derive(Debug)]
        pub(crate) struct Wrapper<T>(pub(crate) T);

        impl<T: Send + Sync + 'static> Service for Wrapper<T> {
            async fn serve(self: Arc<Self>, _cx: Context) -> Result<(), BoxError> {
                Ok(())
            }
        }
    }
}

/// The default `Service::name` is the type's name without its module path; it names the
/// manager and prefixes task paths.
#[tokio::test]
async fn default_name_is_the_type_name_without_module_path() {
    use deep::inside::{Plain, Wrapper};
    assert_eq!(Plain.name(), "Plain");
    assert_eq!(Wrapper(1u8).name(), "Wrapper<u8>");
    assert_eq!(Wrapper(Plain).name(), "Wrapper<Plain>");
    let handle = ServiceHandle::new(Plain);
    assert_eq!(handle.name(), "Plain");
    let error = guard(handle.run()).await.unwrap_err();
    assert_eq!(error.failures()[0].path(), "Plain/work");
}
