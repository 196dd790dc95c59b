//! Runs the `probes` example as a pod would be run: ready, then SIGTERM — `/readyz` turns
//! 503 at once while `/livez` and the real endpoint still answer, and after the drain the
//! process exits 0; a second SIGTERM cuts the drain short. The HTTP client is a plain
//! HTTP/1.1 request over a TCP stream.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Listening, wait_with_limit};

/// A running `probes` process: its address and its log lines (stderr) as they come.
struct Pod {
    process: Child,
    addr: String,
    log: mpsc::Receiver<String>,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Pod {
    fn start(drain: &str) -> Pod {
        let Listening {
            process,
            addr,
            log,
            stdout,
        } = Listening::start(
            "probes",
            &["--addr", "127.0.0.1:0", "--drain", drain, "--grace", "2s"],
        );
        Pod {
            process,
            addr,
            log,
            stdout,
        }
    }

    /// `GET path`: the status code and the body.
    fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let code = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
        let body = response
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
            .to_owned();
        (code, body)
    }

    /// Asks `/readyz` until it answers 200 (the service is ready once its body returned;
    /// the listener accepts before that). At most 10 s.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (code, body) = self.get("/readyz");
            if code == 200 {
                assert_eq!(body, "ready\n");
                return;
            }
            assert_eq!((code, body.as_str()), (503, "starting\n"));
            assert!(Instant::now() < deadline, "never ready");
        }
    }

    fn sigterm(&self) {
        common::send_signal(self.process.id(), "-TERM");
    }

    /// Waits (10 s at most) for a log line containing `needle`.
    fn wait_for_log(&self, needle: &str) -> String {
        common::wait_for_line(&self.log, needle)
    }
}

/// SIGTERM: the very next `/readyz` (once the shutdown has begun) is 503 `draining`, while
/// `/livez` and `/hello` are still served; the process exits 0 once the 2 s drain has passed,
/// within drain + grace.
#[test]
fn sigterm_turns_the_pod_unready_then_it_drains_and_exits_cleanly() {
    let mut pod = Pod::start("2s");
    pod.wait_ready();
    assert_eq!(pod.get("/hello"), (200, "hello\n".to_owned()));
    assert_eq!(pod.get("/livez"), (200, "alive\n".to_owned()));

    let signalled = Instant::now();
    pod.sigterm();
    pod.wait_for_log("draining: reported not ready");
    assert_eq!(pod.get("/readyz"), (503, "draining\n".to_owned()));
    assert_eq!(pod.get("/livez"), (200, "alive\n".to_owned()));
    assert_eq!(pod.get("/hello"), (200, "hello\n".to_owned()));

    let status = wait_with_limit(pod.process, Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "exited before the drain had passed: {:?}",
        signalled.elapsed()
    );
    let mut output = String::new();
    pod.stdout.read_to_string(&mut output).unwrap();
    assert!(output.contains("stopped cleanly"), "{output}");
}

/// A second SIGTERM during a drain of a minute cuts it short: the process exits at once.
#[test]
fn a_second_sigterm_cuts_the_drain_short() {
    let pod = Pod::start("60s");
    pod.wait_ready();
    pod.sigterm();
    pod.wait_for_log("draining: reported not ready");
    pod.sigterm();
    pod.wait_for_log("second signal: aborting");
    wait_with_limit(pod.process, Duration::from_secs(10));
}
