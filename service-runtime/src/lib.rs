//! Lifecycle management for async Rust on tokio: a program is a tree of **services**; each
//! runs **tasks**, **daemon tasks** and **child services** under a **manager** that
//! guarantees
//!
//! - **nothing outlives its service**: when a service is finished, every task and child
//!   service it started is done — after errors, panics and cancellation too;
//! - **every failure is reported**: errors, panics and daemons that quit are collected in
//!   the order they happened, each with the path of the task that failed
//!   (`Node/gossip/handle`), and returned from the service's run;
//! - **cancellation is orderly**: every task is told at once, gets the service's grace
//!   period, and is aborted only after all its children are done — children stop before
//!   parents, siblings stop concurrently.
//!
//! A port of Python's `async-service` (the library py-libp2p runs its services on).
//!
//! # The DSL
//!
//! Annotate a struct and one inherent `impl` of it with [`service`]; mark the methods that
//! are the service's work with [`task`], [`daemon`] and [`child`]. Work starts in
//! declaration order when the service runs; `new` takes the fields in order.
//!
//! ```
//! use std::time::Duration;
//! use service_runtime::prelude::*;
//!
//! #[service]
//! struct Store;
//!
//! #[service]
//! impl Store {
//!     #[daemon] // must live as long as the service
//!     async fn flush(&self, cx: &Context) {
//!         cx.cancelled().await;
//!     }
//! }
//!
//! #[service(grace = "2s")]
//! struct Node {
//!     peers: usize,
//! }
//!
//! #[service]
//! impl Node {
//!     #[child] // a child service, built and started with the service
//!     fn store(&self) -> Store {
//!         Store::new()
//!     }
//!
//!     #[task] // a task: runs once; the service waits for it
//!     async fn announce(&self) -> Result<(), std::io::Error> {
//!         println!("announcing to {} peers", self.peers);
//!         Ok(())
//!     }
//!
//!     #[daemon]
//!     async fn gossip(&self, cx: &Context) -> Result<(), BoxError> {
//!         // Tasks started through `cx` are children of `gossip`: `Node/gossip/handle`.
//!         cx.run_task("handle", |_cx| async { Err::<(), _>("peer vanished") })?;
//!         cx.cancelled().await;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let error = Node::new(3).run().await.unwrap_err();
//! assert_eq!(error.failures()[0].path(), "Node/gossip/handle");
//! # }
//! ```
//!
//! The attributes take keys: `#[child(daemon)]`, the [restart keys](macro@task#restart-keys),
//! and `contained`, which makes the method's work a failure boundary as
//! [`TaskBuilder::contained`] does ([failure boundaries](#failure-boundaries)) — `#[task(contained)]`,
//! `#[daemon(contained, restart = "on-failure")]`, `#[child(contained)]`. Its failure (an
//! error, a panic, a daemon's exit, a restart policy giving up) ends it alone and is not the
//! service's, which runs on; it is logged at `error` and counted in
//! [`TaskStats::contained_failure_count`]. A `#[child(contained)]` holds back the work
//! declared after it until it is ready, as any `#[child]` does, unless it fails first.
//!
//! A function can be a service too (async-service's `as_service`): its parameters become
//! the fields of a generated struct.
//!
//! ```
//! use std::time::Duration;
//! use service_runtime::prelude::*;
//!
//! #[service]
//! async fn heartbeat(cx: &Context, period: Duration) -> Result<(), BoxError> {
//!     let mut ticks = tokio::time::interval(period);
//!     for _ in 0..3 {
//!         ticks.tick().await;
//!     }
//!     cx.cancel();
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! Heartbeat::new(Duration::from_millis(1)).run().await.unwrap();
//! # }
//! ```
//!
//! Mistakes are compile errors that say what to write instead. A struct needs its
//! `#[service] impl`:
//!
//! ```compile_fail
//! use service_runtime::prelude::*;
//!
//! #[service]
//! struct Lonely; // error: `Lonely` has `#[service]` but no `#[service] impl Lonely` block
//! ```
//!
//! and task methods must be `async`:
//!
//! ```compile_fail
//! use service_runtime::prelude::*;
//!
//! #[service]
//! struct Node;
//!
//! #[service]
//! impl Node {
//!     #[task]
//!     fn announce(&self) {} // error: a `#[task]` method must be `async`
//! }
//! ```
//!
//! # A service by hand
//!
//! ```
//! use std::sync::Arc;
//! use service_runtime::prelude::*;
//!
//! struct Node;
//!
//! impl Service for Node {
//!     async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
//!         // A daemon must live as long as the service: here it waits to be cancelled.
//!         cx.run_daemon_task("gossip", |cx| async move {
//!             cx.run_task("handle", |_cx| async { Ok::<(), std::io::Error>(()) })?;
//!             cx.cancelled().await;
//!             Ok::<(), BoxError>(())
//!         })?;
//!         // A task that fails: the service is cancelled and the failure reported.
//!         cx.run_task("announce", |_cx| async { Err::<(), _>("no peers") })?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let error = Node.run().await.unwrap_err();
//! assert_eq!(error.failures().len(), 1);
//! assert_eq!(error.failures()[0].path(), "Node/announce");
//! assert_eq!(
//!     error.to_string(),
//!     "stopped by the failure of `Node/announce`: service `Node` failed: `Node/announce` failed: no peers",
//! );
//! # }
//! ```
//!
//! # Concepts
//!
//! - A **task** is a named future started through a [`Context`]: [`Context::run_task`]. It
//!   gets its own `Context`, and what it starts through it are its children. A task is
//!   *done* when its future has completed and all its children are done.
//! - A **daemon** ([`Context::run_daemon_task`], [`Context::run_daemon_child_service`]) must
//!   live as long as its service; if it ends on its own while the service is not cancelled,
//!   that is a [`FailureKind::DaemonExit`] failure.
//! - A **child service** ([`Context::run_child_service`]) runs under its own manager as one
//!   task of its parent: cancelled with it, its failures reported by every ancestor.
//! - The **body** ([`Service::serve`]) is the first task; the tasks it starts are the root
//!   tasks. A service is **finished** when the body and all its tasks are done.
//!
//! # Running
//!
//! [`ServiceExt::run`] runs to completion; [`ServiceExt::run_until`] stops on a future such
//! as [`shutdown_signal`]; [`ServiceExt::start`] spawns and returns a [`ServiceHandle`], the
//! outside view ([`Manager`]'s flags, [`Manager::cancel`], [`Manager::stop`],
//! [`Manager::wait_finished`], [`Manager::stats`], and the external-call guard
//! [`ServiceHandle::call`]); [`background`] runs a service while a body of yours runs.
//!
//! # Cancellation
//!
//! [`Manager::cancel`] (or a failure, or the parent's cancellation) marks the service
//! cancelled and resolves every task's [`Context::cancelled`] at once; child services are
//! cancelled too. Each task then has [`Options::grace`] (default zero) to return by itself,
//! after which it is aborted — its future dropped at its current await point, so `Drop`
//! cleanup runs — but never before all its children are done. An aborted task is never
//! polled again: with a zero grace, a task runs none of its code after the cancellation
//! (not even what follows its `cx.cancelled().await`), only its destructors; give the
//! service a grace for cleanup that must `.await`. Work started while the service is being
//! cancelled is not started (and `Ok(())` is returned).
//!
//! # The stop budget
//!
//! [`Options::grace`] is inherited: a child service that chooses none has its parent's. A
//! service's grace is also the deadline of its whole subtree: when it runs out, everything
//! below the service still running is aborted at once (each task after its children),
//! whatever its child services chose — so the root's grace is the budget of the whole
//! program's stop (systemd's `TimeoutStopSec`, Kubernetes' `terminationGracePeriodSeconds`).
//! A task still running when a non-zero grace runs out is a
//! [`FailureKind::GraceExceeded`] failure (``Node/ticker` did not stop within 2s and was
//! aborted``), so a program can tell a clean stop from a forced one and exit non-zero.
//! [`Manager::abort`] cuts every grace short. [`ServiceExt::run_until_signal`] is a
//! server's `main`: the first SIGINT or SIGTERM starts the orderly stop, a second aborts.
//! [`Context::root`] reaches the outermost service from any task, at any depth
//! (`cx.root().cancel()` stops the whole program; `cx.cancel()` only its own service).
//!
//! # Failure boundaries
//!
//! By default a failure escalates: it cancels its service and every ancestor, whose errors
//! all report it. A server must survive one bad connection, so work can be *contained*:
//! [`TaskBuilder::contained`] and [`ChildBuilder::contained`]. A failure inside contained
//! work (an error, a panic, a daemon that quits, a restart policy giving up, a grace
//! exceeded) ends that work alone — its own children are cancelled in order, as a service's
//! are — and is not a failure of its service: the service is not cancelled, its error does
//! not contain it, [`Manager::did_error`] stays false. The failure goes to the work's handle
//! (a [`TaskHandle`] for a task, the child's [`ServiceHandle`]), is logged once at `error`
//! with its path, and is counted in [`TaskStats::contained_failure_count`]. Cancellation
//! still flows down, and paths are unchanged.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use service_runtime::prelude::*;
//!
//! #[derive(Default)]
//! struct Host {
//!     connections: Mutex<Vec<TaskHandle>>,
//! }
//!
//! impl Service for Host {
//!     async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
//!         for n in 0..3 {
//!             // One task per connection; a bad one ends alone.
//!             let connection = cx.task(format!("conn-{n}")).contained().spawn(move |cx| async move {
//!                 if n == 1 {
//!                     return Err::<(), _>("garbage from the peer");
//!                 }
//!                 cx.cancelled().await;
//!                 Ok(())
//!             })?;
//!             self.connections.lock().unwrap().push(connection);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let host = Host::default().start();
//! host.wait_ready().await.unwrap();
//! let bad = host.service().connections.lock().unwrap()[1].clone();
//! let error = bad.wait_finished().await.unwrap_err();
//! assert_eq!(error.failures()[0].path(), "Host/conn-1");
//! assert!(!host.is_cancelled() && !host.did_error());
//! assert_eq!(host.stats().tasks.contained_failure_count, 1);
//! host.stop().await.unwrap();
//! # }
//! ```
//!
//! Contain work whose failure is its own business — a connection, a request, a job from a
//! queue, a peer — and whose parent has a sensible life without it. Let a failure escalate
//! when the service cannot do its job without that work (its store, its listener, its
//! router): a stopped service that says why beats one that limps on.
//!
//! # Errors
//!
//! A service that did not end cleanly returns [`ServiceError::Failed`] with every
//! [`TaskFailure`] (`task_name`, `path`, [`FailureKind`], `error`); misuse of the API is a
//! [`LifecycleError`]. Panics in tasks are caught and reported; the process goes on.
//!
//! # Working with the tokio ecosystem
//!
//! [`Context::cancelled_owned`] is a `Send + 'static` shutdown signal for servers (axum's
//! `with_graceful_shutdown`, tonic's `serve_with_shutdown`, hyper-util);
//! [`Context::run_until_cancelled`] runs a future until the task is asked to stop;
//! [`Context::cancellation_token`] is a tokio-util `CancellationToken` cancelled with the
//! task. Work can be started from outside a service through its [`Manager`]
//! ([`Manager::run_task`], [`Manager::task`], [`Manager::child`], ...): a root task of the
//! service, with `Context`'s contract. A restarting child's [`RestartingHandle`] follows
//! the instance running now.
//!
//! # Supervision, readiness, and why a service stopped
//!
//! A task or child service can be restarted by a [`Restart`] policy instead of failing its
//! service: [`Context::task`]`(name).restart(policy).spawn(f)` (with `f: Fn`), or
//! [`Context::child`]`(factory).restart(policy).spawn()` (a fresh instance and manager each
//! time), or in the DSL with `#[daemon(restart = "on-failure", max_restarts = 5,
//! within = "60s", backoff = "100ms..10s")]` (the same keys on `#[task]` and `#[child]`).
//! More than `max_restarts` restarts inside `within` gives up: the last failure
//! becomes the service's, noting the restart count. Healed failures are counted in
//! [`TaskStats::restart_count`] and logged at `warn`.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//! use service_runtime::prelude::*;
//!
//! struct Flaky(AtomicUsize);
//!
//! impl Service for Flaky {
//!     async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
//!         let policy = Restart::on_failure()
//!             .max_restarts(2)
//!             .within(Duration::from_secs(60))
//!             .backoff(Duration::from_millis(1), Duration::from_millis(10));
//!         cx.task("worker").restart(policy).spawn(move |_cx| {
//!             let attempt = self.0.fetch_add(1, Ordering::SeqCst);
//!             async move { Err::<(), _>(format!("attempt {attempt} failed")) }
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let error = Flaky(AtomicUsize::new(0)).run().await.unwrap_err();
//! assert_eq!(
//!     error.failures()[0].error().to_string(),
//!     "attempt 2 failed (gave up after 2 restarts within 60s)",
//! );
//! # }
//! ```
//!
//! A service is *ready* ([`Manager::is_ready`], [`Manager::wait_ready`]) once its start-up
//! work was *started*: when its body returns — its tasks and daemons spawned, not finished
//! (maybe not even polled yet) — or, with [`Options::manual_ready`], when a task calls
//! [`Context::ready`], for start-up work a task must finish first (a listener bound). The
//! DSL waits for each `#[child]` (without a restart policy) to be ready before starting the
//! work declared after it; a `manual_ready` child still not ready after 10 s of waiting is
//! named in a `warn`. [`Manager::cancel_cause`] tells why a service began to stop
//! ([`CancelCause`]); a [`ServiceError`]'s message starts with it.
//!
//! # Operating it
//!
//! [`ServiceExt::run_until_signal`] (or [`ServiceHandle::run_until_signal`], which lets
//! clones of the handle call in meanwhile) is the `main` of a program a service manager
//! runs. The first signal calls [`Manager::shutdown`]: with [`Options::drain`] set, a ready
//! service first reports not ready ([`Manager::is_ready`] false, [`Manager::status`]
//! [`Status::Draining`]) and serves on for the drain delay — what a Kubernetes pod needs
//! while its endpoints stop routing to it — then it is cancelled and stops within its
//! grace. A second signal aborts, during the drain as during the stop. [`Manager::cancel`]
//! never drains. `Options` is built in one expression with its `with_*` methods.
//!
//! ```
//! use std::time::Duration;
//! use std::sync::Arc;
//! use service_runtime::prelude::*;
//!
//! struct Server;
//!
//! impl Service for Server {
//!     async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
//!         cx.run_daemon_task("http", |cx| async move { cx.cancelled().await })?;
//!         Ok(())
//!     }
//!
//!     fn options(&self) -> Options {
//!         Options::default()
//!             .with_drain(Duration::from_secs(5))
//!             .with_grace(Duration::from_secs(10))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let server = ServiceHandle::new(Server);
//! server.start().unwrap();
//! server.wait_ready().await.unwrap();
//! let probe = server.clone();
//! let stopped = tokio::spawn(async move { server.shutdown().await });
//! # while probe.status() != Status::Draining { tokio::task::yield_now().await }
//! assert_eq!(probe.status(), Status::Draining); // `/readyz` answers 503 from now on
//! assert!(!probe.is_ready() && !probe.is_cancelled());
//! stopped.await.unwrap().unwrap(); // cancelled after 5 s, then stopped within its grace
//! assert_eq!(probe.cancel_cause(), Some(CancelCause::Shutdown));
//! # }
//! ```
//!
//! With the `systemd` feature (Unix), `run_until_signal` and `run_until` also notify systemd
//! when it started the process (`NOTIFY_SOCKET` set; otherwise they only check the
//! variable): `READY=1` once the service is ready, `STOPPING=1` when it begins to stop
//! (before the drain), `WATCHDOG=1` every half of `WATCHDOG_USEC` from a task on the
//! runtime (so a stalled runtime stops pinging), and `STATUS=` lines with the task counts.
//! The README's "Operating it" has a unit file and a pod spec; the `probes` example is a
//! pod's server.
//!
//! # Observability
//!
//! Every task runs in a `tracing` span carrying its service and path; failures are `error`
//! events. A service logs two lines at `debug`, `service started` and `service finished`
//! (with `failed` and, if it was cancelled, its `cause`), so a server whose connections are
//! services logs two lines per connection; the steps between (`service ready`, `service
//! cancelled`, a task starting) are `trace` events. With no subscriber this costs next to
//! nothing. Built with `RUSTFLAGS="--cfg tokio_unstable"` (as tokio-console requires), each
//! task's tokio task is named by the task's path, so tokio-console shows the tree; without
//! that flag naming costs nothing, and with it nothing unless a subscriber records tokio's
//! task spans.
//!
//! # The live tree
//!
//! [`Manager::snapshot`] is the tree of a running service at one moment: every task and
//! child service with its path, [`TaskKind`], [`TaskState`] (running, stopping within its
//! grace, waiting for its children, waiting out a restart backoff), restart count and age,
//! child services nested with their own tasks. Its `Display` is an indented tree, with
//! siblings of one name and kind collapsed into a line that counts them — readable for
//! thousands of connections:
//!
//! ```text
//! Host (service, running, 2h14m)
//! ├─ acceptor (daemon, running, 2h14m)
//! │  └─ conn ×998 (contained task, 990 running, 8 stopping, 0ms–1h03m)
//! │     └─ reader ×998 (task, 998 running, 0ms–1h03m)
//! └─ Store (child service, running, 2h14m)
//!    └─ flush (daemon, backing off, 2h14m, 3 restarts)
//! ```
//!
//! A snapshot never shows a task twice nor a child without its parent, and never holds
//! more than one node's lock while it copies that node's entries: a running program can be
//! inspected as often as needed (`examples/inspect.rs` prints it on SIGUSR1). With the
//! `serde` feature, snapshots and [`Stats`] are `Serialize`.
//!
//! # Limitations
//!
//! Cancellation is cooperative at await points: a task that blocks its thread (a busy loop
//! without `.await`, blocking I/O) cannot be aborted until it yields. Run blocking work with
//! `tokio::task::spawn_blocking` and await it.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, lowest first. A module calls only into its own layer's helpers and the layers
// below it; the one pair that call each other, `runner` and `context`, is noted in both.
//
//   sync, slots, name, event        primitives: the loom shim, a slab, names, a one-shot flag
//   error, cause, options, stats,   plain data
//     restart, spec, output, snapshot
//   tree                            the task tree: reports what happened, calls nothing above
//   manager                         a service's state: flags, failures, counters; drives the
//                                   tree and does the work across services it reports
//   runner, context                 a task's life; the inside view, which spawns through it
//   builder, handle, serve, ops,    the public entry points (ops: the status, the drain,
//     __private                     systemd's notifications), and the macros' support

