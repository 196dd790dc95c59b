//! A task that ignores cancellation past its grace period is aborted, and its abort is
//! visible in tracing.
//!
//! A binary of its own: it installs the global tracing subscriber (tracing caches each
//! callsite's interest process-wide, so a scoped subscriber would race other tests), and it
//! is the only test here, so nothing else writes into the captured output.

use std::future::pending;
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Captured, Log, LogOnDrop, guard, svc};
use tokio::sync::mpsc;
use tokio::time::Instant;

const ABORTING: &str = "task still running after its grace period; aborting it";

/// `stubborn` and its child `inner` ignore cancellation; `polite` returns when cancelled.
/// With a 2 s grace, `stop()` takes exactly 2 s: `inner` is aborted, then `stubborn` (children
/// first), each with a `WARN` event naming its path and the grace, and each is a
/// `GraceExceeded` failure of the stop; `polite` is not aborted and not mentioned.
#[tokio::test(start_paused = true)]
async fn a_task_ignoring_cancellation_past_its_grace_is_aborted_with_a_warning() {
    let captured = Captured::new();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");

    let log = Log::new();
    let (up_tx, mut up) = mpsc::unbounded_channel::<()>();
    let task_log = log.clone();
    let handle = svc("Svc", move |cx| {
        let (log, up_tx) = (task_log.clone(), up_tx.clone());
        async move {
            let (polite_log, polite_up) = (log.clone(), up_tx.clone());
            cx.run_task("polite", move |cx| async move {
                polite_up.send(()).unwrap();
                cx.cancelled().await;
                polite_log.push("polite returned");
            })?;
            cx.run_task("stubborn", move |cx| async move {
                let _cleanup = LogOnDrop::new(&log, "stubborn aborted");
                let inner_up = up_tx.clone();
                cx.run_task("inner", move |_cx| async move {
                    let _cleanup = LogOnDrop::new(&log, "inner aborted");
                    inner_up.send(()).unwrap();
                    pending::<()>().await
                })?;
                up_tx.send(()).unwrap();
                pending::<Result<(), LifecycleError>>().await
            })?;
            cx.cancelled().await;
            Ok(())
        }
    })
    .with_grace(Duration::from_secs(2))
    .start();
    for _ in 0..3 {
        guard(up.recv()).await.unwrap();
    }

    let began = Instant::now();
    let error = guard(handle.stop()).await.unwrap_err();
    assert_eq!(began.elapsed(), Duration::from_secs(2));
    let mut exceeded: Vec<_> = error
        .failures()
        .iter()
        .map(|f| (f.path(), f.kind()))
        .collect();
    exceeded.sort_unstable_by_key(|(path, _)| *path);
    assert_eq!(
        exceeded,
        [
            ("Svc/stubborn", FailureKind::GraceExceeded),
            ("Svc/stubborn/inner", FailureKind::GraceExceeded)
        ]
    );
    assert_eq!(
        log.entries(),
        ["polite returned", "inner aborted", "stubborn aborted"]
    );

    let output = captured.text();
    let aborts: Vec<&str> = output.lines().filter(|l| l.contains(ABORTING)).collect();
    assert_eq!(aborts.len(), 2, "two aborts expected in:\n{output}");
    for line in &aborts {
        assert!(line.contains(" WARN "), "{line}");
        assert!(line.contains("grace=2s"), "{line}");
    }
    assert!(aborts[0].contains("path=Svc/stubborn/inner"), "{output}");
    assert!(
        aborts[1].contains("path=Svc/stubborn ") || aborts[1].ends_with("path=Svc/stubborn"),
        "{output}"
    );
    assert!(!output.contains("Svc/polite"), "{output}");
}
