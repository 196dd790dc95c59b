//! Builders for tasks and child services: [`Context::task`] and [`Context::child`], with
//! daemon and restart options. `run_task`, `run_daemon_task`, `run_child_service` and
//! `run_daemon_child_service` are shorthands for them.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::context::Context;
use crate::error::{BoxError, LifecycleError};
use crate::handle::ServiceHandle;
use crate::manager::ChildKind;
use crate::output::IntoTaskResult;
use crate::restart::Restart;
use crate::runner::{ChildFailed, OneShot, Repeating};
use crate::serve::Service;
use crate::spec::{Role, Spec};
use crate::sync::{Mutex, lock};

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
///     Ok(())
/// }
/// # }
/// ```
#[must_use = "a task builder does nothing until `spawn` is called"]
pub struct TaskBuilder<'a> {
    cx: &'a Context,
    name: Cow<'static, str>,
    spec: Spec,
}

impl<'a> TaskBuilder<'a> {
    pub(crate) fn new(cx: &'a Context, name: Cow<'static, str>) -> Self {
        TaskBuilder {
            cx,
            name,
            spec: Spec::task(),
        }
    }

    /// Makes it a daemon: it must run as long as the service.
    pub fn daemon(mut self) -> Self {
        self.spec.role = Role::Daemon;
        self
    }

    /// Restarts it by `policy`; its body must then be `Fn`, called again for each restart.
    pub fn restart(mut self, policy: Restart) -> RestartingTaskBuilder<'a> {
        self.spec.restart = Some(policy);
        RestartingTaskBuilder { inner: self }
    }

    /// Starts the task running `f(cx)`; see [`Context::run_task`] for the outcomes.
    pub fn spawn<F, Fut>(self, f: F) -> Result<(), LifecycleError>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        self.cx.spawn_task(self.name, self.spec, OneShot(Some(f)))
    }
}

/// A task with a restart policy, about to be started; from [`TaskBuilder::restart`].
#[must_use = "a task builder does nothing until `spawn` is called"]
pub struct RestartingTaskBuilder<'a> {
    /// With `spec.restart` set.
    inner: TaskBuilder<'a>,
}

impl RestartingTaskBuilder<'_> {
    /// Makes it a daemon: it must run as long as the service (with `on_failure`, a daemon
    /// that returns is restarted).
    pub fn daemon(mut self) -> Self {
        self.inner = self.inner.daemon();
        self
    }

    /// Starts the task running `f(cx)`, and runs `f` again for each restart.
    pub fn spawn<F, Fut>(self, f: F) -> Result<(), LifecycleError>
    where
        F: Fn(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        let TaskBuilder { cx, name, spec } = self.inner;
        cx.spawn_task(name, spec, Repeating(f))
    }
}

/// A child service about to be started; from [`Context::child`].
#[must_use = "a child builder does nothing until `spawn` is called"]
pub struct ChildBuilder<'a, F> {
    cx: &'a Context,
    factory: F,
    spec: Spec,
}

impl<'a, F> ChildBuilder<'a, F> {
    pub(crate) fn new(cx: &'a Context, factory: F) -> Self {
        ChildBuilder {
            cx,
            factory,
            spec: Spec::task(),
        }
    }
}

impl<'a, F, C> ChildBuilder<'a, F>
where
    F: FnOnce() -> C,
    C: Service,
{
    /// Makes it a daemon child: it must run as long as its parent.
    pub fn daemon(mut self) -> Self {
        self.spec.role = Role::Daemon;
        self
    }

    /// Restarts it by `policy`, each time a fresh instance from the factory under a fresh
    /// manager; the factory must then be `Fn`.
    pub fn restart(mut self, policy: Restart) -> RestartingChildBuilder<'a, F> {
        self.spec.restart = Some(policy);
        RestartingChildBuilder { inner: self }
    }

    /// Starts the child service; see [`Context::run_child_service`].
    pub fn spawn(self) -> Result<ServiceHandle<C>, LifecycleError> {
        let kind = if self.spec.is_daemon() {
            ChildKind::Daemon
        } else {
            ChildKind::Plain
        };
        self.cx.spawn_child((self.factory)(), kind)
    }
}

/// A child service with a restart policy, about to be started; from
/// [`ChildBuilder::restart`].
#[must_use = "a child builder does nothing until `spawn` is called"]
pub struct RestartingChildBuilder<'a, F> {
    /// With `spec.restart` set.
    inner: ChildBuilder<'a, F>,
}

impl<F, C> RestartingChildBuilder<'_, F>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Service,
{
    /// Makes it a daemon child (with `on_failure`, a daemon child that finishes is
    /// restarted).
    pub fn daemon(mut self) -> Self {
        self.inner.spec.role = Role::Daemon;
        self
    }

    /// Starts the child service, supervised by a task of the same name and path that
    /// restarts it by the policy. Its failures reach the parent only when the policy gives
    /// up (noting the restarts).
    pub fn spawn(self) -> Result<(), LifecycleError> {
        let ChildBuilder { cx, factory, spec } = self.inner;
        let first = factory();
        let name = first.name();
        let first = Mutex::new(Some(first));
        let factory = Arc::new(factory);
        let make = move |cx: Context| {
            let service = lock(&first).take().unwrap_or_else(|| factory());
            async move {
                let child = cx.spawn_child(service, ChildKind::Supervised)?;
                child
                    .wait_finished()
                    .await
                    .map_err(|e| Box::new(ChildFailed(e)) as BoxError)
            }
        };
        cx.spawn_task(name, spec, Repeating(make))
    }
}

impl fmt::Debug for TaskBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &self.name)
            .field("daemon", &self.spec.is_daemon())
            .field("restart", &self.spec.restart)
            .finish()
    }
}

impl fmt::Debug for RestartingTaskBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RestartingTaskBuilder")
            .field(&self.inner)
            .finish()
    }
}

impl<F> fmt::Debug for ChildBuilder<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildBuilder")
            .field("daemon", &self.spec.is_daemon())
            .field("restart", &self.spec.restart)
            .finish()
    }
}

impl<F> fmt::Debug for RestartingChildBuilder<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RestartingChildBuilder")
            .field(&self.inner)
            .finish()
    }
}
