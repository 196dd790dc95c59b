//! Running a plan: the services and tasks that act it out.

use std::borrow::Cow;
use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use service_runtime::prelude::*;

use super::Mode;
use super::oracle::{SvcState, TaskGuard, World};
use super::plan::{CancelEnd, End, Item, ServicePlan, Step, TaskPlan};

/// A task's future, boxed: tasks start tasks, so the type would otherwise be recursive.
type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

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
        let guard = TaskGuard::new(world, Arc::clone(&state), state.path.clone(), ancestors);
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
        if let Some((_, parent)) = &self.state.parent {
            parent.started.fetch_add(1, SeqCst);
        }
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
        options.grace = Some(match self.world.mode {
            Mode::Paused => Duration::from_millis(self.plan.grace_ms),
            Mode::MultiThread => Duration::from_micros(self.plan.grace_ms * 10),
        });
        options
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
    Box::pin(run_task(world, plan, cx, guard))
}

async fn run_task(
    world: Arc<World>,
    plan: Arc<TaskPlan>,
    cx: Context,
    guard: TaskGuard,
) -> Result<(), BoxError> {
    let daemon = plan.daemon;
    guard.ran();
    if cx.path() != guard.path {
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
                world.cancel_requested(guard.service.id, false);
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
    match item {
        Item::Task(plan) => {
            let path = format!("{}/{}", parent.path, plan.name);
            let guard =
                TaskGuard::new(world, Arc::clone(&parent.service), path, parent.for_child());
            let (task_world, task_plan) = (Arc::clone(world), Arc::clone(plan));
            let daemon = plan.daemon;
            let make = move |cx: Context| -> BoxFuture {
                if must_not_run {
                    task_world.violation(format!(
                        "`{}` ran although it was started during cancellation",
                        guard.path
                    ));
                }
                guard.service.started.fetch_add(1, SeqCst);
                if task_plan.maker_panics {
                    guard.panic();
                }
                task_future(task_world, task_plan, cx, guard)
            };
            let started = if daemon {
                cx.run_daemon_task(plan.name, make)
            } else {
                cx.run_task(plan.name, make)
            };
            if let Err(e) = started {
                world.violation(format!("starting a task under `{}`: {e}", parent.path));
            }
        }
        Item::Service { daemon, plan } => {
            let state = SvcState::new(
                world,
                format!("{}/{}", parent.path, plan.name),
                *daemon,
                Some((cx.manager().clone(), Arc::clone(&parent.service))),
            );
            let service = StressService::new(
                world,
                Arc::clone(plan),
                Arc::clone(&state),
                parent.for_child(),
                must_not_run,
            );
            let started = if *daemon {
                cx.run_daemon_child_service(service)
            } else {
                cx.run_child_service(service)
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

/// Panics when dropped: held by a task that hangs until it is aborted.
struct Bomb(TaskGuard);

impl Drop for Bomb {
    fn drop(&mut self) {
        let message = self.0.inject(FailureKind::Panic, false);
        panic!("{message}");
    }
}
