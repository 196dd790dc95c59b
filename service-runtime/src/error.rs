//! What can go wrong: failures of tasks ([`TaskFailure`]), misuse of the API
//! ([`LifecycleError`]), and the outcome of a service ([`ServiceError`]).

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

use crate::cause::CancelCause;

/// The error type task bodies are converted to: any `E: Into<BoxError>` works as a task's
/// error (`anyhow::Error`, `std::io::Error`, your own error types, `&str`, `String`).
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Misuse of the lifecycle API. Never a failure of a task: it is returned to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The service was started before; a service runs at most once.
    AlreadyStarted,
    /// The service is not running: not started, already finished, or (for
    /// [`ServiceHandle::call`](crate::ServiceHandle::call)) cancelled.
    NotRunning,
    /// The parent already has `limit` live children.
    TooManyChildren {
        /// The path of the parent (`Node/listen`, or `Node` for the body): the task or
        /// service body whose children are at the limit.
        parent: String,
        /// [`Options::max_children`](crate::Options::max_children) of the service.
        limit: usize,
        /// Names of the parent's live children with how many of each are live, most common
        /// first, at most ten.
        most_common: Vec<(String, usize)>,
    },
    /// A service or task was started outside a tokio runtime.
    NoRuntime,
    /// The service finished (cleanly) without ever becoming ready.
    FinishedBeforeReady,
    /// A task or service name contains `/`, which separates the names of a path.
    InvalidName {
        /// The name given.
        name: String,
    },
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifecycleError::AlreadyStarted => {
                f.write_str("the service was already started: a service runs at most once")
            }
            LifecycleError::NotRunning => f.write_str("the service is not running"),
            LifecycleError::TooManyChildren {
                parent,
                limit,
                most_common,
            } => {
                write!(
                    f,
                    "`{parent}` cannot start another child: it already has {limit} live children, the limit"
                )?;
                for (i, (name, count)) in most_common.iter().enumerate() {
                    let lead = if i == 0 { "; most common: " } else { ", " };
                    write!(f, "{lead}`{name}` ({count})")?;
                }
                Ok(())
            }
            LifecycleError::NoRuntime => {
                f.write_str("services and tasks must be started from inside a tokio runtime")
            }
            LifecycleError::FinishedBeforeReady => {
                f.write_str("the service finished without becoming ready")
            }
            LifecycleError::InvalidName { name } => write!(
                f,
                "`{name}` cannot name a task or service: `/` separates the names in a path"
            ),
        }
    }
}

impl Error for LifecycleError {}

/// How a task failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The task returned an error.
    Error,
    /// The task panicked; the panic was caught and the process went on.
    Panic,
    /// A daemon (task or child service) ended on its own while its service was not cancelled.
    DaemonExit,
    /// The task was still running when its service's non-zero grace ran out (or the stop
    /// was forced with [`Manager::abort`](crate::Manager::abort)), and was aborted.
    GraceExceeded,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Error => "error",
            FailureKind::Panic => "panic",
            FailureKind::DaemonExit => "daemon exit",
            FailureKind::GraceExceeded => "grace exceeded",
        })
    }
}

