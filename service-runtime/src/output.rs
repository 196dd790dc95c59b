//! [`IntoTaskResult`]: what a task body may return.

use crate::error::BoxError;

/// What a task body may return: `()` or `Result<(), E>` for any `E: Into<BoxError>` (and
/// `!`, for a task that never returns).
///
/// Implemented for exactly those; you never implement it yourself.
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
/// output type is `!`, which needs no conversion.
impl IntoTaskResult for Never {
    fn into_task_result(self) -> Result<(), BoxError> {
        self
    }
}

impl<E: Into<BoxError>> IntoTaskResult for Result<(), E> {
    fn into_task_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}
