//! Support for the code that `service-macros` generates. Not a public API: nothing here is
//! covered by semver, and only generated code should name it.
//!
//! # The contract with the macros
//!
//! - `#[service] struct S` implements [`ServiceStruct`] for `S`, [`Service`] for `S` (its
//!   `serve` calls [`serve`], which runs [`ServiceBody::start_work`]) and, for a non-generic `S`,
//!   asserts `S: ServiceImpl` with [`assert_service_impl`] so that a missing
//!   `#[service] impl` block is reported at the struct. Its options are set with
//!   [`set_grace`], [`set_max_children`] and [`set_manual_ready`].
//! - `#[service] impl S` implements [`ServiceImpl`] (whose supertrait [`ServiceStruct`]
//!   reports a missing `#[service]` on the struct) and [`ServiceBody`], whose `start_work`
//!   starts the annotated methods in declaration order through [`task`] (tasks and daemons),
//!   [`restarting_task`], [`child`], [`daemon_child`] and [`restarting_child`]. After
//!   starting a child without a restart policy it awaits the [`Gate`] that `child` returns
//!   (the child's readiness), and stops starting work if the gate stays closed.
//! - `#[service] async fn f` generates the struct and its [`Service`] impl directly.
//!
//! Task outputs are converted with [`IntoTaskResult`], naming the method's return type
//! (`<R as IntoTaskResult>::into_task_result(..)`) so that a wrong one is reported there,
//! with the trait's message. The output of a task that never returns (`-> !`) cannot be
//! named that way on stable Rust, nor passed to a function without an "unreachable call"
//! warning: its future goes through [`never_returns`] instead.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::context::Context;
use crate::error::{BoxError, LifecycleError, ServiceError};
use crate::handle::ServiceHandle;
use crate::manager::Manager;
use crate::options::Options;
use crate::output::IntoTaskResult;
use crate::restart::Restart;
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
    /// Starts the service's work through `cx`, the body's context, waiting for each
    /// `#[child]` to be ready before starting the work declared after it.
    ///
    /// # Errors
    /// The first error from starting a task or child (the service is not running).
    fn start_work(
        service: Arc<Self>,
        cx: Context,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// `Service::serve` of a `#[service] struct`.
///
/// The future is declared `Send` (not inferred, as an `async fn`'s would be) so that a
/// service that is not `Send + Sync` is reported once, by `Service`'s supertraits, rather
/// than again here.
pub fn serve<S: Service + ServiceBody>(
    service: Arc<S>,
    cx: Context,
) -> impl Future<Output = Result<(), BoxError>> + Send + 'static {
    S::start_work(service, cx)
}

/// The outcome of `future`, the call of a task method or `#[service]` function declared
/// `-> !`, whose output the generated code cannot name.
///
/// # Errors
/// The task's own error, boxed.
pub async fn never_returns<F>(future: F) -> Result<(), BoxError>
where
    F: Future,
    F::Output: IntoTaskResult,
{
    future.await.into_task_result()
}

/// Starts `method(service, cx)` as the task `name` of the body `cx`; a daemon task if
/// `daemon`.
///
/// # Errors
/// As [`Context::run_task`].
pub fn task<S, F, Fut>(
    cx: &Context,
    name: &'static str,
    daemon: bool,
    service: &Arc<S>,
    method: F,
) -> Result<(), BoxError>
where
    S: ?Sized + Send + Sync + 'static,
    F: FnOnce(Arc<S>, Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let service = Arc::clone(service);
    let builder = cx.task(name);
    let builder = if daemon { builder.daemon() } else { builder };
    builder.spawn(move |cx| method(service, cx))?;
    Ok(())
}

