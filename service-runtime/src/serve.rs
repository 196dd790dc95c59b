//! The [`Service`] trait and the ways to run one.

use std::borrow::Cow;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use crate::cause::CancelCause;
use crate::context::Context;
use crate::error::{BoxError, ServiceError};
use crate::handle::{CancelOnDrop, ServiceHandle};
use crate::manager::Manager;
use crate::ops::Announcer;
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
#[inline]
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
#[cold]
#[inline(never)]
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

    /// Runs the service until it finishes or `shutdown` resolves; then shuts it down (cause
    /// [`CancelCause::Shutdown`]: drained for [`Options::drain`], if any, then cancelled) and
    /// waits until it is finished. [`ServiceHandle::run_until`] is the same on a handle.
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
        async move { handle.run_until(shutdown).await }
    }

    /// Runs the service as a server's `main` does: until it finishes, or until the process is
    /// asked to stop (SIGINT or SIGTERM on Unix, Ctrl-C elsewhere). The first signal starts
    /// an orderly stop (cause [`CancelCause::Shutdown`]: drained for [`Options::drain`], if
    /// any, then each task within its grace) and logs that a second one forces it; a second
    /// signal during the drain or the stop calls [`Manager::abort`](crate::Manager::abort).
    /// [`ServiceHandle::run_until_signal`] is the same on a handle, for a program that also
    /// calls into the service from outside.
    ///
    /// With the `systemd` feature, in a process started by systemd (`NOTIFY_SOCKET` set),
    /// it also tells systemd that the service is ready, that it is stopping, its task
    /// counts, and pings systemd's watchdog (see the crate docs, "Operating it").
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
        async move { handle.run_until_signal().await }
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

/// Running until a shutdown request: the handle's versions of [`ServiceExt::run_until`] and
/// [`ServiceExt::run_until_signal`], which are these on a new handle.
impl<S: Service> ServiceHandle<S> {
    /// Runs the service until it finishes or `shutdown` resolves; then shuts it down
    /// ([`Manager::shutdown`](crate::Manager::shutdown): cause [`CancelCause::Shutdown`],
    /// drained for [`Options::drain`] if any, then cancelled) and waits until it is finished.
    /// Clones of the handle can call into the service meanwhile.
    ///
    /// Fails with `ServiceError::Lifecycle(AlreadyStarted)` if it was started before.
    ///
    /// # Cancel safety
    /// As [`ServiceHandle::run`].
    pub async fn run_until<F>(&self, shutdown: F) -> Result<(), ServiceError>
    where
        F: Future<Output = ()>,
    {
        self.run_until_requested(StopOnce(Some(pin!(shutdown))), Announcer::start)
            .await
    }

    /// Runs the service until it finishes or the process is asked to stop, as
    /// [`ServiceExt::run_until_signal`] does: the first SIGINT or SIGTERM (Ctrl-C elsewhere)
    /// shuts it down in order (cause [`CancelCause::Shutdown`], drained for
    /// [`Options::drain`] if any), a second one during the drain or the stop aborts it.
    /// Clones of the handle can call into the service meanwhile:
    ///
    /// ```no_run
    /// # use service_runtime::prelude::*;
    /// # async fn demo<S: Service>(node: S) -> Result<(), ServiceError> {
    /// let handle = ServiceHandle::new(node);
    /// let api = handle.clone(); // for `api.call(|node| async move { .. })` elsewhere
    /// handle.run_until_signal().await
    /// # }
    /// ```
    ///
    /// Fails with `ServiceError::Lifecycle(AlreadyStarted)` if it was started before.
    ///
    /// # Cancel safety
    /// As [`ServiceHandle::run`].
    pub async fn run_until_signal(&self) -> Result<(), ServiceError> {
        // Listening before the service starts: a signal from the moment it runs stops
        // it in order (before the handlers exist, a SIGINT would kill the process).
        let signals = Signals::new();
        self.run_until_requested(signals, Announcer::start).await
    }

    /// Starts the service and runs it until it finishes or `requests` asks it to stop
    /// (then [`stop_on_request`]), with an [`Announcer`] from `announce` telling the world.
    pub(crate) async fn run_until_requested(
        &self,
        mut requests: impl StopRequests,
        announce: impl FnOnce(&Manager) -> Announcer,
    ) -> Result<(), ServiceError> {
        self.start()?;
        let manager = self.manager();
        let guard = CancelOnDrop(Some(manager));
        let announcer = announce(manager);
        let outcome = stop_on_request(manager, &mut requests, &announcer).await;
        guard.disarm();
        outcome
    }
}

/// What asks a running service to stop: the future of `run_until`, or the process's
/// signals.
pub(crate) trait StopRequests {
    /// Whether a second request can come, and forces the stop (signals do).
    const FORCEABLE: bool;

    /// The next request.
    ///
    /// # Cancel safety
    /// Cancel safe: a request that comes meanwhile is kept for the next call.
    async fn next(&mut self);
}

/// The one request of a shutdown future; then none.
pub(crate) struct StopOnce<F>(pub(crate) Option<F>);

impl<F: Future<Output = ()> + Unpin> StopRequests for StopOnce<F> {
    const FORCEABLE: bool = false;

    async fn next(&mut self) {
        match &mut self.0 {
            Some(shutdown) => {
                shutdown.await;
                self.0 = None;
            }
            None => std::future::pending().await,
        }
    }
}

impl StopRequests for Signals {
    const FORCEABLE: bool = true;

    async fn next(&mut self) {
        self.recv().await;
    }
}

/// Waits until the service finishes or a stop is requested; then shuts it down
/// ([`Manager::shutdown`](crate::Manager::shutdown)), and aborts it on a second request.
async fn stop_on_request<R: StopRequests>(
    manager: &Manager,
    requests: &mut R,
    announcer: &Announcer,
) -> Result<(), ServiceError> {
    tokio::select! {
        outcome = manager.wait_finished() => return outcome,
        () = requests.next() => {}
    }
    if R::FORCEABLE {
        tracing::info!(
            service = %manager.path(),
            "shutdown requested; a second signal aborts the tasks still running"
        );
    } else {
        tracing::info!(service = %manager.path(), "shutdown requested");
    }
    // Begun before systemd hears of it, so that its status line says `draining`.
    let begun = manager.begin_shutdown();
    announcer.stopping(manager);
    tokio::select! {
        outcome = manager.complete_shutdown(begun) => outcome,
        () = requests.next() => {
            tracing::warn!(service = %manager.path(), "second signal: aborting");
            // Dropping the drain above cancelled the service already, unless another
            // shutdown drains it.
            manager.cancel_with(CancelCause::Shutdown);
            manager.abort();
            manager.wait_finished().await
        }
    }
}

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
