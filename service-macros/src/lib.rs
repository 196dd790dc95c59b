//! The procedural macros of [`service-runtime`]: [`macro@service`], [`macro@task`],
//! [`macro@daemon`] and [`macro@child`].
//!
//! Depend on `service-runtime`, not on this crate: it re-exports the macros (default
//! feature `macros`), `use service_runtime::prelude::*;` brings them into scope, and the
//! generated code refers to `::service_runtime` by absolute path. The runnable examples
//! are in `service_runtime`'s documentation; the ones here are not compiled.
//!
//! ```ignore
//! use service_runtime::prelude::*;
//!
//! #[service(grace = "2s")]
//! struct Node {
//!     peers: PeerTable,
//! }
//!
//! #[service]
//! impl Node {
//!     #[task]
//!     async fn announce(&self) -> anyhow::Result<()> {
//!         self.peers.announce().await
//!     }
//!
//!     #[daemon]
//!     async fn gossip(&self, cx: &Context) -> anyhow::Result<()> {
//!         loop {
//!             let peer = self.peers.next().await?;
//!             cx.run_task("handle", move |_cx| async move { peer.handle().await })?;
//!         }
//!     }
//!
//!     #[child]
//!     fn store(&self) -> Store {
//!         Store::open()
//!     }
//! }
//!
//! Node::new(PeerTable::default()).run().await?;
//! ```
//!
//! # How the expansion works
//!
//! `#[service]` on the struct implements `service_runtime::Service` for it; `serve` calls a
//! hidden trait that `#[service]` on the impl block implements by starting the annotated
//! methods in declaration order, waiting after each `#[child]` without a restart policy for
//! the child to be ready.
//! Mistakes are reported at the tokens at fault, all of them in one compile, and the items
//! are still emitted (with stub impls) so that one mistake does not cascade into others.
//!
//! [`service-runtime`]: https://docs.rs/service-runtime
#![forbid(unsafe_code)]

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod valid;

use proc_macro::TokenStream;

