//! `probes`: an HTTP server (axum) run as Kubernetes runs a pod, with the probes it needs.
//!
//! - `GET /readyz`: 200 `ready` while the service is ready; 503 with its status (`starting`,
//!   `draining`, `stopping`) otherwise. A readiness probe takes the pod out of its Service's
//!   endpoints on the 503.
//! - `GET /livez`: 200 `alive` whenever the runtime answers at all (a wedged runtime does
//!   not, and the liveness probe restarts the pod).
//! - `GET /hello`: the real work, served until the very end of the drain.
//!
//! On SIGTERM (what the kubelet sends) `run_until_signal` starts the shutdown: `/readyz`
//! answers 503 at once, while `/hello` and `/livez` are served on for the drain delay
//! (`--drain`, [`Options::drain`]) — the time it takes the endpoints to stop sending traffic
//! here. Then the service is cancelled: axum stops accepting, finishes the requests in
//! flight, and the process exits 0 within its grace (`--grace`), so
//! `terminationGracePeriodSeconds` must exceed drain + grace. A second SIGTERM (or Ctrl-C)
//! cuts the drain and the stop short.
//!
//! Run: `cargo run --example probes -- --addr 127.0.0.1:8080 --drain 5s --grace 2s`, then
//! `curl -i 127.0.0.1:8080/readyz` in another terminal; Ctrl-C stops it. In a pod, listen
//! on `0.0.0.0:8080`. With `--features systemd` it also notifies systemd (the README's
//! "Operating it").

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use service_examples::{fail, init_tracing, parse_duration};
use service_runtime::prelude::*;
use tokio::net::TcpListener;

/// The server: its one daemon serves HTTP on the listener until the service is cancelled.
struct Api {
    listener: Mutex<Option<TcpListener>>,
    options: Options,
}

impl Service for Api {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let listener = self
            .listener
            .lock()
            .unwrap()
            .take()
            .ok_or("the service runs once")?;
        // The probes look at this service: its status is the pod's.
        let service = cx.manager().clone();
        cx.run_daemon_task("http", move |cx| async move {
            let app = Router::new()
                .route("/readyz", get(readyz))
                .route("/livez", get(livez))
                .route("/hello", get(hello))
                .with_state(service);
            println!("listening on {}", listener.local_addr()?);
            // Cancelled after the drain: stop accepting, finish the requests in flight.
            let cancelled = async move { cx.cancelled().await };
            axum::serve(listener, app)
                .with_graceful_shutdown(cancelled)
                .await?;
            Ok::<(), BoxError>(())
        })?;
        Ok(())
    }

    fn options(&self) -> Options {
        self.options.clone()
    }
}

/// 200 while ready; 503 with the status while starting, draining or stopping.
async fn readyz(State(service): State<Manager>) -> (StatusCode, String) {
    match service.status() {
        Status::Ready => (StatusCode::OK, "ready\n".to_owned()),
        status => (StatusCode::SERVICE_UNAVAILABLE, format!("{status}\n")),
    }
}

/// 200: answering at all is what liveness asks.
async fn livez() -> &'static str {
    "alive\n"
}

async fn hello() -> &'static str {
    "hello\n"
}

/// `--addr HOST:PORT` (default `127.0.0.1:8080`), `--drain <n>ms|s|m` (default 5s),
/// `--grace <n>ms|s|m` (default 2s).
struct Args {
    addr: String,
    drain: Duration,
    grace: Duration,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        addr: "127.0.0.1:8080".to_owned(),
        drain: Duration::from_secs(5),
        grace: Duration::from_secs(2),
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("`{name}` needs a value"));
        match flag.as_str() {
            "--addr" => parsed.addr = value("--addr")?,
            "--drain" => parsed.drain = parse_duration(&value("--drain")?)?,
            "--grace" => parsed.grace = parse_duration(&value("--grace")?)?,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected `--addr HOST:PORT`, `--drain 5s` or `--grace 2s`"
                ));
            }
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return fail(&e),
    };
    let listener = match TcpListener::bind(&args.addr).await {
        Ok(listener) => listener,
        Err(e) => return fail(&format!("cannot listen on {}: {e}", args.addr)),
    };
    let api = Api {
        listener: Mutex::new(Some(listener)),
        options: Options::default()
            .with_drain(args.drain)
            .with_grace(args.grace),
    };
    match api.run_until_signal().await {
        Ok(()) => {
            println!("stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}
