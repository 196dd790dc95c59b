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
use crate::tree::NodeRef;

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
        ServiceHandle::from_parts(Manager::from_state(Arc::new(state)), Arc::new(service))
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
        self.launch(false)
    }

    /// [`ServiceHandle::start`]; `checked`: the caller checked the runtime and the name
    /// ([`Manager::launch`]).
    pub(crate) fn launch(&self, checked: bool) -> Result<(), LifecycleError> {
        let service = Arc::clone(&self.service);
        let body = move |manager: &Manager, root: NodeRef<ServiceState>| {
            let name = root.name().clone();
            runner::spawn(
                manager.clone(),
                Task::to_node(root),
                name,
                Spec::body(),
                OneShot(move |cx| service.serve(cx)),
            );
        };
        self.manager.launch(body, checked)
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

/// The handle of a restarting child service
/// ([`RestartingChildBuilder::spawn`](crate::RestartingChildBuilder::spawn)): it follows the
/// instance running now across restarts. Cheap to clone; dropping it never cancels anything.
///
/// The child is supervised by a task of the same name and path, which starts each instance
/// (the first, then a fresh one from the factory for each restart) and waits for it. This
/// handle is that task's: [`RestartingHandle::current`] is the instance it runs now, and
/// [`RestartingHandle::wait_finished`] waits for the supervising task itself.
///
/// ```
/// # use std::sync::Arc;
/// # use service_runtime::prelude::*;
/// # struct Cache;
/// # impl Service for Cache {
/// #     async fn serve(self: Arc<Self>, _cx: Context) -> Result<(), BoxError> { Ok(()) }
/// # }
/// # struct S;
/// # impl Service for S {
/// async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
///     let cache = cx.child(|| Cache).restart(Restart::on_failure()).spawn()?;
///     // The instance running now (after a crash, the fresh one).
///     if let Some(instance) = cache.wait_instance().await {
///         let _ = instance.service();
///     }
///     let _restarts = cache.restarts();
///     Ok(())
/// }
/// # }
/// ```
pub struct RestartingHandle<C> {
    shared: Arc<Supervision<C>>,
    supervisor: Supervisor,
}

/// Where a restarting child's supervising task runs, and so how its end is known.
#[derive(Clone)]
enum Supervisor {
    /// A task of its service (its failures are the service's): it has ended when its
    /// maker is dropped ([`Supervision::gone`]), or at the latest when the service it is
    /// part of has finished.
    Task {
        name: Name,
        path: Arc<str>,
        service: Manager,
    },
    /// A contained task: its boundary has its end and its failures.
    Contained(TaskHandle),
}

/// What a supervising task shares with the handles of its child.
pub(crate) struct Supervision<C> {
    /// The instance started last, how many were started, and whether the handle stopped
    /// the child; one lock orders a new instance against a `cancel` (see
    /// [`Supervision::started`]).
    state: tokio::sync::watch::Sender<Instances<C>>,
    /// Set when the supervising task's maker is dropped: no instance is started any more.
    gone: crate::event::Event,
}

struct Instances<C> {
    latest: Option<ServiceHandle<C>>,
    started: usize,
    stopped: bool,
}

impl<C> Supervision<C> {
    pub(crate) fn new() -> Arc<Supervision<C>> {
        Arc::new(Supervision {
            state: tokio::sync::watch::Sender::new(Instances {
                latest: None,
                started: 0,
                stopped: false,
            }),
            gone: crate::event::Event::default(),
        })
    }

    /// Whether the handle stopped the child: no further instance is to be started.
    pub(crate) fn is_stopped(&self) -> bool {
        self.state.borrow().stopped
    }

    /// Notes that `instance` was started; cancels it at once if the child was stopped in
    /// the meantime (the stop and this note take the same lock: whichever comes second sees
    /// the other).
    pub(crate) fn started(&self, instance: &ServiceHandle<C>) {
        let mut stopped = false;
        self.state.send_modify(|state| {
            state.latest = Some(instance.clone());
            state.started += 1;
            stopped = state.stopped;
        });
        if stopped {
            instance.cancel();
        }
    }

    /// The supervising task will start no more instances (its maker is dropped).
    pub(crate) fn end(&self) {
        self.gone.set();
        // Wakes the waiters of `wait_instance`.
        self.state.send_modify(|_| {});
    }
}

impl<C> RestartingHandle<C> {
    /// The handle of a child supervised by a task of `service` named `name` at `path`.
    pub(crate) fn escalated(
        shared: Arc<Supervision<C>>,
        name: Name,
        path: Arc<str>,
        service: Manager,
    ) -> RestartingHandle<C> {
        RestartingHandle {
            shared,
            supervisor: Supervisor::Task {
                name,
                path,
                service,
            },
        }
    }

    /// The handle of a child supervised by the contained task `boundary`.
    pub(crate) fn contained(shared: Arc<Supervision<C>>, boundary: TaskHandle) -> Self {
        RestartingHandle {
            shared,
            supervisor: Supervisor::Contained(boundary),
        }
    }

    /// The child's name (its supervising task's).
    pub fn name(&self) -> &str {
        match &self.supervisor {
            Supervisor::Task { name, .. } => name,
            Supervisor::Contained(boundary) => boundary.name(),
        }
    }

    /// The child's path, which each instance shares with its supervising task
    /// (`Host/Cache`).
    pub fn path(&self) -> &str {
        match &self.supervisor {
            Supervisor::Task { path, .. } => path,
            Supervisor::Contained(boundary) => boundary.path(),
        }
    }

    /// The instance running now: the one started last, unless it has finished (between a
    /// crash and its restart, or once the child is done). `None` too before the first
    /// instance started: the supervising task starts it when it first runs, just after
    /// `spawn` returns ([`RestartingHandle::wait_instance`] waits for it).
    pub fn current(&self) -> Option<ServiceHandle<C>> {
        self.shared
            .state
            .borrow()
            .latest
            .as_ref()
            .filter(|instance| !instance.is_finished())
            .cloned()
    }

    /// Waits until an instance runs and returns it (at once if one does now); `None` once
    /// the child is finished and no instance will run any more.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_instance(&self) -> Option<ServiceHandle<C>> {
        let mut changes = self.shared.state.subscribe();
        loop {
            if let Some(instance) = self.current() {
                return Some(instance);
            }
            if self.is_finished() {
                return None;
            }
            // Marked seen before the check above was made is fine: a change after the
            // subscription wakes this wait.
            changes.borrow_and_update();
            if let Some(instance) = self.current() {
                return Some(instance);
            }
            tokio::select! {
                // The sender lives as long as this handle's `shared`: never closed here.
                _ = changes.changed() => {}
                () = self.wait_ended() => {}
            }
        }
    }

    /// How many times the child was restarted: the instances started after the first.
    pub fn restarts(&self) -> usize {
        self.shared.state.borrow().started.saturating_sub(1)
    }

    /// Whether the supervising task and its last instance are done: no instance runs, and
    /// none will.
    pub fn is_finished(&self) -> bool {
        match &self.supervisor {
            Supervisor::Task { service, .. } => {
                self.shared.gone.is_set() && self.last_finished() || service.is_finished()
            }
            Supervisor::Contained(boundary) => boundary.is_finished(),
        }
    }

    /// Whether the instance started last (if any) is finished.
    fn last_finished(&self) -> bool {
        self.shared
            .state
            .borrow()
            .latest
            .as_ref()
            .is_none_or(|instance| instance.is_finished())
    }

    /// Stops the child: cancels the instance running now (not a failure) and starts no
    /// more. Never blocks; a no-op once finished.
    ///
    /// Contained, the supervising task is cancelled with it. Otherwise that task sees its
    /// instance end cleanly: with a policy that restarts clean ends (`Restart::always`, or a
    /// daemon child), that end counts against the policy's restarts like any other, and the
    /// task then ends without starting an instance.
    pub fn cancel(&self) {
        let mut latest = None;
        self.shared.state.send_if_modified(|state| {
            state.stopped = true;
            latest = state.latest.clone();
            false
        });
        if let Some(instance) = latest {
            instance.cancel();
        }
        if let Supervisor::Contained(boundary) = &self.supervisor {
            boundary.cancel();
        }
    }

    /// Resolves when no instance runs any more and none will.
    async fn wait_ended(&self) {
        match &self.supervisor {
            Supervisor::Task { service, .. } => {
                tokio::select! {
                    () = self.shared.gone.wait() => {}
                    () = service.state.finished_event.wait() => return,
                }
                let latest = self.shared.state.borrow().latest.clone();
                if let Some(instance) = latest {
                    let _ = instance.wait_finished().await;
                }
            }
            Supervisor::Contained(boundary) => {
                let _ = boundary.wait_finished().await;
            }
        }
    }

    /// Waits until the supervising task and its last instance are done, and returns how it
    /// ended.
    ///
    /// Contained, that is the supervising task's outcome: the failures of the instance that
    /// made its policy give up (with the restarts noted), as
    /// [`TaskHandle::wait_finished`] has them. Otherwise those failures are its service's
    /// (its `wait_finished` has them, with the restarts noted); this returns the last
    /// instance's outcome, and `Ok(())` if none ran.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_finished(&self) -> Result<(), ServiceError> {
        match &self.supervisor {
            Supervisor::Task { .. } => {
                self.wait_ended().await;
                let latest = self.shared.state.borrow().latest.clone();
                match latest {
                    Some(instance) => instance.wait_finished().await,
                    None => Ok(()),
                }
            }
            Supervisor::Contained(boundary) => boundary.wait_finished().await,
        }
    }

    /// The task counters of the instance running now ([`Manager::stats`]); `None` when
    /// none runs.
    pub fn stats(&self) -> Option<crate::stats::Stats> {
        self.current().map(|instance| instance.stats())
    }
}

impl<C> Clone for RestartingHandle<C> {
    fn clone(&self) -> Self {
        RestartingHandle {
            shared: Arc::clone(&self.shared),
            supervisor: self.supervisor.clone(),
        }
    }
}

impl<C> fmt::Debug for RestartingHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestartingHandle")
            .field("path", &self.path())
            .field("restarts", &self.restarts())
            .field("running", &self.current().is_some())
            .field("finished", &self.is_finished())
            .finish()
    }
}