/// Starts `method(service, cx)` as the task `name` of the body `cx`, restarted by `policy`
/// (`method` is called again for each restart); a daemon task if `daemon`.
///
/// # Errors
/// As [`TaskBuilder::spawn`](crate::TaskBuilder::spawn).
pub fn restarting_task<S, F, Fut>(
    cx: &Context,
    name: &'static str,
    daemon: bool,
    policy: Restart,
    service: &Arc<S>,
    method: F,
) -> Result<(), BoxError>
where
    S: ?Sized + Send + Sync + 'static,
    F: Fn(Arc<S>, Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let service = Arc::clone(service);
    let builder = cx.task(name).restart(policy);
    let builder = if daemon { builder.daemon() } else { builder };
    builder.spawn(move |cx| method(Arc::clone(&service), cx))?;
    Ok(())
}

/// Starts `child` as a child service of the body `cx`, and returns the [`Gate`] that opens
/// once the child is ready.
///
/// # Errors
/// As [`Context::run_child_service`].
pub fn child<C: Service>(cx: &Context, child: C) -> Result<Gate, BoxError> {
    let handle = cx.run_child_service(child)?;
    Ok(Gate::new(cx, &handle))
}

/// Starts `child` as a daemon child service of the body `cx`, and returns the [`Gate`] that
/// opens once the child is ready.
///
/// # Errors
/// As [`Context::run_daemon_child_service`].
pub fn daemon_child<C: Service>(cx: &Context, child: C) -> Result<Gate, BoxError> {
    let handle = cx.run_daemon_child_service(child)?;
    Ok(Gate::new(cx, &handle))
}

/// Starts the child service that `factory(service)` builds as a child of the body `cx`,
/// restarted by `policy` (each time a fresh instance from `factory`); a daemon child if
/// `daemon`. There is no [`Gate`]: a restarting child is supervised by a task, and its
/// readiness is not awaited.
///
/// # Errors
/// As [`RestartingChildBuilder::spawn`](crate::RestartingChildBuilder::spawn).
pub fn restarting_child<C, S, F>(
    cx: &Context,
    daemon: bool,
    policy: Restart,
    service: &Arc<S>,
    factory: F,
) -> Result<(), BoxError>
where
    C: Service,
    S: ?Sized + Send + Sync + 'static,
    F: Fn(&S) -> C + Send + Sync + 'static,
{
    let service = Arc::clone(service);
    let builder = cx.child(move || factory(&service)).restart(policy);
    let builder = if daemon { builder.daemon() } else { builder };
    builder.spawn()?;
    Ok(())
}

/// The readiness of a child service that the body just started: [`Gate::open`] resolves to
/// whether the body should go on starting the work declared after the child.
///
/// - The child is ready: go on.
/// - The child failed (before or while becoming ready): stop. Its failure is already a
///   failure of the parent, which is being cancelled; the body returns `Ok(())` so as not
///   to report it twice.
/// - The child finished without failing and without becoming ready (a `manual_ready`
///   child that never called `ready`, or one cancelled with its parent): go on while the
///   parent runs, as there is nothing left to wait for; stop once the parent is cancelled.
#[must_use = "the gate does nothing unless awaited"]
pub struct Gate {
    parent: Context,
    child: Manager,
}

impl Gate {
    fn new<C: Service>(parent: &Context, child: &ServiceHandle<C>) -> Gate {
        Gate {
            parent: parent.clone(),
            child: child.manager().clone(),
        }
    }

    /// Waits until the child is ready, failed or finished; whether to go on.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn open(self) -> bool {
        match self.child.wait_ready().await {
            Ok(()) => true,
            Err(ServiceError::Lifecycle(LifecycleError::FinishedBeforeReady)) => {
                !self.parent.is_cancelled()
            }
            Err(_) => false,
        }
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("child", &self.child.name())
            .finish_non_exhaustive()
    }
}

/// `#[service(grace = "..")]`, in milliseconds.
pub fn set_grace(options: &mut Options, millis: u64) {
    options.grace = Duration::from_millis(millis);
}

/// `#[service(max_children = ..)]`.
pub fn set_max_children(options: &mut Options, max_children: usize) {
    options.max_children = max_children;
}

/// `#[service(manual_ready)]`.
pub fn set_manual_ready(options: &mut Options) {
    options.manual_ready = true;
}

/// Fails to compile unless `T` has a `#[service] impl` block.
pub const fn assert_service_impl<T: ?Sized + ServiceImpl>() {}
