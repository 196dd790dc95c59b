//! [`Context`]: a task's view of its service, and the way to start more work.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use crate::builder::{ChildBuilder, Owner, TaskBuilder};
use crate::cause::CancelCause;
use crate::error::LifecycleError;
use crate::handle::{ServiceHandle, TaskHandle};
use crate::manager::{self, ChildKind, Manager, Node, ParentLink, ServiceState, Task};
use crate::name::Name;
use crate::output::IntoTaskResult;
use crate::runner::{self, Maker, OneShot};
use crate::serve::Service;
use crate::spec::{Role, Spec};
use crate::tree::{NodeRef, Parent, attach_service, attach_task};

/// The inside view of a service, one per task (and one for the body).
///
/// Work started through a `Context` becomes a child of the task that owns it: it is
/// cancelled with the service, and the task is not done — and not aborted — before it is.
/// A clone refers to the same task.
#[derive(Clone)]
pub struct Context {
    pub(crate) manager: Manager,
    pub(crate) task: Task,
    name: Name,
    /// The task's node once this `Context` needed it, when `task` is to a leaf (see the
    /// `tree` module): starting a child makes the task a node.
    node: OnceLock<Arc<Node>>,
}

impl Context {
    pub(crate) fn new(manager: Manager, task: Task, name: Name) -> Context {
        Context {
            manager,
            task,
            name,
            node: OnceLock::new(),
        }
    }

    /// A `Context` of the body of `manager`'s service, for work started from outside
    /// ([`Manager::task`]): the work it starts hangs under the body's node, the root.
    pub(crate) fn of_body(manager: &Manager) -> Context {
        let name = manager.state.root.name().clone();
        let root = NodeRef::Root(Arc::clone(&manager.state));
        Context::new(manager.clone(), Task::to_node(root), name)
    }

