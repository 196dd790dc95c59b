//! [`ServiceHandle`]: the typed outside view of a service.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use crate::cause::CancelCause;
use crate::error::{LifecycleError, ServiceError};
use crate::manager::{Manager, Node, ServiceState, Task};
use crate::name::Name;
use crate::runner::{self, OneShot};
use crate::serve::Service;
use crate::spec::Spec;

/// A service together with its manager. Cheap to clone; derefs to [`Manager`] for the
/// flags, `cancel`, `stop` and the waits. Dropping handles never cancels the service.
pub struct ServiceHandle<S> {
    manager: Manager,
    service: Arc<S>,
}

impl<S: Service> ServiceHandle<S> {
    /// A manager for `service`, not started yet: [`run`](ServiceHandle::run) or
    /// [`start`](ServiceHandle::start) it later.
    pub fn new(service: S) -> ServiceHandle<S> {
        let state = ServiceState::new(
            Node::root(Name::from(service.name())),
            service.options(),
            None,
        );
        ServiceHandle::from_parts(Manager::from_state(state), Arc::new(service))
    }

    pub(crate) fn from_parts(manager: Manager, service: Arc<S>) -> ServiceHandle<S> {
        ServiceHandle { manager, service }
    }

    /// Runs the service to completion: starts it and waits until it is finished.
    ///
    /// Fails with `ServiceError::Lifecycle(AlreadyStarted)` if it was started before.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the service (as its parent's cancellation would: not a
    /// failure); the service still stops in order and reaches finished in the background.
    pub async fn run(&self) -> Result<(), ServiceError> {
        self.start()?;
        let guard = CancelOnDrop(Some(&self.manager));
        let outcome = self.manager.wait_finished().await;
        guard.disarm();
        outcome
    }

    /// Starts the service on the current tokio runtime and returns at once.
    ///
    /// Fails with `AlreadyStarted` if it was started (or cancelled) before, and with
    /// `NoRuntime` outside a tokio runtime.
    pub fn start(&self) -> Result<(), LifecycleError> {
        let service = Arc::clone(&self.service);
        self.manager.launch(move |manager, root| {
            let name = root.name().clone();
            runner::spawn(
                manager.clone(),
                Task::to_node(root),
                name,
                Spec::body(),
                OneShot(Some(move |cx| service.serve(cx))),
            );
        })
    }

    /// The service itself.
    pub fn service(&self) -> &Arc<S> {
        &self.service
    }

    /// The untyped manager.
    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// Calls into the running service from outside (the external-API guard).
    ///
    /// Fails at once with `NotRunning` unless the service is started and neither cancelled
    /// nor finished; if the service is cancelled (or finishes) while `f`'s future runs, that
    /// future is dropped and the call fails with `NotRunning`. An error inside `f` is the caller's:
    /// it is returned in `T`, and the service does not see it.
    ///
    /// # Cancel safety
    /// Dropping the future drops `f`'s future.
    pub async fn call<F, Fut, T>(&self, f: F) -> Result<T, LifecycleError>
    where
        F: FnOnce(Arc<S>) -> Fut,
        Fut: Future<Output = T>,
    {
        if !self.is_running() || self.is_cancelled() {
            return Err(LifecycleError::NotRunning);
        }
        let call = f(Arc::clone(&self.service));
        tokio::select! {
            biased;
            () = self.manager.state.cancel_event.wait() => Err(LifecycleError::NotRunning),
            () = self.manager.state.finished_event.wait() => Err(LifecycleError::NotRunning),
            value = call => Ok(value),
        }
    }
}

impl<S> Deref for ServiceHandle<S> {
    type Target = Manager;

    fn deref(&self) -> &Manager {
        &self.manager
    }
}

impl<S> Clone for ServiceHandle<S> {
    fn clone(&self) -> Self {
        ServiceHandle {
            manager: self.manager.clone(),
            service: Arc::clone(&self.service),
        }
    }
}

impl<S> fmt::Debug for ServiceHandle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ServiceHandle").field(&self.manager).finish()
    }
}

/// The handle of a contained task ([`TaskBuilder::contained`](crate::TaskBuilder::contained)):
/// how it ended. Cheap to clone; dropping it never cancels the task.
///
/// A contained task is a failure boundary: its failures (with the paths of the tasks inside
/// it that failed) are in [`TaskHandle::wait_finished`], not in its service's error.
#[derive(Clone)]
pub struct TaskHandle {
    /// The boundary: a service of its own whose body is the task.
    boundary: Manager,
}

impl TaskHandle {
    pub(crate) fn new(boundary: Manager) -> TaskHandle {
        TaskHandle { boundary }
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        self.boundary.name()
    }

    /// The task's path (`Host/listen/conn-17`).
    pub fn path(&self) -> &str {
        self.boundary.path()
    }

    /// Whether the task and everything it started are done.
    pub fn is_finished(&self) -> bool {
        self.boundary.is_finished()
    }

    /// Stops the task and everything it started, in order (not a failure); its service goes
    /// on. Never blocks; a no-op once finished.
    pub fn cancel(&self) {
        self.boundary.cancel();
    }

    /// Waits until the task and everything it started are done; its failures, if any (any
    /// number of waiters get them).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_finished(&self) -> Result<(), ServiceError> {
        self.boundary.wait_finished().await
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("path", &self.path())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Cancels a service when dropped unless disarmed: how dropping a `run` future stops it.
pub(crate) struct CancelOnDrop<'a>(pub(crate) Option<&'a Manager>);

impl CancelOnDrop<'_> {
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(manager) = self.0 {
            manager.cancel_with(CancelCause::Parent);
        }
    }
}
