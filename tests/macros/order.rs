//! Work starts in declaration order: children, tasks and daemons as they appear.

use std::sync::OnceLock;

use service_runtime::prelude::*;
use service_tests::{Log, guard};
use tokio::sync::{Notify, mpsc};

/// A child service that runs until it is cancelled.
#[service]
struct Probe;

#[service]
impl Probe {
    #[daemon]
    async fn idle(&self, cx: &Context) {
        cx.cancelled().await;
    }
}

#[service]
struct Ordered {
    manager: OnceLock<Manager>,
    log: Log,
    built: Notify,
}

impl Ordered {
    /// `label` and the number of tasks started so far (the body's own count).
    fn record(&self, label: &str) {
        let manager = self
            .manager
            .get()
            .expect("the test sets the manager before the body runs");
        self.log
            .push(format!("{label}@{}", manager.stats().tasks.total_count));
    }
}

#[service]
impl Ordered {
    #[task]
    async fn first(&self, cx: &Context) {
        cx.cancelled().await;
    }

    #[child]
    fn second(&self) -> Probe {
        self.record("second");
        Probe::new()
    }

    #[daemon]
    async fn third(&self, cx: &Context) {
        cx.cancelled().await;
    }

    #[child(daemon)]
    fn fourth(&self) -> Probe {
        self.record("fourth");
        Probe::new()
    }

    #[task]
    async fn fifth(&self, cx: &Context) {
        cx.cancelled().await;
    }

    #[child]
    fn sixth(&self) -> Probe {
        self.record("sixth");
        self.built.notify_one();
        Probe::new()
    }
}

/// Each `#[child]` is built after the work declared above it was started and before the
/// work declared below it: `first` is started before `second` is built, `third` before
/// `fourth`, `fifth` before `sixth`.
#[tokio::test]
async fn work_starts_in_declaration_order() {
    let log = Log::new();
    let handle = Ordered::new(OnceLock::new(), log.clone(), Notify::new()).start();
    // The body has not run yet: `start` spawns it on this (current-thread) runtime.
    handle
        .service()
        .manager
        .set(handle.manager().clone())
        .unwrap();
    guard(handle.service().built.notified()).await;
    assert_eq!(log.entries(), ["second@1", "fourth@3", "sixth@5"]);
    assert_eq!(
        handle.service().manager.get().map(Manager::name),
        Some("Ordered")
    );
    guard(handle.stop()).await.unwrap();
}

#[service]
struct Named {
    seen: mpsc::UnboundedSender<(String, String)>,
}

#[service]
impl Named {
    #[task]
    async fn r#type(&self, cx: &Context) {
        self.seen
            .send((cx.name().to_owned(), cx.path().to_owned()))
            .unwrap();
    }

    #[daemon]
    async fn listen(&self, cx: &Context) {
        self.seen
            .send((cx.name().to_owned(), cx.path().to_owned()))
            .unwrap();
        cx.cancelled().await;
    }
}

/// Tasks are named after their methods (raw identifiers without `r#`), and are roots of
/// the service: their paths are `Service/method`.
#[tokio::test]
async fn tasks_are_named_after_their_methods() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = Named::new(tx).start();
    let mut seen = vec![
        guard(rx.recv()).await.unwrap(),
        guard(rx.recv()).await.unwrap(),
    ];
    seen.sort();
    let expected = [("listen", "Named/listen"), ("type", "Named/type")];
    assert_eq!(
        seen,
        expected.map(|(name, path)| (name.to_owned(), path.to_owned()))
    );
    guard(handle.stop()).await.unwrap();
}
