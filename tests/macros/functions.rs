//! `#[service] async fn`: a service made of a function.

use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::guard;
use tokio::sync::mpsc;

/// Sends `beats` beats, one per `period`, then returns.
#[service(grace = "1s")]
async fn heartbeat(
    cx: &Context,
    period: Duration,
    beats: u32,
    out: mpsc::UnboundedSender<String>,
) -> anyhow::Result<()> {
    for beat in 0..beats {
        tokio::time::sleep(period).await;
        out.send(format!("{} {beat}", cx.path()))?;
    }
    Ok(())
}

/// The function runs as the service's body, with the arguments given to `new`; options
/// apply to the generated struct.
#[tokio::test(start_paused = true)]
async fn the_function_is_the_body() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let service = Heartbeat::new(Duration::from_secs(1), 2, tx);
    assert_eq!(service.name(), "Heartbeat");
    assert_eq!(service.options().grace, Some(Duration::from_secs(1)));
    guard(service.run()).await.unwrap();
    assert_eq!(rx.recv().await.unwrap(), "Heartbeat 0");
    assert_eq!(rx.recv().await.unwrap(), "Heartbeat 1");
}

#[service(name = "spawner")]
async fn spawn_workers(
    cx: Context,
    count: u32,
    out: mpsc::UnboundedSender<String>,
) -> Result<(), BoxError> {
    for i in 0..count {
        let out = out.clone();
        cx.run_task(format!("worker-{i}"), move |cx| async move {
            out.send(cx.path().to_owned()).unwrap();
        })?;
    }
    Ok(())
}

/// The function's tasks are tasks of the service; the service finishes when they are done.
#[tokio::test]
async fn the_function_starts_tasks() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = SpawnWorkers::new(2, tx).start();
    guard(handle.wait_finished()).await.unwrap();
    assert_eq!(handle.stats().tasks.total_count, 2);
    let mut paths = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
    paths.sort();
    assert_eq!(paths, ["spawner/worker-0", "spawner/worker-1"]);
}

#[service]
async fn failing(reason: String) -> Result<(), String> {
    Err(reason)
}

/// An error returned by the function is a failure of the body, at the service's path.
#[tokio::test]
async fn an_error_of_the_function_is_a_failure() {
    let error = guard(Failing::new("broken".to_owned()).run())
        .await
        .unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error}")
    };
    assert_eq!(
        (failure.kind(), failure.path()),
        (FailureKind::Error, "Failing")
    );
    assert_eq!(failure.error().to_string(), "broken");
}

/// A service function can be a child service, built by a `#[child]` method.
#[service]
struct Parent {
    out: mpsc::UnboundedSender<String>,
}

#[service]
impl Parent {
    #[child]
    fn beat(&self) -> Heartbeat {
        Heartbeat::new(Duration::ZERO, 1, self.out.clone())
    }
}

#[tokio::test]
async fn a_service_function_as_a_child() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    guard(Parent::new(tx).run()).await.unwrap();
    assert_eq!(rx.recv().await.unwrap(), "Parent/Heartbeat 0");
}

#[service]
async fn generic_echo<T>(
    value: T,
    out: mpsc::UnboundedSender<T>,
) -> Result<(), mpsc::error::SendError<T>>
where
    T: Clone + Send + Sync + 'static,
{
    out.send(value)
}

/// Generic service functions get a generic struct.
#[tokio::test]
async fn generic_functions() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    guard(GenericEcho::new(5_u64, tx).run()).await.unwrap();
    assert_eq!(rx.recv().await.unwrap(), 5);
}
