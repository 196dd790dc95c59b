//! An axum server inside a service, stopped by the service's stop through
//! `cx.cancelled_owned()`: the request in flight completes, then the server and the
//! service end cleanly, and the listener is closed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use service_runtime::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

/// A server whose `/slow` handler says it has begun, then answers once released.
struct Web {
    listener: std::sync::Mutex<Option<TcpListener>>,
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

impl Service for Web {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let listener = self.listener.lock().unwrap().take().unwrap();
        let (entered, release) = (Arc::clone(&self.entered), Arc::clone(&self.release));
        let app = Router::new().route(
            "/slow",
            get(move || async move {
                entered.notify_one();
                release.notified().await;
                "done"
            }),
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(cx.cancelled_owned())
            .await?;
        Ok(())
    }

    fn options(&self) -> Options {
        let mut options = Options::default();
        options.grace = Some(Duration::from_secs(30));
        options
    }
}

/// Fails the test after 10 s: a hang guard, never a way to wait.
async fn guard<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("timed out")
}

/// The service's stop lets the request in flight complete, then ends the server.
#[tokio::test]
async fn the_stop_ends_the_server_after_the_request_in_flight() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let web = Web {
        listener: std::sync::Mutex::new(Some(listener)),
        entered: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
    };
    let (entered, release) = (Arc::clone(&web.entered), Arc::clone(&web.release));
    let handle = web.start();

    let (response_tx, response) = oneshot::channel();
    tokio::spawn(async move {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        let _ = response_tx.send(text);
    });
    guard(entered.notified()).await;

    handle.cancel();
    // The server is draining: not finished while its request is in flight.
    assert!(!handle.is_finished());
    release.notify_one();
    let text = guard(response).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("done"), "{text}");
    guard(handle.wait_finished()).await.unwrap();
    assert!(
        TcpStream::connect(address).await.is_err(),
        "the listener is still open"
    );
}