/// Makes a service of a struct and its inherent `impl` block, or of an `async fn`.
///
/// # On a struct
///
/// ```ignore
/// #[service(name = "node", grace = "2s", max_children = 100)]
/// pub struct Node {
///     peers: PeerTable,
///     inbox: Inbox,
/// }
/// ```
///
/// implements `Service` for `Node` and generates `Node::new(peers, inbox)`, a constructor
/// taking every field in declaration order, with the struct's visibility. The struct needs
/// one `#[service] impl Node` block (a compile error says so otherwise), and must be
/// `Send + Sync` and without lifetime parameters (services run in tasks of their own).
/// Generic structs work; the service is then a service for the type arguments that make it
/// `Send + Sync + 'static` and satisfy the impl block's bounds.
///
/// Options, all optional:
///
/// | option | meaning | default |
/// |---|---|---|
/// | `name = "node"` | the name in task paths, logs and errors (no `/`) | the type's name, as `Service::name` |
/// | `grace = "2s"` | `Options::grace`: `<n>ms`, `<n>s` or `<n>m` | `None`: the parent's grace |
/// | `drain = "5s"` | `Options::drain`: on a shutdown, how long the service reports not ready and serves on before it is cancelled; `<n>ms`, `<n>s` or `<n>m`, zero (`"0s"`) allowed, as for `grace` | zero: cancelled at once |
/// | `max_children = 100` | `Options::max_children` | 1000 |
/// | `manual_ready` | `Options::manual_ready`: the service is ready when its body or a task calls `cx.ready()`, not when its body returns (by default, ready means its children are ready and its tasks and daemons were started, not finished) | off |
/// | `options = <expr>` | the `Options` that the other keys change, made at run time | `Options::default()` |
/// | `no_new` | do not generate `new` (write your own) | `new` is generated |
///
/// ## Per instance, at run time
///
/// `name`, `grace`, `drain` and `max_children` also take an expression, evaluated with `self`
/// in scope each time the runtime asks (`Service::name`, `Service::options`), so that each
/// instance has its own — a connection named after its peer, a grace from the command line:
///
/// ```ignore
/// #[service(name = format!("conn-{}", self.id), grace = self.grace, drain = self.drain, max_children = self.limit)]
/// struct Connection {
///     id: u64,
///     grace: Duration,   // or `Option<Duration>`, `None` inheriting the parent's
///     drain: Duration,
///     limit: usize,
/// }
/// ```
///
/// A name is a `String`, a `&'static str` or a `Cow<'static, str>` (a `/` in it would make
/// paths ambiguous); a grace a `Duration` or an `Option<Duration>`; a drain a `Duration`
/// (there is no drain to inherit); `max_children` a `usize`;
/// `options = <expr>` an `Options`. An expression of another type is a compile error at
/// the expression. A literal (`name = "node"`, `grace = "2s"`) is checked at compile time and
/// costs nothing at run time; an expression costs what it computes (a `format!` allocates
/// once per call).
///
/// # On the struct's inherent `impl` block
///
/// ```ignore
/// #[service]
/// impl Node {
///     #[task]                      // started when the service starts
///     async fn announce(&self) -> anyhow::Result<()> { .. }
///
///     #[daemon]                    // must run for the service's whole life
///     async fn gossip(&self, cx: &Context) { .. }
///
///     #[child]                     // a child service, built and started with the service
///     fn store(&self) -> Store { .. }
///
///     #[child(daemon)]             // a daemon child service
///     fn metrics(&self) -> Metrics { .. }
///
///     fn helper(&self) {}          // unannotated items are left alone
/// }
/// ```
///
/// The annotated methods make up the service's body: when the service starts, each is
/// started in declaration order — see [`macro@task`], [`macro@daemon`] and [`macro@child`]
/// for what each accepts. Each `#[child]` without a restart policy is waited for: the work
/// declared after it starts once it is ready, so the service itself is ready (without
/// `manual_ready`) once all those children are ready and its tasks and daemons started. The
/// block takes no options and needs at least one annotated method. Generic impl blocks and
/// where-clauses work: `#[service] impl<C: Codec> Node<C>`.
///
/// # On an `async fn`
///
/// ```ignore
/// /// Beats every `period`.
/// #[service(grace = "1s")]
/// pub async fn heartbeat(cx: &Context, period: Duration) -> anyhow::Result<()> {
///     loop {
///         tokio::time::sleep(period).await;
///         cx.run_task("beat", |_cx| async { beat().await })?;
///     }
/// }
///
/// Heartbeat::new(Duration::from_secs(1)).run().await?;
/// ```
///
/// generates `pub struct Heartbeat` (the function's name in `UpperCamelCase`, its
/// visibility and doc comments), `Heartbeat::new(period)`, and a `Service` impl whose body
/// calls the function. The function is kept as written.
///
/// - Its first parameter may be the service's `Context`, as `&Context` or `Context`.
/// - The other parameters are the arguments of `new`. The struct keeps them until the
///   service runs, and then moves them into the function: a service runs once, so they need
///   not be `Clone` (nor `Sync`), and the function may consume them — a service that owns a
///   `TcpStream` takes it as `stream: TcpStream`. They must be owned (no references; wrap
///   shared state in an `Arc`) and named by plain identifiers.
/// - It returns `()` or `Result<(), E>` with `E: Into<BoxError>`, or `!` if it never returns.
/// - Type parameters are allowed (they must be `Send + Sync + 'static`); lifetime
///   parameters are not.
/// - The options are those of the struct form, except `no_new`; with `manual_ready`, the
///   function calls `cx.ready()` itself once it is ready. A `name` or option given as an
///   expression sees the arguments by reference instead of `self`, and is evaluated once, in
///   `new` (kept in a hidden field; nothing is kept for literals):
///
/// ```ignore
/// #[service(name = format!("conn-{peer}"))]
/// async fn connection(cx: &Context, stream: TcpStream, peer: SocketAddr) -> std::io::Result<()> {
///     echo(stream, cx).await
/// }
///
/// // In the acceptor: a failure boundary per connection, `Host/acceptor/conn-10.0.0.7:50312`.
/// cx.child(move || Connection::new(stream, peer)).contained().spawn()?;
/// ```
///
/// A restarting child's factory is called again for each restart, so each call must make
/// fresh arguments: `cx.child(move || Poller::new(url.clone())).restart(..)`. A resource
/// moved into the factory (`move || Connection::new(stream, peer)`) cannot be made twice:
/// rustc then reports that the closure is `FnOnce` because it moves `stream`, the
/// requirement to be `Fn` coming from `.restart(..)`. Such a child is contained instead of
/// restarted, or its factory opens the resource anew.
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::service(args.into(), item.into()).into()
}

