//! What the runtime tells a person looking into a problem: the task's own error recovered
//! by type, whichever way it was returned; the name of a parent at its children's limit;
//! a warning about a service that keeps its parent waiting for its readiness.

use std::future::pending;
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{Log, guard, svc, warnings_while};

/// The test's own error type, with a value to check that the very error comes back.
#[derive(Debug, PartialEq, Eq)]
struct Refused(u16);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {} refused", self.0)
    }
}

impl std::error::Error for Refused {}

/// The one failure of a service whose body starts the task `dial` running `body`.
async fn failure_of<Fut>(body: fn() -> Fut) -> TaskFailure
where
    Fut: Future + Send + 'static,
    Fut::Output: IntoTaskResult,
{
    let error = guard(
        svc("Dialer", move |cx| async move {
            cx.run_task("dial", move |_cx| body())?;
            Ok(())
        })
        .run(),
    )
    .await
    .unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error:?}");
    };
    assert_eq!(failure.path(), "Dialer/dial");
    failure.clone()
}

/// A task that returned its error as it is gives it back by type; asking for another type
/// gives nothing.
#[tokio::test]
async fn error_returned_directly_is_found_by_type() {
    let failure = failure_of(|| async { Err::<(), _>(Refused(80)) }).await;
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(failure.downcast_ref::<Refused>(), Some(&Refused(80)));
    assert!(failure.downcast_ref::<std::io::Error>().is_none());
}

/// A task that returned a `BoxError` holding its error gives it back by type.
#[tokio::test]
async fn error_in_a_box_is_found_by_type() {
    let failure = failure_of(|| async { Err::<(), BoxError>(Box::new(Refused(81))) }).await;
    assert_eq!(failure.downcast_ref::<Refused>(), Some(&Refused(81)));
}

/// A task that returned an `anyhow::Error` gives back the error it was made from, with or
/// without context around it; the `anyhow::Error` itself is there too, and the failure
/// reads as anyhow's error does.
#[tokio::test]
async fn error_inside_anyhow_is_found_by_type() {
    let failure = failure_of(|| async { Err::<(), _>(anyhow::Error::new(Refused(82))) }).await;
    assert_eq!(failure.downcast_ref::<Refused>(), Some(&Refused(82)));
    assert_eq!(failure.to_string(), "`Dialer/dial` failed: port 82 refused");

    let failure = failure_of(|| async {
        Err::<(), _>(anyhow::Error::new(Refused(83)).context("dialling the tracker"))
    })
    .await;
    assert_eq!(failure.downcast_ref::<Refused>(), Some(&Refused(83)));
    assert_eq!(failure.error().to_string(), "dialling the tracker");
    assert_eq!(
        format!("{:#}", failure.error()),
        "dialling the tracker: port 83 refused"
    );
    let whole = failure.as_anyhow().expect("the task's anyhow::Error");
    assert_eq!(whole.chain().count(), 2);
    assert!(failure.as_eyre().is_none());

    // A message without an error type inside: nothing to find by an error type.
    let failure = failure_of(|| async { Err::<(), _>(anyhow::anyhow!("no route")) }).await;
    assert!(failure.downcast_ref::<Refused>().is_none());
    assert_eq!(failure.error().to_string(), "no route");
}

/// A task that returned an `eyre::Report` gives back the error it was made from, with or
/// without a wrapping message.
#[tokio::test]
async fn error_inside_eyre_is_found_by_type() {
    let failure = failure_of(|| async { Err::<(), _>(eyre::Report::new(Refused(84))) }).await;
    assert_eq!(failure.downcast_ref::<Refused>(), Some(&Refused(84)));

    let failure = failure_of(|| async {
        use eyre::WrapErr;
        Err::<(), _>(Refused(85)).wrap_err("dialling the tracker")
    })
    .await;
    assert_eq!(failure.downcast_ref::<Refused>(), Some(&Refused(85)));
    assert_eq!(failure.error().to_string(), "dialling the tracker");
    assert!(failure.as_eyre().is_some());
    assert!(failure.as_anyhow().is_none());
}

#[service]
struct Tracker;

#[service]
impl Tracker {
    #[task]
    async fn announce(&self) -> anyhow::Result<()> {
        Err(anyhow::Error::new(Refused(86)).context("announcing"))
    }
}

/// A `#[task]` method returning `anyhow::Result` gives its error back by type too.
#[tokio::test]
async fn error_of_a_task_method_is_found_by_type() {
    let error = guard(Tracker.run()).await.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error:?}");
    };
    assert_eq!(failure.downcast_ref::<Refused>(), Some(&Refused(86)));
}

/// A task whose restart policy gave up gives back its last error by type, though its
/// failure notes the restarts.
#[tokio::test(start_paused = true)]
async fn error_of_a_task_that_gave_up_is_found_by_type() {
    let error = guard(
        svc("Dialer", |cx| async move {
            cx.task("dial")
                .restart(Restart::on_failure().max_restarts(1))
                .spawn(|_cx| async { Err::<(), _>(anyhow::Error::new(Refused(87))) })?;
            Ok(())
        })
        .run(),
    )
    .await
    .unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error:?}");
    };
    assert!(failure.to_string().contains("gave up"), "{failure}");
    assert_eq!(failure.downcast_ref::<Refused>(), Some(&Refused(87)));
    assert!(failure.as_anyhow().is_some());
}

