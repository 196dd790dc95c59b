//! `echo`: a TCP echo server written with the `#[service]` DSL.
//!
//! An `acceptor` daemon starts one contained task per connection (a child of the acceptor,
//! so connections are stopped before it, and a failure boundary, so a connection that fails
//! — a peer sending bytes that are not text — ends alone while the server goes on), a
//! `stats` daemon logs the open and failed connections every few seconds, and
//! `run_until_signal()` stops it all on Ctrl-C / SIGTERM, giving open connections the grace
//! period (`--grace`) to close cleanly; a second Ctrl-C aborts them. The same server without
//! macros is `hand_written.rs`.
//!
//! Run: `cargo run --example echo -- --port 7000 --grace 2s` (`--port 0` picks any free
//! port), then `nc 127.0.0.1 7000` in another terminal; Ctrl-C stops it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use service_examples::{WithOptions, announce, echo_connection};
use service_runtime::prelude::*;
use tokio::net::TcpListener;

#[service]
struct EchoServer {
    listener: TcpListener,
    open: AtomicUsize,
    report_every: Duration,
}

#[service]
impl EchoServer {
    /// Accepts connections until the service is cancelled. Each connection is a contained
    /// task started from here (`EchoServer/acceptor/conn-127.0.0.1:50312`): the acceptor is
    /// not stopped before its connections are, and a connection's failure is its own.
    #[daemon]
    async fn acceptor(self: Arc<Self>, cx: &Context) -> anyhow::Result<()> {
        announce(&self.listener)?;
        loop {
            let (stream, peer) = tokio::select! {
                () = cx.cancelled() => return Ok(()),
                accepted = self.listener.accept() => accepted?,
            };
            let server = Arc::clone(&self);
            // The handle is not kept: a failed connection is logged (at `error`, with its
            // path) and counted in the stats.
            let _connection =
                cx.task(format!("conn-{peer}"))
                    .contained()
                    .spawn(move |cx| async move {
                        server.open.fetch_add(1, Ordering::Relaxed);
                        let result = echo_connection(stream, &cx).await;
                        server.open.fetch_sub(1, Ordering::Relaxed);
                        result
                    })?;
        }
    }

    /// Logs the open connections every `report_every`.
    #[daemon]
    async fn stats(&self, cx: &Context) {
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
    service_examples::run_echo_server(|listener, args| {
        let server = EchoServer::new(listener, AtomicUsize::new(0), Duration::from_secs(3));
        // The grace period comes from the command line; `#[service(grace = "2s")]` would
        // fix it at compile time.
        WithOptions::grace(server, args.grace)
    })
    .await
}
