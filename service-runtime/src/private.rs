//! Support for the code that `service-macros` generates. Not a public API: nothing here is
//! covered by semver, and only generated code should name it.
//!
//! # The contract with the macros
//!
//! - `#[service] struct S` implements [`ServiceStruct`] for `S`, [`Service`] for `S` (its
//!   `serve` calls [`serve`], which runs [`ServiceBody::start_work`]) and, for a non-generic `S`,
//!   asserts `S: ServiceImpl` with [`assert_service_impl`] so that a missing
//!   `#[service] impl` block is reported at the struct. Its options are set with
//!   [`set_grace`], [`set_drain`], [`set_max_children`] and [`set_manual_ready`].
//! - `#[service] impl S` implements [`ServiceImpl`] (whose supertrait [`ServiceStruct`]
//!   reports a missing `#[service]` on the struct) and [`ServiceBody`], whose `start_work`
//!   starts the annotated methods in declaration order, each with one [`Work`] chain: the
//!   kind, one call for each key of the method's attribute (in the order `daemon`,
//!   `contained`, `restart`), then `spawn`. For
//!   `#[daemon(contained, restart = "on-failure")] async fn poll(&self, cx: &Context)` and
//!   `#[child] fn store(&self) -> Store`:
//!
//!   ```ignore
//!   Work::task(&__cx, "poll", &__service).daemon().contained().restart(Restart::on_failure())
//!       .spawn(|__service, __cx| async move { /* Self::poll(&__service, &__cx), converted */ })?;
//!   if Work::child(&__cx, &__service).spawn::<Store, _>(|__service| Self::store(__service))?
//!       .wait().await.is_break() { return Ok(()); }
//!   ```
//!
//!   A `#[child]` without a restart policy returns its [`ChildReadiness`], which the body
//!   waits for before starting the work declared after the child, and which says to stop if
//!   the child failed (unless it is contained: its failure is its own, and the body goes
//!   on). A restarting child is not waited for, and a restarting task's body is called
//!   again for each restart. When a method declared after a child takes its handle, the
//!   body keeps it in a local (`ChildReadiness::into_handle`, or the [`RestartingHandle`]
//!   a restarting child's `spawn` returns) and the closures of those methods own clones of
//!   it; otherwise it is dropped, which never stops the child. A contained task's
//!   [`TaskHandle`] is dropped: dropping it does not cancel the work, and the runtime logs
//!   and counts the work's failure. A new key of the attributes is a method of [`Work`],
//!   applied where `Work` makes the runtime's builder ([`TaskBuilder`], [`ChildBuilder`]).
//! - `#[service] async fn f` generates the struct and its [`Service`] impl directly; the
//!   struct keeps the function's arguments in an [`Args`], which `serve` takes them from.
//! - A run-time `name = <expr>` goes through [`service_name`] ([`ServiceName`] says which
//!   types a name may have), `grace = <expr>` through [`set_grace_to`] ([`Grace`]),
//!   `drain = <expr>` through [`set_drain_to`] ([`Drain`]), `max_children = <expr>` through
//!   [`set_max_children`]; `options = <expr>` is the value the keys are applied to.
//!
//! Task outputs are converted with [`IntoTaskResult`], naming the method's return type
//! (`<R as IntoTaskResult>::into_task_result(..)`) so that a wrong one is reported there,
//! with the trait's message. The output of a task that never returns (`-> !`) cannot be
//! named that way on stable Rust, nor passed to a function without an "unreachable call"
//! warning: its future goes through [`never_returns`] instead.

use std::borrow::Cow;
use std::fmt::{self, Debug};
use std::future::Future;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// Only the public API: the macros' support is built on what any user could write.
use crate::{
    BoxError, ChildBuilder, Context, IntoTaskResult, LifecycleError, Options, Restart,
    RestartingHandle, Service, ServiceError, ServiceHandle, TaskBuilder, TaskHandle,
};

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
    /// `#[child]` without a restart policy to be ready before starting the work declared
    /// after it.
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
///
/// # Cancel safety
/// As cancel safe as `future`: dropping this drops it.
pub async fn never_returns<F>(future: F) -> Result<(), BoxError>
where
    F: Future,
    F::Output: IntoTaskResult,
{
    future.await.into_task_result()
}

