//! The [`Service`] trait and the ways to run one.

use std::borrow::Cow;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use crate::cause::CancelCause;
use crate::context::Context;
use crate::error::{BoxError, ServiceError};
use crate::handle::{CancelOnDrop, ServiceHandle};
use crate::options::Options;

/// A service: a body that starts tasks and child services through its [`Context`].
///
/// Most services are written with the [`service`](crate::service) macro; implementing the
/// trait by hand is just as supported:
///
/// ```
/// use std::sync::Arc;
/// use service_runtime::prelude::*;
///
/// struct Ticker;
///
/// impl Service for Ticker {
///     async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
///         cx.run_task("tick", |_cx| async { println!("tick") })?;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// Ticker.run().await.unwrap();
/// # }
/// ```
pub trait Service: Send + Sync + 'static {
    /// The body: the service's first task. Start tasks and children through `cx`.
    ///
    /// Returning does not finish the service while its tasks run: it is finished when the
    /// body and all its tasks and child services are done.
    fn serve(self: Arc<Self>, cx: Context) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Name used in task paths, logs and errors. Default: the type's name without its
    /// module path (and without generic arguments' paths).
    fn name(&self) -> Cow<'static, str> {
        short_type_name(std::any::type_name::<Self>())
    }

    /// Per-service settings. Default: [`Options::default()`].
    fn options(&self) -> Options {
        Options::default()
    }
}

