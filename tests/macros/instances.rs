//! Services named per instance and configured at run time (`#[service(name = <expr>,
//! grace = <expr>, drain = <expr>, max_children = <expr>, options = <expr>)]`), and function services that
//! own what they are given (`#[service] async fn` arguments moved into its run).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Log, guard, poll_until};
use tokio::sync::{Notify, mpsc, oneshot};

/// A connection named after its id, with a grace chosen by whoever makes it.
#[service(name = format!("conn-{}", self.id), grace = self.grace)]
struct Connection {
    id: u32,
    grace: Duration,
    log: Log,
    ready: Notify,
}

#[service]
impl Connection {
    #[daemon]
    async fn reader(&self, cx: &Context) -> Result<(), &'static str> {
        self.ready.notify_one();
        cx.cancelled().await;
        // Cleanup that needs a grace period to run.
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.log.push(format!("{} closed", cx.path()));
        Err("reset by peer")
    }
}

/// Each instance has the name its expression makes, in its manager and in task paths.
#[tokio::test]
async fn each_instance_is_named_by_its_expression() {
    let a = Connection::new(17, Duration::ZERO, Log::new(), Notify::new());
    let b = Connection::new(18, Duration::ZERO, Log::new(), Notify::new());
    assert_eq!((&*a.name(), &*b.name()), ("conn-17", "conn-18"));
    let handle = a.start();
    assert_eq!(handle.name(), "conn-17");
    guard(handle.service().ready.notified()).await;
    // Aborted at once with a zero grace: its error is never returned.
    guard(handle.stop()).await.unwrap();
}

/// The grace expression is evaluated for each instance: one instance may clean up, the
/// other, given no grace, is aborted at once. (Paused time: the sleep completes as soon as
/// everything is idle.)
#[tokio::test(start_paused = true)]
async fn the_grace_is_chosen_at_run_time() {
    let log = Log::new();
    let patient = Connection::new(1, Duration::from_secs(5), log.clone(), Notify::new());
    assert_eq!(patient.options().grace, Some(Duration::from_secs(5)));
    let handle = patient.start();
    guard(handle.service().ready.notified()).await;
    let error = guard(handle.stop()).await.unwrap_err();
    assert_eq!(log.entries(), ["conn-1/reader closed"]);
    assert_eq!(error.failures()[0].path(), "conn-1/reader");
    assert_eq!(error.failures()[0].error().to_string(), "reset by peer");

    let hasty = Connection::new(2, Duration::ZERO, log.clone(), Notify::new());
    let handle = hasty.start();
    guard(handle.service().ready.notified()).await;
    guard(handle.stop()).await.unwrap();
    assert_eq!(log.entries(), ["conn-1/reader closed"]);
}

/// `options = <expr>` is the base the other keys change: here a limit of live children
/// from a field, a grace that may be `None` (inherit the parent's) and a drain.
#[service(
    options = self.base.clone(),
    max_children = self.limit,
    grace = self.grace,
    drain = self.drain
)]
struct Tuned {
    base: Options,
    limit: usize,
    grace: Option<Duration>,
    drain: Duration,
    outcome: mpsc::UnboundedSender<Result<(), LifecycleError>>,
}

#[service]
impl Tuned {
    #[task]
    async fn spawner(&self, cx: &Context) {
        for _ in 0..2 {
            let outcome = cx.run_task("child", |cx| async move { cx.cancelled().await });
            self.outcome.send(outcome).unwrap();
        }
    }
}

#[tokio::test]
async fn options_come_from_an_expression_and_keys_change_them() {
    let mut base = Options::default();
    base.manual_ready = true;
    base.grace = Some(Duration::from_secs(9));
    base.drain = Duration::from_secs(9);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tuned = Tuned::new(base, 1, None, Duration::from_millis(1500), tx);
    let options = tuned.options();
    assert!(options.manual_ready, "the base is kept");
    assert_eq!(options.grace, None, "`grace` changes the base");
    assert_eq!(
        options.drain,
        Duration::from_millis(1500),
        "`drain` changes the base"
    );
    assert_eq!(options.max_children, 1);
    let handle = tuned.start();
    assert_eq!(guard(rx.recv()).await.unwrap(), Ok(()));
    assert!(matches!(
        guard(rx.recv()).await.unwrap(),
        Err(LifecycleError::TooManyChildren { limit: 1, .. })
    ));
    guard(handle.stop()).await.unwrap();
}

/// Something that is neither `Clone` nor `Sync`, like a socket with a buffer in a `Cell`;
/// it reports when it is dropped.
struct Socket {
    bytes: std::cell::Cell<u32>,
    dropped: Option<oneshot::Sender<()>>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(dropped) = self.dropped.take() {
            let _ = dropped.send(());
        }
    }
}

