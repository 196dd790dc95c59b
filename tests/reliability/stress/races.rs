//! Races the randomized stress found, each staged on its own so that it shows at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use service_runtime::prelude::*;

/// A service whose body starts `children` child services (each inheriting its grace), each
/// with one task that never wakes by itself: only the runtime stops it.
struct Wide {
    grace: Duration,
    children: usize,
    up: Arc<AtomicUsize>,
}

struct Leaf {
    up: Arc<AtomicUsize>,
}

impl Service for Wide {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        for _ in 0..self.children {
            cx.run_child_service(Leaf {
                up: Arc::clone(&self.up),
            })?;
        }
        Ok(())
    }

    fn options(&self) -> Options {
        let mut options = Options::default();
        options.grace = Some(self.grace);
        options
    }
}

impl Service for Leaf {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let up = Arc::clone(&self.up);
        cx.run_task("hang", move |_cx| async move {
            up.fetch_add(1, SeqCst);
            std::future::pending::<()>().await;
        })?;
        Ok(())
    }
}

/// On two worker threads, a root with a grace of 10 µs whose cancellation cascades through
/// 300 child services (which inherit that grace): the grace timer, started as the root is
/// cancelled, can end before the cascade has reached every child. The stop must still
/// finish, each hanging task aborted as a `GraceExceeded`.
///
/// Found by `stress_multi_thread` (seed 188 hung about once in 70 runs): the grace's end
/// walks into child services the cascade has not cancelled yet and takes the wakers their
/// tasks stored for cancellation, so the cancellation that follows wakes nobody.
#[test]
fn a_grace_ending_during_the_cancel_cascade_loses_no_wake_up() {
    const CHILDREN: usize = 300;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        for round in 0..30 {
            let up = Arc::new(AtomicUsize::new(0));
            let handle = ServiceHandle::new(Wide {
                grace: Duration::from_micros(10),
                children: CHILDREN,
                up: Arc::clone(&up),
            });
            handle.start().expect("it starts");
            while up.load(SeqCst) < CHILDREN {
                tokio::time::sleep(Duration::from_micros(100)).await;
            }
            handle.cancel();
            let outcome = tokio::time::timeout(Duration::from_secs(10), handle.wait_finished())
                .await
                .unwrap_or_else(|_| panic!("round {round}: the stop hung: {:?}", handle.manager()));
            let error = outcome.expect_err("every task outlived its grace");
            assert_eq!(error.failures().len(), CHILDREN, "round {round}: {error}");
            assert!(
                error
                    .failures()
                    .iter()
                    .all(|f| f.kind() == FailureKind::GraceExceeded),
                "round {round}: {error}"
            );
        }
    });
}
