//! What a run tells systemd, and when, through a recording sink and under paused time (the
//! real socket is tested from outside, in `tests/runtime/systemd.rs`).

use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Notifier, Sink};
use crate::ops::Announcer;
use crate::serve::StopOnce;
use crate::{BoxError, Context, Options, Service, ServiceError, ServiceHandle};

/// Fails the test if `f` hangs (60 s of paused time: longer than any scenario here).
async fn guard<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("timed out: the runtime hung")
}

/// Sends each message, its lines joined by `|`, with the time it was sent.
struct Record(mpsc::UnboundedSender<(Instant, String)>);

impl Sink for Record {
    fn send(&self, states: &[NotifyState<'_>]) {
        let lines: Vec<String> = states.iter().map(ToString::to_string).collect();
        let _ = self.0.send((Instant::now(), lines.join("|")));
    }
}

/// A server: its daemon `serve` runs until cancelled, then takes 2 s to close (within its
/// 5 s grace). With `late_job`, the daemon starts a task `job` after 3 s that runs until
/// cancelled. With `fail_at`, a task fails that long after the start, before the service
/// is ready (it is `manual_ready` then, and never ready).
struct Server {
    options: Options,
    late_job: bool,
    fail_at: Option<Duration>,
}

impl Service for Server {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let late_job = self.late_job;
        cx.run_daemon_task("serve", move |cx| async move {
            if late_job {
                tokio::time::sleep(Duration::from_secs(3)).await;
                cx.run_task("job", |cx| async move { cx.cancelled().await })?;
            }
            cx.cancelled().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<(), BoxError>(())
        })?;
        if let Some(after) = self.fail_at {
            cx.run_task("breaks", move |_cx| async move {
                tokio::time::sleep(after).await;
                Err::<(), _>("broke while starting")
            })?;
        }
        Ok(())
    }

    fn options(&self) -> Options {
        self.options.clone()
    }
}

fn server() -> Server {
    Server {
        options: Options::default().with_grace(Duration::from_secs(5)),
        late_job: false,
        fail_at: None,
    }
}

/// Runs `service` until `stop` fires, announcing to a recorder with a watchdog of
/// `watchdog`; returns the outcome and the messages (with their times since the start).
struct Run {
    messages: mpsc::UnboundedReceiver<(Instant, String)>,
    start: Instant,
}

impl Run {
    /// The next message: how long after the start it was sent, and its text.
    async fn next(&mut self) -> (Duration, String) {
        let (at, text) = guard(self.messages.recv()).await.unwrap();
        (at - self.start, text)
    }
}

async fn run(
    service: Server,
    watchdog: Option<Duration>,
    drive: impl AsyncFnOnce(&mut Run, oneshot::Sender<()>),
) -> (Result<(), ServiceError>, Run) {
    let (tx, messages) = mpsc::unbounded_channel();
    let notifier = Arc::new(Notifier::new(Box::new(Record(tx)), watchdog));
    let handle = ServiceHandle::new(service);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let mut run = Run {
        messages,
        start: Instant::now(),
    };
    let stop_rx = Mutex::new(Some(stop_rx));
    let requested = async {
        let stop_rx = stop_rx.lock().unwrap().take().unwrap();
        // A dropped sender never asks.
        if stop_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let requested = pin!(requested);
    let outcome = {
        let running = handle.run_until_requested(StopOnce(Some(requested)), |manager| {
            Announcer::systemd(notifier, manager)
        });
        let (outcome, ()) = guard(async { tokio::join!(running, drive(&mut run, stop)) }).await;
        outcome
    };
    (outcome, run)
}

/// `READY=1` with the status once the service is ready; `WATCHDOG=1` every half of the
/// watchdog timeout, the status with it only when it changed; `STOPPING=1` at the
/// shutdown request, before the drain; the pings go on through the drain and the stop.
#[tokio::test(start_paused = true)]
async fn tells_systemd_ready_watchdog_status_and_stopping() {
    let mut service = server();
    service.options = service.options.with_drain(Duration::from_secs(3));
    let secs = Duration::from_secs;
    let (outcome, _) = run(service, Some(secs(4)), async |run, stop| {
        let ready = "READY=1|STATUS=ready; tasks: 1 running, 1 started";
        assert_eq!(run.next().await, (secs(0), ready.to_owned()));
        assert_eq!(run.next().await, (secs(2), "WATCHDOG=1".to_owned()));
        assert_eq!(run.next().await, (secs(4), "WATCHDOG=1".to_owned()));
        stop.send(()).unwrap();
        let stopping = "STOPPING=1|STATUS=draining; tasks: 1 running, 1 started";
        assert_eq!(run.next().await, (secs(4), stopping.to_owned()));
        assert_eq!(run.next().await, (secs(6), "WATCHDOG=1".to_owned()));
        // Cancelled at 7 s, when the drain has passed; `serve` closes until 9 s.
        let closing = "WATCHDOG=1|STATUS=stopping; tasks: 1 running, 1 started";
        assert_eq!(run.next().await, (secs(8), closing.to_owned()));
    })
    .await;
    outcome.unwrap();
}

/// Without a watchdog (none asked for, or a zero timeout) there is no `WATCHDOG=1`, and the
/// status is refreshed every 10 s when it changed: a task started at 3 s shows at 10 s,
/// and nothing is sent at 20 s.
#[tokio::test(start_paused = true)]
async fn without_a_watchdog_the_status_is_refreshed_when_it_changed() {
    for watchdog in [None, Some(Duration::ZERO)] {
        let mut service = server();
        service.late_job = true;
        let secs = Duration::from_secs;
        let (outcome, _) = run(service, watchdog, async |run, stop| {
            let ready = "READY=1|STATUS=ready; tasks: 1 running, 1 started";
            assert_eq!(run.next().await, (secs(0), ready.to_owned()));
            let changed = "STATUS=ready; tasks: 2 running, 2 started";
            assert_eq!(run.next().await, (secs(10), changed.to_owned()));
            tokio::time::sleep_until(run.start + secs(25)).await;
            stop.send(()).unwrap();
            let stopping = "STOPPING=1|STATUS=stopping; tasks: 2 running, 2 started";
            assert_eq!(run.next().await, (secs(25), stopping.to_owned()));
        })
        .await;
        outcome.unwrap();
    }
}

/// A service that fails before it is ready never says `READY=1`; its failure begins the
/// stop, which says `STOPPING=1` without any shutdown request.
#[tokio::test(start_paused = true)]
async fn a_failure_before_ready_says_stopping_and_never_ready() {
    let mut service = server();
    service.options = service.options.with_manual_ready(true);
    service.fail_at = Some(Duration::from_secs(1));
    let (outcome, mut run) = run(service, None, async |run, _stop| {
        let stopping = "STOPPING=1|STATUS=stopping; tasks: 1 running, 2 started";
        assert_eq!(
            run.next().await,
            (Duration::from_secs(1), stopping.to_owned())
        );
    })
    .await;
    let error = outcome.unwrap_err();
    assert_eq!(error.failures()[0].path(), "Server/breaks");
    // The run ended 2 s later (`serve` closing): nothing else was said.
    assert!(run.messages.try_recv().is_err());
}
