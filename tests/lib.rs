//! Helpers shared by the integration tests: services made of closures, live-task counters,
//! event logs and a hang guard.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use service_runtime::prelude::*;

/// A service whose body is a closure; built with [`svc`].
pub struct FnService<F> {
    name: &'static str,
    options: Options,
    body: F,
}

/// A service named `name` whose body is `body(cx)`.
pub fn svc<F, Fut>(name: &'static str, body: F) -> FnService<F>
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    FnService {
        name,
        options: Options::default(),
        body,
    }
}

impl<F> std::fmt::Debug for FnService<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnService")
            .field("name", &self.name)
            .finish()
    }
}

impl<F> FnService<F> {
    /// The same service with `options`.
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The same service with a grace period.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.options.grace = Some(grace);
        self
    }
}

impl<F, Fut> Service for FnService<F>
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    fn serve(self: Arc<Self>, cx: Context) -> impl Future<Output = Result<(), BoxError>> + Send {
        (self.body)(cx)
    }

    fn name(&self) -> std::borrow::Cow<'static, str> {
        self.name.into()
    }

    fn options(&self) -> Options {
        self.options.clone()
    }
}

/// Counts live things: every task of a test holds a [`LiveGuard`]; once a service is
/// finished the count must be back to zero (no orphans).
#[derive(Clone, Default, Debug)]
pub struct Live(Arc<AtomicUsize>);

impl Live {
    /// A new counter at zero.
    pub fn new() -> Self {
        Live::default()
    }

    /// One more live thing, until the guard is dropped.
    pub fn guard(&self) -> LiveGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        LiveGuard(Arc::clone(&self.0))
    }

    /// How many guards are alive.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Decrements its [`Live`] counter when dropped.
#[derive(Debug)]
pub struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An ordered record of events, for asserting the order things happened in.
#[derive(Clone, Default, Debug)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// A new empty log.
    pub fn new() -> Self {
        Log::default()
    }

    /// Appends an entry.
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    /// The entries so far.
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The position of `entry`; panics with the whole log if it is missing.
    pub fn position(&self, entry: &str) -> usize {
        let entries = self.entries();
        entries
            .iter()
            .position(|e| e == entry)
            .unwrap_or_else(|| panic!("`{entry}` not in log {entries:?}"))
    }
}

/// Runs `f`, failing the test if it takes more than 10 s: a guard against hangs, never a
/// way to wait for something (under paused time it fires as soon as everything is idle
/// for 10 virtual seconds).
pub async fn guard<F: Future>(f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(10), f).await {
        Ok(output) => output,
        Err(_) => panic!("timed out: the runtime hung"),
    }
}

/// Whether `f` is still pending after every other task has had its chance to run (and,
/// under paused time, after the clock has jumped by 1 s).
pub async fn stays_pending<F: Future>(f: F) -> bool {
    tokio::time::timeout(Duration::from_secs(1), f)
        .await
        .is_err()
}

/// Yields to the runtime until `cond` holds, failing the test (through [`guard`]) if it never
/// does: for waiting on state that has no event of its own (stats, live counts). Yielding
/// keeps the runtime busy, so under paused time the clock does not move while this waits.
pub async fn poll_until(mut cond: impl FnMut() -> bool) {
    guard(async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// Runs `f` on a thread of its own and returns its output, failing the test if it takes more
/// than 10 s: the hang guard for tests that build (and drop) tokio runtimes by hand.
pub fn guard_thread<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(output) => {
            thread.join().expect("the guarded thread panicked");
            output
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("timed out: the runtime hung"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread ended without sending its output"),
        },
    }
}

/// Silences the panic hook's message for panics whose message starts with `injected` (the
/// failures the reliability tests inject on purpose, thousands per run); every other panic
/// prints as usual. Process-wide and idempotent.
pub fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            if !message.is_some_and(|m| m.starts_with("injected")) {
                default(info);
            }
        }));
    });
}

/// Pushes its entry to a [`Log`] when dropped: cleanup that runs when a task is aborted.
#[derive(Debug)]
pub struct LogOnDrop {
    log: Log,
    entry: String,
}

impl LogOnDrop {
    /// Pushes `entry` to `log` when dropped.
    pub fn new(log: &Log, entry: impl Into<String>) -> Self {
        LogOnDrop {
            log: log.clone(),
            entry: entry.into(),
        }
    }
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.log.push(std::mem::take(&mut self.entry));
    }
}

/// The process's anonymous resident memory in KiB (`RssAnon` in `/proc/self/status`), or
/// `None` where the system does not report it (not Linux).
pub fn rss_anon_kib() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// An in-memory writer, for capturing `tracing` output: clones share one buffer. Give it to
/// a `tracing_subscriber::fmt()` builder as `.with_writer(move || captured.clone())`.
#[derive(Clone, Default, Debug)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// A new empty buffer.
    pub fn new() -> Self {
        Captured::default()
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The paths of the tasks a stop aborted when their grace ran out (`GraceExceeded`
/// failures), sorted; panics if `error` has a failure of any other kind.
pub fn grace_exceeded(error: &ServiceError) -> Vec<&str> {
    let mut paths: Vec<&str> = error
        .failures()
        .iter()
        .map(|failure| {
            assert_eq!(failure.kind(), FailureKind::GraceExceeded, "{failure}");
            failure.path()
        })
        .collect();
    paths.sort_unstable();
    paths
}

/// Runs `body` to its end on a current-thread runtime of its own (time enabled and paused),
/// with a subscriber on this thread that captures `warn` and above; returns what it logged.
pub fn warnings_of<F: Future>(body: impl FnOnce() -> F) -> String {
    warnings_while(|_| body())
}

/// [`warnings_of`], with `body` given the capture buffer so that it can look mid-run.
pub fn warnings_while<F: Future>(body: impl FnOnce(Captured) -> F) -> String {
    logs_while(tracing::Level::WARN, body)
}

/// [`warnings_while`] capturing `level` and above.
pub fn logs_while<F: Future>(level: tracing::Level, body: impl FnOnce(Captured) -> F) -> String {
    anchor_tracing();
    let captured = Captured::new();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(level)
        .finish();
    let seen = captured.clone();
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(body(seen))
    });
    captured.text()
}

/// Makes a subscriber set for one thread (`with_default`) see every event of that thread
/// even while other tests run in parallel without one.
///
/// tracing decides once per call site whether anyone is interested, and caches it for the
/// process; while at most one dispatcher exists, it asks only the thread that reaches the
/// site first. A test thread without a subscriber would then mark a site "never", and a
/// capturing test on another thread would miss its events. This keeps a second dispatcher
/// alive for the whole process that records nothing but answers "sometimes" for every site,
/// so that each event asks the subscriber of the thread it happens on.
pub fn anchor_tracing() {
    use tracing::subscriber::Interest;
    use tracing::{Dispatch, Event, Metadata, span};

    struct Anchor;

    impl tracing::Subscriber for Anchor {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            false
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    static ANCHOR: std::sync::OnceLock<Dispatch> = std::sync::OnceLock::new();
    ANCHOR.get_or_init(|| {
        let anchor = Dispatch::new(Anchor);
        // Sites registered before the anchor existed are asked again.
        tracing::callsite::rebuild_interest_cache();
        anchor
    });
}