/// One failure of one task, with the path of the task in the service tree.
///
/// # Getting your own error back
///
/// [`TaskFailure::downcast_ref`] finds the error a task returned, by its type:
///
/// | the task returned | `downcast_ref::<MyError>()` |
/// |---|---|
/// | `Err(MyError)` (any `E: Into<BoxError>`) | `Some` |
/// | `Err(BoxError)` holding a `MyError` | `Some` |
/// | `Err(anyhow::Error)` made from a `MyError`, with or without `.context(..)` | `Some` with the feature `anyhow`; `None` without it |
/// | `Err(eyre::Report)` made from a `MyError`, with or without `.wrap_err(..)` | `Some` with the feature `eyre`; `None` without it |
/// | a panic, a daemon exit, a grace exceeded | `None` |
///
/// A task whose restart policy gave up reports its last error the same way. Without the
/// features, `anyhow` and `eyre` convert their errors into a `BoxError` by boxing a type
/// private to them, which no downcast can see through; the features make the runtime keep
/// them whole instead (`TaskFailure::as_anyhow` and `TaskFailure::as_eyre`, which come with
/// the features, then give the original, with its context and backtrace). The same holds for an `anyhow::Error` the
/// task converted into a `BoxError` itself (`Box::from(e)`, or `?` in a function returning
/// `BoxError`, as a hand-written [`Service::serve`](crate::Service::serve) does): that
/// conversion hides the type before the runtime sees it. [`TaskFailure::error`] is the
/// error itself, as a trait object (for `anyhow` and `eyre`, with their `Display` and
/// `Debug`).
///
/// ```
/// # use service_runtime::prelude::*;
/// #[derive(Debug)]
/// struct Refused(u16);
/// impl std::fmt::Display for Refused {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "port {} refused", self.0)
///     }
/// }
/// impl std::error::Error for Refused {}
///
/// #[service]
/// struct Dialer;
///
/// #[service]
/// impl Dialer {
///     #[task]
///     async fn dial(&self) -> Result<(), Refused> {
///         Err(Refused(8080))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let error = Dialer.run().await.unwrap_err();
/// let refused = error.failures()[0].downcast_ref::<Refused>();
/// assert_eq!(refused.map(|r| r.0), Some(8080));
/// # }
/// ```
#[derive(Clone)]
pub struct TaskFailure {
    name: Cow<'static, str>,
    path: Arc<str>,
    kind: FailureKind,
    error: Arc<dyn Error + Send + Sync + 'static>,
}

impl TaskFailure {
    pub(crate) fn new(
        name: Cow<'static, str>,
        path: Arc<str>,
        kind: FailureKind,
        error: Arc<dyn Error + Send + Sync + 'static>,
    ) -> Self {
        TaskFailure {
            name,
            path,
            kind,
            error,
        }
    }

    /// The failure of a daemon named `name` at `path` (a child service if `service`) that
    /// ended while its service was running.
    pub(crate) fn daemon_exit(name: Cow<'static, str>, path: Arc<str>, service: bool) -> Self {
        TaskFailure::new(
            name.clone(),
            path,
            FailureKind::DaemonExit,
            Arc::new(DaemonExitError { name, service }),
        )
    }

    /// The name of the task that failed (for a child service, the service's name).
    pub fn task_name(&self) -> &str {
        &self.name
    }

    /// The `/`-joined path of the task, from the root service down: `Node/gossip/handle`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn shared_path(&self) -> Arc<str> {
        Arc::clone(&self.path)
    }

    /// The same failure with its error replaced by `f(error)`.
    pub(crate) fn map_error(
        self,
        f: impl FnOnce(Arc<dyn Error + Send + Sync + 'static>) -> Arc<dyn Error + Send + Sync + 'static>,
    ) -> TaskFailure {
        TaskFailure {
            error: f(self.error),
            ..self
        }
    }

    /// How the task failed.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The task's own error; for a panic, an error whose message is the panic's; for a
    /// daemon exit, an error naming the daemon.
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.error
    }

    /// The error the task returned, if it is an `E`: returned as it is, in a `BoxError`, or
    /// inside an `anyhow::Error` or an `eyre::Report` (with the features `anyhow`, `eyre`;
    /// see [Getting your own error back](TaskFailure#getting-your-own-error-back)). `None`
    /// for a failure that is not an error the task returned (a panic, a daemon exit).
    pub fn downcast_ref<E: Error + Send + Sync + 'static>(&self) -> Option<&E> {
        let error = self.returned();
        if let Some(error) = error.downcast_ref::<E>() {
            return Some(error);
        }
        #[cfg(feature = "anyhow")]
        if let Some(AnyhowError(error)) = error.downcast_ref() {
            return error.downcast_ref::<E>();
        }
        #[cfg(feature = "eyre")]
        if let Some(EyreReport(error)) = error.downcast_ref() {
            return error.downcast_ref::<E>();
        }
        None
    }

    /// The `anyhow::Error` the task returned, whole (its context, its backtrace). `None` if
    /// it returned another kind of error, or failed otherwise.
    #[cfg(feature = "anyhow")]
    pub fn as_anyhow(&self) -> Option<&anyhow::Error> {
        self.returned()
            .downcast_ref::<AnyhowError>()
            .map(|AnyhowError(error)| error)
    }

    /// The `eyre::Report` the task returned, whole (its wrapped errors, its handler's
    /// context). `None` if it returned another kind of error, or failed otherwise.
    #[cfg(feature = "eyre")]
    pub fn as_eyre(&self) -> Option<&eyre::Report> {
        self.returned()
            .downcast_ref::<EyreReport>()
            .map(|EyreReport(error)| error)
    }

    /// The error as the task returned it: for a task whose restart policy gave up, its
    /// last error, without the note of the restarts.
    fn returned(&self) -> &(dyn Error + Send + Sync + 'static) {
        match self.error.downcast_ref::<GaveUp>() {
            Some(gave_up) => &*gave_up.cause,
            None => &*self.error,
        }
    }
}