    /// The task's node (a leaf becomes one).
    fn node(&self) -> Parent<'_, ServiceState> {
        self.task.node(&self.name, &self.node)
    }

    /// Starts a child task named `name` running `f(cx)`, where `cx` is the new task's own
    /// `Context`. The task may return `()` or `Result<(), E>` with `E: Into<BoxError>`.
    ///
    /// Returns `Ok(())` without starting anything while the service is being cancelled;
    /// `Err(NotRunning)` once it is finished; `Err(TooManyChildren)` when this task already
    /// has [`Options::max_children`](crate::Options::max_children) live children;
    /// `Err(NoRuntime)` when called outside a tokio runtime (from a plain thread).
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
        // Straight to `spawn_task`, as `self.task(name).spawn(f)` would go: the shortest
        // path for the most common start.
        self.spawn_task(name.into(), Spec::task(), OneShot(f))
    }

    /// Starts a child daemon task: like [`Context::run_task`], but the task must run as
    /// long as the service. If it returns on its own (even `Ok`) while the service is not
    /// cancelled, that is a [`FailureKind::DaemonExit`](crate::FailureKind::DaemonExit)
    /// failure and the service is cancelled.
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
        let spec = Spec {
            role: Role::Daemon,
            ..Spec::task()
        };
        self.spawn_task(name.into(), spec, OneShot(f))
    }

    /// Starts `service` as a child service of this task, under its own manager, and returns
    /// its handle at once. The child is cancelled with this service; its failures are
    /// failures of this service too (with paths such as `Node/Store/flush`).
    ///
    /// While this service is being cancelled the child is not started: the handle returned
    /// is already finished (its waiters resolve at once).
    pub fn run_child_service<C: Service>(
        &self,
        service: C,
    ) -> Result<ServiceHandle<C>, LifecycleError> {
        self.child(|| service).spawn()
    }

    /// Starts a daemon child service: like [`Context::run_child_service`], but if the
    /// child finishes while this service is not cancelled, that is a
    /// [`FailureKind::DaemonExit`](crate::FailureKind::DaemonExit) failure.
    pub fn run_daemon_child_service<C: Service>(
        &self,
        service: C,
    ) -> Result<ServiceHandle<C>, LifecycleError> {
        self.child(|| service).daemon().spawn()
    }

    /// A builder for a child task named `name`: [`TaskBuilder::daemon`],
    /// [`TaskBuilder::restart`], then `spawn`. `run_task` and `run_daemon_task` are
    /// shorthands for it.
    pub fn task(&self, name: impl Into<Cow<'static, str>>) -> TaskBuilder<'_> {
        TaskBuilder::new(Owner::Borrowed(self), name.into())
    }

    /// A builder for a child service made by `factory`: [`ChildBuilder::daemon`],
    /// [`ChildBuilder::restart`] (then `factory` is called for each restart), then `spawn`.
    /// `run_child_service` and `run_daemon_child_service` are shorthands for it.
    // No bound on `F` here: the closure's kind (`FnOnce` or `Fn`) is then inferred from its
    // body, so the same closure works with and without a restart policy.
    pub fn child<F>(&self, factory: F) -> ChildBuilder<'_, F> {
        ChildBuilder::new(Owner::Borrowed(self), factory)
    }

    /// Resolves when this task is asked to stop: when its service is cancelled (by
    /// [`Manager::cancel`], by a failure, or by its parent service).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn cancelled(&self) {
        self.manager.state.cancel_event.wait().await;
    }

    /// [`Context::cancelled`] as a future that owns what it needs: `Send + 'static`, for APIs
    /// that take a shutdown signal and keep it, such as axum's `with_graceful_shutdown`,
    /// tonic's `serve_with_shutdown` or hyper-util's graceful shutdown. It resolves when
    /// this task is asked to stop (inside a contained task too, as `cancelled` does).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use service_runtime::prelude::*;
    /// # struct Api;
    /// # impl Service for Api {
    /// async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
    ///     let shutdown = cx.cancelled_owned();
    ///     // A server would keep `shutdown`: `axum::serve(listener, app)
    ///     //     .with_graceful_shutdown(cx.cancelled_owned())`.
    ///     let server = tokio::spawn(shutdown);
    ///     cx.cancel();
    ///     server.await?;
    ///     Ok(())
    /// }
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub fn cancelled_owned(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        let state = Arc::clone(&self.manager.state);
        async move { state.cancel_event.wait().await }
    }

    /// Runs `fut` until this task is asked to stop: `Some` with its output if it completes
    /// first, `None` (and `fut` dropped) once the task is asked to stop.
    ///
    /// As tokio-util's `CancellationToken::run_until_cancelled`: if the task is asked to
    /// stop already, `fut` is never polled; after that, when both are ready at one poll,
    /// `fut`'s output wins (it is polled first).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use service_runtime::prelude::*;
    /// # struct Poller;
    /// # impl Service for Poller {
    /// async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
    ///     let tick = tokio::time::sleep(std::time::Duration::from_secs(1));
    ///     match cx.run_until_cancelled(tick).await {
    ///         Some(()) => { /* a second passed */ }
    ///         None => { /* asked to stop first */ }
    ///     }
    ///     Ok(())
    /// }
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// Cancel safe if `fut` is.
    pub async fn run_until_cancelled<F: Future>(&self, fut: F) -> Option<F::Output> {
        if self.manager.state.is_cancelled() {
            return None;
        }
        tokio::select! {
            biased;
            output = fut => Some(output),
            () = self.cancelled() => None,
        }
    }

    /// A tokio-util [`CancellationToken`](tokio_util::sync::CancellationToken) cancelled
    /// when this task is asked to stop (as [`Context::cancelled`]; already cancelled if it
    /// is). For code that takes a token: `TaskTracker`s, libraries, `select!` loops.
    ///
    /// Each call returns a token of its own: cancelling it cancels nothing of this
    /// service, nor any other token. A service pays nothing for this until a task asks.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use service_runtime::prelude::*;
    /// # struct Worker;
    /// # impl Service for Worker {
    /// async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
    ///     // A library that stops when its token is cancelled.
    ///     let token = cx.cancellation_token();
    ///     let library = tokio::spawn(async move { token.cancelled().await });
    ///     cx.cancel();
    ///     library.await?;
    ///     Ok(())
    /// }
    /// # }
    /// ```
    pub fn cancellation_token(&self) -> tokio_util::sync::CancellationToken {
        self.manager.state.cancellation_token()
    }

    /// Marks the service ready ([`Manager::is_ready`]). With
    /// [`Options::manual_ready`](crate::Options::manual_ready), call it once the start-up
    /// work that readiness is to include is done (a listener bound, a cache loaded): that
    /// is what the service's waiters then wait for. Without `manual_ready` the service is
    /// ready anyway when its body returns (its tasks started, not finished), so this only
    /// makes it ready earlier. Idempotent; ignored once the service is cancelled.
    pub fn ready(&self) {
        self.manager().state.mark_ready();
    }

    /// Whether this task is asked to stop: its service is cancelled (or, inside a contained
    /// task, that task's work is being stopped).
    pub fn is_cancelled(&self) -> bool {
        self.manager.state.is_cancelled()
    }

    /// Cancels the whole service (not a failure).
    pub fn cancel(&self) {
        self.manager().cancel();
    }

    /// This service's manager (inside a contained task too: the service it is part of).
    pub fn manager(&self) -> &Manager {
        self.manager.state.enclosing().unwrap_or(&self.manager)
    }

    /// The manager of the outermost service of this tree (this service's, at the top):
    /// any task, at any depth, can stop the whole program with `cx.root().cancel()`, while
    /// [`Context::cancel`] cancels only its own service.
    pub fn root(&self) -> &Manager {
        self.manager.state.outermost().unwrap_or(&self.manager)
    }

    /// This task's name (for the body, the service's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This task's path: the `/`-joined names from the root service down
    /// (`Node/gossip/handle`). The body's path is the service's path.
    ///
    /// Built on the first call and kept (a task that has started nothing has no stored path
    /// until then: the first call costs one allocation).
    pub fn path(&self) -> &str {
        self.node().node().path()
    }

    /// The path a child named `name` of this task has.
    pub(crate) fn child_path(&self, name: &str) -> Arc<str> {
        crate::name::join(&self.task.path(&self.name), name)
    }

    /// Fails as starting anything from here fails at once: `NoRuntime` outside a tokio
    /// runtime, `NotRunning` once the service is finished.
    pub(crate) fn check_open(&self) -> Result<(), LifecycleError> {
        if !manager::in_runtime() {
            // A `Context` carried out of the runtime (to a plain thread, say).
            return Err(LifecycleError::NoRuntime);
        }
        if self.manager.is_finished() {
            return Err(LifecycleError::NotRunning);
        }
        Ok(())
    }

    /// Whether work named `name` may start now: `Ok(true)` to start it, `Ok(false)` while
    /// the service is being cancelled (report success, start nothing).
    fn admit(&self, name: &str) -> Result<bool, LifecycleError> {
        if !manager::in_runtime() {
            // A `Context` carried out of the runtime (to a plain thread, say).
            return Err(LifecycleError::NoRuntime);
        }
        if self.manager.state.is_cancelled() {
            // Checked again by the task itself: work that slips past this check while the
            // service is being cancelled is started and aborted at once, never lost.
            return if self.manager.is_finished() {
                Err(LifecycleError::NotRunning)
            } else {
                Ok(false)
            };
        }
        manager::check_name(name)?;
        Ok(true)
    }

    /// Starts a task named `name` whose futures `make` makes, run as `spec` says.
    pub(crate) fn spawn_task<M, Fut>(
        &self,
        name: Cow<'static, str>,
        spec: Spec,
        make: M,
    ) -> Result<(), LifecycleError>
    where
        M: Maker<Fut> + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        if !self.admit(&name)? {
            return Ok(());
        }
        let state = &self.manager.state;
        let name = Name::from(name);
        let daemon = spec.role == Role::Daemon;
        let limit = state.options.max_children;
        let task = attach_task(self.node(), &name, limit, daemon, state.since_start())?;
        state.count_started_task();
        runner::spawn(self.manager.clone(), task, name, spec, make);
        Ok(())
    }

    /// Starts a contained task: the body of a boundary (a service of its own in this tree,
    /// which this service counts as one task) whose failures stay in it.
    pub(crate) fn spawn_contained<M, Fut>(
        &self,
        name: Cow<'static, str>,
        spec: Spec,
        make: M,
    ) -> Result<TaskHandle, LifecycleError>
    where
        M: Maker<Fut> + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        let parent = &self.manager.state;
        if !self.admit(&name)? {
            // Nothing starts; the handle is finished already.
            let path = crate::name::join(&self.task.path(&self.name), &name);
            let root = Node::detached(Name::from(name), path);
            let boundary = Manager::from_state(Arc::new(ServiceState::boundary(root, parent)));
            boundary.cancel_with(CancelCause::Parent);
            return Ok(TaskHandle::new(boundary));
        }
        let name = Name::from(name);
        let boundary = attach_service(
            self.node(),
            name.clone(),
            parent.options.max_children,
            None,
            parent.since_start(),
            |root| ServiceState::boundary(root, parent),
        )?;
        parent.count_started_task();
        let manager = Manager::from_state(boundary);
        // Runtime and name checked by `admit`.
        manager.launch(
            |manager, root| runner::spawn(manager.clone(), Task::to_node(root), name, spec, make),
            true,
        )?;
        if parent.is_cancelled() {
            // The parent's cancellation walk may have passed the node before it knew the
            // boundary (tree module docs, "Wake-ups").
            manager.cancel_with(CancelCause::Parent);
        }
        Ok(TaskHandle::new(manager))
    }

    /// Starts the service `make` makes as a child of this task, tied to it as `kind` says
    /// (`make` is not called when that fails at once). A supervised child is the one child
    /// of a supervising task (restart policy): it takes that task's path, and its failures
    /// go to the supervisor instead of straight to the ancestors.
    pub(crate) fn spawn_child<C: Service>(
        &self,
        make: impl FnOnce() -> C,
        kind: ChildKind,
    ) -> Result<ServiceHandle<C>, LifecycleError> {
        let supervised = kind == ChildKind::Supervised;
        self.check_open()?;
        let parent = &self.manager.state;
        if parent.is_cancelled() {
            let handle = ServiceHandle::new(make());
            handle.manager().cancel_with(CancelCause::Parent);
            return Ok(handle);
        }
        let service = make();
        let name = service.name();
        manager::check_name(&name)?;
        let path = supervised.then(|| self.task.path(&self.name));
        let options = service.options();
        // The child's root node hangs in this tree: this task is not done before the child is.
        let state = attach_service(
            self.node(),
            name.into(),
            parent.options.max_children,
            path,
            parent.since_start(),
            |root| {
                let link = ParentLink {
                    parent: Arc::clone(parent),
                    kind,
                };
                ServiceState::new(root, options, Some(link))
            },
        )?;
        if !supervised {
            parent.count_started_task();
        }
        let handle = ServiceHandle::from_parts(Manager::from_state(state), Arc::new(service));
        // Cannot fail: the manager is new, and the runtime and the name are checked above.
        let _ = handle.launch(true);
        if parent.is_cancelled() {
            // The parent's cancellation walk may have passed the node before it knew the
            // child (tree module docs, "Wake-ups").
            handle.manager().cancel_with(CancelCause::Parent);
        }
        Ok(handle)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// The task's path, written as it is formatted: asking `Context::path` would make a
        /// leaf task a node (and store its path), which a `Debug` must not do.
        struct Path<'a>(&'a Context);

        impl fmt::Debug for Path<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"")?;
                match self.0.node.get() {
                    Some(node) => f.write_str(node.path())?,
                    None => self.0.task.write_path(&self.0.name, f)?,
                }
                f.write_str("\"")
            }
        }

        f.debug_struct("Context")
            .field("path", &Path(self))
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;

    use crate::{BoxError, Context, Service, ServiceExt};

    struct Probe(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<(String, bool)>>>);

    impl Service for Probe {
        async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
            let report = self.0.lock().unwrap().take().unwrap();
            cx.run_task("leaf", move |cx| async move {
                let shown = format!("{cx:?}");
                let still_a_leaf = cx.node.get().is_none() && cx.task.as_node().is_none();
                let _ = report.send((shown, still_a_leaf));
            })?;
            Ok(())
        }
    }

    /// Formatting a leaf task's `Context` shows its path but leaves the task a leaf (no
    /// node made, nothing stored in the tree).
    #[tokio::test]
    async fn debug_shows_the_path_without_making_a_node() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        Probe(std::sync::Mutex::new(Some(tx))).run().await.unwrap();
        let (shown, still_a_leaf) = rx.await.unwrap();
        assert!(shown.contains("path: \"Probe/leaf\""), "{shown}");
        assert!(still_a_leaf, "formatting made the task a node");
    }
}
