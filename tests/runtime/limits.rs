//! The live-children limit (`Options::max_children`): a parent with that many live children
//! cannot start one more, and the error names the most common child names.

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use service_runtime::prelude::*;
use service_tests::{guard, poll_until, stays_pending, svc};
use tokio::sync::mpsc;

fn options(max_children: usize) -> Options {
    let mut options = Options::default();
    options.max_children = max_children;
    options
}

fn too_many(parent: &str, limit: usize, most_common: &[(&str, usize)]) -> LifecycleError {
    LifecycleError::TooManyChildren {
        parent: parent.to_owned(),
        limit,
        most_common: most_common
            .iter()
            .map(|&(name, n)| (name.to_owned(), n))
            .collect(),
    }
}

/// By default 1000 live children fit under the body and the 1001st fails with
/// `TooManyChildren { limit: 1000, .. }`, naming the most common names first. The caller
/// handles the error: the rejected task never runs and the service is unaffected.
#[tokio::test(start_paused = true)]
async fn default_limit_is_1000_live_children() {
    assert_eq!(Options::default().max_children, 1000);
    let (result_tx, mut result) = mpsc::unbounded_channel();
    let rejected_ran = Arc::new(AtomicBool::new(false));
    let ran = Arc::clone(&rejected_ran);
    let handle = svc("Crawler", move |cx| {
        let result_tx = result_tx.clone();
        let ran = Arc::clone(&ran);
        async move {
            // Started in an order unlike the expected one: the list is sorted by count.
            for (name, n) in [("dial", 100), ("ping", 600), ("query", 300)] {
                for _ in 0..n {
                    cx.run_task(name, |_cx| pending::<()>())?;
                }
            }
            let rejected = cx.run_task("one_more", move |_cx| async move {
                ran.store(true, Ordering::SeqCst);
            });
            result_tx.send(rejected).unwrap();
            pending().await
        }
    })
    .start();
    let rejected = guard(result.recv()).await.unwrap();
    assert_eq!(
        rejected,
        Err(too_many(
            "Crawler",
            1000,
            &[("ping", 600), ("query", 300), ("dial", 100)]
        ))
    );
    assert!(stays_pending(handle.wait_finished()).await);
    assert!(!rejected_ran.load(Ordering::SeqCst));
    assert!(handle.is_running() && !handle.is_cancelled() && !handle.did_error());
    assert_eq!(handle.stats().tasks.total_count, 1000);
    assert_eq!(handle.stats().tasks.pending_count(), 1000);
    guard(handle.stop()).await.unwrap();
}

/// `most_common` lists at most ten names, most common first.
#[tokio::test]
async fn most_common_lists_at_most_ten_names() {
    // Twelve names with 1..=12 live children each: 78 in all.
    let (result_tx, mut result) = mpsc::unbounded_channel();
    let handle = svc("Crawler", move |cx| {
        let result_tx = result_tx.clone();
        async move {
            for n in 1..=12usize {
                for _ in 0..n {
                    cx.run_task(format!("name{n:02}"), |_cx| pending::<()>())?;
                }
            }
            result_tx
                .send(cx.run_task("extra", |_cx| async {}))
                .unwrap();
            pending().await
        }
    })
    .with_options(options(78))
    .start();
    let rejected = guard(result.recv()).await.unwrap();
    let LifecycleError::TooManyChildren {
        parent,
        limit,
        most_common,
    } = rejected.unwrap_err()
    else {
        panic!("TooManyChildren expected");
    };
    assert_eq!(parent, "Crawler");
    assert_eq!(limit, 78);
    let expected: Vec<(String, usize)> = (3..=12usize)
        .rev()
        .map(|n| (format!("name{n:02}"), n))
        .collect();
    assert_eq!(most_common, expected);
    guard(handle.stop()).await.unwrap();
}

/// Only live children count: children that are done drop out, so a parent may start any
/// number of short tasks over time; live ones still fill the limit.
#[tokio::test]
async fn limit_counts_live_children_only() {
    let (result_tx, mut result) = mpsc::unbounded_channel();
    let handle = svc("Limited", move |cx| {
        let result_tx = result_tx.clone();
        async move {
            for round in 1..=5 {
                for _ in 0..3 {
                    result_tx
                        .send(cx.run_task("quick", |_cx| async {}))
                        .unwrap();
                }
                let manager = cx.manager().clone();
                poll_until(|| manager.stats().tasks.finished_count == 3 * round).await;
            }
            for _ in 0..3 {
                result_tx
                    .send(cx.run_task("held", |_cx| pending::<()>()))
                    .unwrap();
            }
            result_tx
                .send(cx.run_task("quick", |_cx| async {}))
                .unwrap();
            pending().await
        }
    })
    .with_options(options(3))
    .start();
    for i in 0..18 {
        assert_eq!(guard(result.recv()).await.unwrap(), Ok(()), "start {i}");
    }
    let rejected = guard(result.recv()).await.unwrap();
    assert_eq!(rejected, Err(too_many("Limited", 3, &[("held", 3)])));
    assert_eq!(handle.stats().tasks.total_count, 18);
    guard(handle.stop()).await.unwrap();
}

