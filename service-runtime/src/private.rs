//! Support for the code that `service-macros` generates. Not a public API: nothing here is
//! covered by semver, and only generated code should name it.
//!
//! # The contract with the macros
//!
//! - `#[service] struct S` implements [`ServiceStruct`] for `S`, [`Service`] for `S` (its
//!   `serve` calls [`serve`], which calls [`ServiceBody::start_work`]) and, for a non-generic `S`,
//!   asserts `S: ServiceImpl` with [`assert_service_impl`] so that a missing
//!   `#[service] impl` block is reported at the struct.
//! - `#[service] impl S` implements [`ServiceImpl`] (whose supertrait [`ServiceStruct`]
//!   reports a missing `#[service]` on the struct) and [`ServiceBody`], whose `start_work`
//!   starts the annotated methods in declaration order through [`task`], [`daemon_task`],
//!   [`child`] and [`daemon_child`].
//! - `#[service] async fn f` generates the struct and its [`Service`] impl directly.
//!
//! Task outputs go through [`TaskOutput`] (not [`IntoTaskResult`](crate::IntoTaskResult)) so
//! that a wrong return type is reported, at the method's return type, with a message about
//! task methods.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::context::Context;
use crate::error::BoxError;
use crate::options::Options;
use crate::serve::Service;

/// Implemented by `#[service] struct` (and the struct of `#[service] async fn`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not declared with `#[service]`",
    label = "this `#[service] impl` block needs `#[service]` on the struct `{Self}`",
    note = "add `#[service]` above the definition of `{Self}`, where options such as `grace = \"2s\"` go"
)]
pub trait ServiceStruct {}

/// Implemented by `#[service] impl`; requires the struct attribute.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has `#[service]` but no `#[service] impl` block",
    label = "this service has no body",
    note = "add `#[service] impl {Self} {{ .. }}` with at least one `#[task]`, `#[daemon]` or `#[child]` method"
)]
pub trait ServiceImpl: ServiceStruct {}

/// The body of a `#[service] impl`: starts the annotated methods in declaration order.
///
/// Implemented only when the service is `Send + Sync + 'static`, so that a service type
/// that is not gets one error, at its struct, instead of one per method.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has `#[service]` but no `#[service] impl` block",
    label = "this service has no body",
    note = "add `#[service] impl {Self} {{ .. }}` with at least one `#[task]`, `#[daemon]` or `#[child]` method"
)]
pub trait ServiceBody {
    /// Starts the service's work through `cx`, the body's context.
    ///
    /// # Errors
    /// The first error from starting a task or child (the service is not running).
    fn start_work(service: &Arc<Self>, cx: &Context) -> Result<(), BoxError>;
}

/// `Service::serve` of a `#[service] struct`.
///
/// The future is declared `Send` (not inferred, as an `async fn`'s would be) so that a
/// service that is not `Send + Sync` is reported once, by `Service`'s supertraits, rather
/// than again here.
#[allow(
    clippy::manual_async_fn,
    reason = "the declared `Send` bound is the point"
)]
pub fn serve<S: Service + ServiceBody>(
    service: Arc<S>,
    cx: Context,
) -> impl Future<Output = Result<(), BoxError>> + Send + 'static {
    async move { S::start_work(&service, &cx) }
}

/// What a task method or a `#[service] async fn` may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type for a task",
    label = "expected `()` or `Result<(), E>` where `E: Into<BoxError>`",
    note = "`#[task]` and `#[daemon]` methods and `#[service]` functions return `()` or `Result<(), E>` for an error type `E` such as `anyhow::Error`, `std::io::Error` or `BoxError`"
)]
pub trait TaskOutput {
    /// The task's outcome, as the runtime sees it.
    ///
    /// # Errors
    /// The task's own error, boxed.
    fn into_task_result(self) -> Result<(), BoxError>;
}

impl TaskOutput for () {
    fn into_task_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> TaskOutput for Result<(), E> {
    fn into_task_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// Starts `method(service, cx)` as the task `name` of the body `cx`.
///
/// # Errors
/// As [`Context::run_task`].
pub fn task<S, F, Fut>(
    cx: &Context,
    name: &'static str,
    service: &Arc<S>,
    method: F,
) -> Result<(), BoxError>
where
    S: ?Sized + Send + Sync + 'static,
    F: FnOnce(Arc<S>, Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let service = Arc::clone(service);
    cx.run_task(name, move |cx| method(service, cx))?;
    Ok(())
}

/// Starts `method(service, cx)` as the daemon task `name` of the body `cx`.
///
/// # Errors
/// As [`Context::run_daemon_task`].
pub fn daemon_task<S, F, Fut>(
    cx: &Context,
    name: &'static str,
    service: &Arc<S>,
    method: F,
) -> Result<(), BoxError>
where
    S: ?Sized + Send + Sync + 'static,
    F: FnOnce(Arc<S>, Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let service = Arc::clone(service);
    cx.run_daemon_task(name, move |cx| method(service, cx))?;
    Ok(())
}

/// Starts `child` as a child service of the body `cx`.
///
/// # Errors
/// As [`Context::run_child_service`].
pub fn child<C: Service>(cx: &Context, child: C) -> Result<(), BoxError> {
    cx.run_child_service(child)?;
    Ok(())
}

/// Starts `child` as a daemon child service of the body `cx`.
///
/// # Errors
/// As [`Context::run_daemon_child_service`].
pub fn daemon_child<C: Service>(cx: &Context, child: C) -> Result<(), BoxError> {
    cx.run_daemon_child_service(child)?;
    Ok(())
}

/// `#[service(grace = "..")]`, in milliseconds.
pub fn set_grace(options: &mut Options, millis: u64) {
    options.grace = Duration::from_millis(millis);
}

/// `#[service(max_children = ..)]`.
pub fn set_max_children(options: &mut Options, max_children: usize) {
    options.max_children = max_children;
}

/// Fails to compile unless `T` has a `#[service] impl` block.
pub const fn assert_service_impl<T: ?Sized + ServiceImpl>() {}
