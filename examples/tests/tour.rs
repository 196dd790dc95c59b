//! Runs the `tour` example as a process: it exits by itself with status 0, shows the stats
//! while it runs, stops leaves first after the injected failure, and prints the failure with
//! its path.

mod common;

use common::{line_of, run_cleanly};

#[test]
fn tour_shows_a_failure_and_an_orderly_shutdown() {
    let output = run_cleanly("tour");
    let (stdout, stderr) = (&output.stdout, &output.stderr);

    // While it runs: tasks start, the stats are reported, the failure is logged.
    let stats = line_of(stderr, "Node/heartbeat}: Node stats started=3");
    let announced = line_of(stderr, "Node/announce}: announced to 3 peers; done");
    let write_2 = line_of(stderr, "Node/Store/flush/write-2}: writing block 2");
    let failed = line_of(
        stderr,
        "ERROR task{service=Node/Store path=Node/Store/flush/write-3}: task failed",
    );
    assert!(
        stats < announced && announced < failed && write_2 < failed,
        "{stderr}"
    );

    // Cancellation runs leaves first: the writes before `flush`, which started them;
    // `Store` is finished before `Node`; nothing is stopped before the failure.
    let stopped = |path: &str| line_of(stderr, &format!("path={path}}}: stopped"));
    let flush = stopped("Node/Store/flush");
    for leaf in ["Node/Store/flush/write-1", "Node/Store/flush/write-2"] {
        assert!(failed < stopped(leaf) && stopped(leaf) < flush, "{stderr}");
    }
    assert!(failed < stopped("Node/heartbeat"), "{stderr}");
    let store_finished = line_of(stderr, "service finished service=Node/Store");
    let node_finished = stderr
        .lines()
        .position(|line| line.contains("service finished service=Node failed="))
        .unwrap_or_else(|| panic!("`Node` never finished:\n{stderr}"));
    assert!(
        flush < store_finished && store_finished < node_finished,
        "{stderr}"
    );
    // The write that failed returned by itself: it was not aborted.
    assert!(!stderr.contains("write-3}: stopped"), "{stderr}");

    // The error `run()` returned, with the path of the failed task.
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "Node finished: 3 of its 3 tasks done",
            "the expected failure, as `run()` returned it:",
            "  stopped by the failure of `Node/Store/flush/write-3`: service `Node` failed: \
             `Node/Store/flush/write-3` failed: disk full",
            "  path=Node/Store/flush/write-3 kind=error error=disk full",
        ],
        "{stdout}"
    );
}

#[test]
fn tour_rejects_arguments() {
    common::rejects_arguments("tour");
}
