//! Idioms: the answers to the questions a first real program runs into.
//!
//! Nothing here is new API; these are the shapes that work, and why.
//!
//! # Ending a service from inside
//!
//! A task that decides the service is done — a reader that sees end of file, a job queue
//! that is empty — cancels its own service and returns. The order matters for a daemon: a
//! daemon that returns while its service is *not* cancelled has quit early, which is a
//! [`FailureKind::DaemonExit`](crate::FailureKind::DaemonExit) failure; one that cancels
//! first has asked for the stop, and its return is the ordinary end of a stopping task.
//!
//! ```
//! use service_runtime::prelude::*;
//! use tokio::sync::{Mutex, mpsc};
//!
//! #[service]
//! struct Reader {
//!     input: Mutex<mpsc::Receiver<String>>,
//! }
//!
//! #[service]
//! impl Reader {
//!     #[daemon]
//!     async fn read(&self, cx: &Context) {
//!         let mut input = self.input.lock().await;
//!         while let Some(line) = input.recv().await {
//!             println!("got {line}");
//!         }
//!         // The input is closed: the whole service is done, not just this task.
//!         cx.cancel();
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (lines, input) = mpsc::channel(2);
//! lines.send("one".to_string()).await.unwrap();
//! drop(lines);
//! // A clean finish: cancelled by its own daemon, no failure.
//! Reader::new(Mutex::new(input)).run().await.unwrap();
//! # }
//! ```
//!
//! [`Context::cancel`](crate::Context::cancel) stops this service and everything below it;
//! [`Context::root`](crate::Context::root)`().cancel()` stops the whole program. To end only
//! one piece of work, let it return (a task) or make it contained and cancel its handle.
//!
//! # Moving state into a task
//!
//! Work started through a [`Context`](crate::Context) must be `'static`: it may outlive the
//! call that started it. A `&self` method cannot lend `self` to it, and adding `move` (what
//! rustc suggests) does not help, because what is moved is still a borrow. Take the service
//! as `self: Arc<Self>` and move a clone of the `Arc` (or clones of the fields the task needs):
//!
//! ```
//! use std::sync::Arc;
//! use service_runtime::prelude::*;
//! use tokio::sync::mpsc;
//!
//! #[service]
//! struct Node {
//!     log: mpsc::UnboundedSender<String>,
//! }
//!
//! #[service]
//! impl Node {
//!     #[task]
//!     async fn dial(self: Arc<Self>, cx: &Context) -> Result<(), LifecycleError> {
//!         for peer in ["a", "b"] {
//!             let this = Arc::clone(&self); // one clone per task
//!             cx.run_task(format!("dial-{peer}"), move |_cx| async move {
//!                 this.log.send(format!("dialled {peer}")).unwrap();
//!             })?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (log, mut dialled) = mpsc::unbounded_channel();
//! Node::new(log).run().await.unwrap();
//! let mut seen = vec![dialled.recv().await.unwrap(), dialled.recv().await.unwrap()];
//! seen.sort();
//! assert_eq!(seen, ["dialled a", "dialled b"]);
//! # }
//! ```
//!
//! # Naming the error type of a closure's task
//!
//! In `cx.run_task("x", |cx| async move { work().await?; Ok(()) })` nothing tells the
//! compiler which error type `?` converts into, and it says "type annotations needed". Any
//! `E: Into<BoxError>` will do. Either name it on the final value, or write an async closure,
//! whose return type can be written out:
//!
//! ```
//! use service_runtime::prelude::*;
//!
//! async fn work() -> Result<(), std::io::Error> {
//!     Ok(())
//! }
//!
//! # fn demo(cx: &Context) -> Result<(), LifecycleError> {
//! // The turbofish on the last expression...
//! cx.run_task("fetch", |_cx| async move {
//!     work().await?;
//!     Ok::<(), BoxError>(())
//! })?;
//!
//! // ...or an async closure with its return type.
//! cx.run_task("store", async move |_cx: Context| -> Result<(), BoxError> {
//!     work().await?;
//!     Ok(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! `#[task]` and `#[daemon]` methods have no such problem: their signature names the type.
//!
//! # `run`, `run_until`, `run_until_signal`, `start`, `background`
//!
//! | you want | write | you get |
//! |---|---|---|
//! | run it until it ends by itself | `service.run().await` | its outcome |
//! | the `main` of a server | `service.run_until_signal().await` | SIGINT/SIGTERM stop it (cause `Shutdown`); a second signal aborts |
//! | stop it when some future resolves | `service.run_until(fut).await` | the same, for your own trigger |
//! | a handle to call it while it runs, and its outcome | `let handle = service.start();` then `handle.wait_finished().await` | [`ServiceHandle`](crate::ServiceHandle): [`call`](crate::ServiceHandle::call), stats, stop |
//! | a scope: the service runs while your code does, and is stopped after | `background(service, \|handle\| async move { .. }).await` | your code's value, and the service's failures if any |
//!
//! `start` returns at once; nothing stops the service but you (dropping the handle does not).
//! `background` stops the service when your code returns, and reports a failure that
//! happened meanwhile even if your code succeeded.
