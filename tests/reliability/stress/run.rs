//! Running a plan: the services and tasks that act it out.

use std::borrow::Cow;
use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use service_runtime::prelude::*;

use super::Mode;
use super::oracle::{Boundary, SvcState, TaskGuard, World};
use super::plan::{CancelEnd, End, Item, ServicePlan, Step, TaskPlan};

/// A task's future, boxed: tasks start tasks, so the type would otherwise be recursive.
type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// A grace of the plan, as the runtime gets it: milliseconds of virtual time (paused), or
/// ten microseconds per planned millisecond (multi-thread).
pub(super) fn grace(mode: Mode, ms: u64) -> Duration {
    match mode {
        Mode::Paused => Duration::from_millis(ms),
        Mode::MultiThread => Duration::from_micros(ms * 10),
    }
}

/// A service run from a [`ServicePlan`].
pub(super) struct StressService {
    world: Arc<World>,
    plan: Arc<ServicePlan>,
    state: Arc<SvcState>,
    /// The body's guard, until the body runs.
    body: Mutex<Option<TaskGuard>>,
    /// Started during its parent's cancellation: must never run.
    must_not_run: bool,
}

impl StressService {
    /// The service of `plan` for `state`; its body's guard (held until the body runs)
    /// counts as a descendant of `ancestors`.
    pub(super) fn new(
        world: &Arc<World>,
        plan: Arc<ServicePlan>,
        state: Arc<SvcState>,
        ancestors: Vec<Arc<AtomicUsize>>,
        must_not_run: bool,
    ) -> StressService {
        let path = state.path.as_str().into();
        let guard = TaskGuard::new(world, Arc::clone(&state), path, ancestors, true);
        StressService {
            world: Arc::clone(world),
            plan,
            state,
            body: Mutex::new(Some(guard)),
            must_not_run,
        }
    }
}

impl Service for StressService {
    fn serve(self: Arc<Self>, cx: Context) -> impl Future<Output = Result<(), BoxError>> + Send {
        if self.must_not_run {
            self.world.violation(format!(
                "child service `{}` ran although it was started during cancellation",
                self.state.path
            ));
        }
        if let Some(parent) = &self.state.parent {
            parent.started.fetch_add(1, SeqCst);
        }
        made(&self.world, &self.state, &cx);
        let guard = self.body.lock().unwrap().take();
        match guard {
            Some(guard) => task_future(
                Arc::clone(&self.world),
                Arc::clone(&self.plan.body),
                cx,
                guard,
            ),
            None => {
                self.world
                    .violation(format!("`{}` served twice", self.state.path));
                Box::pin(async { Ok(()) })
            }
        }
    }

    fn name(&self) -> Cow<'static, str> {
        self.plan.name.into()
    }

    fn options(&self) -> Options {
        let mut options = Options::default();
        options.grace = self.plan.grace_ms.map(|ms| grace(self.world.mode, ms));
        options
    }
}

/// The body of `state` (or its contained task) is being made with `cx`: keeps `cx` (whether
/// it is cancelled), and on the paused clock starts the watcher that notes when it is
/// cancelled (it runs in that same instant: virtual time only moves once every task is
/// idle), for the deadlines of its grace and for the exits of its daemon children.
fn made(world: &World, state: &Arc<SvcState>, cx: &Context) {
    let _ = state.cx.set(cx.clone());
    if world.mode == Mode::Paused {
        let (cx, state) = (cx.clone(), Arc::clone(state));
        tokio::spawn(async move {
            cx.cancelled().await;
            state.cancelled_now();
        });
    }
}

/// Waits `ms` milliseconds of virtual time (paused), or yields a few times (multi-thread).
pub(super) async fn pause(mode: Mode, ms: u64) {
    match mode {
        Mode::Paused => tokio::time::sleep(Duration::from_millis(ms)).await,
        Mode::MultiThread => {
            for _ in 0..=ms / 8 {
                tokio::task::yield_now().await;
            }
        }
    }
}

