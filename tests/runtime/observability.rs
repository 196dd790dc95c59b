//! Tracing spans and events: every task runs in a span with its service and path, and a
//! failure is an `ERROR` event.

use service_runtime::prelude::*;
use service_tests::{Captured, svc};

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
