//! `supervisor`: restart policies, OTP style, inside structured cancellation.
//!
//! `Pipeline` runs two daemons with `Restart::on_failure()`:
//!
//! - `cache` fails once while warming up, is restarted, and then runs fine: a failure healed
//!   by a restart is only logged (`warn`) and counted, never part of the service's error;
//! - `db` can never connect. It is restarted with exponential backoff (100 ms, 200 ms,
//!   400 ms, .. each jittered) until its intensity is exceeded (more than 3 restarts within
//!   10 s): then its last failure becomes the failure of `Pipeline`, noting the restarts,
//!   and `Pipeline` stops as after any failure.
//!
//! The final report is the expected end of the demo: the process exits with status 0.
//!
//! Run: `cargo run --example supervisor`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use service_runtime::prelude::*;
use tracing::info;

/// The service: its body starts the two supervised daemons with the task builder.
#[service]
async fn pipeline(cx: &Context) -> Result<(), LifecycleError> {
    let warmups = Arc::new(AtomicU32::new(0));
    cx.task("cache")
        .daemon()
        .restart(Restart::on_failure())
        // With a restart policy the body is `Fn`: it makes a fresh future for each run.
        .spawn(move |cx| {
            let attempt = warmups.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                info!(attempt, "warming up");
                tokio::time::sleep(Duration::from_millis(50)).await;
                if attempt == 1 {
                    return Err("warm-up timed out");
                }
                info!(attempt, "serving");
                cx.cancelled().await;
                Ok(())
            }
        })?;

    let connects = Arc::new(AtomicU32::new(0));
    cx.task("db")
        .daemon()
        .restart(
            Restart::on_failure()
                .max_restarts(3)
                .within(Duration::from_secs(10))
                .backoff(Duration::from_millis(100), Duration::from_secs(2)),
        )
        .spawn(move |_cx| {
            let attempt = connects.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                info!(attempt, "connecting to db:5432");
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err::<(), _>("connection refused")
            }
        })?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_examples::init_tracing();
    if let Err(e) = service_examples::no_arguments() {
        return service_examples::fail(&e);
    }
    let pipeline = ServiceHandle::new(Pipeline::new());
    let outcome = pipeline.run().await;
    let tasks = pipeline.stats().tasks;
    println!(
        "Pipeline finished: {} restarts, {} of {} tasks done",
        tasks.restart_count, tasks.finished_count, tasks.total_count
    );
    match outcome {
        Err(error) if !error.failures().is_empty() => {
            println!("the expected failure, as `run()` returned it:\n  {error}");
            for failure in error.failures() {
                println!("  failure: path={} kind={}", failure.path(), failure.kind());
            }
            std::process::ExitCode::SUCCESS
        }
        other => service_examples::fail(&format!("unexpected outcome: {other:?}")),
    }
}