mod builder;
mod cause;
mod clock;
mod context;
mod error;
mod event;
mod handle;
mod manager;
mod name;
mod ops;
mod options;
mod output;
mod restart;
mod runner;
mod serve;
mod slots;
mod snapshot;
mod spec;
mod stats;
mod sync;
mod tree;

#[cfg(all(test, loom))]
mod loom_models;

#[cfg(all(test, not(loom)))]
mod tests;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub mod idioms;

#[cfg(all(not(loom), feature = "lock-stats"))]
pub use sync::lock_stats;

pub use builder::{
    Boundary, ChildBuilder, Contain, Escalate, RestartingChildBuilder, RestartingTaskBuilder,
    TaskBuilder,
};
pub use cause::CancelCause;
pub use context::Context;
pub use error::{BoxError, FailureKind, Failures, LifecycleError, ServiceError, TaskFailure};
pub use handle::{RestartingHandle, ServiceHandle, TaskHandle};
pub use manager::Manager;
pub use ops::Status;
pub use options::Options;
pub use output::IntoTaskResult;
pub use restart::Restart;
pub use serve::{Service, ServiceExt, background, shutdown_signal};
pub use snapshot::{Snapshot, TaskKind, TaskSnapshot, TaskState};
pub use stats::{Stats, TaskStats};

#[cfg(feature = "macros")]
pub use service_macros::{child, daemon, service, task};

/// Everything a service needs, in one import: `use service_runtime::prelude::*;`.
pub mod prelude {
    pub use crate::{
        BoxError, CancelCause, Context, FailureKind, Failures, IntoTaskResult, LifecycleError,
        Manager, Options, Restart, RestartingHandle, Service, ServiceError, ServiceExt,
        ServiceHandle, Stats, Status, TaskFailure, TaskHandle, TaskStats, background,
        shutdown_signal,
    };

    #[cfg(feature = "macros")]
    pub use service_macros::{child, daemon, service, task};
}
