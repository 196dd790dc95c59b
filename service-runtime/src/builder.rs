//! Builders for tasks and child services: [`Context::task`] and [`Context::child`], with
//! daemon, restart and containment options. `run_task`, `run_daemon_task`,
//! `run_child_service` and `run_daemon_child_service` are shorthands for them.
//!
//! Each builder fills one [`Spec`] that the spawn path carries to the runner. Whether the
//! work is a failure boundary is also in its type ([`Escalate`], the default, or
//! [`Contain`]): it decides what `spawn` returns — nothing for work whose failures are its
//! service's, a [`TaskHandle`] to learn how contained work ended. A restarting child service
//! returns a [`RestartingHandle`] either way: it follows the instance running now.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::context::Context;
use crate::error::{BoxError, LifecycleError};
use crate::handle::{RestartingHandle, ServiceHandle, Supervision, TaskHandle};
use crate::manager::{ChildKind, Manager};
use crate::name::Name;
use crate::output::IntoTaskResult;
use crate::restart::Restart;
use crate::runner::{ChildFailed, Maker, OneShot, Repeating};
use crate::serve::Service;
use crate::spec::{Role, Spec};

/// The default boundary of a builder: the work's failures are its service's failures.
#[derive(Debug, Clone, Copy)]
pub struct Escalate;

/// The boundary of contained work ([`TaskBuilder::contained`]): its failures end it alone
/// and go to its handle.
#[derive(Debug, Clone, Copy)]
pub struct Contain;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Escalate {}
    impl Sealed for super::Contain {}
}

/// Where a task's failures go, and so what starting it returns: [`Escalate`] or
/// [`Contain`]. Sealed: these two are all there are.
pub trait Boundary: sealed::Sealed {
    #[doc(hidden)]
    const CONTAINED: bool;
}

impl Boundary for Escalate {
    const CONTAINED: bool = false;
}

impl Boundary for Contain {
    const CONTAINED: bool = true;
}

/// The `Context` a builder starts work from: the caller's (`cx.task(..)`), or for work
/// started from outside ([`Manager::task`](crate::Manager::task)), one of its own, the body's.
pub(crate) enum Owner<'a> {
    Borrowed(&'a Context),
    /// The body's `Context`, made for a caller outside the service: the service must have
    /// started for it to start work.
    Outside(Context),
}

impl Owner<'_> {
    /// The `Context` to start the work from; `NotRunning` from outside a service that has
    /// not started yet (its body is not running: nothing may run before it).
    #[inline]
    fn context(&self) -> Result<&Context, LifecycleError> {
        match self {
            Owner::Borrowed(cx) => Ok(cx),
            Owner::Outside(cx) if cx.manager.is_started() => Ok(cx),
            Owner::Outside(_) => Err(LifecycleError::NotRunning),
        }
    }
}

/// A task about to be started; from [`Context::task`].
///
/// ```
/// # use std::sync::Arc;
/// # use service_runtime::prelude::*;
/// # struct S;
/// # impl Service for S {
/// async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
///     cx.task("poller")
///         .daemon()
///         .restart(Restart::on_failure().max_restarts(5))
///         .spawn(|cx| async move {
///             cx.cancelled().await;
///             Ok::<(), std::io::Error>(())
///         })?;
///     // A failure boundary: if it fails, it ends alone, and its handle says how.
///     let connection = cx.task("conn-17").contained().spawn(|_cx| async move {
///         Err::<(), _>("the peer sent garbage")
///     })?;
///     let _outcome = connection.wait_finished();
///     Ok(())
/// }
/// # }
/// ```
#[must_use = "a task builder does nothing until `spawn` is called"]
pub struct TaskBuilder<'a, B = Escalate> {
    owner: Owner<'a>,
    name: Cow<'static, str>,
    spec: Spec,
    boundary: PhantomData<B>,
}

impl<'a> TaskBuilder<'a> {
    #[inline]
    pub(crate) fn new(owner: Owner<'a>, name: Cow<'static, str>) -> Self {
        TaskBuilder {
            owner,
            name,
            spec: Spec::task(),
            boundary: PhantomData,
        }
    }

    /// Makes it a failure boundary: a failure inside it (an error, a panic, a daemon that
    /// quits, a restart policy giving up, a grace exceeded) ends it alone — its children are
    /// cancelled in order — and is not a failure of its service. `spawn` then returns its
    /// [`TaskHandle`], which has the failure. It is still cancelled with its service.
    pub fn contained(self) -> TaskBuilder<'a, Contain> {
        TaskBuilder {
            owner: self.owner,
            name: self.name,
            spec: self.spec,
            boundary: PhantomData,
        }
    }
}

