//! Running the example binaries as processes, with time limits as guards only.

#![allow(dead_code, reason = "each test file uses a part of these helpers")]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The built example binary `name`. `cargo test -p service-examples` builds the examples
/// before it runs the tests.
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = target
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run `cargo test -p service-examples`, which builds the examples \
         (a lone `--test` target does not)",
        path.display()
    );
    path
}

/// A command running the example `name` with `args`, with the default log filter (whatever
/// `RUST_LOG` the test runs under) and without colours.
pub(crate) fn command(name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(example(name));
    command
        .args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    command
}

/// Waits for `child` to exit, killing it (and failing) after `limit`.
pub(crate) fn wait_with_limit(mut child: Child, limit: Duration) -> ExitStatus {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait()));
    match rx.recv_timeout(limit) {
        Ok(status) => status.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the example did not exit within {limit:?}");
        }
    }
}

/// What a finished example printed.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `command` to its end (killing it and failing after `limit`) and collects its output.
pub(crate) fn run_to_end(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).unwrap();
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let status = wait_with_limit(child, limit);
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Runs the example `name` without arguments to its end (30 s at most), failing unless it
/// exits successfully without a panic; returns what it printed.
pub(crate) fn run_cleanly(name: &str) -> Output {
    let output = run_to_end(command(name, &[]), Duration::from_secs(30));
    let (stdout, stderr) = (&output.stdout, &output.stderr);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

/// The position of the first line of `text` containing `needle`, failing if there is none.
pub(crate) fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line contains {needle:?} in:\n{text}"))
}

/// The example `name`, which takes no arguments, refuses one with a one-line error.
pub(crate) fn rejects_arguments(name: &str) {
    let output = run_to_end(command(name, &["--port", "7000"]), Duration::from_secs(10));
    assert!(!output.status.success());
    assert_eq!(
        output.stderr,
        "error: unexpected argument `--port`: this example takes no arguments\n"
    );
    assert_eq!(output.stdout, "");
}

/// An example server started as a process, once it has printed `listening on <addr>`: its
/// address, its log lines (stderr) as they come, and the rest of its stdout.
pub(crate) struct Listening {
    pub(crate) process: Child,
    pub(crate) addr: String,
    pub(crate) log: std::sync::mpsc::Receiver<String>,
    pub(crate) stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Listening {
    /// Starts the example `name` with `args` and waits for its `listening on` line.
    pub(crate) fn start(name: &str, args: &[&str]) -> Listening {
        use std::io::BufRead;

        let mut process = command(name, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        let stderr = std::io::BufReader::new(process.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = std::io::BufReader::new(process.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{line}"))
            .to_owned();
        Listening {
            process,
            addr,
            log,
            stdout,
        }
    }
}

/// Sends `signal` (`-INT`, `-TERM`, `-USR1`) to the process `pid` with `kill`.
pub(crate) fn send_signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

/// Waits (10 s at most in all) for a line of `log` containing `needle`; returns it.
pub(crate) fn wait_for_line(log: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match log.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no log line with {needle:?}: {e}"),
        }
    }
}
