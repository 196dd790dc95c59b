//! A hyper server written the per-connection way: an accept loop in a daemon, each
//! connection a contained task that serves it with hyper-util and turns the task's stop
//! into hyper's graceful shutdown of that connection. Stopping the service lets the request
//! in flight complete; a connection that fails ends alone.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use service_runtime::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

/// Says it has begun (`entered`), then answers `done` once `release` is notified.
#[derive(Clone)]
struct Slow {
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

impl Slow {
    async fn answer(
        self,
        _request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        self.entered.notify_one();
        self.release.notified().await;
        Ok(Response::new(Full::new(Bytes::from_static(b"done"))))
    }
}

struct Web {
    listener: TcpListener,
    slow: Slow,
}

impl Service for Web {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let web = Arc::clone(&self);
        cx.run_daemon_task("accept", move |cx| async move {
            // `None` once the service is asked to stop: the accept loop ends cleanly.
            while let Some(accepted) = cx.run_until_cancelled(web.listener.accept()).await {
                let (stream, _peer) = accepted?;
                let slow = web.slow.clone();
                cx.task("conn").contained().spawn(move |cx| async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let answer = service_fn(move |request| slow.clone().answer(request));
                    let connection = builder.serve_connection(TokioIo::new(stream), answer);
                    tokio::pin!(connection);
                    tokio::select! {
                        // The stop first: once asked, the connection takes no new request.
                        biased;
                        () = cx.cancelled() => {}
                        served = connection.as_mut() => return served,
                    }
                    // Finish the request in flight, take no new one, then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                })?;
            }
            Ok::<(), BoxError>(())
        })?;
        Ok(())
    }

    fn options(&self) -> Options {
        Options::default().with_grace(Duration::from_secs(30))
    }
}

/// Fails the test after 10 s: a hang guard, never a way to wait.
async fn guard<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("timed out")
}

/// Sends `request` on a new connection and returns everything the server wrote.
fn send(address: SocketAddr, request: &'static [u8]) -> oneshot::Receiver<String> {
    let (reply, text) = oneshot::channel();
    tokio::spawn(async move {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes).await;
        let _ = reply.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    text
}

/// Starts the server on a free port: its address, the `entered` and `release` of its slow
/// handler, and its handle.
async fn start() -> (SocketAddr, Arc<Notify>, Arc<Notify>, ServiceHandle<Web>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let slow = Slow {
        entered: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
    };
    let (entered, release) = (Arc::clone(&slow.entered), Arc::clone(&slow.release));
    let handle = Web { listener, slow }.start();
    (address, entered, release, handle)
}

#[tokio::test]
async fn the_stop_lets_the_request_in_flight_finish_then_closes() {
    let (address, entered, release, handle) = start().await;

    let response = send(address, b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n");
    guard(entered.notified()).await;
    handle.cancel();
    // Stopping, but not finished while the request is in flight.
    assert!(!handle.is_finished());
    release.notify_one();
    let text = guard(response).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("done"), "{text}");
    guard(handle.wait_finished()).await.unwrap();
    assert_eq!(handle.stats().tasks.contained_failure_count, 0);
    // Nothing of the finished service holds the listener but the handle's service value.
    drop(handle);
    assert!(
        TcpStream::connect(address).await.is_err(),
        "the listener is still open"
    );
}

#[tokio::test]
async fn a_broken_connection_ends_alone() {
    let (address, entered, release, handle) = start().await;

    // Not HTTP: hyper fails this connection, and only this connection.
    let garbage = send(address, b"\x00\x01\x02 not http\r\n\r\n");
    guard(garbage).await.unwrap();
    let response = send(
        address,
        b"GET /slow HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n",
    );
    guard(entered.notified()).await;
    release.notify_one();
    let text = guard(response).await.unwrap();
    assert!(text.ends_with("done"), "{text}");

    assert!(
        !handle.is_cancelled(),
        "a bad connection stopped the server"
    );
    assert!(!handle.did_error());
    guard(handle.stop()).await.unwrap();
    assert_eq!(handle.stats().tasks.contained_failure_count, 1);
}