impl<'a, B: Boundary> TaskBuilder<'a, B> {
    /// Makes it a daemon: it must run as long as the service.
    pub fn daemon(mut self) -> Self {
        self.spec.role = Role::Daemon;
        self
    }

    /// Restarts it by `policy`; its body must then be `Fn`, called again for each restart.
    pub fn restart(mut self, policy: Restart) -> RestartingTaskBuilder<'a, B> {
        self.spec.restart = Some(policy);
        RestartingTaskBuilder { inner: self }
    }
}

impl TaskBuilder<'_> {
    /// Starts the task running `f(cx)`; see [`Context::run_task`] for the outcomes.
    pub fn spawn<F, Fut>(self, f: F) -> Result<(), LifecycleError>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        let cx = self.owner.context()?;
        cx.spawn_task(self.name, self.spec, OneShot(f))
    }
}

impl TaskBuilder<'_, Contain> {
    /// Starts the contained task running `f(cx)`, and returns its handle. While its service
    /// is being cancelled nothing is started, and the handle is finished already.
    pub fn spawn<F, Fut>(self, f: F) -> Result<TaskHandle, LifecycleError>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        let cx = self.owner.context()?;
        cx.spawn_contained(self.name, self.spec, OneShot(f))
    }
}

/// A task with a restart policy, about to be started; from [`TaskBuilder::restart`].
#[must_use = "a task builder does nothing until `spawn` is called"]
pub struct RestartingTaskBuilder<'a, B = Escalate> {
    /// With `spec.restart` set.
    inner: TaskBuilder<'a, B>,
}

impl<'a> RestartingTaskBuilder<'a> {
    /// Makes it a failure boundary ([`TaskBuilder::contained`]): when its policy gives up,
    /// it ends alone.
    pub fn contained(self) -> RestartingTaskBuilder<'a, Contain> {
        RestartingTaskBuilder {
            inner: self.inner.contained(),
        }
    }
}

impl<B: Boundary> RestartingTaskBuilder<'_, B> {
    /// Makes it a daemon: it must run as long as the service (with `on_failure`, a daemon
    /// that returns is restarted).
    pub fn daemon(mut self) -> Self {
        self.inner = self.inner.daemon();
        self
    }
}

impl RestartingTaskBuilder<'_> {
    /// Starts the task running `f(cx)`, and runs `f` again for each restart.
    pub fn spawn<F, Fut>(self, f: F) -> Result<(), LifecycleError>
    where
        F: Fn(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        let TaskBuilder {
            owner, name, spec, ..
        } = self.inner;
        owner.context()?.spawn_task(name, spec, Repeating(f))
    }
}

impl RestartingTaskBuilder<'_, Contain> {
    /// Starts the contained task running `f(cx)`, runs `f` again for each restart, and
    /// returns its handle.
    pub fn spawn<F, Fut>(self, f: F) -> Result<TaskHandle, LifecycleError>
    where
        F: Fn(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        let TaskBuilder {
            owner, name, spec, ..
        } = self.inner;
        owner.context()?.spawn_contained(name, spec, Repeating(f))
    }
}

/// A child service about to be started; from [`Context::child`].
#[must_use = "a child builder does nothing until `spawn` is called"]
pub struct ChildBuilder<'a, F, B = Escalate> {
    owner: Owner<'a>,
    factory: F,
    spec: Spec,
    boundary: PhantomData<B>,
}

impl<'a, F> ChildBuilder<'a, F> {
    #[inline]
    pub(crate) fn new(owner: Owner<'a>, factory: F) -> Self {
        ChildBuilder {
            owner,
            factory,
            spec: Spec::task(),
            boundary: PhantomData,
        }
    }
}

impl<'a, F, C> ChildBuilder<'a, F>
where
    F: FnOnce() -> C,
    C: Service,
{
    /// Makes it a failure boundary: a failure inside the child (or its daemon-ness ending
    /// it) ends the child alone and is not a failure of this service; the child's handle
    /// has it (`wait_finished`). It is still cancelled with its parent.
    pub fn contained(self) -> ChildBuilder<'a, F, Contain> {
        ChildBuilder {
            owner: self.owner,
            factory: self.factory,
            spec: self.spec,
            boundary: PhantomData,
        }
    }
}

