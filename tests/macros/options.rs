//! `#[service(name = .., grace = .., drain = .., max_children = ..)]` take effect.

use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Log, guard, poll_until};
use tokio::sync::{Notify, oneshot};

#[service(name = "node-a")]
struct Renamed;

#[service]
impl Renamed {
    #[task]
    async fn fail(&self) -> Result<(), &'static str> {
        Err("boom")
    }
}

/// `name` names the service, in its manager and in task paths.
#[tokio::test]
async fn name_names_the_service() {
    assert_eq!(Renamed::new().name(), "node-a");
    let handle = Renamed::new().start();
    assert_eq!(handle.name(), "node-a");
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(error.failures()[0].path(), "node-a/fail");
}

/// Without `name`, the service is named after its type.
#[test]
fn default_name_is_the_type_name() {
    assert_eq!(
        Lingering::new(Log::new(), Notify::new()).name(),
        "Lingering"
    );
}

/// A daemon that needs one second to clean up after cancellation.
#[service(grace = "2s")]
struct Graceful {
    log: Log,
    ready: Notify,
}

#[service]
impl Graceful {
    #[daemon]
    async fn worker(&self, cx: &Context) {
        self.ready.notify_one();
        cx.cancelled().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.log.push("cleaned up");
    }
}

/// The same daemon without a grace period.
#[service]
struct Lingering {
    log: Log,
    ready: Notify,
}

#[service]
impl Lingering {
    #[daemon]
    async fn worker(&self, cx: &Context) {
        self.ready.notify_one();
        cx.cancelled().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.log.push("cleaned up");
    }
}

/// `grace` gives tasks time to return by themselves once cancelled; without it they are
/// aborted at once. (Paused time: the sleeps complete as soon as everything is idle.)
#[tokio::test(start_paused = true)]
async fn grace_lets_tasks_finish_their_cleanup() {
    let graceful = Graceful::new(Log::new(), Notify::new());
    assert_eq!(graceful.options().grace, Some(Duration::from_secs(2)));
    let handle = graceful.start();
    guard(handle.service().ready.notified()).await;
    guard(handle.stop()).await.unwrap();
    assert_eq!(handle.service().log.entries(), ["cleaned up"]);

    let lingering = Lingering::new(Log::new(), Notify::new());
    assert_eq!(lingering.options().grace, None);
    let handle = lingering.start();
    guard(handle.service().ready.notified()).await;
    guard(handle.stop()).await.unwrap();
    assert!(handle.service().log.entries().is_empty());
}

#[service(max_children = 1)]
struct Limited {
    outcome: std::sync::Mutex<Option<oneshot::Sender<Result<(), LifecycleError>>>>,
}

#[service]
impl Limited {
    #[task]
    async fn spawner(&self, cx: &Context) -> Result<(), BoxError> {
        cx.run_task("first", |cx| async move { cx.cancelled().await })?;
        let second = cx.run_task("second", |cx| async move { cx.cancelled().await });
        if let Some(tx) = self.outcome.lock().unwrap().take() {
            let _ = tx.send(second);
        }
        cx.cancelled().await;
        Ok(())
    }
}

/// `max_children` limits the live children of each parent.
#[tokio::test]
async fn max_children_limits_live_children() {
    let (tx, rx) = oneshot::channel();
    let limited = Limited::new(std::sync::Mutex::new(Some(tx)));
    assert_eq!(limited.options().max_children, 1);
    let handle = limited.start();
    let second = guard(rx).await.unwrap();
    assert_eq!(
        second,
        Err(LifecycleError::TooManyChildren {
            parent: "Limited/spawner".to_owned(),
            limit: 1,
            most_common: vec![("first".to_owned(), 1)],
        })
    );
    guard(handle.stop()).await.unwrap();
}

/// A daemon that serves until cancelled, with a drain before the cancellation.
#[service(drain = "5s")]
struct Drained;

#[service]
impl Drained {
    #[daemon]
    async fn server(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

/// `drain` sets `Options::drain`: a shutdown reports the service not ready at once and
/// cancels it only when the drain has passed (it then stops at once, with no grace).
/// Without the key there is no drain.
#[tokio::test(start_paused = true)]
async fn drain_delays_the_cancellation_of_a_shutdown() {
    let drained = Drained::new();
    assert_eq!(drained.options().drain, Duration::from_secs(5));
    assert_eq!(
        drained.options().grace,
        None,
        "the other options are the defaults"
    );
    let handle = drained.start();
    guard(handle.wait_ready()).await.unwrap();
    let begun = tokio::time::Instant::now();
    let shutdown = tokio::spawn({
        let handle = handle.clone();
        async move { handle.shutdown().await }
    });
    poll_until(|| handle.status() == Status::Draining).await;
    assert!(!handle.is_ready() && !handle.is_cancelled());
    guard(shutdown).await.unwrap().unwrap();
    assert_eq!(begun.elapsed(), Duration::from_secs(5));
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Shutdown));

    let lingering = Lingering::new(Log::new(), Notify::new());
    assert_eq!(lingering.options().drain, Duration::ZERO);
}
