//! Failures of macro-made services are those of the same services written by hand: a
//! daemon that exits, a failing task, a failing child, a panic, each with its path.

use std::sync::Arc;

use service_runtime::prelude::*;
use service_tests::guard;

#[service]
struct Quitter;

#[service]
impl Quitter {
    #[task]
    async fn announce(&self) {}

    /// Returns at once: a daemon must live as long as its service.
    #[daemon]
    async fn gossip(&self) {}
}

/// A `#[daemon]` that returns (even `Ok`) while the service runs is a `DaemonExit` failure
/// named after the method.
#[tokio::test]
async fn daemon_exit_is_a_failure_named_after_the_method() {
    let error = guard(Quitter::new().run()).await.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error}")
    };
    assert_eq!(failure.kind(), FailureKind::DaemonExit);
    assert_eq!(failure.task_name(), "gossip");
    assert_eq!(failure.path(), "Quitter/gossip");
}

/// The same service by hand: the same failure.
struct HandQuitter;

impl Service for HandQuitter {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        cx.run_task("announce", |_cx| async {})?;
        cx.run_daemon_task("gossip", |_cx| async {})?;
        Ok(())
    }

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "Quitter".into()
    }
}

#[tokio::test]
async fn daemon_exit_matches_the_hand_written_service() {
    let by_macro = guard(Quitter::new().run()).await.unwrap_err();
    let by_hand = guard(HandQuitter.run()).await.unwrap_err();
    assert_eq!(by_macro.to_string(), by_hand.to_string());
    let summary = |error: &ServiceError| {
        error
            .failures()
            .iter()
            .map(|f| (f.kind(), f.task_name().to_owned(), f.path().to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(&by_macro), summary(&by_hand));
}

#[service]
struct Store;

#[service]
impl Store {
    #[task]
    async fn flush(&self) -> std::io::Result<()> {
        Err(std::io::Error::other("disk full"))
    }
}

#[service]
struct Node;

#[service]
impl Node {
    #[child]
    fn store(&self) -> Store {
        Store::new()
    }

    #[daemon]
    async fn gossip(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

/// A failure in a `#[child]` service is reported by its parent with the child's name in
/// the path, and cancels the parent.
#[tokio::test]
async fn child_failure_has_the_child_in_its_path() {
    let error = guard(Node::new().run()).await.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error}")
    };
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(failure.path(), "Node/Store/flush");
    assert_eq!(failure.task_name(), "flush");
    assert_eq!(failure.error().to_string(), "disk full");
}

#[service]
struct Finite;

#[service]
impl Finite {
    #[task]
    async fn done(&self) {}
}

#[service]
struct Supervisor;

#[service]
impl Supervisor {
    #[child(daemon)]
    fn metrics(&self) -> Finite {
        Finite::new()
    }
}

/// A `#[child(daemon)]` service that finishes while its parent runs is a `DaemonExit`.
#[tokio::test]
async fn daemon_child_finishing_is_a_daemon_exit() {
    let error = guard(Supervisor::new().run()).await.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error}")
    };
    assert_eq!(failure.kind(), FailureKind::DaemonExit);
    assert_eq!(failure.path(), "Supervisor/Finite");
}

#[service]
struct Faulty;

#[service]
impl Faulty {
    #[task]
    async fn announce(&self) -> anyhow::Result<()> {
        anyhow::bail!("no peers")
    }
}

/// An error returned by a task method (here `anyhow`) is a failure with the method's name.
#[tokio::test]
async fn task_error_is_a_failure() {
    let error = guard(Faulty::new().run()).await.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error}")
    };
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(failure.path(), "Faulty/announce");
    assert_eq!(failure.error().to_string(), "no peers");
}

#[service]
struct Panicky;

#[service]
impl Panicky {
    #[daemon]
    async fn listen(self: Arc<Self>, _cx: Context) {
        panic!("listener panicked");
    }
}

/// A panic in a task method is caught and reported as a `Panic` failure.
#[tokio::test]
async fn task_panic_is_a_failure() {
    let error = guard(Panicky::new().run()).await.unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure expected: {error}")
    };
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert_eq!(failure.path(), "Panicky/listen");
    assert!(
        failure.error().to_string().contains("listener panicked"),
        "{failure}"
    );
}
