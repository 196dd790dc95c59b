//! Runs the echo-server examples as processes: echo over concurrent connections, a clean
//! stop on SIGINT within the grace period, and one-line errors for bad input.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{command, run_to_end, wait_with_limit};

fn echo_then_interrupt(name: &str) {
    let mut server = command(name, &["--port", "0", "--grace", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();

    // Several concurrent connections, each echoed.
    let mut clients: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let message = format!("hello {i}\n");
        client.write_all(message.as_bytes()).unwrap();
        let mut echoed = vec![0; message.len()];
        client.read_exact(&mut echoed).unwrap();
        assert_eq!(echoed, message.as_bytes());
    }

    let began = Instant::now();
    let interrupted = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = wait_with_limit(server, Duration::from_secs(10));
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
    stdout.read_to_string(&mut output).unwrap();
    assert!(output.contains("stopped cleanly"), "{output}");
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
