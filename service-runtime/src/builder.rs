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
use crate::restart::{Restart, Supervisor};
use crate::output::IntoTaskResult;
use crate::runner::{Again, ChildFailed, Role};
use crate::serve::Service;
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
    daemon: bool,
}

impl<'a> TaskBuilder<'a> {
    pub(crate) fn new(cx: &'a Context, name: Cow<'static, str>) -> Self {
        TaskBuilder {
            cx,
            name,
            daemon: false,
        }
    }

    /// Makes it a daemon: it must run as long as the service.
    pub fn daemon(mut self) -> Self {
        self.daemon = true;
        self
    }

    /// Restarts it by `policy`; its body must then be `Fn`, called again for each restart.
    pub fn restart(self, policy: Restart) -> RestartingTaskBuilder<'a> {
        RestartingTaskBuilder {
            inner: self,
            policy,
        }
    }

    /// Starts the task running `f(cx)`; see [`Context::run_task`] for the outcomes.
    pub fn spawn<F, Fut>(self, f: F) -> Result<(), LifecycleError>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        self.cx.spawn(self.name, role(self.daemon), f)
    }
}

/// A task with a restart policy, about to be started; from [`TaskBuilder::restart`].
#[must_use = "a task builder does nothing until `spawn` is called"]
pub struct RestartingTaskBuilder<'a> {
    inner: TaskBuilder<'a>,
    policy: Restart,
}

impl RestartingTaskBuilder<'_> {
    /// Makes it a daemon: it must run as long as the service (with `on_failure`, a daemon
    /// that returns is restarted).
    pub fn daemon(mut self) -> Self {
        self.inner.daemon = true;
        self
    }

    /// Starts the task running `f(cx)`, and runs `f` again for each restart.
    pub fn spawn<F, Fut>(self, f: F) -> Result<(), LifecycleError>
    where
        F: Fn(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        let TaskBuilder { cx, name, daemon } = self.inner;
        let supervisor = supervisor(self.policy, cx);
        cx.spawn_with(name, role(daemon), Again(f), supervisor)
    }
}

/// A child service about to be started; from [`Context::child`].
#[must_use = "a child builder does nothing until `spawn` is called"]
pub struct ChildBuilder<'a, F> {
    cx: &'a Context,
    factory: F,
    daemon: bool,
}

impl<'a, F> ChildBuilder<'a, F> {
    pub(crate) fn new(cx: &'a Context, factory: F) -> Self {
        ChildBuilder {
            cx,
            factory,
            daemon: false,
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
        self.daemon = true;
        self
    }

    /// Restarts it by `policy`, each time a fresh instance from the factory under a fresh
    /// manager; the factory must then be `Fn`.
    pub fn restart(self, policy: Restart) -> RestartingChildBuilder<'a, F> {
        RestartingChildBuilder {
            inner: self,
            policy,
        }
    }

    /// Starts the child service; see [`Context::run_child_service`].
    pub fn spawn(self) -> Result<ServiceHandle<C>, LifecycleError> {
        self.cx.spawn_child((self.factory)(), self.daemon, false)
    }
}

/// A child service with a restart policy, about to be started; from
/// [`ChildBuilder::restart`].
#[must_use = "a child builder does nothing until `spawn` is called"]
pub struct RestartingChildBuilder<'a, F> {
    inner: ChildBuilder<'a, F>,
    policy: Restart,
}

impl<F, C> RestartingChildBuilder<'_, F>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Service,
{
    /// Makes it a daemon child (with `on_failure`, a daemon child that finishes is
    /// restarted).
    pub fn daemon(mut self) -> Self {
        self.inner.daemon = true;
        self
    }

    /// Starts the child service, supervised by a task of the same name and path that
    /// restarts it by the policy. Its failures reach the parent only when the policy gives
    /// up (noting the restarts).
    pub fn spawn(self) -> Result<(), LifecycleError> {
        let ChildBuilder {
            cx,
            factory,
            daemon,
        } = self.inner;
        let first = factory();
        let name = first.name();
        let first = Mutex::new(Some(first));
        let factory = Arc::new(factory);
        let make = move |cx: Context| {
            let service = lock(&first).take().unwrap_or_else(|| factory());
            async move {
                let child = cx.spawn_child(service, false, true)?;
                child
                    .wait_finished()
                    .await
                    .map_err(|e| Box::new(ChildFailed(e)) as BoxError)
            }
        };
        let supervisor = supervisor(self.policy, cx);
        cx.spawn_with(name, role(daemon), Again(make), supervisor)
    }
}

fn role(daemon: bool) -> Role {
    if daemon { Role::Daemon } else { Role::Task }
}

fn supervisor(policy: Restart, cx: &Context) -> Option<Box<Supervisor>> {
    // Seeded per task so that siblings restarted together spread apart.
    let seed = cx.task.identity() ^ cx.manager.stats().tasks.total_count as u64;
    policy
        .restarts()
        .then(|| Box::new(Supervisor::new(policy, seed)))
}

impl fmt::Debug for TaskBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .finish()
    }
}

impl fmt::Debug for RestartingTaskBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestartingTaskBuilder")
            .field("task", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<F> fmt::Debug for ChildBuilder<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildBuilder")
            .field("daemon", &self.daemon)
            .finish()
    }
}

impl<F> fmt::Debug for RestartingChildBuilder<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestartingChildBuilder")
            .field("child", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}
