//! Tracing on: with `SERVICE_BENCH_TRACING=info` (or `debug`) the whole run has a
//! `tracing_subscriber::fmt` subscriber at that level, writing to `io::sink()` — formatting
//! every event and span as a production program does, minus the I/O. The plain side then
//! gives each of its tasks a span like the runtime's (`info_span!("task", ..)`, attached
//! with `Instrument`), and logs the lifecycle events the runtime logs at `debug`: a service
//! (or W5's connection, a service on the runtime side) started and finished.

use std::sync::OnceLock;

use tracing::Level;

static LEVEL: OnceLock<Option<Level>> = OnceLock::new();

/// The level the run traces at, if any (from `SERVICE_BENCH_TRACING`).
pub(crate) fn level() -> Option<Level> {
    *LEVEL.get_or_init(|| match std::env::var("SERVICE_BENCH_TRACING").as_deref() {
        Ok("info") => Some(Level::INFO),
        Ok("debug") => Some(Level::DEBUG),
        Ok("") | Err(_) => None,
        Ok(other) => panic!("SERVICE_BENCH_TRACING must be `info` or `debug`, not {other:?}"),
    })
}

/// Whether the plain side must carry spans.
pub(crate) fn on() -> bool {
    level().is_some()
}

/// Installs the subscriber for the whole process, if the run traces.
pub(crate) fn install() {
    if let Some(level) = level() {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    }
}

/// `spawn_traced!(|f| set.spawn(f), future, "Service", "task")`: runs the spawn call with
/// `f` the future inside a span named after the task when the run traces (bare otherwise,
/// as the runtime spawns its tasks when no subscriber wants their spans).
macro_rules! spawn_traced {
    (|$f:ident| $spawn:expr, $fut:expr, $service:expr, $task:expr) => {{
        let future = $fut;
        if $crate::traced::on() {
            let $f = tracing::Instrument::instrument(
                future,
                tracing::info_span!(parent: None, "task", service = %$service, task = %$task),
            );
            $spawn
        } else {
            let $f = future;
            $spawn
        }
    }};
}

pub(crate) use spawn_traced;
