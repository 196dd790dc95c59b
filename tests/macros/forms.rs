//! Every receiver and context form of `#[task]` and `#[daemon]` methods, and `Debug` and
//! stats of macro-made services.

use std::sync::Arc;

use service_runtime::prelude::*;
use service_tests::guard;
use tokio::sync::mpsc;

#[service]
struct Forms {
    out: mpsc::UnboundedSender<&'static str>,
}

#[service]
impl Forms {
    #[task]
    async fn by_ref(&self) {
        self.out.send("&self").unwrap();
    }

    #[task]
    async fn by_ref_with_context(&self, cx: &Context) {
        assert_eq!(cx.name(), "by_ref_with_context");
        self.out.send("&self, &Context").unwrap();
    }

    #[task]
    async fn by_ref_with_owned_context(&self, cx: Context) {
        assert_eq!(cx.name(), "by_ref_with_owned_context");
        self.out.send("&self, Context").unwrap();
    }

    #[task]
    async fn by_arc(self: Arc<Self>) {
        self.out.send("Arc<Self>").unwrap();
    }

    #[task]
    async fn by_arc_with_context(self: Arc<Self>, cx: &Context) {
        assert_eq!(cx.name(), "by_arc_with_context");
        self.out.send("Arc<Self>, &Context").unwrap();
    }

    #[task]
    async fn by_arc_with_owned_context(self: Arc<Self>, cx: Context) -> Result<(), LifecycleError> {
        // An owned `Arc<Self>` can be moved into the task's own children.
        let this = Arc::clone(&self);
        cx.run_task("inner", move |_cx| async move {
            this.out.send("Arc<Self>, Context").unwrap();
        })
    }

    #[task]
    #[allow(clippy::needless_arbitrary_self_type, reason = "the form under test")]
    async fn typed_ref(self: &Self) {
        self.out.send("self: &Self").unwrap();
    }
}

#[tokio::test]
async fn every_receiver_and_context_form_runs() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = Forms::new(tx).start();
    guard(handle.wait_finished()).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(form) = rx.try_recv() {
        seen.push(form);
    }
    seen.sort_unstable();
    let mut expected = [
        "&self",
        "&self, &Context",
        "&self, Context",
        "Arc<Self>",
        "Arc<Self>, &Context",
        "Arc<Self>, Context",
        "self: &Self",
    ];
    expected.sort_unstable();
    assert_eq!(seen, expected);
    // Seven root tasks and one child task.
    let stats = handle.stats();
    assert_eq!(
        (stats.tasks.total_count, stats.tasks.finished_count),
        (8, 8)
    );
}