/// Marks a method of a `#[service] impl` block as a **task**, started when the service
/// starts, named after the method.
///
/// ```ignore
/// #[task]
/// async fn announce(&self) -> anyhow::Result<()> { .. }
///
/// #[task]
/// async fn sync(self: Arc<Self>, cx: Context) { .. }
/// ```
///
/// - It is `async`, not `unsafe`, and generic over lifetimes only.
/// - Its receiver is `&self` or `self: Arc<Self>` (tasks share the service, so not
///   `&mut self` or `self`).
/// - It may take the task's own `Context`, as `&Context` or `Context` (the type is
///   recognised by its name, `Context` or `service_runtime::Context`). Work started through
///   it is the task's children.
/// - It may take the handles of the `#[child]` children declared above it, each as a
///   parameter named after the child's method: see [child handles](macro@child#handles).
/// - It returns `()` or `Result<(), E>` with `E: Into<BoxError>` (`anyhow::Error`,
///   `std::io::Error`, ..), or `!` if it never returns. An error fails the service, with
///   the task's path (`Node/announce`).
///
/// Outside a `#[service] impl` block it is an error.
///
/// # Restart keys
///
/// `#[task(..)]`, [`#[daemon(..)]`](macro@daemon) and [`#[child(..)]`](macro@child) take
/// the keys of a `Restart` policy, all optional:
///
/// ```ignore
/// #[daemon(restart = "on-failure", max_restarts = 5, within = "60s", backoff = "100ms..10s")]
/// async fn poll(&self) -> anyhow::Result<()> { .. }
/// ```
///
/// | key | meaning | default |
/// |---|---|---|
/// | `restart = ".."` | `"never"`: an error or panic fails the service; `"on-failure"`: restart after an error or panic (a daemon after any exit); `"always"`: restart after every exit | `"never"` |
/// | `max_restarts = N` | more than `N` restarts inside one `within` window gives up: the last failure fails the service, noting the restarts | 3 |
/// | `within = "60s"` | the window of `max_restarts`, and how long a run without failing resets the backoff | `"5s"` |
/// | `backoff = "<min>..<max>"` | wait `min` before the first restart, doubling up to `max`, each delay jittered to between half and all of it | no wait |
///
/// Durations are `<n>ms`, `<n>s` or `<n>m`. `max_restarts`, `within` and `backoff` need
/// `restart = "on-failure"` or `"always"`. A restarted task calls its method again, with a
/// fresh `Context`. Nothing is restarted once the service is cancelled, and failures healed
/// by a restart are not in the service's error (they are counted in
/// `TaskStats::restart_count`).
///
/// # Contained
///
/// `#[task(contained)]`, [`#[daemon(contained)]`](macro@daemon) and
/// [`#[child(contained)]`](macro@child) make the work a failure boundary: its failure (an
/// error, a panic, a daemon that ends, a restart policy giving up) ends it alone — its own
/// work is stopped in order — and is not a failure of the service, which goes on running.
/// The failure is logged at `error` with its path and counted in
/// `TaskStats::contained_failure_count`. The work is still stopped with its service.
/// `contained` takes no value, and combines with the other keys:
/// `#[daemon(contained, restart = "on-failure")]` restarts the daemon, and when its policy
/// gives up, the daemon ends alone.
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray("task", args.into(), item.into()).into()
}

/// Marks a method of a `#[service] impl` block as a **daemon** task: like
/// [`macro@task`], but it must run as long as the service. If it returns (even `Ok`)
/// while the service is not cancelled, that is a `FailureKind::DaemonExit` failure named
/// after the method, and the service is cancelled.
///
/// ```ignore
/// #[daemon]
/// async fn gossip(&self, cx: &Context) -> anyhow::Result<()> {
///     loop {
///         tokio::select! {
///             () = cx.cancelled() => return Ok(()),
///             message = self.inbox.recv() => self.handle(message?).await?,
///         }
///     }
/// }
/// ```
///
/// The method follows the rules of [`macro@task`], and takes its
/// [restart keys](macro@task#restart-keys): `#[daemon(restart = "on-failure")]` restarts
/// the daemon whenever it ends while the service runs. A
/// [contained](macro@task#contained) daemon, `#[daemon(contained)]`, that returns ends
/// itself only: its `DaemonExit` is not a failure of the service.
#[proc_macro_attribute]
pub fn daemon(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray("daemon", args.into(), item.into()).into()
}