impl<'a, F, C, B> ChildBuilder<'a, F, B>
where
    F: FnOnce() -> C,
    C: Service,
    B: Boundary,
{
    /// Makes it a daemon child: it must run as long as its parent.
    pub fn daemon(mut self) -> Self {
        self.spec.role = Role::Daemon;
        self
    }

    /// Restarts it by `policy`, each time a fresh instance from the factory under a fresh
    /// manager; the factory must then be `Fn`.
    pub fn restart(mut self, policy: Restart) -> RestartingChildBuilder<'a, F, B> {
        self.spec.restart = Some(policy);
        RestartingChildBuilder { inner: self }
    }

    /// Starts the child service; see [`Context::run_child_service`].
    pub fn spawn(self) -> Result<ServiceHandle<C>, LifecycleError> {
        let daemon = self.spec.is_daemon();
        let kind = match (B::CONTAINED, daemon) {
            (true, daemon) => ChildKind::Contained { daemon },
            (false, true) => ChildKind::Daemon,
            (false, false) => ChildKind::Plain,
        };
        let cx = self.owner.context()?;
        cx.spawn_child(self.factory, kind)
    }
}

/// A child service with a restart policy, about to be started; from
/// [`ChildBuilder::restart`].
#[must_use = "a child builder does nothing until `spawn` is called"]
pub struct RestartingChildBuilder<'a, F, B = Escalate> {
    /// With `spec.restart` set.
    inner: ChildBuilder<'a, F, B>,
}

impl<'a, F, C> RestartingChildBuilder<'a, F>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Service,
{
    /// Makes it a failure boundary: when its policy gives up, the child's failures end its
    /// supervising task alone, and its [`TaskHandle`] has them.
    pub fn contained(self) -> RestartingChildBuilder<'a, F, Contain> {
        RestartingChildBuilder {
            inner: self.inner.contained(),
        }
    }
}

impl<'a, F, C, B> RestartingChildBuilder<'a, F, B>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Service,
    B: Boundary,
{
    /// Makes it a daemon child (with `on_failure`, a daemon child that finishes is
    /// restarted).
    pub fn daemon(mut self) -> Self {
        self.inner.spec.role = Role::Daemon;
        self
    }

    /// The context to start the supervising task from, and the task's name, spec and maker.
    #[allow(clippy::type_complexity)]
    fn supervisor(
        self,
    ) -> Result<(Owner<'a>, Cow<'static, str>, Spec, Supervising<F, C>), LifecycleError> {
        let ChildBuilder {
            owner,
            factory,
            spec,
            ..
        } = self.inner;
        // Refused before the factory runs, when it can be said at once.
        owner.context()?.check_open()?;
        let first = factory();
        let name = first.name();
        let make = Supervising {
            first: Some(first),
            factory,
            shared: Supervision::new(),
        };
        Ok((owner, name, spec, make))
    }
}

impl<F, C> RestartingChildBuilder<'_, F>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Service,
{
    /// Starts the child service, supervised by a task of the same name and path that
    /// restarts it by the policy, and returns a handle that follows its current instance.
    /// Its failures reach the parent only when the policy gives up (noting the restarts).
    ///
    /// While the service is being cancelled nothing is started, and the handle is finished
    /// already.
    pub fn spawn(self) -> Result<RestartingHandle<C>, LifecycleError> {
        let (owner, name, spec, make) = self.supervisor()?;
        let cx = owner.context()?;
        let shared = Arc::clone(&make.shared);
        let path = cx.child_path(&name);
        let name = Name::from(name);
        let service = cx.manager.clone();
        cx.spawn_task(name.to_cow(), spec, make)?;
        Ok(RestartingHandle::escalated(shared, name, path, service))
    }
}

impl<F, C> RestartingChildBuilder<'_, F, Contain>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Service,
{
    /// Starts the child service as [`RestartingChildBuilder::spawn`] does, its supervising
    /// task a failure boundary: when the policy gives up, the child's failures end that task
    /// alone, and the handle returned here has them
    /// ([`RestartingHandle::wait_finished`]).
    pub fn spawn(self) -> Result<RestartingHandle<C>, LifecycleError> {
        let (owner, name, spec, make) = self.supervisor()?;
        let shared = Arc::clone(&make.shared);
        let boundary = owner.context()?.spawn_contained(name, spec, make)?;
        Ok(RestartingHandle::contained(shared, boundary))
    }
}

/// The maker of a supervising task: each of its futures starts an instance of the child and
/// waits for it. It makes none once the child's handle stopped it, and its drop tells the
/// handles that no instance will start any more.
struct Supervising<F, C> {
    /// The first instance, made by `spawn` for its name.
    first: Option<C>,
    factory: F,
    shared: Arc<Supervision<C>>,
}