/// A panic and a daemon's exit are failures without an error of the task's: nothing to
/// find, whatever the type asked for.
#[tokio::test]
async fn panic_and_daemon_exit_have_no_error_of_the_task() {
    let failure = failure_of(|| async {
        if true {
            panic!("port 88 refused");
        }
        Err::<(), _>(Refused(88))
    })
    .await;
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert!(failure.downcast_ref::<Refused>().is_none());
    assert!(failure.as_anyhow().is_none());

    let error = guard(
        svc("Dialer", |cx| async move {
            cx.run_daemon_task("dial", |_cx| async { Ok::<(), Refused>(()) })?;
            Ok(())
        })
        .run(),
    )
    .await
    .unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error:?}");
    };
    assert_eq!(failure.kind(), FailureKind::DaemonExit);
    assert!(failure.downcast_ref::<Refused>().is_none());
}

/// The warnings in `log` about a service that keeps its waiters waiting for its readiness.
fn stalls(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.contains("is still not ready"))
        .collect()
}

/// A `manual_ready` service that says it is ready after `ready_after`, or never.
#[service(manual_ready)]
struct Store {
    ready_after: Option<Duration>,
}

#[service]
impl Store {
    #[daemon]
    async fn open(&self, cx: &Context) {
        if let Some(delay) = self.ready_after {
            tokio::time::sleep(delay).await;
            cx.ready();
        }
        cx.cancelled().await;
    }
}

/// A service whose start-up waits for its child `Store` before it starts `serve`.
#[service]
struct Node {
    ready_after: Option<Duration>,
    log: Log,
}

#[service]
impl Node {
    #[child]
    fn store(&self) -> Store {
        Store::new(self.ready_after)
    }

    #[task]
    async fn serve(&self, cx: &Context) {
        self.log.push("serving");
        cx.cancelled().await;
    }
}

/// A `manual_ready` child that never calls `ready` holds up its parent's start-up: after
/// 10 s (not before) one warning names it by its path; it is not repeated however long
/// the parent goes on waiting.
#[test]
fn child_that_never_becomes_ready_is_named_after_ten_seconds() {
    let log = warnings_while(|captured| async move {
        let handle = Node::new(None, Log::new()).start();
        tokio::time::sleep(Duration::from_millis(9_900)).await;
        assert_eq!(stalls(&captured.text()), [] as [&str; 0]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(stalls(&captured.text()).len(), 1);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(handle.service().log.entries().is_empty(), "serve started");
        assert!(!handle.is_ready());
        guard(handle.stop()).await.unwrap();
    });
    let stalls = stalls(&log);
    assert_eq!(stalls.len(), 1, "{log}");
    assert!(stalls[0].contains("WARN"), "{log}");
    assert!(
        stalls[0].contains("`Node/Store` is still not ready after 10s"),
        "{log}"
    );
}

/// However many wait for a service's readiness, it is warned about once.
#[test]
fn stalled_service_is_warned_about_once_whoever_waits() {
    let log = warnings_while(|_| async {
        let mut options = Options::default();
        options.manual_ready = true;
        let handle = svc("Slow", |_cx| async { pending().await })
            .with_options(options)
            .start();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let manager = Manager::clone(&handle);
                tokio::spawn(async move { manager.wait_ready().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(60)).await;
        guard(handle.stop()).await.unwrap();
        for waiter in waiters {
            let outcome = guard(waiter).await.unwrap();
            assert_eq!(
                outcome.unwrap_err().lifecycle(),
                Some(&LifecycleError::FinishedBeforeReady)
            );
        }
    });
    let stalls = stalls(&log);
    assert_eq!(stalls.len(), 1, "{log}");
    assert!(stalls[0].contains("service=Slow"), "{log}");
}

/// A child that becomes ready before 10 s is never warned about, and its parent's start-up
/// goes on.
#[test]
fn child_ready_in_time_is_not_warned_about() {
    let log = warnings_while(|_| async {
        let handle = Node::new(Some(Duration::from_secs(9)), Log::new()).start();
        guard(handle.wait_ready()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(handle.service().log.entries(), ["serving"]);
        guard(handle.stop()).await.unwrap();
    });
    assert_eq!(stalls(&log), [] as [&str; 0], "{log}");
}

/// A service that fails, or is stopped, before it is ready and before 10 s is never warned
/// about: the wait ended with it.
#[test]
fn service_that_ends_before_ready_is_not_warned_about() {
    let log = warnings_while(|_| async {
        let mut options = Options::default();
        options.manual_ready = true;
        let failing = svc("Failing", |cx| async move {
            cx.run_task("open", |_cx| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Err::<(), _>("no disk")
            })?;
            Ok(())
        })
        .with_options(options.clone())
        .start();
        let stopped = svc("Stopped", |_cx| async { pending().await })
            .with_options(options)
            .start();
        let stopping = Manager::clone(&stopped);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            stopping.cancel();
        });
        assert!(guard(failing.wait_ready()).await.is_err());
        assert!(guard(stopped.wait_ready()).await.is_err());
        tokio::time::sleep(Duration::from_secs(600)).await;
    });
    assert_eq!(stalls(&log), [] as [&str; 0], "{log}");
}
