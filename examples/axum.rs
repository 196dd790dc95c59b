//! An axum server run as a service: its stop (Ctrl-C, or a failure elsewhere in the tree)
//! ends the accept loop through `cx.cancelled_owned()`, and axum lets the requests in
//! flight complete within the service's grace.
//!
//! ```text
//! cargo run -p service-examples --example axum -- 127.0.0.1:3000
//! curl localhost:3000/hello
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use service_runtime::prelude::*;

/// The HTTP front of the program.
struct Web {
    address: String,
}

impl Service for Web {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let listener = tokio::net::TcpListener::bind(&self.address).await?;
        println!("listening on {}", listener.local_addr()?);
        let app = Router::new().route("/hello", get(|| async { "hello\n" }));
        axum::serve(listener, app)
            .with_graceful_shutdown(cx.cancelled_owned())
            .await?;
        println!("server stopped");
        Ok(())
    }

    fn options(&self) -> Options {
        let mut options = Options::default();
        options.grace = Some(Duration::from_secs(5));
        options
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let web = Web { address }.start();
    tokio::select! {
        outcome = web.wait_finished() => outcome?,
        () = shutdown_signal() => web.stop().await?,
    }
    Ok(())
}
