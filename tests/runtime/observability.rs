//! Tracing spans and events: every task runs in a span with its service and path, a
//! failure is an `ERROR` event, and a service's start and end are its `DEBUG` lines.

use service_runtime::prelude::*;
use service_tests::{Captured, logs_while, svc};
use tracing::Level;

/// Events inside a task carry its span (service and path); a failure is an `ERROR` event
/// naming the path and the cause. (The only test of this binary that installs a
/// subscriber; other tests' events may land in the buffer too, which is why lines are
/// searched for by content.)
#[tokio::test]
async fn tasks_run_in_spans_and_failures_are_error_events() {
    let captured = Captured::new();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // Global, not scoped: tracing caches each callsite's interest process-wide, and a scoped
    // subscriber races the other tests of this binary registering the same callsites.
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    let error = svc("Node", |cx| async move {
        cx.run_task("gossip", |_cx| async {
            tracing::info!("hello from gossip");
            Err::<(), _>("peer vanished")
        })?;
        Ok(())
    })
    .run()
    .await
    .unwrap_err();
    assert_eq!(error.failures().len(), 1);
    let output = captured.text();
    let hello = output
        .lines()
        .find(|l| l.contains("hello from gossip"))
        .unwrap_or_else(|| panic!("no event from the task in:\n{output}"));
    assert!(
        hello.contains("task{service=Node path=Node/gossip}"),
        "{hello}"
    );
    let failed = output
        .lines()
        .find(|l| l.contains("task failed"))
        .unwrap_or_else(|| panic!("no failure event in:\n{output}"));
    assert!(failed.contains("ERROR"), "{failed}");
    assert!(failed.contains("path=Node/gossip"), "{failed}");
    assert!(failed.contains("error=peer vanished"), "{failed}");
}

/// The lifecycle lines of a service `Node` (with a child `Store`) that is cancelled on
/// request, as logged at `level`.
fn lifecycle_at(level: Level) -> Vec<String> {
    let output = logs_while(level, |_| async {
        let node = svc("Node", |cx| async move {
            cx.run_child_service(svc("Store", |cx| async move {
                cx.run_daemon_task("flush", |cx| async move { cx.cancelled().await })?;
                Ok(())
            }))?;
            Ok(())
        });
        let handle = node.start();
        handle.wait_ready().await.unwrap();
        handle.cancel();
        handle.wait_finished().await.unwrap();
    });
    output
        .lines()
        // Without the timestamp, level and span: "service started service=Node", say.
        .filter_map(|line| line.split_once("service_runtime::manager: "))
        .map(|(_, message)| message.trim().to_owned())
        .collect()
}

/// At `debug` a service logs two lines, one when it starts and one when it finishes (with
/// whether it failed and, once cancelled, why); a server whose connections are services
/// logs two lines per connection. Readiness and cancellation are `trace`.
#[test]
fn a_service_logs_its_start_and_its_end_at_debug() {
    let debug = lifecycle_at(Level::DEBUG);
    let node: Vec<&String> = debug
        .iter()
        .filter(|l| l.contains("service=Node ") || l.ends_with("service=Node"))
        .collect();
    assert_eq!(node.len(), 2, "{debug:#?}");
    assert!(node[0].starts_with("service started"), "{debug:#?}");
    assert!(node[1].starts_with("service finished"), "{debug:#?}");
    assert!(node[1].contains("failed=false"), "{debug:#?}");
    assert!(node[1].contains("cause=cancelled on request"), "{debug:#?}");
    let store: Vec<&String> = debug
        .iter()
        .filter(|l| l.contains("service=Node/Store"))
        .collect();
    assert_eq!(store.len(), 2, "{debug:#?}");
    assert!(
        store[1].contains("cause=cancelled with its parent"),
        "{debug:#?}"
    );
    assert!(
        !debug
            .iter()
            .any(|l| l.starts_with("service ready") || l.starts_with("service cancelled")),
        "{debug:#?}"
    );
    let trace = lifecycle_at(Level::TRACE);
    for step in ["service ready", "service cancelled"] {
        assert!(
            trace
                .iter()
                .any(|l| l.starts_with(step) && l.contains("service=Node")),
            "no `{step}` at trace: {trace:#?}"
        );
    }
}

/// A service that could not start (its name has a `/`) finished with an error, and its
/// `service finished` line says it failed.
#[test]
fn a_service_refused_at_start_logs_that_it_failed() {
    let output = logs_while(Level::DEBUG, |_| async {
        let outcome = svc("a/b", |_cx| async { Ok(()) }).run().await;
        assert!(outcome.is_err(), "{outcome:?}");
    });
    let finished = output
        .lines()
        .find(|line| line.contains("service finished service=a/b"))
        .unwrap_or_else(|| panic!("no `service finished` line in:\n{output}"));
    assert!(finished.contains("failed=true"), "{finished}");
}
