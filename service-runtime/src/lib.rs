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
//! cleanup runs — but never before all its children are done. Work started while the
//! service is being cancelled is not started (and `Ok(())` is returned).
//!
//! # Errors
//!
//! A service that did not end cleanly returns [`ServiceError::Failed`] with every
//! [`TaskFailure`] (`task_name`, `path`, [`FailureKind`], `error`); misuse of the API is a
//! [`LifecycleError`]. Panics in tasks are caught and reported; the process goes on.
//!
//! # Observability
//!
//! Every task runs in a `tracing` span carrying its service and path; failures are `error`
//! events, lifecycle steps `debug`/`trace` events. With no subscriber this costs next to
//! nothing.
//!
//! # Limitations
//!
//! Cancellation is cooperative at await points: a task that blocks its thread (a busy loop
//! without `.await`, blocking I/O) cannot be aborted until it yields. Run blocking work with
//! `tokio::task::spawn_blocking` and await it.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod cause;
mod context;
mod error;
mod event;
mod handle;
mod manager;
mod options;
mod restart;
mod runner;
mod serve;
mod slots;
mod stats;
mod sync;
mod tree;

#[cfg(all(test, loom))]
mod loom_models;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use builder::{ChildBuilder, RestartingChildBuilder, RestartingTaskBuilder, TaskBuilder};
pub use cause::CancelCause;
pub use context::Context;
pub use error::{BoxError, FailureKind, Failures, LifecycleError, ServiceError, TaskFailure};
pub use handle::ServiceHandle;
pub use manager::Manager;
pub use options::Options;
pub use restart::Restart;
pub use runner::IntoTaskResult;
pub use serve::{Service, ServiceExt, background, shutdown_signal};
pub use stats::{Stats, TaskStats};

#[cfg(feature = "macros")]
pub use service_macros::{child, daemon, service, task};

/// Everything a service needs, in one import: `use service_runtime::prelude::*;`.
pub mod prelude {
    pub use crate::{
        BoxError, CancelCause, Context, FailureKind, Failures, IntoTaskResult, LifecycleError,
        Manager, Options, Restart, Service, ServiceError, ServiceExt, ServiceHandle, Stats,
        TaskFailure, TaskStats, background, shutdown_signal,
    };

    #[cfg(feature = "macros")]
    pub use service_macros::{child, daemon, service, task};
}
