//! Runs the echo-server examples as processes: echo over concurrent connections, a clean
//! stop on SIGINT within the grace period, a bad client that ends its own connection only,
//! a second SIGINT that aborts a stop, and one-line errors for bad input.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Listening, command, run_to_end, wait_with_limit};

fn echo_then_interrupt(name: &str) {
    let mut server = Server::start(name, "1s");

    // Several concurrent connections, each echoed.
    let mut clients: Vec<TcpStream> = (0..4).map(|_| server.connect()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        echo(client, &format!("hello {i}\n"));
    }

    let began = Instant::now();
    server.interrupt();
    let status = wait_with_limit(server.process, Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "took {:?}",
        began.elapsed()
    );

    // Every open connection was shut down cleanly: end-of-stream, not a reset.
    for client in &mut clients {
        let mut rest = Vec::new();
        client
            .read_to_end(&mut rest)
            .expect("a clean end-of-stream");
        assert!(rest.is_empty());
    }
    let mut output = String::new();
    server.stdout.read_to_string(&mut output).unwrap();
    assert!(output.contains("stopped cleanly"), "{output}");
}

/// A running echo server: the process, its address, and its log lines (stderr) as they come.
struct Server {
    process: std::process::Child,
    addr: String,
    log: std::sync::mpsc::Receiver<String>,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(name: &str, grace: &str) -> Server {
        let Listening {
            process,
            addr,
            log,
            stdout,
        } = Listening::start(name, &["--port", "0", "--grace", grace]);
        Server {
            process,
            addr,
            log,
            stdout,
        }
    }

    fn connect(&self) -> TcpStream {
        let client = TcpStream::connect(&self.addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client
    }

    fn interrupt(&self) {
        common::send_signal(self.process.id(), "-INT");
    }

    /// Waits (10 s at most in all) for a log line containing `needle`; returns it.
    fn wait_for_log(&self, needle: &str) -> String {
        common::wait_for_line(&self.log, needle)
    }
}

/// Sends `message` and reads its echo.
fn echo(client: &mut TcpStream, message: &str) {
    client.write_all(message.as_bytes()).unwrap();
    let mut echoed = vec![0; message.len()];
    client.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, message.as_bytes());
}

/// A client that sends bytes that are not text ends its own connection, logged as a failure
/// with its path; the other connections and the server go on, and the server still stops
/// cleanly.
fn a_bad_client_ends_its_own_connection(name: &str) {
    let mut server = Server::start(name, "1s");
    let mut good = server.connect();
    echo(&mut good, "before\n");
    let mut bad = server.connect();
    bad.write_all(&[0xff, 0xfe, 0xfd]).unwrap();
    let mut rest = Vec::new();
    let _ = bad.read_to_end(&mut rest);
    assert!(rest.is_empty(), "the bad connection echoed {rest:?}");
    let failed = server.wait_for_log("not UTF-8");
    assert!(
        failed.contains("ERROR") && failed.contains("/conn-127.0.0.1:"),
        "{failed}"
    );
    echo(&mut good, "after\n");
    assert!(
        server.process.try_wait().unwrap().is_none(),
        "the server exited"
    );
    server.interrupt();
    let status = wait_with_limit(server.process, Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    let mut output = String::new();
    server.stdout.read_to_string(&mut output).unwrap();
    assert!(output.contains("stopped cleanly"), "{output}");
}

/// The first SIGINT starts the orderly stop, which a held connection keeps from finishing
/// within its 30 s grace; the second aborts it at once. The aborted connection is its own
/// failure (contained, logged with its path), so the server itself still exits 0.
fn a_second_sigint_aborts_the_stop(name: &str) {
    let mut server = Server::start(name, "30s");
    let mut held = server.connect();
    echo(&mut held, "hold\n");
    server.interrupt();
    server.wait_for_log("a second signal aborts");
    server.wait_for_log("holding the connection open");
    assert!(
        server.process.try_wait().unwrap().is_none(),
        "stopped before the abort"
    );
    let began = Instant::now();
    server.interrupt();
    server.wait_for_log("second signal: aborting");
    let forced = server.wait_for_log("stop was forced");
    assert!(
        forced.contains("ERROR") && forced.contains("/conn-127.0.0.1:"),
        "{forced}"
    );
    let status = wait_with_limit(server.process, Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "took {:?}",
        began.elapsed()
    );
}

fn bad_input(name: &str) {
    let run = |args: &[&str]| {
        let output = run_to_end(command(name, args), Duration::from_secs(10));
        let stderr = output.stderr;
        assert!(!output.status.success());
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        run(&["--port", "x"]),
        ["error: invalid port `x`: expected a number from 0 to 65535"]
    );
    assert_eq!(run(&["--grace", "soon"]).len(), 1);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let errors = run(&["--port", &port]);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(&format!("error: cannot listen on port {port}")),
        "{errors:?}"
    );
}

#[test]
fn hand_written_echo_serves_and_stops_on_sigint() {
    echo_then_interrupt("hand_written");
}

#[test]
fn hand_written_echo_rejects_bad_input() {
    bad_input("hand_written");
}

#[test]
fn echo_serves_and_stops_on_sigint() {
    echo_then_interrupt("echo");
}

#[test]
fn echo_rejects_bad_input() {
    bad_input("echo");
}

#[test]
fn echo_contains_a_bad_client() {
    a_bad_client_ends_its_own_connection("echo");
}

#[test]
fn hand_written_echo_contains_a_bad_client() {
    a_bad_client_ends_its_own_connection("hand_written");
}

#[test]
fn echo_aborts_on_a_second_sigint() {
    a_second_sigint_aborts_the_stop("echo");
}

#[test]
fn hand_written_echo_aborts_on_a_second_sigint() {
    a_second_sigint_aborts_the_stop("hand_written");
}
