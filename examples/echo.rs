//! `echo`: a TCP echo server written with the `#[service]` DSL.
//!
//! An `acceptor` daemon starts one contained child service per connection: `connection`, a
//! `#[service]` function that owns its `TcpStream`, named after its peer (`conn-127.0.0.1:50312`).
//! It is a child of the acceptor, so connections are stopped before it, and a failure
//! boundary, so a connection that fails — a peer sending bytes that are not text — ends
//! alone while the server goes on. A `stats` daemon logs the open and failed connections
//! every few seconds, and `run_until_signal()` stops it all on Ctrl-C / SIGTERM, giving open
//! connections the grace period (`--grace`, read at run time by `grace = self.grace`) to
//! close cleanly; a second Ctrl-C aborts them. The same server without macros, its
//! connections contained tasks, is `hand_written.rs`.
//!
//! Run: `cargo run --example echo -- --port 7000 --grace 2s` (`--port 0` picks any free
//! port), then `nc 127.0.0.1 7000` in another terminal; Ctrl-C stops it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use service_examples::{announce, echo_connection};
use service_runtime::prelude::*;
use tokio::net::{TcpListener, TcpStream};

/// The grace period comes from the command line: an expression, evaluated when the server
/// starts (`grace = "2s"` would fix it at compile time).
#[service(grace = self.grace)]
struct EchoServer {
    listener: TcpListener,
    open: Arc<AtomicUsize>,
    report_every: Duration,
    grace: Duration,
}

/// One connection, a service of its own, named after its peer. It owns its stream (moved
/// into this function's only run: no `Clone`, no `Mutex<Option<_>>`), and inherits the
/// server's grace.
#[service(name = format!("conn-{peer}"))]
async fn connection(
    cx: &Context,
    stream: TcpStream,
    peer: SocketAddr,
    open: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    tracing::debug!(%peer, "connection opened");
    open.fetch_add(1, Ordering::Relaxed);
    let result = echo_connection(stream, cx).await;
    open.fetch_sub(1, Ordering::Relaxed);
    result
}

#[service]
impl EchoServer {
    /// Accepts connections until the service is cancelled. Each connection is a contained
    /// child service started from here (`EchoServer/acceptor/conn-127.0.0.1:50312`): the
    /// acceptor is not stopped before its connections are, and a connection's failure is
    /// its own.
    #[daemon]
    async fn acceptor(&self, cx: &Context) -> anyhow::Result<()> {
        announce(&self.listener)?;
        loop {
            let (stream, peer) = tokio::select! {
                () = cx.cancelled() => return Ok(()),
                accepted = self.listener.accept() => accepted?,
            };
            let open = Arc::clone(&self.open);
            // The handle is not kept: a failed connection is logged (at `error`, with its
            // path) and counted in the stats.
            let _connection = cx
                .child(move || Connection::new(stream, peer, open))
                .contained()
                .spawn()?;
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
        EchoServer::new(
            listener,
            Arc::new(AtomicUsize::new(0)),
            Duration::from_secs(3),
            args.grace,
        )
    })
    .await
}