/// One annotated method being started by the body's `start_work`: [`Work::task`] or
/// [`Work::child`], then one call for each key of the method's attribute
/// ([`daemon`](Work::daemon), [`contained`](Work::contained), [`restart`](Work::restart)),
/// then `spawn`.
///
/// `K` is what is started, a [`Task`] or a [`Child`]; `R` is its restart policy,
/// [`NoRestart`] or a [`Restart`]. The policy is part of the type because it decides what a
/// child's `spawn` accepts: a restarting child's factory is called again for each restart,
/// so it must be `Fn` and `'static`, while the factory of a child without a policy is called
/// once, right away, with the borrow of the service it is given, so its return type may
/// capture that borrow (`fn store(&self) -> impl Service`, which captures `&self` in edition
/// 2024). A task's body is `Fn` either way, as the generated closures are.
#[must_use = "the work does nothing until `spawn` is called"]
pub struct Work<'a, S: ?Sized, K, R> {
    /// The body's context: the work is a root task of the service.
    cx: &'a Context,
    service: &'a Arc<S>,
    kind: K,
    daemon: bool,
    /// Whether the work is a failure boundary. A flag, not a type parameter as in the
    /// runtime's builders: `spawn` returns the same thing either way, as the contained
    /// work's handle is dropped.
    contained: bool,
    restart: R,
}

/// A `#[task]` or `#[daemon]` method, and the task's name (the method's).
#[derive(Debug)]
pub struct Task {
    name: &'static str,
}

/// A `#[child]` method, the factory of a child service.
#[derive(Debug)]
pub struct Child;

/// The work runs once: its attribute has no `restart` key, or `restart = "never"`.
#[derive(Debug)]
pub struct NoRestart;

impl From<NoRestart> for Option<Restart> {
    fn from(_: NoRestart) -> Self {
        None
    }
}

impl<'a, S: ?Sized> Work<'a, S, Task, NoRestart> {
    /// The `#[task]` or `#[daemon]` method `name` of `service`, about to be started by the
    /// body whose context is `cx`.
    pub fn task(cx: &'a Context, name: &'static str, service: &'a Arc<S>) -> Self {
        Work::new(cx, service, Task { name })
    }
}

impl<'a, S: ?Sized> Work<'a, S, Child, NoRestart> {
    /// A `#[child]` method of `service`, about to be started by the body whose context is
    /// `cx`.
    pub fn child(cx: &'a Context, service: &'a Arc<S>) -> Self {
        Work::new(cx, service, Child)
    }
}

impl<'a, S: ?Sized, K> Work<'a, S, K, NoRestart> {
    fn new(cx: &'a Context, service: &'a Arc<S>, kind: K) -> Self {
        Work {
            cx,
            service,
            kind,
            daemon: false,
            contained: false,
            restart: NoRestart,
        }
    }

    /// `restart = ".."` (with `max_restarts`, `within` and `backoff` in `policy`): start the
    /// work again by `policy`.
    pub fn restart(self, policy: Restart) -> Work<'a, S, K, Restart> {
        Work {
            cx: self.cx,
            service: self.service,
            kind: self.kind,
            daemon: self.daemon,
            contained: self.contained,
            restart: policy,
        }
    }
}

impl<S: ?Sized, K, R> Work<'_, S, K, R> {
    /// `#[daemon]`, `#[child(daemon)]`: the work must run as long as the service.
    pub fn daemon(mut self) -> Self {
        self.daemon = true;
        self
    }

    /// `#[task(contained)]`, `#[daemon(contained)]`, `#[child(contained)]`: the work is a
    /// failure boundary; its failure ends it alone and is not a failure of the service.
    pub fn contained(mut self) -> Self {
        self.contained = true;
        self
    }
}

impl<'a, S: ?Sized, R> Work<'a, S, Task, R> {
    /// The runtime's builder of the task, with every key but the restart policy applied.
    fn builder(&self) -> TaskBuilder<'a> {
        let builder = self.cx.task(self.kind.name);
        if self.daemon {
            builder.daemon()
        } else {
            builder
        }
    }
}

impl<'a, S: ?Sized, R> Work<'a, S, Child, R> {
    /// The runtime's builder of the child service that `factory` makes, with every key but
    /// the restart policy applied.
    fn builder<F, C>(&self, factory: F) -> ChildBuilder<'a, F>
    where
        F: FnOnce() -> C,
        C: Service,
    {
        let builder = self.cx.child(factory);
        if self.daemon {
            builder.daemon()
        } else {
            builder
        }
    }
}