/// `a::b::Node<c::T>` → `Node<T>`; borrowed (no allocation) when there is nothing to
/// strip but the leading path.
fn short_type_name(full: &'static str) -> Cow<'static, str> {
    // This runs for every service started, so the common case, a plain path
    // (`crate::module::Type`), costs a scan of its last segment only. A type name with
    // anything more — generic arguments (`Box<a::T>`), a tuple, an array, a reference, a
    // pointer — starts or ends with punctuation; other forms (`dyn`, `fn` pointers) cannot
    // be services (unsized, or foreign to the crate implementing `Service`).
    let bytes = full.as_bytes();
    let is_word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let plain = bytes.first().is_some_and(is_word) && bytes.last().is_some_and(is_word);
    if !plain {
        return Cow::Owned(shorten(full));
    }
    let start = bytes.iter().rposition(|&b| b == b':').map_or(0, |i| i + 1);
    Cow::Borrowed(&full[start..])
}

/// [`short_type_name`] for a name with generic arguments (or other punctuation): strips the
/// path of every segment.
fn shorten(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment_start = 0;
    for (i, c) in full.char_indices() {
        match c {
            ':' => segment_start = i + 1,
            '<' | '>' | ',' | ' ' | '(' | ')' | '[' | ']' | ';' | '&' => {
                out.push_str(&full[segment_start..i]);
                out.push(c);
                segment_start = i + 1;
            }
            _ => {}
        }
    }
    out.push_str(&full[segment_start..]);
    out
}

/// Ways to run a [`Service`]; implemented for every service.
pub trait ServiceExt: Service + Sized {
    /// Runs the service to completion in the current task and returns its outcome.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the service (not a failure); it still stops in order in
    /// the background.
    fn run(self) -> impl Future<Output = Result<(), ServiceError>> + Send {
        let handle = ServiceHandle::new(self);
        async move { handle.run().await }
    }

    /// Runs the service until it finishes or `shutdown` resolves; then cancels it and waits
    /// until it is finished.
    ///
    /// ```no_run
    /// # use service_runtime::prelude::*;
    /// # async fn demo(node: impl Service) -> Result<(), ServiceError> {
    /// node.run_until(service_runtime::shutdown_signal()).await
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// As [`ServiceExt::run`].
    fn run_until<F>(self, shutdown: F) -> impl Future<Output = Result<(), ServiceError>> + Send
    where
        F: Future<Output = ()> + Send,
    {
        let handle = ServiceHandle::new(self);
        async move {
            handle.start()?;
            let guard = CancelOnDrop(Some(handle.manager()));
            let outcome = {
                let finished = handle.wait_finished();
                tokio::select! {
                    outcome = finished => outcome,
                    () = shutdown => {
                        tracing::info!(service = %handle.path(), "shutdown requested");
                        handle.manager().cancel_with(CancelCause::Shutdown);
                        handle.wait_finished().await
                    }
                }
            };
            guard.disarm();
            outcome
        }
    }

    /// Runs the service as a server's `main` does: until it finishes, or until the process is
    /// asked to stop (SIGINT or SIGTERM on Unix, Ctrl-C elsewhere). The first signal starts
    /// an orderly stop (cause [`CancelCause::Shutdown`], each task within its grace) and logs
    /// that a second one forces it; a second signal during the stop calls
    /// [`Manager::abort`](crate::Manager::abort).
    ///
    /// ```no_run
    /// # use service_runtime::prelude::*;
    /// # async fn demo(node: impl Service) -> Result<(), ServiceError> {
    /// node.run_until_signal().await
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// As [`ServiceExt::run`].
    fn run_until_signal(self) -> impl Future<Output = Result<(), ServiceError>> + Send {
        let handle = ServiceHandle::new(self);
        async move {
            // Listening before the service starts: a signal from the moment it runs stops
            // it in order (before the handlers exist, a SIGINT would kill the process).
            let mut signals = Signals::new();
            handle.start()?;
            let guard = CancelOnDrop(Some(handle.manager()));
            let outcome = tokio::select! {
                outcome = handle.wait_finished() => outcome,
                () = signals.recv() => {
                    tracing::info!(
                        service = %handle.path(),
                        "shutdown requested; a second signal aborts the tasks still running"
                    );
                    handle.manager().cancel_with(CancelCause::Shutdown);
                    tokio::select! {
                        outcome = handle.wait_finished() => outcome,
                        () = signals.recv() => {
                            tracing::warn!(service = %handle.path(), "second signal: aborting");
                            handle.abort();
                            handle.wait_finished().await
                        }
                    }
                }
            };
            guard.disarm();
            outcome
        }
    }

    /// Spawns the service on the current tokio runtime and returns its handle at once.
    ///
    /// Outside a tokio runtime the service does not run: the handle is finished with
    /// `ServiceError::Lifecycle(NoRuntime)`.
    fn start(self) -> ServiceHandle<Self> {
        let handle = ServiceHandle::new(self);
        // A new handle cannot be started already; `NoRuntime` is kept as its outcome.
        let _ = handle.start();
        handle
    }
}

impl<S: Service> ServiceExt for S {}

/// Runs `service` in the background while `body` runs, then stops it.
///
/// `body` gets the service's handle once the service has started. When `body` returns, the
/// service is stopped and waited for: the result is `body`'s value, or the service's
/// failures. If the service fails first, `body` is dropped and the failure returned; if it
/// finishes cleanly first, `body` runs on to its end.
///
/// ```
/// use std::sync::Arc;
/// use service_runtime::prelude::*;
///
/// struct Idle;
/// impl Service for Idle {
///     async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
///         cx.run_daemon_task("wait", |cx| async move { cx.cancelled().await })?;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let running = service_runtime::background(Idle, |handle| async move {
///     handle.is_running()
/// })
/// .await;
/// assert_eq!(running.unwrap(), true);
/// # }
/// ```
///
/// # Cancel safety
/// Dropping the future drops `body` and cancels the service (not a failure).
pub async fn background<S, F, Fut, T>(service: S, body: F) -> Result<T, ServiceError>
where
    S: Service,
    F: FnOnce(ServiceHandle<S>) -> Fut,
    Fut: Future<Output = T>,
{
    let handle = ServiceHandle::new(service);
    handle.start()?;
    let guard = CancelOnDrop(Some(handle.manager()));
    handle.wait_started().await;
    let mut body = pin!(body(handle.clone()));
    let outcome = tokio::select! {
        biased;
        finished = handle.wait_finished() => match finished {
            Ok(()) => Ok(body.await),
            Err(e) => Err(e),
        },
        value = &mut body => handle.stop().await.map(|()| value),
    };
    guard.disarm();
    outcome
}

/// Resolves when the process is asked to stop: SIGINT or SIGTERM on Unix, Ctrl-C elsewhere.
///
/// If the signal handlers cannot be installed, the error is logged and this never resolves
/// (a service is never stopped by mistake).
///
/// # Cancel safety
/// Cancel safe.
pub async fn shutdown_signal() {
    Signals::new().recv().await;
}

/// The process's stop signals, listened to from creation on (so that a second signal right
/// after the first is not missed).
struct Signals {
    #[cfg(all(unix, not(loom)))]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(all(unix, not(loom)))]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(i), Ok(t)) => Some((i, t)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "cannot listen for shutdown signals");
                    None
                }
            };
            Signals { streams }
        }
        #[cfg(not(all(unix, not(loom))))]
        Signals {}
    }

    /// The next stop signal.
    ///
    /// # Cancel safety
    /// Cancel safe: a signal that arrives meanwhile is kept for the next call.
    async fn recv(&mut self) {
        #[cfg(all(unix, not(loom)))]
        {
            let Some((interrupt, terminate)) = &mut self.streams else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("SIGINT received"),
                _ = terminate.recv() => tracing::info!("SIGTERM received"),
            }
        }
        // Under the loom model checker tokio has no signal support; nothing to wait for.
        #[cfg(loom)]
        std::future::pending::<()>().await;
        #[cfg(all(not(unix), not(loom)))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn type_names_lose_their_paths() {
        assert_eq!(short_type_name("a::b::Node"), "Node");
        assert_eq!(short_type_name("a::Node<b::c::T, u8>"), "Node<T, u8>");
        assert_eq!(short_type_name("Plain"), "Plain");
        assert_eq!(short_type_name("&a::Node"), "&Node");
        assert_eq!(short_type_name("(a::B, c::D)"), "(B, D)");
        assert_eq!(short_type_name("[a::B; 2]"), "[B; 2]");
        assert_eq!(short_type_name("a::b::{{closure}}"), "{{closure}}");
    }
}