fn task_future(world: Arc<World>, plan: Arc<TaskPlan>, cx: Context, guard: TaskGuard) -> BoxFuture {
    guard.made();
    match world.mode {
        Mode::Paused => {
            let probe = Probe {
                world: Arc::clone(&world),
                service: Arc::clone(&guard.service),
                path: Arc::clone(&guard.path),
            };
            Box::pin(Probed {
                future: Box::pin(run_task(world, plan, cx, guard)),
                probe,
            })
        }
        Mode::MultiThread => Box::pin(run_task(world, plan, cx, guard)),
    }
}

/// What a [`Probed`] future checks at each poll.
struct Probe {
    world: Arc<World>,
    service: Arc<SvcState>,
    path: Arc<str>,
}

/// A task's future that checks, each time it is polled, that the runtime may poll it now
/// ([`SvcState::check_poll`]; [`Mode::Paused`] only, where nothing else runs meanwhile).
struct Probed {
    future: BoxFuture,
    probe: Probe,
}

impl Future for Probed {
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let probe = &self.probe;
        probe.service.check_poll(&probe.world, &probe.path);
        self.future.as_mut().poll(cx)
    }
}

async fn run_task(
    world: Arc<World>,
    plan: Arc<TaskPlan>,
    cx: Context,
    guard: TaskGuard,
) -> Result<(), BoxError> {
    let daemon = plan.daemon;
    guard.ran();
    if cx.path() != &*guard.path {
        world.violation(format!(
            "task path is `{}`, expected `{}`",
            cx.path(),
            guard.path
        ));
    }
    let through = if plan.reacts {
        tokio::select! {
            biased;
            () = cx.cancelled() => false,
            () = steps(&world, &plan, &cx, &guard) => true,
        }
    } else {
        steps(&world, &plan, &cx, &guard).await;
        true
    };
    if through {
        match plan.end {
            End::Return => return guard.ok(&cx, daemon),
            End::Fail => return guard.fail(),
            End::Panic => guard.panic(),
            End::Hang => pending::<()>().await,
            End::AwaitCancel => cx.cancelled().await,
            End::CancelService => {
                // Inside a contained task, `cx.cancel()` cancels the service it is part of.
                world.cancel_requested(guard.service.enclosing().id, false);
                cx.cancel();
                return guard.ok(&cx, daemon);
            }
        }
    }
    let on_cancel = &plan.on_cancel;
    if let Some(ms) = on_cancel.wait_ms {
        pause(world.mode, ms).await;
    }
    for item in &on_cancel.spawns {
        spawn_item(&world, &cx, item, &guard);
    }
    match on_cancel.end {
        CancelEnd::Return => guard.ok(&cx, daemon),
        CancelEnd::Fail => guard.fail(),
        CancelEnd::Panic => guard.panic(),
        CancelEnd::Hang => pending().await,
        CancelEnd::PanicInDrop => {
            let _bomb = Bomb(guard);
            pending().await
        }
    }
}

async fn steps(world: &Arc<World>, plan: &TaskPlan, cx: &Context, guard: &TaskGuard) {
    for step in &plan.steps {
        match step {
            Step::Wait(ms) => pause(world.mode, *ms).await,
            Step::Spawn(item) => spawn_item(world, cx, item, guard),
        }
    }
}

