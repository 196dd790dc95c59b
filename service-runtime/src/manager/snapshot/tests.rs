//! Snapshots under concurrent change (every snapshot's invariants, and the locks it holds),
//! and their serialized form.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::snapshot::Snapshot;
use crate::tests::FnService;
use crate::tree::snapshot_held_most;
use crate::{Context, ServiceExt};

/// What every snapshot must show, whatever runs meanwhile: no task twice (names are unique
/// here, so paths are), every child under its own parent (`t7-c` under `t7`), paths made of
/// the names above. Returns how many entries it had.
fn check(snapshot: &Snapshot) -> usize {
    let mut paths = HashSet::new();
    let mut stack = vec![&snapshot.root];
    while let Some(task) = stack.pop() {
        assert!(paths.insert(task.path.as_str()), "`{}` twice", task.path);
        for child in &task.children {
            assert_eq!(child.path, format!("{}/{}", task.path, child.name));
            if let Some(parent) = child.name.strip_suffix("-c") {
                assert_eq!(parent, task.name, "a child under another parent");
            }
            stack.push(child);
        }
    }
    paths.len()
}

/// Yields `n % 16` times: a task that lives for a few polls.
async fn polls(n: usize) {
    for _ in 0..n % 16 {
        tokio::task::yield_now().await;
    }
}

/// Tasks start (some with a child) and finish on two worker threads while another thread
/// takes snapshots in a loop: every snapshot keeps its invariants, and the walk never holds
/// more than one node's lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_stay_consistent_while_tasks_come_and_go() {
    let spawned = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&spawned);
    let service = FnService::new("Churn", move |cx: &Context| {
        let counter = Arc::clone(&counter);
        for worker in 0..2 {
            let counter = Arc::clone(&counter);
            cx.run_daemon_task(format!("spawner-{worker}"), move |cx| async move {
                while !cx.is_cancelled() {
                    // A burst of tasks that live for a few polls each, a third with a child.
                    for _ in 0..8 {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let _ = cx.run_task(format!("t{n}"), move |cx| async move {
                            if n.is_multiple_of(3) {
                                let _ = cx.run_task(format!("t{n}-c"), move |_cx| polls(n));
                            }
                            polls(n).await;
                        });
                    }
                    tokio::task::yield_now().await;
                }
            })?;
        }
        Ok(())
    })
    .start();
    service.wait_ready().await.unwrap();
    let manager = service.manager().clone();
    let (most, biggest) = tokio::task::spawn_blocking(move || {
        let mut biggest = 0;
        for _ in 0..1000 {
            biggest = biggest.max(check(&manager.snapshot()));
        }
        (snapshot_held_most(), biggest)
    })
    .await
    .unwrap();
    service.stop().await.unwrap();
    assert_eq!(most, 1, "the walk held {most} node locks at once");
    assert!(spawned.load(Ordering::Relaxed) > 0);
    // The two spawners at least, with the service.
    assert!(biggest >= 3, "{biggest}");
    eprintln!(
        "biggest {biggest} spawned {}",
        spawned.load(Ordering::Relaxed)
    );
}

/// With the `serde` feature, stats and snapshots serialize with their field names, kinds
/// and states in snake case.
#[cfg(feature = "serde")]
#[tokio::test(start_paused = true)]
async fn serialized() {
    let service = FnService::new("Node", |cx: &Context| {
        cx.run_daemon_task("gossip", |cx| async move { cx.cancelled().await })
    })
    .start();
    service.wait_ready().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let json = serde_json::to_string(&service.snapshot()).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"root":{"name":"Node","path":"Node","kind":"body","contained":false,"#,
            r#""state":"running","restarts":0,"age":{"secs":1,"nanos":500000000},"children":["#,
            r#"{"name":"gossip","path":"Node/gossip","kind":"daemon","contained":false,"#,
            r#""state":"running","restarts":0,"age":{"secs":1,"nanos":500000000},"children":[]}]}}"#,
        )
    );
    let stats = serde_json::to_string(&service.stats()).unwrap();
    assert_eq!(
        stats,
        r#"{"tasks":{"total_count":1,"finished_count":0,"restart_count":0,"contained_failure_count":0}}"#
    );
    service.stop().await.unwrap();
}
