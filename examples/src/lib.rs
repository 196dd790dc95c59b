//! Pieces shared by the examples of `service-runtime`: argument parsing, the echo loop of a
//! connection, run-time options for a DSL service, the shutdown signal, tracing set-up and
//! error exits. Each example is a `[[example]]` target of this package; see their own
//! headers.

use std::io::IsTerminal;
use std::time::Duration;

use service_runtime::{Context, Service, ServiceExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Command-line arguments of the echo servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Port to listen on, 0 for any free port.
    pub port: u16,
    /// Grace period given to open connections at shutdown.
    pub grace: Duration,
}

impl Args {
    /// Parses the process's arguments.
    pub fn from_env() -> Result<Args, String> {
        Args::parse(std::env::args().skip(1))
    }

    /// Parses `--port N` and `--grace <n>ms|s|m` (both optional).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut parsed = Args {
            port: 0,
            grace: Duration::from_secs(2),
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value =
                |name: &str| args.next().ok_or_else(|| format!("`{name}` needs a value"));
            match flag.as_str() {
                "--port" => {
                    let port = value("--port")?;
                    parsed.port = port.parse().map_err(|_| {
                        format!("invalid port `{port}`: expected a number from 0 to 65535")
                    })?;
                }
                "--grace" => parsed.grace = parse_duration(&value("--grace")?)?,
                other => {
                    return Err(format!(
                        "unknown argument `{other}`; expected `--port N` or `--grace 2s`"
                    ));
                }
            }
        }
        Ok(parsed)
    }
}

/// Checks that the process got no arguments, for the examples that take none.
pub fn no_arguments() -> Result<(), String> {
    match std::env::args().nth(1) {
        None => Ok(()),
        Some(arg) => Err(format!(
            "unexpected argument `{arg}`: this example takes no arguments"
        )),
    }
}

/// Parses `500ms`, `2s` or `1m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "invalid duration `{text}`: expected a whole number with `ms`, `s` or `m`, like `2s`"
        )
    };
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?,
    );
    let n: u64 = digits.parse().map_err(|_| invalid())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(invalid()),
    }
}

/// Echoes `stream` until the peer closes it or the task is cancelled; on cancellation the
/// connection is shut down cleanly (the peer reads end-of-stream, not a reset).
///
/// The echo protocol has two rules, so that the examples can show what goes wrong:
/// - it echoes text: bytes that are not UTF-8 are an error, which ends the connection (the
///   servers contain each connection, so that error ends that connection only);
/// - a peer that sends the line `hold` is held at shutdown: its connection ignores the
///   cancellation, as a slow drain would, until its grace runs out and it is aborted.
pub async fn echo_connection(mut stream: TcpStream, cx: &Context) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut held = false;
    loop {
        let n = tokio::select! {
            () = cx.cancelled() => break,
            read = stream.read(&mut buf) => read?,
        };
        if n == 0 {
            break;
        }
        let text = std::str::from_utf8(&buf[..n]).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the peer sent bytes that are not UTF-8",
            )
        })?;
        held |= text.lines().any(|line| line == "hold");
        stream.write_all(&buf[..n]).await?;
    }
    if held {
        tracing::info!(path = %cx.path(), "holding the connection open: shutdown must abort it");
        std::future::pending::<()>().await;
    }
    stream.shutdown().await
}

/// Prints the address the server listens on, once it accepts connections (the tests wait
/// for this line).
pub fn announce(listener: &TcpListener) -> std::io::Result<()> {
    println!("listening on {}", listener.local_addr()?);
    Ok(())
}

/// Human-readable logs on stderr, timed from the start of the process and coloured on a
/// terminal only; `RUST_LOG` overrides the default `info`.
pub fn init_tracing() {
    init_tracing_with("info");
}

/// As [`init_tracing`], with `default` as the filter when `RUST_LOG` is not set (for
/// example `info,service_runtime=debug` to show the runtime's lifecycle events).
pub fn init_tracing_with(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_timer(Elapsed(std::time::Instant::now()))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Log timestamps: seconds since the start, to the millisecond (`  1.250s`).
struct Elapsed(std::time::Instant);

impl tracing_subscriber::fmt::time::FormatTime for Elapsed {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let elapsed = self.0.elapsed();
        write!(
            w,
            "{:>3}.{:03}s",
            elapsed.as_secs(),
            elapsed.subsec_millis()
        )
    }
}

/// The `main` of both echo servers: parses the command line, binds the port, then runs the
/// server `make` builds until SIGINT or SIGTERM ([`ServiceExt::run_until_signal`]: a second
/// signal aborts the connections still open). The server prints its address once it runs
/// ([`announce`]). Exits 0 after a clean stop, 1 with the error otherwise (the connections
/// are contained: one that fails, or is aborted past its grace, is its own failure).
pub async fn run_echo_server<S: Service>(
    make: impl FnOnce(TcpListener, &Args) -> S,
) -> std::process::ExitCode {
    init_tracing();
    let args = match Args::from_env() {
        Ok(args) => args,
        Err(e) => return fail(&e),
    };
    let listener = match TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(listener) => listener,
        Err(e) => return fail(&format!("cannot listen on port {}: {e}", args.port)),
    };
    match make(listener, &args).run_until_signal().await {
        Ok(()) => {
            println!("stopped cleanly");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// Prints `message` as one line on stderr and returns a failing exit code.
pub fn fail(message: &str) -> std::process::ExitCode {
    eprintln!("error: {message}");
    std::process::ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse(&[]).unwrap(),
            Args {
                port: 0,
                grace: Duration::from_secs(2)
            }
        );
        let args = parse(&["--port", "7000", "--grace", "500ms"]).unwrap();
        assert_eq!(
            args,
            Args {
                port: 7000,
                grace: Duration::from_millis(500)
            }
        );
        assert_eq!(
            parse(&["--port", "x"]).unwrap_err(),
            "invalid port `x`: expected a number from 0 to 65535"
        );
        assert!(
            parse(&["--grace", "2h"])
                .unwrap_err()
                .starts_with("invalid duration `2h`")
        );
        assert!(
            parse(&["--verbose"])
                .unwrap_err()
                .starts_with("unknown argument `--verbose`")
        );
        assert_eq!(parse(&["--port"]).unwrap_err(), "`--port` needs a value");
    }
}
