//! `hand_written`: a TCP echo server written against the runtime API alone — no macros.
//!
//! Shows what the `#[service]` DSL generates: a `Service` impl whose body starts an acceptor
//! daemon (one contained child task per connection: a connection that fails ends alone) and
//! a stats daemon, run until Ctrl-C / SIGTERM with a grace period for open connections (a
//! second Ctrl-C aborts them).
//!
//! Run: `cargo run --example hand_written -- --port 7000 --grace 2s`, then
//! `nc 127.0.0.1 7000` in another terminal; Ctrl-C stops it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use service_examples::{announce, echo_connection};
use service_runtime::prelude::*;
use tokio::net::TcpListener;

/// The echo server: a listener, a count of open connections, and how often to report it.
struct EchoServer {
    listener: TcpListener,
    open: AtomicUsize,
    report_every: Duration,
    grace: Duration,
}

impl Service for EchoServer {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let server = Arc::clone(&self);
        cx.run_daemon_task("acceptor", move |cx| server.accept(cx))?;
        let server = Arc::clone(&self);
        cx.run_daemon_task("stats", move |cx| server.report(cx))?;
        Ok(())
    }

    fn options(&self) -> Options {
        let mut options = Options::default();
        options.grace = Some(self.grace);
        options
    }
}

impl EchoServer {
    /// Accepts connections until the service is cancelled; each connection is a contained
    /// task, a child of this daemon, so it is stopped (after the grace period) before the
    /// acceptor, and its failure is its own.
    async fn accept(self: Arc<Self>, cx: Context) -> std::io::Result<()> {
        announce(&self.listener)?;
        loop {
            let (stream, peer) = tokio::select! {
                () = cx.cancelled() => return Ok(()),
                accepted = self.listener.accept() => accepted?,
            };
            let server = Arc::clone(&self);
            cx.task(format!("conn-{peer}"))
                .contained()
                .spawn(move |cx| async move {
                    server.open.fetch_add(1, Ordering::Relaxed);
                    let result = echo_connection(stream, &cx).await;
                    server.open.fetch_sub(1, Ordering::Relaxed);
                    result
                })
                .map_err(std::io::Error::other)?;
        }
    }

    /// Logs the number of open connections every few seconds.
    async fn report(self: Arc<Self>, cx: Context) {
        let mut ticks = tokio::time::interval(self.report_every);
        loop {
            tokio::select! {
                () = cx.cancelled() => return,
                _ = ticks.tick() => {
                    let open = self.open.load(Ordering::Relaxed);
                    let tasks = cx.manager().stats().tasks;
                    let failed = tasks.contained_failure_count;
                    tracing::info!(open, started = tasks.total_count, failed, "connections");
                }
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_examples::run_echo_server(|listener, args| EchoServer {
        listener,
        open: AtomicUsize::new(0),
        report_every: Duration::from_secs(3),
        grace: args.grace,
    })
    .await
}
