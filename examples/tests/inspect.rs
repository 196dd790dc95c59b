//! Runs the `inspect` example as a process: SIGUSR1 prints the live task tree to stdout —
//! the server, its daemons, and its open connections collapsed into one line — and the
//! server goes on running, then stops cleanly on SIGINT.

mod common;

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Listening, send_signal, wait_for_line, wait_with_limit};

/// Reads lines of `stdout` up to the next blank one: one printed tree.
fn read_tree(stdout: &mut impl BufRead) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "stdout ended");
        let line = line.trim_end_matches('\n');
        if line.is_empty() {
            return lines;
        }
        lines.push(line.to_owned());
    }
}

#[cfg(unix)]
#[test]
fn sigusr1_prints_the_task_tree() {
    let Listening {
        process,
        addr,
        log,
        mut stdout,
    } = Listening::start("inspect", &["--port", "0", "--grace", "1s"]);
    let pid = process.id();
    // The handler is installed once this is logged (before, SIGUSR1 would end the process).
    wait_for_line(&log, "prints the task tree");

    // Three connections, each known to run once it has echoed a line.
    let mut clients: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut client = TcpStream::connect(&addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            client.write_all(b"hi\n").unwrap();
            let mut echoed = [0; 3];
            client.read_exact(&mut echoed).unwrap();
            assert_eq!(&echoed, b"hi\n");
            client
        })
        .collect();

    send_signal(pid, "-USR1");
    let tree = read_tree(&mut stdout);
    let starts = [
        "Inspect (service, running, ",
        "├─ acceptor (daemon, running, ",
        "│  └─ conn ×3 (contained task, 3 running, ",
        "└─ inspector (daemon, running, ",
    ];
    assert_eq!(tree.len(), starts.len(), "{tree:#?}");
    for (line, start) in tree.iter().zip(starts) {
        assert!(line.starts_with(start) && line.ends_with(')'), "{tree:#?}");
    }

    // Still serving after the dump; then a clean stop.
    clients[0].write_all(b"again\n").unwrap();
    let mut echoed = [0; 6];
    clients[0].read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"again\n");
    send_signal(pid, "-INT");
    let status = wait_with_limit(process, Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped cleanly"), "{rest}");
    clients.clear();
}