/// A connection as a function: named per instance from its arguments, which it owns and
/// consumes (`reply` is a `oneshot::Sender`, used up by `send`).
#[service(name = format!("conn-{id}"), grace = grace)]
async fn session(
    cx: &Context,
    id: u32,
    grace: Duration,
    socket: Socket,
    reply: oneshot::Sender<String>,
) -> Result<(), String> {
    socket.bytes.set(socket.bytes.get() + 1);
    let read = socket.bytes.get();
    drop(socket);
    reply
        .send(format!("{} read {read}", cx.path()))
        .map_err(|_| "nobody listens".to_owned())?;
    let _ = (id, grace);
    Ok(())
}

/// The function gets its arguments by value, without cloning them: a resource that is not
/// `Clone` (nor `Sync`) is consumed by the body, and dropped when the body drops it, while
/// the service (held by its handle) still exists. Name and options come from the arguments.
#[tokio::test]
async fn a_function_service_owns_and_consumes_its_arguments() {
    let (dropped_tx, dropped) = oneshot::channel();
    let (reply_tx, reply) = oneshot::channel();
    let socket = Socket {
        bytes: std::cell::Cell::new(41),
        dropped: Some(dropped_tx),
    };
    let service = Session::new(7, Duration::from_millis(250), socket, reply_tx);
    assert_eq!(service.name(), "conn-7");
    assert_eq!(service.options().grace, Some(Duration::from_millis(250)));
    let handle = service.start();
    assert_eq!(guard(reply).await.unwrap(), "conn-7 read 42");
    guard(dropped).await.unwrap();
    guard(handle.wait_finished()).await.unwrap();
    // The name was made once, in `new`, and is still there after the run.
    assert_eq!(handle.service().name(), "conn-7");
}

/// Starts `inner`'s body twice, by hand (the runtime never does): the second run has no
/// arguments left and fails with `AlreadyStarted`.
struct Twice<S>(Arc<S>, mpsc::UnboundedSender<Result<(), String>>);

impl<S: Service> Service for Twice<S> {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        for _ in 0..2 {
            let outcome = Arc::clone(&self.0).serve(cx.clone()).await;
            self.1.send(outcome.map_err(|e| e.to_string())).unwrap();
        }
        Ok(())
    }
}

#[service]
async fn counter(count: Arc<AtomicUsize>) {
    count.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test]
async fn a_second_run_of_the_same_value_has_no_arguments() {
    let count = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let twice = Twice(Arc::new(Counter::new(Arc::clone(&count))), tx);
    guard(twice.run()).await.unwrap();
    assert_eq!(guard(rx.recv()).await.unwrap(), Ok(()));
    assert_eq!(
        guard(rx.recv()).await.unwrap(),
        Err(LifecycleError::AlreadyStarted.to_string())
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// The per-connection server pattern: an acceptor daemon starts one contained child service
/// per connection, named after it, owning its stream; a connection that fails ends alone.
#[service]
struct Host {
    incoming: std::sync::Mutex<Option<mpsc::UnboundedReceiver<(u32, Socket, bool)>>>,
    log: Log,
}

#[service(name = format!("conn-{id}"))]
async fn peer(id: u32, socket: Socket, fail: bool, log: Log) -> Result<(), &'static str> {
    let _ = (id, socket);
    if fail {
        return Err("garbage");
    }
    log.push(format!("conn-{id} done"));
    Ok(())
}

#[service]
impl Host {
    #[daemon]
    async fn acceptor(&self, cx: &Context) -> Result<(), BoxError> {
        let mut incoming = self.incoming.lock().unwrap().take().unwrap();
        loop {
            let (id, socket, fail) = tokio::select! {
                () = cx.cancelled() => return Ok(()),
                next = incoming.recv() => next.ok_or("no more connections")?,
            };
            let log = self.log.clone();
            let connection = cx
                .child(move || Peer::new(id, socket, fail, log))
                .contained()
                .spawn()?;
            assert_eq!(connection.path(), format!("Host/acceptor/conn-{id}"));
        }
    }
}

#[tokio::test]
async fn per_connection_children_own_their_stream() {
    let (tx, rx) = mpsc::unbounded_channel();
    let log = Log::new();
    let handle = Host::new(std::sync::Mutex::new(Some(rx)), log.clone()).start();
    let socket = || Socket {
        bytes: std::cell::Cell::new(0),
        dropped: None,
    };
    tx.send((1, socket(), true)).unwrap();
    tx.send((2, socket(), false)).unwrap();
    poll_until(|| handle.stats().tasks.finished_count == 2 || handle.is_cancelled()).await;
    assert_eq!(log.entries(), ["conn-2 done"]);
    assert_eq!(handle.stats().tasks.contained_failure_count, 1);
    assert!(!handle.did_error());
    guard(handle.stop()).await.unwrap();
}
