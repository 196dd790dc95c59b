//! Failures and their report: every error, panic and daemon exit is returned from the
//! service's run, with the path of the task that failed.

use std::error::Error as _;
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{guard, svc};
use tokio::sync::{mpsc, oneshot};

/// Several failures are all returned in the order they happened, not sorted by path.
#[tokio::test(start_paused = true)]
async fn failures_in_the_order_they_happened() {
    let error = svc("Svc", |cx| async move {
        let (a_up_tx, a_up) = oneshot::channel();
        cx.run_task("a", move |cx| async move {
            a_up_tx.send(()).unwrap();
            // Fails second: only once `b`'s failure has cancelled the service.
            cx.cancelled().await;
            Err::<(), _>("second")
        })?;
        cx.run_task("b", move |_cx| async move {
            a_up.await.unwrap();
            Err::<(), _>("first")
        })?;
        Ok(())
    })
    .with_grace(Duration::from_secs(1))
    .run()
    .await
    .unwrap_err();
    let seen: Vec<_> = error
        .failures()
        .iter()
        .map(|f| (f.path(), f.error().to_string()))
        .collect();
    assert_eq!(
        seen,
        [
            ("Svc/b", "first".to_owned()),
            ("Svc/a", "second".to_owned())
        ]
    );
    assert_eq!(
        error.to_string(),
        "stopped by the failure of `Svc/b`: service `Svc` failed (2 failures): 1) `Svc/b` failed: first; 2) `Svc/a` failed: second"
    );
}

/// A panic in a task is caught and reported with its message; the process and the other
/// services go on.
#[tokio::test]
async fn panics_are_caught_and_reported() {
    let error = svc("Svc", |cx| async move {
        cx.run_task("boom", |_cx| async {
            let n = 7;
            panic!("exploded with {n}");
        })?;
        Ok(())
    })
    .run()
    .await
    .unwrap_err();
    let [failure] = error.failures() else {
        panic!("{error}")
    };
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert_eq!(failure.path(), "Svc/boom");
    assert_eq!(failure.error().to_string(), "exploded with 7");
    assert_eq!(failure.to_string(), "`Svc/boom` panicked: exploded with 7");

    // Panics in the body, and in the closure that makes a task's future.
    let error = svc("Body", |_cx| async { panic!("body panic") })
        .run()
        .await
        .unwrap_err();
    assert_eq!(error.failures()[0].kind(), FailureKind::Panic);
    assert_eq!(error.failures()[0].error().to_string(), "body panic");
    let error = svc("Maker", |cx| async move {
        cx.run_task("maker", |_cx| -> std::future::Ready<()> {
            panic!("before the future")
        })?;
        Ok(())
    })
    .run()
    .await
    .unwrap_err();
    assert_eq!(error.failures()[0].path(), "Maker/maker");
    assert_eq!(error.failures()[0].kind(), FailureKind::Panic);
}

/// A panic in a task's `Drop` while it is aborted is caught and reported too.
#[tokio::test]
async fn panic_in_drop_during_abort_is_reported() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop panicked");
        }
    }
    let (up_tx, mut up_rx) = mpsc::unbounded_channel();
    let handle = svc("Svc", move |cx| {
        let up_tx = up_tx.clone();
        async move {
            cx.run_task("fragile", move |_cx| async move {
                let _bomb = PanicOnDrop;
                up_tx.send(()).unwrap();
                std::future::pending::<()>().await
            })?;
            Ok(())
        }
    })
    .start();
    guard(up_rx.recv()).await.unwrap();
    let error = guard(handle.stop()).await.unwrap_err();
    assert_eq!(error.failures().len(), 1);
    assert_eq!(error.failures()[0].kind(), FailureKind::Panic);
    assert_eq!(error.failures()[0].error().to_string(), "drop panicked");
}

/// Errors are `Clone`, the task's own error is reachable through `source()`, and the
/// lifecycle errors compare with `assert_eq!`.
#[tokio::test]
async fn error_types_behave() {
    let error = svc("Svc", |cx| async move {
        cx.run_task("io", |_cx| async {
            Err::<(), _>(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such peer",
            ))
        })?;
        Ok(())
    })
    .run()
    .await
    .unwrap_err();
    let copy = error.clone();
    assert_eq!(copy.to_string(), error.to_string());
    let failure = error.source().expect("the first failure");
    assert_eq!(failure.to_string(), "`Svc/io` failed: no such peer");
    let io = failure.source().expect("the task's error");
    assert!(io.downcast_ref::<std::io::Error>().is_some());
    let ServiceError::Failed(failures) = &error else {
        panic!("{error}")
    };
    assert_eq!(failures.service(), "Svc");
    assert_eq!(failures.len(), 1);

    let e = LifecycleError::TooManyChildren {
        parent: "Svc/listen".into(),
        limit: 2,
        most_common: vec![("a".into(), 2)],
    };
    assert_eq!(e.clone(), e);
    assert_eq!(
        e.to_string(),
        "`Svc/listen` cannot start another child: it already has 2 live children, the limit; most common: `a` (2)"
    );
    assert_eq!(FailureKind::DaemonExit.to_string(), "daemon exit");
}