/// A task's `anyhow::Error`, kept whole (`output::task_error`). It reads as the error does.
#[cfg(feature = "anyhow")]
pub(crate) struct AnyhowError(pub(crate) anyhow::Error);

#[cfg(feature = "anyhow")]
impl fmt::Debug for AnyhowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(feature = "anyhow")]
impl fmt::Display for AnyhowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(feature = "anyhow")]
impl Error for AnyhowError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        // What anyhow's own boxed form answers: the source of the error it holds.
        (*self.0).source()
    }
}

/// A task's `eyre::Report`, kept whole (`output::task_error`). It reads as the report does.
#[cfg(feature = "eyre")]
pub(crate) struct EyreReport(pub(crate) eyre::Report);

#[cfg(feature = "eyre")]
impl fmt::Debug for EyreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(feature = "eyre")]
impl fmt::Display for EyreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(feature = "eyre")]
impl Error for EyreReport {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        (*self.0).source()
    }
}

impl fmt::Debug for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskFailure")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("error", &self.error)
            .finish()
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = &self.path;
        let error = &self.error;
        match self.kind {
            FailureKind::Error => write!(f, "`{path}` failed: {error}"),
            FailureKind::Panic => write!(f, "`{path}` panicked: {error}"),
            FailureKind::DaemonExit => write!(f, "`{path}`: {error}"),
            FailureKind::GraceExceeded => write!(f, "`{path}` {error}"),
        }
    }
}

impl Error for TaskFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.error)
    }
}

/// The error carried by a caught panic: its message.
#[derive(Debug)]
pub(crate) struct PanicError(pub(crate) String);

impl fmt::Display for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for PanicError {}

impl PanicError {
    pub(crate) fn from_payload(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a payload that is not a string".to_owned()
        };
        PanicError(message)
    }
}

/// The error of a task (or child service) that was restarted too often: the last cause,
/// noting how many restarts there were.
#[derive(Debug)]
pub(crate) struct GaveUp {
    pub(crate) restarts: usize,
    pub(crate) within: std::time::Duration,
    pub(crate) cause: Arc<dyn Error + Send + Sync + 'static>,
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.restarts == 1 { "" } else { "s" };
        write!(
            f,
            "{} (gave up after {} restart{s} within {:?})",
            self.cause, self.restarts, self.within
        )
    }
}

impl Error for GaveUp {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.cause)
    }
}

/// The error of a task aborted when its grace ran out: how long it had, or that the stop
/// was forced.
#[derive(Debug)]
pub(crate) struct GraceExceeded {
    /// `None`: [`Manager::abort`](crate::Manager::abort) cut the grace short.
    pub(crate) grace: Option<std::time::Duration>,
}