impl<F, C> Maker<ChildRun> for Supervising<F, C>
where
    F: Fn() -> C + Send + 'static,
    C: Service,
{
    type First = ();
    type Kept = Self;

    fn split(self) -> ((), Self) {
        ((), self)
    }

    fn make(_: Option<()>, this: &mut Self, cx: Context) -> Option<ChildRun> {
        if this.shared.is_stopped() {
            return None;
        }
        let service = this.first.take().unwrap_or_else(|| (this.factory)());
        let shared = Arc::clone(&this.shared);
        Some(Box::pin(async move {
            let child = cx.spawn_child(|| service, ChildKind::Supervised)?;
            shared.started(&child);
            child
                .wait_finished()
                .await
                .map_err(|e| Box::new(ChildFailed(e)) as BoxError)
        }))
    }
}

impl<F, C> Drop for Supervising<F, C> {
    fn drop(&mut self) {
        self.shared.end();
    }
}

/// The future of one run of a supervised child service: it ends with the child.
type ChildRun = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// Starting work from outside a service: from a [`ServiceHandle`] (it derefs to
/// `Manager`), an accept loop, a callback, another service. The contract is
/// [`Context`]'s, the new work a root task of the service (a child of its body, so it is
/// cancelled with the service, which does not finish before it).
///
/// Besides `Context`'s outcomes, starting fails with `NotRunning` before the service has
/// started and once it is finished — also once its body has returned and its last task is
/// done, even if the service has yet to say it is finished: work is attached to a service
/// that is still running, or refused, never lost.
impl Manager {
    /// Starts a task of this service named `name` running `f(cx)`, as
    /// [`Context::run_task`] does in its body.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use service_runtime::prelude::*;
    /// # struct Server;
    /// # impl Service for Server {
    /// #     async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
    /// #         cx.cancelled().await;
    /// #         Ok(())
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let server = Server.start();
    /// // An accept loop elsewhere hands each connection to the service.
    /// server.run_task("conn", |cx| async move {
    ///     cx.cancelled().await; // serve it until the service stops
    /// })?;
    /// server.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn run_task<F, Fut>(
        &self,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> Result<(), LifecycleError>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        self.task(name).spawn(f)
    }

    /// Starts a daemon task of this service, as [`Context::run_daemon_task`] does.
    pub fn run_daemon_task<F, Fut>(
        &self,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> Result<(), LifecycleError>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        self.task(name).daemon().spawn(f)
    }

    /// Starts `service` as a child service of this one, as
    /// [`Context::run_child_service`] does.
    pub fn run_child_service<C: Service>(
        &self,
        service: C,
    ) -> Result<ServiceHandle<C>, LifecycleError> {
        self.child(|| service).spawn()
    }

    /// A builder for a task of this service named `name`, as [`Context::task`]: daemon,
    /// restart, contained, then `spawn`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use service_runtime::prelude::*;
    /// # struct Server;
    /// # impl Service for Server {
    /// #     async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
    /// #         cx.cancelled().await;
    /// #         Ok(())
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let server = Server.start();
    /// // A failure boundary: a bad connection ends alone; its handle says how.
    /// let conn = server
    ///     .task("conn-17")
    ///     .contained()
    ///     .spawn(|_cx| async { Err::<(), _>("the peer sent garbage") })?;
    /// assert!(conn.wait_finished().await.is_err());
    /// server.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn task(&self, name: impl Into<Cow<'static, str>>) -> TaskBuilder<'static> {
        TaskBuilder::new(Owner::Outside(Context::of_body(self)), name.into())
    }

    /// A builder for a child service of this one made by `factory`, as [`Context::child`].
    pub fn child<F>(&self, factory: F) -> ChildBuilder<'static, F> {
        ChildBuilder::new(Owner::Outside(Context::of_body(self)), factory)
    }
}

impl<B> fmt::Debug for TaskBuilder<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .finish()
    }
}

impl<B> fmt::Debug for RestartingTaskBuilder<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RestartingTaskBuilder")
            .field(&self.inner)
            .finish()
    }
}

impl<F, B> fmt::Debug for ChildBuilder<'_, F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildBuilder")
            .field("spec", &self.spec)
            .finish()
    }
}

impl<F, B> fmt::Debug for RestartingChildBuilder<'_, F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RestartingChildBuilder")
            .field(&self.inner)
            .finish()
    }
}