impl<S, R> Work<'_, S, Task, R>
where
    S: ?Sized + Send + Sync + 'static,
    R: Into<Option<Restart>>,
{
    /// Starts the task, running `body(service, cx)`, and `body` again for each restart. A
    /// contained task's handle is dropped (see the module docs).
    ///
    /// # Errors
    /// As [`TaskBuilder::spawn`].
    pub fn spawn<F, Fut>(self, body: F) -> Result<(), LifecycleError>
    where
        F: Fn(Arc<S>, Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let service = Arc::clone(self.service);
        let body = move |cx| body(Arc::clone(&service), cx);
        let builder = self.builder();
        match (self.restart.into(), self.contained) {
            (None, false) => builder.spawn(body),
            (None, true) => builder.contained().spawn(body).map(drop_handle),
            (Some(policy), false) => builder.restart(policy).spawn(body),
            (Some(policy), true) => builder
                .restart(policy)
                .contained()
                .spawn(body)
                .map(drop_handle),
        }
    }
}

impl<'a, S: ?Sized> Work<'a, S, Child, NoRestart> {
    /// Starts the child service that `factory(service)` builds, and returns its
    /// [`ChildReadiness`], which the work declared after the child waits for, and which
    /// then gives the child's handle to the methods that take it.
    ///
    /// # Errors
    /// As [`ChildBuilder::spawn`].
    pub fn spawn<C: Service, F>(self, factory: F) -> Result<ChildReadiness<C>, LifecycleError>
    where
        F: FnOnce(&'a S) -> C,
    {
        let service: &'a S = self.service;
        let builder = self.builder(|| factory(service));
        let child = if self.contained {
            builder.contained().spawn()?
        } else {
            builder.spawn()?
        };
        Ok(ChildReadiness {
            parent: self.cx.clone(),
            child,
            contained: self.contained,
        })
    }
}

impl<S: ?Sized + Send + Sync + 'static> Work<'_, S, Child, Restart> {
    /// Starts the child service that `factory(service)` builds, supervised: each restart
    /// runs a fresh instance from `factory`. There is no [`ChildReadiness`]: a restarting
    /// child's readiness is a moving target, and the work declared after it does not wait.
    /// Its [`RestartingHandle`] is returned for the methods that take it, and dropped
    /// otherwise (which never stops the child).
    ///
    /// # Errors
    /// As [`RestartingChildBuilder::spawn`](crate::RestartingChildBuilder::spawn).
    pub fn spawn<C: Service, F>(self, factory: F) -> Result<RestartingHandle<C>, LifecycleError>
    where
        F: Fn(&S) -> C + Send + Sync + 'static,
    {
        let service = Arc::clone(self.service);
        // Bound to a name first: passed straight to `builder`, whose bound is `FnOnce`, the
        // closure would be inferred to be only that.
        let factory = move || factory(&service);
        let builder = self.builder(factory).restart(self.restart);
        if self.contained {
            builder.contained().spawn()
        } else {
            builder.spawn()
        }
    }
}

impl<S: ?Sized, K: Debug, R: Debug> Debug for Work<'_, S, K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Work")
            .field("kind", &self.kind)
            .field("daemon", &self.daemon)
            .field("contained", &self.contained)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}

/// The readiness of a child service that the body just started: [`ChildReadiness::wait`]
/// says whether the body goes on starting the work declared after the child.
///
/// - The child is ready: go on.
/// - The child failed (before or while becoming ready): stop. Its failure is already a
///   failure of the parent, which is being cancelled; the body returns `Ok(())` so as not
///   to report it twice. A contained child's failure is its own, though: the parent is not
///   cancelled by it, so the body goes on while the parent runs, as for the next case.
/// - The child finished without failing and without becoming ready (a `manual_ready`
///   child that never called `ready`, or one cancelled with its parent): go on while the
///   parent runs, as there is nothing left to wait for; stop once the parent is cancelled.
#[must_use = "the work declared after a child waits for its readiness"]
pub struct ChildReadiness<C> {
    parent: Context,
    child: ServiceHandle<C>,
    /// The child is a failure boundary (`#[child(contained)]`).
    contained: bool,
}

impl<C> ChildReadiness<C> {
    /// Waits until the child is ready, failed or finished: [`ControlFlow::Continue`] to go
    /// on starting the work declared after it, [`ControlFlow::Break`] to stop.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait(&self) -> ControlFlow<()> {
        match self.child.wait_ready().await {
            Ok(()) => ControlFlow::Continue(()),
            Err(ServiceError::Lifecycle(LifecycleError::FinishedBeforeReady))
                if !self.parent.is_cancelled() =>
            {
                ControlFlow::Continue(())
            }
            // A contained child's failure is its own and leaves the parent running: go on,
            // unless the parent was cancelled meanwhile for some other reason.
            Err(ServiceError::Failed(_)) if self.contained && !self.parent.is_cancelled() => {
                ControlFlow::Continue(())
            }
            Err(_) => ControlFlow::Break(()),
        }
    }

    /// The child's handle, for the methods declared after it that take it.
    pub fn into_handle(self) -> ServiceHandle<C> {
        self.child
    }
}