/// Marks a method of a `#[service] impl` block as the factory of a **child service**,
/// called and started when the service starts. `#[child(daemon)]` makes it a daemon child:
/// if it finishes while its parent runs, that is a `DaemonExit` failure.
///
/// ```ignore
/// #[child]
/// fn store(&self) -> Store {
///     Store::open(&self.path)
/// }
///
/// #[child(daemon)]
/// fn metrics(&self) -> Metrics {
///     Metrics::default()
/// }
/// ```
///
/// - It is not `async`: it builds the child, the runtime starts it.
/// - Its receiver is `&self`; it may take the [handles](#handles) of the children declared
///   above it, and nothing else.
/// - It returns a type that implements `Service` (or `impl Service`).
///
/// The child's failures are failures of its parent too, with the child's name in the
/// path: `Node/Store/flush`.
///
/// # Handles
///
/// A method declared after a child takes its handle as a parameter named after the
/// child's method — a task or daemon (besides its `Context`), or the factory of another
/// child:
///
/// ```ignore
/// #[child]
/// fn store(&self) -> Store { .. }
///
/// #[child]                                   // the API child talks to the store
/// fn api(&self, store: ServiceHandle<Store>) -> Api { Api::new(store) }
///
/// #[daemon]
/// async fn report(&self, cx: &Context, store: &ServiceHandle<Store>) -> anyhow::Result<()> {
///     let keys = store.call(|store| async move { store.len() }).await?;
///     tracing::info!(keys, tasks = store.stats().tasks.total_count);
///     Ok(())
/// }
/// ```
///
/// - The handle is a `ServiceHandle<Store>` (`call`, `stats`, `wait_finished`, ..), by
///   reference or by value (a clone; `&Manager` works too, by deref). The methods that take
///   it start after the child, so it is always there: no `Option`, nothing to wait for.
/// - A restarting child's is a `RestartingHandle<Store>`, which follows the instance running
///   now across restarts (`current()`, `wait_instance()`, `restarts()`, ..).
/// - A contained child's handle has its failure: `store.wait_finished()` returns it.
/// - A method that restarts gets the same handle each time.
/// - Only the handles some method takes are kept, each for the time the methods that take
///   it hold it (a clone per task start: two reference counts); the others are dropped as
///   before, which never stops a child. To reach a child from outside the service, keep its
///   handle yourself, from a task, in a field such as a `OnceLock`.
///
/// Naming a child declared below the method, or something that is not a child, is a compile
/// error that says which children are declared above. A `#[cfg]` on a child must be on the
/// methods that take its handle too.
///
/// # Readiness
///
/// The work declared after a `#[child]` starts once the child is ready (its own
/// `#[child]` children ready and its work started, or, with `manual_ready`, once it calls
/// `cx.ready()`). If the child fails first, the work after it is not started: the failure
/// is its parent's already, which is being cancelled. A child that finishes cleanly
/// without ever being ready holds nothing back, nor does a
/// [contained](macro@task#contained) child, `#[child(contained)]`, that fails first: its
/// failure is its own, and the parent goes on starting the work declared after it.
///
/// # Restarts
///
/// `#[child(..)]` takes the [restart keys](macro@task#restart-keys) of `#[task]`, also
/// together with `daemon`: `#[child(daemon, restart = "on-failure")]`. The method is then
/// the child's factory: it is called again for each restart, and each instance runs under
/// a fresh manager; the child's failures reach the parent only when the policy gives up.
/// Returning `impl Service`, it must not borrow `self` (write `-> impl Service + use<>`, or
/// name the type). A restarting child is **not** waited for: the work declared after it
/// starts at once, as restarts make its readiness a moving target. With `contained` too
/// (`#[child(contained, restart = "on-failure")]`), a policy that gives up ends the child
/// alone.
#[proc_macro_attribute]
pub fn child(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray("child", args.into(), item.into()).into()
}
