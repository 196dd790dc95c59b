//! Running one task: its future, its failure, its abort, its place in the tree.
//!
//! Each task is one tokio task running [`run_task`]: it polls the task's future until the
//! future completes or the task is due to be aborted (the service is cancelled, the grace
//! period has run out, **and** all the task's children are done — so children always stop
//! before their parent). Whatever happens, the task's node is released when the tokio task
//! ends or is dropped (a [`Release`] guard), so the tree never waits for a task that is gone,
//! even when the tokio runtime itself shuts down.

use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use tracing::Instrument;

use crate::context::Context;
use crate::error::{BoxError, DaemonExitError, FailureKind, PanicError, TaskFailure};
use crate::tree::{TaskNode, release};

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

/// What kind of work a task node carries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The service body: not counted, never a daemon.
    Body,
    Task,
    Daemon,
}

/// Spawns the tokio task that runs `f(cx)` as the task `cx` belongs to.
pub(crate) fn spawn<F, Fut>(cx: Context, role: Role, f: F)
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoTaskResult,
{
    let span = match role {
        Role::Body => tracing::info_span!("service", service = %cx.manager.shared.path),
        Role::Task | Role::Daemon => {
            tracing::info_span!("task", service = %cx.manager.shared.path, path = %cx.node.path())
        }
    };
    tokio::spawn(run_task(cx, role, f).instrument(span));
}

enum Ended {
    Returned(Result<(), BoxError>),
    Panicked(PanicError),
    Aborted,
}

async fn run_task<F, Fut>(cx: Context, role: Role, f: F)
where
    F: FnOnce(Context) -> Fut,
    Fut: Future,
    Fut::Output: IntoTaskResult,
{
    let release = Release(cx);
    let cx = &release.0;
    tracing::trace!("task started");
    let made = catch_unwind(AssertUnwindSafe(|| Box::pin(f(cx.clone()))));
    let ended = match made {
        Err(payload) => Ended::Panicked(PanicError::from_payload(&*payload)),
        Ok(future) => {
            let mut future = Some(future);
            let ended = tokio::select! {
                biased;
                ended = poll_caught(&mut future) => ended,
                () = abort_due(cx) => Ended::Aborted,
            };
            // Drop the future here, where a panic in its destructors is caught too.
            match catch_unwind(AssertUnwindSafe(|| drop(future.take()))) {
                Ok(()) => ended,
                Err(payload) => Ended::Panicked(PanicError::from_payload(&*payload)),
            }
        }
    };
    if role == Role::Daemon && matches!(ended, Ended::Returned(Ok(()))) && !cx.is_cancelled() {
        cx.manager
            .shared
            .record_failure(daemon_exit(&cx.node, false));
        return;
    }
    let (kind, error): (FailureKind, Arc<dyn std::error::Error + Send + Sync>) = match ended {
        Ended::Returned(Ok(())) => {
            tracing::trace!("task returned");
            return;
        }
        Ended::Aborted => {
            tracing::trace!("task aborted");
            return;
        }
        Ended::Returned(Err(error)) => (FailureKind::Error, Arc::from(error)),
        Ended::Panicked(panic) => (FailureKind::Panic, Arc::new(panic)),
    };
    let failure = TaskFailure::new(
        cx.node.name_cow().clone(),
        Arc::clone(cx.node.path()),
        kind,
        error,
    );
    cx.manager.shared.record_failure(failure);
}

/// Polls the task's future, catching a panic as a failure.
async fn poll_caught<Fut>(future: &mut Option<Pin<Box<Fut>>>) -> Ended
where
    Fut: Future,
    Fut::Output: IntoTaskResult,
{
    std::future::poll_fn(|task_cx| {
        let Some(fut) = future.as_mut() else {
            return Poll::Pending;
        };
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(task_cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ended::Returned(output.into_task_result())),
            Err(payload) => Poll::Ready(Ended::Panicked(PanicError::from_payload(&*payload))),
        }
    })
    .await
}

/// Resolves when the task must be aborted: its service is cancelled, its grace period has
/// run out, and all its children are done.
async fn abort_due(cx: &Context) {
    let shared = &cx.manager.shared;
    shared.token.cancelled().await;
    let grace = shared.options.grace;
    if !grace.is_zero() {
        tokio::time::sleep_until(shared.cancelled_at() + grace).await;
        cx.node.children_done().await;
        tracing::warn!(path = %cx.node.path(), ?grace, "task still running after its grace period; aborting it");
    } else {
        cx.node.children_done().await;
    }
}

/// The failure of a daemon that ended while its service was running.
pub(crate) fn daemon_exit(node: &TaskNode, service: bool) -> TaskFailure {
    let name: Cow<'static, str> = node.name_cow().clone();
    TaskFailure::new(
        name.clone(),
        Arc::clone(node.path()),
        FailureKind::DaemonExit,
        Arc::new(DaemonExitError { name, service }),
    )
}

/// Releases a task's node when its tokio task ends, however it ends (also when the tokio
/// runtime drops the task unfinished).
struct Release(Context);

impl Drop for Release {
    fn drop(&mut self) {
        release(Arc::clone(&self.0.node), &*self.0.manager.shared);
    }
}