impl<C> Debug for ChildReadiness<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildReadiness")
            .field("child", &self.child.name())
            .field("contained", &self.contained)
            .finish_non_exhaustive()
    }
}

/// Drops the handle of contained work that the body started: dropping it never cancels the
/// work, and its failure is logged and counted by the runtime.
fn drop_handle(_: TaskHandle) {}

/// The arguments of a `#[service] async fn`, kept by its struct until its only run moves
/// them into the function: a service runs at most once, so they need not be `Clone`.
pub struct Args<T>(Mutex<Option<T>>);

impl<T> Args<T> {
    /// The arguments given to `new`.
    pub fn new(args: T) -> Self {
        Args(Mutex::new(Some(args)))
    }

    /// The arguments, the first time; `None` after that.
    pub fn take(&self) -> Option<T> {
        // A panic cannot happen while the lock is held: poisoning is ignored.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl<T> Debug for Args<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Args")
    }
}

/// The error of a `#[service] async fn`'s `serve` called a second time on the same value
/// (the runtime never does: a service runs at most once), its arguments moved into the
/// first run.
pub fn already_run() -> BoxError {
    Box::new(LifecycleError::AlreadyStarted)
}

/// A service name made at run time: `#[service(name = <expr>)]`.
#[diagnostic::on_unimplemented(
    message = "`name = ..` needs a `String`, a `&'static str` or a `Cow<'static, str>`, not `{Self}`",
    label = "the service's name",
    note = "make the name with `format!`, like `name = format!(\"conn-{{}}\", self.id)`"
)]
pub trait ServiceName {
    /// The name.
    fn into_name(self) -> Cow<'static, str>;
}

impl ServiceName for &'static str {
    fn into_name(self) -> Cow<'static, str> {
        Cow::Borrowed(self)
    }
}

impl ServiceName for String {
    fn into_name(self) -> Cow<'static, str> {
        Cow::Owned(self)
    }
}

impl ServiceName for Cow<'static, str> {
    fn into_name(self) -> Cow<'static, str> {
        self
    }
}

/// `#[service(name = <expr>)]`.
pub fn service_name(name: impl ServiceName) -> Cow<'static, str> {
    name.into_name()
}

/// A grace period chosen at run time: `#[service(grace = <expr>)]`.
#[diagnostic::on_unimplemented(
    message = "`grace = ..` needs a `Duration` or an `Option<Duration>`, not `{Self}`",
    label = "the service's grace period",
    note = "`None` inherits the parent's grace; a literal grace is a string with a unit, like `grace = \"2s\"`"
)]
pub trait Grace {
    /// The grace, `None` to inherit the parent's.
    fn into_grace(self) -> Option<Duration>;
}

impl Grace for Duration {
    fn into_grace(self) -> Option<Duration> {
        Some(self)
    }
}

impl Grace for &Duration {
    fn into_grace(self) -> Option<Duration> {
        Some(*self)
    }
}

impl Grace for Option<Duration> {
    fn into_grace(self) -> Option<Duration> {
        self
    }
}

impl Grace for &Option<Duration> {
    fn into_grace(self) -> Option<Duration> {
        *self
    }
}

/// `#[service(grace = <expr>)]`.
pub fn set_grace_to(options: &mut Options, grace: impl Grace) {
    options.grace = grace.into_grace();
}

/// `#[service(grace = "..")]`, in milliseconds.
pub fn set_grace(options: &mut Options, millis: u64) {
    options.grace = Some(Duration::from_millis(millis));
}

/// A drain delay chosen at run time: `#[service(drain = <expr>)]`. A trait rather than a
/// `Duration` parameter for the message, which names the key, as [`Grace`]'s does.
#[diagnostic::on_unimplemented(
    message = "`drain = ..` needs a `Duration`, not `{Self}`",
    label = "the service's drain delay",
    note = "`Duration::ZERO` does not drain; a literal drain is a string with a unit, like `drain = \"5s\"`"
)]
pub trait Drain {
    /// The drain delay.
    fn into_drain(self) -> Duration;
}

impl Drain for Duration {
    fn into_drain(self) -> Duration {
        self
    }
}

impl Drain for &Duration {
    fn into_drain(self) -> Duration {
        *self
    }
}

/// `#[service(drain = <expr>)]`.
pub fn set_drain_to(options: &mut Options, drain: impl Drain) {
    options.drain = drain.into_drain();
}

/// `#[service(drain = "..")]`, in milliseconds.
pub fn set_drain(options: &mut Options, millis: u64) {
    options.drain = Duration::from_millis(millis);
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
