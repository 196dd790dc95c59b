//! Pieces shared by the examples of `service-runtime`: argument parsing, the echo loop of a
//! connection, tracing set-up and error exits. Each example is a `[[example]]` target of
//! this package; see their own headers.

use std::time::Duration;

use service_runtime::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
pub async fn echo_connection(mut stream: TcpStream, cx: &Context) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = tokio::select! {
            () = cx.cancelled() => break,
            read = stream.read(&mut buf) => read?,
        };
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await?;
    }
    stream.shutdown().await
}

/// Human-readable logs on stderr; `RUST_LOG` overrides the default `info`.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
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
