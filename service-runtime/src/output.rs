//! [`IntoTaskResult`]: what a task body may return.

use crate::error::BoxError;

/// What a task body may return: `()` or `Result<(), E>` for any `E: Into<BoxError>` (and
/// `!`, for a task that never returns). `E` is `'static`, as the error of a task's
/// `'static` future always is.
///
/// Implemented for exactly those; you never implement it yourself. The bodies it applies to
/// are the futures of the closures given to [`Context::run_task`](crate::Context::run_task)
/// and the task builders, of `#[task]` and `#[daemon]` methods, and of `#[service]`
/// functions, so its diagnostic speaks of all of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type for a task",
    label = "expected `()` or `Result<(), E>` where `E: Into<BoxError>`",
    note = "a task (a closure given to `run_task` or `spawn`, a `#[task]` or `#[daemon]` method, a `#[service]` function) returns `()` or `Result<(), E>` for an error type `E` such as `anyhow::Error`, `std::io::Error` or `BoxError` (or `!` if it never returns)"
)]
pub trait IntoTaskResult {
    /// Converts the task's output into the runtime's view of success or failure.
    fn into_task_result(self) -> Result<(), BoxError>;
}

impl IntoTaskResult for () {
    fn into_task_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Names the never type `!` on stable Rust: the output type of `fn() -> !`. (Nominally
/// public only because it appears in a public impl; it is not reachable from outside.)
#[doc(hidden)]
#[allow(unreachable_pub, reason = "named by a public impl; not exported")]
pub trait FnOutput {
    type Output;
}

impl<T> FnOutput for fn() -> T {
    type Output = T;
}

#[allow(unreachable_pub, reason = "named by a public impl; not exported")]
pub type Never = <fn() -> ! as FnOutput>::Output;

/// A task that never returns (`async { loop { .. } }`, a body that only panics): its
/// output type is `!`, which needs no conversion. Left out of diagnostics, which would show
/// `!` by the name of its stable-Rust alias.
#[diagnostic::do_not_recommend]
impl IntoTaskResult for Never {
    fn into_task_result(self) -> Result<(), BoxError> {
        self
    }
}

impl<E: Into<BoxError> + 'static> IntoTaskResult for Result<(), E> {
    fn into_task_result(self) -> Result<(), BoxError> {
        self.map_err(task_error)
    }
}

/// Converts a task's error into a [`BoxError`]. With the features `anyhow` and `eyre`, an
/// `anyhow::Error` or an `eyre::Report` is kept whole, in a wrapper
/// [`TaskFailure::downcast_ref`](crate::TaskFailure::downcast_ref) looks into: their own
/// conversion into a `BoxError` boxes a type private to them, which no downcast can see
/// through. (`'static`: the check is by type id. A task's future is `'static`, and so is
/// the error it returns.)
fn task_error<E: Into<BoxError> + 'static>(error: E) -> BoxError {
    #[cfg(feature = "anyhow")]
    let error = match take::<anyhow::Error, E>(error) {
        Ok(error) => return Box::new(crate::error::AnyhowError(error)),
        Err(error) => error,
    };
    #[cfg(feature = "eyre")]
    let error = match take::<eyre::Report, E>(error) {
        Ok(error) => return Box::new(crate::error::EyreReport(error)),
        Err(error) => error,
    };
    error.into()
}

/// `value` as a `T`, if that is its type; otherwise `value` back.
#[cfg(any(feature = "anyhow", feature = "eyre"))]
fn take<T: 'static, E: 'static>(value: E) -> Result<T, E> {
    let mut slot = Some(value);
    let taken = (&mut slot as &mut dyn std::any::Any)
        .downcast_mut::<Option<T>>()
        .and_then(Option::take);
    match (taken, slot) {
        (Some(t), _) => Ok(t),
        (None, Some(value)) => Err(value),
        // The downcast failed, so the slot was left alone.
        (None, None) => unreachable!("a value that is neither `T` nor still in its slot"),
    }
}