/// The limit is set by `Options::max_children`, below and above the default.
#[tokio::test]
async fn limit_is_set_by_options() {
    for limit in [5, 1500] {
        let (result_tx, mut result) = mpsc::unbounded_channel();
        let handle = svc("Limited", move |cx| {
            let result_tx = result_tx.clone();
            async move {
                for _ in 0..limit {
                    cx.run_task("held", |_cx| pending::<()>())?;
                }
                result_tx.send(cx.run_task("held", |_cx| async {})).unwrap();
                pending().await
            }
        })
        .with_options(options(limit))
        .start();
        let rejected = guard(result.recv()).await.unwrap();
        assert_eq!(
            rejected,
            Err(too_many("Limited", limit, &[("held", limit)]))
        );
        assert!(!handle.did_error());
        assert_eq!(handle.stats().tasks.total_count, limit);
        guard(handle.stop()).await.unwrap();
    }
}

/// The limit applies to each parent separately — the body's root tasks, and each task's
/// children — not to the service as a whole; child services count as children.
#[tokio::test]
async fn limit_applies_per_parent() {
    let (result_tx, mut result) = mpsc::unbounded_channel::<(&str, Result<(), LifecycleError>)>();
    let handle = svc("Limited", move |cx| {
        let result_tx = result_tx.clone();
        async move {
            for _ in 0..2 {
                let result_tx = result_tx.clone();
                cx.run_task("worker", move |cx| async move {
                    for _ in 0..2 {
                        let result_tx = result_tx.clone();
                        cx.run_task("leaf", move |cx| async move {
                            for _ in 0..2 {
                                cx.run_task("grandchild", |_cx| pending::<()>())?;
                            }
                            let third = cx.run_task("grandchild", |_cx| async {});
                            result_tx.send(("leaf", third)).unwrap();
                            pending::<Result<(), LifecycleError>>().await
                        })?;
                    }
                    result_tx
                        .send(("worker", cx.run_task("leaf", |_cx| async {})))
                        .unwrap();
                    pending::<Result<(), LifecycleError>>().await
                })?;
            }
            result_tx
                .send(("body", cx.run_task("worker", |_cx| async {})))
                .unwrap();
            let child = cx.run_child_service(svc("Child", |_cx| async { Ok(()) }));
            result_tx.send(("body", child.map(|_| ()))).unwrap();
            pending().await
        }
    })
    .with_options(options(2))
    .start();
    let mut seen = Vec::new();
    for _ in 0..8 {
        seen.push(guard(result.recv()).await.unwrap());
    }
    seen.sort_by_key(|(who, _)| *who);
    let expect = |who, name| {
        let parent = match who {
            "body" => "Limited",
            "worker" => "Limited/worker",
            _ => "Limited/worker/leaf",
        };
        (who, Err(too_many(parent, 2, &[(name, 2)])))
    };
    assert_eq!(
        seen,
        [
            expect("body", "worker"),
            expect("body", "worker"),
            expect("leaf", "grandchild"),
            expect("leaf", "grandchild"),
            expect("leaf", "grandchild"),
            expect("leaf", "grandchild"),
            expect("worker", "leaf"),
            expect("worker", "leaf"),
        ]
    );
    // 2 workers, 4 leaves, 8 grandchildren: far more than 2 live tasks in the service.
    poll_until(|| handle.stats().tasks.total_count == 14).await;
    assert_eq!(handle.stats().tasks.pending_count(), 14);
    assert!(!handle.did_error());
    guard(handle.stop()).await.unwrap();
}

/// Uncaught inside a task (returned with `?`), `TooManyChildren` becomes that task's
/// failure (kind `Error`, the `LifecycleError` as its error) and the service fails.
#[tokio::test]
async fn uncaught_in_a_task_fails_the_service() {
    let handle = ServiceHandle::new(
        svc("Limited", |cx| async move {
            cx.run_task("spawner", |cx| async move {
                cx.run_task("child", |_cx| pending::<()>())?;
                cx.run_task("child", |_cx| pending::<()>())?;
                Ok::<(), LifecycleError>(())
            })?;
            Ok(())
        })
        .with_options(options(1)),
    );
    let error = guard(handle.run()).await.unwrap_err();
    assert!(handle.did_error() && handle.is_cancelled());
    let [failure] = error.failures() else {
        panic!("one failure expected: {error:?}");
    };
    assert_eq!(failure.path(), "Limited/spawner");
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(
        failure.error().downcast_ref::<LifecycleError>(),
        Some(&too_many("Limited/spawner", 1, &[("child", 1)]))
    );
}

/// Uncaught in the body, it is the body's failure.
#[tokio::test]
async fn uncaught_in_the_body_fails_the_service() {
    let error = guard(
        svc("Limited", |cx| async move {
            cx.run_task("child", |_cx| pending::<()>())?;
            cx.run_task("child", |_cx| pending::<()>())?;
            Ok(())
        })
        .with_options(options(1))
        .run(),
    )
    .await
    .unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error:?}");
    };
    assert_eq!(failure.path(), "Limited");
    assert_eq!(
        failure.error().downcast_ref::<LifecycleError>(),
        Some(&too_many("Limited", 1, &[("child", 1)]))
    );
}
