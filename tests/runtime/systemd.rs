//! The `systemd` feature against a real notification socket: each test binds a unix datagram
//! socket, runs this test binary again as a child process with `NOTIFY_SOCKET` naming it (the
//! environment is the process's, so the service runs in a process of its own), and reads
//! what the child's `run_until_signal` sends. The intervals of the watchdog are checked
//! under paused time in the crate's unit tests; here no timing is asserted.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::svc;

/// Set in the child process.
const CHILD: &str = "SERVICE_TESTS_SYSTEMD_CHILD";

/// The child: a service whose daemon marks (on the notification socket itself, so that the
/// order is the socket's) when it starts serving, waits through ten watchdog intervals of
/// the parent's 20 ms, marks that, becomes ready, and marks its cancellation; it has a
/// 300 ms drain. Run by the tests below with `CHILD` set; does nothing otherwise.
#[test]
#[ignore = "the child process of the tests below"]
fn notified_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let socket = std::env::var_os("NOTIFY_SOCKET").unwrap();
    let mark = move |text: &str| {
        let out = UnixDatagram::unbound().unwrap();
        out.send_to(text.as_bytes(), &socket).unwrap();
    };
    let service = svc("Notified", move |cx| {
        let mark = mark.clone();
        async move {
            cx.run_daemon_task("serve", move |cx| async move {
                mark("X_TEST=serving");
                for _ in 0..10 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                mark("X_TEST=waited");
                cx.ready();
                cx.cancelled().await;
                mark("X_TEST=cancelled");
            })?;
            Ok(())
        }
    })
    .with_options(
        Options::default()
            .with_manual_ready(true)
            .with_drain(Duration::from_millis(300))
            .with_grace(Duration::from_secs(5)),
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(service.run_until_signal())
        .unwrap();
}

/// Runs [`notified_child`] with a notification socket and `WATCHDOG_USEC` of 40 ms (and
/// `watchdog_pid`, if given); sends it SIGTERM once it says `READY=1`; returns the lines it
/// sent, in order, once it exited successfully.
fn run_child(watchdog_pid: Option<&str>) -> Vec<String> {
    let dir = temp_dir();
    let path = dir.join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "systemd::notified_child",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "40000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null());
    if let Some(pid) = watchdog_pid {
        command.env("WATCHDOG_PID", pid);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = Vec::new();
    let mut buf = vec![0; 4096];
    let mut signalled = false;
    while !lines.iter().any(|line| line == "X_TEST=cancelled") {
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification ({e}) after {lines:?}"));
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        lines.extend(text.lines().map(str::to_owned));
        if !signalled && lines.iter().any(|line| line == "READY=1") {
            let sent = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            signalled = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}; sent {lines:?}");
    let _ = std::fs::remove_dir_all(&dir);
    lines
}

/// A directory of its own under the system's temporary directory.
fn temp_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "service-tests-systemd-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn position(lines: &[String], line: &str) -> usize {
    lines
        .iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no {line:?} in {lines:?}"))
}

/// Under systemd, `run_until_signal` says `READY=1` once the service is ready (not before),
/// with a status line of its task counts; pings the watchdog while it runs; and says
/// `STOPPING=1` at SIGTERM, before the drain has passed and the service is cancelled.
#[test]
fn run_until_signal_notifies_systemd() {
    let lines = run_child(None);
    let serving = position(&lines, "X_TEST=serving");
    let waited = position(&lines, "X_TEST=waited");
    let ready = position(&lines, "READY=1");
    let stopping = position(&lines, "STOPPING=1");
    let cancelled = position(&lines, "X_TEST=cancelled");
    assert!(serving < waited && waited < ready, "{lines:?}");
    assert_eq!(
        lines[ready + 1],
        "STATUS=ready; tasks: 1 running, 1 started"
    );
    assert!(ready < stopping && stopping < cancelled, "{lines:?}");
    assert_eq!(
        lines[stopping + 1],
        "STATUS=draining; tasks: 1 running, 1 started"
    );
    let pinged = lines[serving..waited].iter().filter(|l| *l == "WATCHDOG=1");
    assert!(pinged.count() >= 1, "no ping in 10 intervals: {lines:?}");
    assert_eq!(lines.iter().filter(|l| *l == "READY=1").count(), 1);
}

/// A watchdog meant for another process (`WATCHDOG_PID`) is not pinged.
#[test]
fn the_watchdog_of_another_process_is_not_pinged() {
    let lines = run_child(Some("1"));
    position(&lines, "READY=1");
    assert!(!lines.iter().any(|l| l == "WATCHDOG=1"), "{lines:?}");
}
