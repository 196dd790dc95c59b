//! `ServiceHandle::run_until_signal` with real signals, sent by each test to its own process
//! (after the service runs, so the runtime's handlers are installed): the first starts the
//! orderly shutdown with cause `Shutdown`, a second during the drain or the stop aborts.
//! Signals reach every listener in the process, so these tests take turns.

use std::time::Duration;

use service_runtime::prelude::*;
use service_tests::{grace_exceeded, guard, poll_until, svc};

/// Held by each test of this module while it sends signals.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Sends SIGTERM to this process.
fn sigterm() {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// A service whose daemon `serve` ignores cancellation (it holds on until aborted), with a
/// 60 s grace and the given drain: only an abort stops it within the tests' time limit.
fn stubborn(drain: Duration) -> impl Service + use<> {
    svc("Stubborn", |cx| async move {
        cx.run_daemon_task("serve", |_cx| std::future::pending::<()>())?;
        Ok(())
    })
    .with_options(
        Options::default()
            .with_grace(Duration::from_secs(60))
            .with_drain(drain),
    )
}

/// A program that calls into its service from outside and stops on signals: clones of the
/// handle call in while `run_until_signal` runs; SIGTERM stops the service cleanly, cause
/// `Shutdown`.
#[tokio::test]
async fn a_handle_runs_until_sigterm_while_clones_call_in() {
    let _turn = TURN.lock().await;
    let handle = ServiceHandle::new(svc("Api", |cx| async move {
        cx.run_daemon_task("serve", |cx| async move { cx.cancelled().await })?;
        Ok(())
    }));
    let api = handle.clone();
    let drive = async move {
        api.wait_ready().await.unwrap();
        assert_eq!(api.call(|_| async { "answered" }).await, Ok("answered"));
        sigterm();
    };
    let (outcome, ()) = guard(async { tokio::join!(handle.run_until_signal(), drive) }).await;
    outcome.unwrap();
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Shutdown));
    assert!(handle.is_finished());
}

/// A second signal during the drain skips the rest of it and aborts: the service, which
/// would drain for a minute and then wait a minute for its task, finishes at once; the
/// aborted task is a `GraceExceeded` failure, and the cause is still `Shutdown`.
#[tokio::test]
async fn a_second_signal_during_the_drain_aborts() {
    let _turn = TURN.lock().await;
    let handle = ServiceHandle::new(stubborn(Duration::from_secs(60)));
    let drive = async {
        handle.wait_ready().await.unwrap();
        sigterm();
        poll_until(|| handle.status() == Status::Draining).await;
        sigterm();
    };
    let (outcome, ()) = guard(async { tokio::join!(handle.run_until_signal(), drive) }).await;
    let error = outcome.unwrap_err();
    assert_eq!(grace_exceeded(&error), ["Stubborn/serve"]);
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Shutdown));
}

/// A second signal during the stop (no drain) aborts what is still running within its
/// grace.
#[tokio::test]
async fn a_second_signal_during_the_stop_aborts() {
    let _turn = TURN.lock().await;
    let handle = ServiceHandle::new(stubborn(Duration::ZERO));
    let drive = async {
        handle.wait_ready().await.unwrap();
        sigterm();
        poll_until(|| handle.status() == Status::Stopping).await;
        sigterm();
    };
    let (outcome, ()) = guard(async { tokio::join!(handle.run_until_signal(), drive) }).await;
    let error = outcome.unwrap_err();
    assert_eq!(grace_exceeded(&error), ["Stubborn/serve"]);
    assert_eq!(handle.cancel_cause(), Some(CancelCause::Shutdown));
}