impl fmt::Display for GraceExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.grace {
            Some(grace) => write!(f, "did not stop within {grace:?} and was aborted"),
            None => f.write_str("was still running when the stop was forced, and was aborted"),
        }
    }
}

impl Error for GraceExceeded {}

/// The error carried by a daemon that ended while its service was running.
#[derive(Debug)]
struct DaemonExitError {
    name: Cow<'static, str>,
    service: bool,
}

impl fmt::Display for DaemonExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.service {
            "daemon child service"
        } else {
            "daemon task"
        };
        write!(
            f,
            "{what} `{}` exited while its service was still running",
            self.name
        )
    }
}

impl Error for DaemonExitError {}

/// Where a service's path comes from: its tree node, which builds it when first asked (a
/// failure deep in a chain of services stops every ancestor, and building every ancestor's
/// path up front would cost the square of the depth).
pub(crate) trait ServicePath: Send + Sync {
    fn service_path(&self) -> &str;
}

/// The failures of a service that did not end cleanly, in the order they happened.
///
/// Dereferences to a slice of [`TaskFailure`]s; never empty.
#[derive(Clone)]
pub struct Failures {
    service: Arc<dyn ServicePath>,
    list: Arc<[TaskFailure]>,
    cause: Option<CancelCause>,
}

impl Failures {
    pub(crate) fn new(
        service: Arc<dyn ServicePath>,
        list: Vec<TaskFailure>,
        cause: Option<CancelCause>,
    ) -> Self {
        Failures {
            service,
            list: list.into(),
            cause,
        }
    }

    /// Why the service began to stop (normally the first failure).
    pub fn cancel_cause(&self) -> Option<&CancelCause> {
        self.cause.as_ref()
    }

    /// The path of the service these failures ended.
    pub fn service(&self) -> &str {
        self.service.service_path()
    }
}

impl std::ops::Deref for Failures {
    type Target = [TaskFailure];

    fn deref(&self) -> &[TaskFailure] {
        &self.list
    }
}

impl fmt::Debug for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failures")
            .field("service", &self.service())
            .field("cause", &self.cause)
            .field("failures", &&*self.list)
            .finish()
    }
}

/// How a service ended, when it did not end cleanly.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ServiceError {
    /// One or more tasks failed (errors, panics, daemon exits), listed in the order they
    /// happened; a child service's failures are included, flattened, with their full paths.
    Failed(Failures),
    /// The lifecycle API was misused (for example the service was run twice).
    Lifecycle(LifecycleError),
}

impl ServiceError {
    /// The failures, in the order they happened; empty for [`ServiceError::Lifecycle`].
    pub fn failures(&self) -> &[TaskFailure] {
        match self {
            ServiceError::Failed(failures) => failures,
            ServiceError::Lifecycle(_) => &[],
        }
    }

    /// The lifecycle error, if that is what this is.
    pub fn lifecycle(&self) -> Option<&LifecycleError> {
        match self {
            ServiceError::Failed(_) => None,
            ServiceError::Lifecycle(e) => Some(e),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Lifecycle(e) => e.fmt(f),
            ServiceError::Failed(failures) => {
                if let Some(cause) = &failures.cause {
                    write!(f, "{cause}: ")?;
                }
                let service = failures.service();
                match &*failures.list {
                    [one] => write!(f, "service `{service}` failed: {one}"),
                    many => {
                        write!(f, "service `{service}` failed ({} failures): ", many.len())?;
                        for (i, failure) in many.iter().enumerate() {
                            let sep = if i == 0 { "" } else { "; " };
                            write!(f, "{sep}{}) {failure}", i + 1)?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

impl Error for ServiceError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ServiceError::Failed(failures) => failures.first().map(|f| f as &(dyn Error + 'static)),
            ServiceError::Lifecycle(e) => Some(e),
        }
    }
}

impl From<LifecycleError> for ServiceError {
    fn from(e: LifecycleError) -> Self {
        ServiceError::Lifecycle(e)
    }
}