/// Starts `item` as a child of the task `cx` belongs to (whose guard is `parent`).
fn spawn_item(world: &Arc<World>, cx: &Context, item: &Item, parent: &TaskGuard) {
    // Cancellation is never undone: if it is already set, the runtime sees it too.
    let must_not_run = cx.is_cancelled();
    if must_not_run {
        world.late_spawns.fetch_add(1, SeqCst);
    }
    let path = format!("{}/{}", parent.path, item.name());
    match item {
        Item::Task(plan) => {
            // A contained task's failures stay in its boundary: a service of its own, with
            // the task as its body (same path), and its service's grace.
            let service = match plan.contained {
                false => Arc::clone(&parent.service),
                true => SvcState::new(
                    world,
                    path.clone(),
                    false,
                    Boundary::Task,
                    parent.service.grace,
                    Some(Arc::clone(&parent.service)),
                ),
            };
            let guard = TaskGuard::new(
                world,
                Arc::clone(&service),
                path.into(),
                parent.for_child(),
                false,
            );
            let (task_world, task_plan) = (Arc::clone(world), Arc::clone(plan));
            let counted_in = Arc::clone(&parent.service);
            let daemon = plan.daemon;
            let make = move |cx: Context| -> BoxFuture {
                if must_not_run {
                    task_world.violation(format!(
                        "`{}` ran although it was started during cancellation",
                        guard.path
                    ));
                }
                counted_in.started.fetch_add(1, SeqCst);
                task_world.tasks.fetch_add(1, SeqCst);
                if task_plan.contained {
                    made(&task_world, &guard.service, &cx);
                }
                if task_plan.maker_panics {
                    guard.panic();
                }
                task_future(task_world, task_plan, cx, guard)
            };
            let builder = cx.task(plan.name);
            let started = match (plan.contained, daemon) {
                (false, false) => builder.spawn(make),
                (false, true) => builder.daemon().spawn(make),
                (true, daemon) => {
                    let builder = builder.contained();
                    let builder = if daemon { builder.daemon() } else { builder };
                    builder.spawn(make).map(|handle| {
                        if handle.path() != service.path || handle.name() != plan.name {
                            world.violation(format!(
                                "contained task `{}` has the handle of `{}` named `{}`",
                                service.path,
                                handle.path(),
                                handle.name()
                            ));
                        }
                        if must_not_run && !handle.is_finished() {
                            world.violation(format!(
                                "contained task `{}` started during cancellation is not \
                                 finished",
                                service.path
                            ));
                        }
                        world
                            .contained_tasks
                            .lock()
                            .unwrap()
                            .push((service, handle));
                    })
                }
            };
            if let Err(e) = started {
                world.violation(format!("starting a task under `{}`: {e}", parent.path));
            }
        }
        Item::Service {
            daemon,
            contained,
            plan,
        } => {
            let grace = match plan.grace_ms {
                Some(ms) => grace(world.mode, ms),
                None => parent.service.grace,
            };
            let boundary = match contained {
                false => Boundary::None,
                true => Boundary::Service,
            };
            let state = SvcState::new(
                world,
                path,
                *daemon,
                boundary,
                grace,
                Some(Arc::clone(&parent.service)),
            );
            let service = StressService::new(
                world,
                Arc::clone(plan),
                Arc::clone(&state),
                parent.for_child(),
                must_not_run,
            );
            let builder = cx.child(|| service);
            let started = match (contained, daemon) {
                (false, false) => builder.spawn(),
                (false, true) => builder.daemon().spawn(),
                (true, false) => builder.contained().spawn(),
                (true, true) => builder.contained().daemon().spawn(),
            };
            match started {
                Ok(handle) => {
                    if handle.is_finished() {
                        // Never started: its body will not take its guard.
                        let guard = handle.service().body.lock().unwrap().take();
                        drop(guard);
                    } else if must_not_run {
                        world.violation(format!(
                            "child service `{}` started during cancellation is not finished",
                            state.path
                        ));
                    }
                    if !must_not_run {
                        world
                            .services
                            .lock()
                            .unwrap()
                            .push((state, handle.manager().clone()));
                    }
                }
                Err(e) => world.violation(format!("starting a child under `{}`: {e}", parent.path)),
            }
        }
    }
}

impl Item {
    fn name(&self) -> &'static str {
        match self {
            Item::Task(plan) => plan.name,
            Item::Service { plan, .. } => plan.name,
        }
    }
}

/// Panics when dropped: held by a task that hangs until it is aborted.
struct Bomb(TaskGuard);

impl Drop for Bomb {
    fn drop(&mut self) {
        let message = self.0.inject(FailureKind::Panic, false);
        panic!("{message}");
    }
}
