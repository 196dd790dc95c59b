//! Runs the `supervisor` example as a process: a healed failure is only counted, and a
//! worker that keeps failing is restarted with backoff until its intensity is exceeded,
//! which fails the service with the restart count in the report.

mod common;

use common::{line_of, run_cleanly};

#[test]
fn supervisor_restarts_until_the_intensity_is_exceeded() {
    let output = run_cleanly("supervisor");
    let (stdout, stderr) = (&output.stdout, &output.stderr);

    // `db`: 1 start + 3 restarts, each restart a `warn` with its path, cause and delay.
    let restarts: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("path=Pipeline/db "))
        .collect();
    assert_eq!(restarts.len(), 3, "{stderr}");
    for (i, line) in restarts.iter().enumerate() {
        assert!(line.contains("restarting task"), "{line}");
        assert!(line.contains("cause=connection refused"), "{line}");
        assert!(line.contains(&format!("restart={}", i + 1)), "{line}");
    }
    for attempt in 1..=4 {
        line_of(stderr, &format!("connecting to db:5432 attempt={attempt}"));
    }
    assert!(!stderr.contains("attempt=5"), "{stderr}");

    // `cache`: failed once, restarted, then served until the service stopped.
    line_of(
        stderr,
        "restarting task path=Pipeline/cache cause=warm-up timed out restart=1",
    );
    line_of(stderr, "Pipeline/cache}: serving attempt=2");

    // The report: one failure (the healed one is not in it), noting the restarts.
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "Pipeline finished: 4 restarts, 2 of 2 tasks done",
            "the expected failure, as `run()` returned it:",
            "  stopped by the failure of `Pipeline/db`: service `Pipeline` failed: \
             `Pipeline/db` failed: connection refused (gave up after 3 restarts within 10s)",
            "  failure: path=Pipeline/db kind=error",
        ],
        "{stdout}"
    );
}

#[test]
fn supervisor_rejects_arguments() {
    common::rejects_arguments("supervisor");
}
