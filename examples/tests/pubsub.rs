//! Runs the `pubsub` example as a process: every published message reaches every live peer
//! (and only those), and the peer that crashes is reported with its full path.

mod common;

use common::{line_of, run_cleanly};

#[test]
fn pubsub_delivers_to_live_peers_and_reports_the_crash() {
    let output = run_cleanly("pubsub");
    let (stdout, stderr) = (&output.stdout, &output.stderr);

    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "peers: alice, bob, carol, dave",
            // Every peer gets the message...
            "#1 \"hello\" delivered to: alice, bob, carol, dave",
            "removed bob; peers: alice, carol, dave",
            // ...and a removed peer no longer does.
            "#2 \"bob left\" delivered to: alice, carol, dave",
            "#3 is too large for dave",
            // The external-call guard refuses calls into a stopped router.
            "publish after the crash: the service is not running",
        ],
        "{stdout}"
    );

    // The crash, with the full path of the task that failed: the router's daemon started
    // the peer's child service, whose `read` task failed.
    let path = "Pubsub/handle_peer_queue/peer-dave/read";
    let report = lines[line_of(stdout, "Pubsub stopped with the expected failure") + 1];
    assert_eq!(
        report.trim(),
        format!(
            "stopped by the failure of `{path}`: service `Pubsub` failed: `{path}` failed: \
             message #3 is 31 bytes, over this peer's 16-byte limit"
        )
    );
    assert_eq!(
        lines[line_of(stdout, "failure: path=")..],
        [format!("  failure: path={path} kind=error")]
    );
    // The runtime logged it as it happened.
    let logged = &stderr.lines().collect::<Vec<_>>()[line_of(stderr, "ERROR")];
    assert!(
        logged.contains(&format!(
            "task failed service=Pubsub/handle_peer_queue/peer-dave path={path} kind=error"
        )),
        "{logged}"
    );
}

#[test]
fn pubsub_rejects_arguments() {
    common::rejects_arguments("pubsub");
}
