//! `inspect`: an echo server that prints its live task tree on SIGUSR1.
//!
//! The server is the echo server of `echo.rs`, with every connection a contained task named
//! `conn` (so a thousand connections read as one line, `conn ×1000`), plus an `inspector`
//! daemon: on SIGUSR1 it takes a snapshot of the whole program ([`Manager::snapshot`] of
//! [`Context::root`]) and prints it to stdout, an indented tree of every task with its kind,
//! state, age and restarts:
//!
//! ```text
//! Inspect (service, running, 1m12s)
//! ├─ acceptor (daemon, running, 1m12s)
//! │  └─ conn ×3 (contained task, 2 running, 1 stopping, 4s–58s)
//! └─ inspector (daemon, running, 1m12s)
//! ```
//!
//! Run: `cargo run --example inspect -- --port 7000`, connect with `nc 127.0.0.1 7000`, then
//! `kill -USR1 <pid>` (the pid is logged at start); Ctrl-C stops it.

use std::sync::Arc;

use service_examples::{WithOptions, announce, echo_connection};
use service_runtime::prelude::*;
use tokio::net::TcpListener;

#[service]
struct Inspect {
    listener: TcpListener,
}

#[service]
impl Inspect {
    /// Accepts connections until the service is cancelled, each a contained task `conn`.
    #[daemon]
    async fn acceptor(self: Arc<Self>, cx: &Context) -> anyhow::Result<()> {
        announce(&self.listener)?;
        loop {
            let (stream, _peer) = tokio::select! {
                () = cx.cancelled() => return Ok(()),
                accepted = self.listener.accept() => accepted?,
            };
            let _connection = cx
                .task("conn")
                .contained()
                .spawn(move |cx| async move { echo_connection(stream, &cx).await })?;
        }
    }

    /// Prints the task tree of the whole program each time the process gets SIGUSR1.
    #[daemon]
    async fn inspector(&self, cx: &Context) -> anyhow::Result<()> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};

            let mut usr1 = signal(SignalKind::user_defined1())?;
            let pid = std::process::id();
            tracing::info!(pid, "`kill -USR1 {pid}` prints the task tree");
            loop {
                tokio::select! {
                    () = cx.cancelled() => return Ok(()),
                    received = usr1.recv() => {
                        if received.is_none() {
                            return Ok(());
                        }
                        // One `println!`: the tree and the blank line after it come out whole.
                        println!("{}\n", cx.root().snapshot());
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            tracing::info!("no SIGUSR1 on this platform: the inspector waits to be stopped");
            cx.cancelled().await;
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_examples::run_echo_server(|listener, args| {
        WithOptions::grace(Inspect::new(listener), args.grace)
    })
    .await
}
