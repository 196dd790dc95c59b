//! `tour`: the whole idea of `service-runtime` in one run of a few seconds.
//!
//! A small service tree written with the `#[service]` DSL:
//!
//! ```text
//! Node                      a service
//! ├── Store                 its child service (#[child])
//! │   └── flush             a daemon of Store, which starts one task per write:
//! │       ├── write-1       (slow writes, still running...)
//! │       ├── write-2
//! │       └── write-3       ...until this one fails: "disk full"
//! ├── heartbeat             a daemon of Node: logs the stats while it runs
//! └── announce              a task of Node: does its job and ends
//! ```
//!
//! The failure of `Node/Store/flush/write-3` cancels the whole tree. Watch the order of the
//! `stopped` lines: children stop before the task that started them (leaves first), and
//! nothing outlives `Node`. Then `run()` returns the failure with the path of the task that
//! failed. The failure is the point of the demo, so the process exits with status 0.
//!
//! Run: `cargo run --example tour` (`RUST_LOG=debug` shows the runtime's own events too).

use std::time::Duration;

use service_runtime::prelude::*;
use tracing::info;

/// The root service.
#[service]
struct Node;

#[service]
impl Node {
    /// A child service, started with `Node`: `Store` runs under its own manager, and its
    /// failures are `Node`'s failures too.
    #[child]
    fn store(&self) -> Store {
        Store::new(3)
    }

    /// A daemon lives as long as its service: here, a stats reporter.
    #[daemon]
    async fn heartbeat(&self, cx: &Context) {
        let _stopped = Stopped;
        let mut ticks = tokio::time::interval(Duration::from_millis(250));
        loop {
            ticks.tick().await;
            let tasks = cx.manager().stats().tasks;
            info!(
                started = tasks.total_count,
                running = tasks.pending_count(),
                "Node stats"
            );
        }
    }

    /// A task does its job and ends; `Node` runs on.
    #[task]
    async fn announce(&self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        info!("announced to 3 peers; done");
    }
}

/// A store whose `flush` daemon starts a write task every 200 ms; write number `fail_on`
/// fails.
#[service]
struct Store {
    fail_on: u32,
}

#[service]
impl Store {
    #[daemon]
    async fn flush(&self, cx: &Context) -> Result<(), LifecycleError> {
        let _stopped = Stopped;
        for n in 1.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let fails = n == self.fail_on;
            // A task started from a task is its child: `Node/Store/flush/write-N`.
            cx.run_task(format!("write-{n}"), move |_cx| async move {
                info!("writing block {n}");
                if fails {
                    return Err("disk full");
                }
                // A slow write: still running when the failure comes.
                let _stopped = Stopped;
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// Logs `stopped` when dropped. A task that does not return by itself is aborted at
/// cancellation (after `Options::grace`, zero here): its future is dropped at its current
/// `.await`, so `Drop` guards like this one run, leaves first.
struct Stopped;

impl Drop for Stopped {
    fn drop(&mut self) {
        info!("stopped");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    // `service_runtime=debug` adds the runtime's lifecycle events: services started,
    // cancelled, finished.
    service_examples::init_tracing_with("info,service_runtime=debug");
    if let Err(e) = service_examples::no_arguments() {
        return service_examples::fail(&e);
    }
    let node = ServiceHandle::new(Node::new());
    let outcome = node.run().await;
    // Finished means finished: every task `Node` started is done.
    let tasks = node.stats().tasks;
    println!(
        "Node finished: {} of its {} tasks done",
        tasks.finished_count, tasks.total_count
    );
    match outcome {
        Ok(()) => service_examples::fail("`Node` ended without the failure it was meant to show"),
        Err(error) => {
            println!("the expected failure, as `run()` returned it:\n  {error}");
            for failure in error.failures() {
                println!(
                    "  path={} kind={} error={}",
                    failure.path(),
                    failure.kind(),
                    failure.error()
                );
            }
            std::process::ExitCode::SUCCESS
        }
    }
}
