//! The restart keys of `#[task(..)]`, `#[daemon(..)]` and `#[child(..)]` (SPEC §7.2):
//! `restart`, `max_restarts`, `within`, `backoff`. Paused time: restarts and backoffs happen
//! as soon as the runtime is idle, and the tests wait on events, never on the clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::guard;
use tokio::sync::mpsc;
use tokio::time::Instant;

#[service]
struct Flaky {
    attempts: mpsc::UnboundedSender<usize>,
    count: AtomicUsize,
}

#[service]
impl Flaky {
    /// Fails every time.
    #[daemon(restart = "on-failure", max_restarts = 2, within = "60s")]
    async fn work(&self) -> Result<(), String> {
        let attempt = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        self.attempts.send(attempt).unwrap();
        Err(format!("attempt {attempt} failed"))
    }
}

/// A daemon restarted on failure at most twice within 60 s: it runs three times, and its
/// third failure fails the service, noting the restarts.
#[tokio::test(start_paused = true)]
async fn a_flaky_daemon_is_restarted_until_its_intensity_is_exceeded() {
    let (tx, mut attempts) = mpsc::unbounded_channel();
    let handle = Flaky::new(tx, AtomicUsize::new(0)).start();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(handle.stats().tasks.restart_count, 2);
    // The failures healed by a restart are not reported; the last one is, once.
    assert_eq!(error.failures().len(), 1, "{error}");
    let failure = &error.failures()[0];
    assert_eq!(failure.path(), "Flaky/work");
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(
        failure.error().to_string(),
        "attempt 3 failed (gave up after 2 restarts within 60s)"
    );
    assert!(
        error
            .to_string()
            .contains("(gave up after 2 restarts within 60s)"),
        "{error}"
    );
    // Every attempt reported before the service finished.
    let mut seen = Vec::new();
    while let Ok(attempt) = attempts.try_recv() {
        seen.push(attempt);
    }
    assert_eq!(seen, [1, 2, 3]);
}

/// A child service whose task fails in its first `fail_until` instances, and otherwise
/// runs until cancelled. Each instance reports its number when its task starts.
#[service]
struct Worker {
    instance: usize,
    fail_until: usize,
    started: mpsc::UnboundedSender<usize>,
}

#[service]
impl Worker {
    #[task]
    async fn run(&self, cx: &Context) -> Result<(), String> {
        self.started.send(self.instance).unwrap();
        if self.instance <= self.fail_until {
            return Err(format!("instance {} crashed", self.instance));
        }
        cx.cancelled().await;
        Ok(())
    }
}

#[service]
struct Supervisor {
    built: AtomicUsize,
    started: mpsc::UnboundedSender<usize>,
}

#[service]
impl Supervisor {
    #[child(restart = "on-failure", max_restarts = 5, within = "1m")]
    fn worker(&self) -> Worker {
        let instance = self.built.fetch_add(1, Ordering::SeqCst) + 1;
        Worker::new(instance, 2, self.started.clone())
    }
}

/// A restarting `#[child]` method is the child's factory: it is called again for each
/// restart, and each instance runs under a fresh manager. The failures it healed are not
/// the parent's.
#[tokio::test(start_paused = true)]
async fn a_restarting_child_is_rebuilt_by_its_factory_for_each_restart() {
    let (tx, mut started) = mpsc::unbounded_channel();
    let handle = Supervisor::new(AtomicUsize::new(0), tx).start();
    for expected in 1..=3 {
        assert_eq!(guard(started.recv()).await, Some(expected));
    }
    assert_eq!(handle.service().built.load(Ordering::SeqCst), 3);
    assert_eq!(handle.stats().tasks.restart_count, 2);
    assert!(!handle.did_error());
    guard(handle.stop()).await.unwrap();
    // Stopped: no restart after the cancellation.
    assert_eq!(handle.service().built.load(Ordering::SeqCst), 3);
}

/// A child service that finishes at once, cleanly.
#[service]
struct Brief {
    started: mpsc::UnboundedSender<()>,
}

#[service]
impl Brief {
    #[task]
    async fn once(&self) {
        self.started.send(()).unwrap();
    }
}

#[service]
struct Keeper {
    started: mpsc::UnboundedSender<()>,
}

#[service]
impl Keeper {
    #[child(daemon, restart = "on-failure", max_restarts = 1, within = "1m")]
    fn brief(&self) -> Brief {
        Brief::new(self.started.clone())
    }
}

/// `daemon` and the restart keys combine: a daemon child restarted on failure is restarted
/// after any exit, here once, and its second exit is a `DaemonExit` failure noting it.
#[tokio::test(start_paused = true)]
async fn a_restarting_daemon_child_is_restarted_after_a_clean_exit() {
    let (tx, mut started) = mpsc::unbounded_channel();
    let handle = Keeper::new(tx).start();
    let error = guard(handle.wait_finished()).await.unwrap_err();
    assert_eq!(error.failures().len(), 1, "{error}");
    let failure = &error.failures()[0];
    assert_eq!(failure.kind(), FailureKind::DaemonExit);
    assert_eq!(failure.path(), "Keeper/Brief");
    assert!(
        failure
            .to_string()
            .contains("(gave up after 1 restart within 60s)"),
        "{failure}"
    );
    let mut runs = 0;
    while started.try_recv().is_ok() {
        runs += 1;
    }
    assert_eq!(runs, 2);
}

#[service]
struct Backoff {
    runs: mpsc::UnboundedSender<Instant>,
}

#[service]
impl Backoff {
    /// Ends cleanly each time: restarted anyway.
    #[task(
        restart = "always",
        max_restarts = 3,
        within = "1m",
        backoff = "1s..3s"
    )]
    async fn poll(&self) {
        self.runs.send(Instant::now()).unwrap();
    }
}

/// `restart = "always"` restarts a task that ended cleanly, waiting out a backoff that
/// doubles from its minimum up to its maximum, each delay jittered to between half and all
/// of it; one clean end more than `max_restarts` allows gives up, and giving up is a
/// failure of the service, noting the restarts.
#[tokio::test(start_paused = true)]
async fn backoff_spaces_the_restarts() {
    let (tx, mut runs) = mpsc::unbounded_channel();
    let error = guard(Backoff::new(tx).run()).await.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error}");
    };
    assert_eq!(failure.path(), "Backoff/poll");
    assert_eq!(
        failure.error().to_string(),
        "exited (gave up after 3 restarts within 60s)"
    );
    let mut times = Vec::new();
    while let Ok(at) = runs.try_recv() {
        times.push(at);
    }
    let delays: Vec<Duration> = times.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert_eq!(delays.len(), 3, "{delays:?}");
    let bounds = [(500, 1_000), (1_000, 2_000), (1_500, 3_000)];
    for (delay, (min, max)) in delays.iter().zip(bounds) {
        assert!(
            *delay >= Duration::from_millis(min) && *delay <= Duration::from_millis(max),
            "{delays:?}"
        );
    }
}

#[service]
struct Ticker {
    ticks: mpsc::UnboundedSender<()>,
}

#[service]
impl Ticker {
    /// Never returns: its output type is `!`.
    #[daemon]
    async fn tick(&self) -> ! {
        loop {
            let _ = self.ticks.send(());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// A daemon declared `-> !` runs until the service is stopped.
#[tokio::test(start_paused = true)]
async fn a_task_that_never_returns_runs_until_stopped() {
    let (tx, mut ticks) = mpsc::unbounded_channel();
    let handle = Ticker::new(tx).start();
    for _ in 0..3 {
        guard(ticks.recv()).await.unwrap();
    }
    guard(handle.stop()).await.unwrap();
}
