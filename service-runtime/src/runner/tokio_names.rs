//! With `--cfg tokio_unstable`, every task's tokio task is named by the task's path: what
//! tokio-console shows. Tokio puts the name in the `task.name` field of the `runtime.spawn`
//! span it opens for each task it spawns, so a subscriber that records those spans sees the
//! names. (CI runs this with `RUSTFLAGS="--cfg tokio_unstable"`.)

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::tests::FnService;
use crate::{Context, LifecycleError, ServiceHandle};

/// Records the `task.name` of every `runtime.spawn` span of a spawned task (not the
/// `block_on` one); wants no other span or event.
#[derive(Default)]
struct SpawnNames {
    names: Mutex<Vec<String>>,
    next_id: AtomicU64,
}

impl Subscriber for SpawnNames {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "tokio::task"
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        if span.metadata().name() == "runtime.spawn" {
            let mut fields = SpawnFields::default();
            span.record(&mut fields);
            if fields.kind.as_deref() == Some("task") {
                self.names.lock().unwrap().extend(fields.name);
            }
        }
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The fields of a `runtime.spawn` span that tell which task it is.
#[derive(Default)]
struct SpawnFields {
    kind: Option<String>,
    name: Option<String>,
}

impl Visit for SpawnFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Both are recorded with `%`: their `Debug` is their `Display`.
        match field.name() {
            "kind" => self.kind = Some(format!("{value:?}")),
            "task.name" => self.name = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

/// The body, a task, a task's child (a leaf: its path is built for the name), a child
/// service's body and its task: each tokio task is named by its task's path.
#[test]
fn tokio_tasks_are_named_by_their_paths() {
    let names = Arc::new(SpawnNames::default());
    let subscriber = Arc::clone(&names);
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            // The two leaves say when they run: then all five tasks were spawned.
            let (running, mut ran) = tokio::sync::mpsc::unbounded_channel::<()>();
            let handle = ServiceHandle::new(FnService::new("Node", move |cx: &Context| {
                let running = running.clone();
                let flushing = running.clone();
                cx.run_task("gossip", |cx| async move {
                    cx.run_task("handle", |cx| async move {
                        let _ = running.send(());
                        cx.cancelled().await
                    })?;
                    cx.cancelled().await;
                    Ok::<(), LifecycleError>(())
                })?;
                cx.run_child_service(FnService::new("Store", move |cx: &Context| {
                    let flushing = flushing.clone();
                    cx.run_task("flush", |cx| async move {
                        let _ = flushing.send(());
                        cx.cancelled().await
                    })
                }))?;
                Ok(())
            }));
            handle.start().unwrap();
            for _ in 0..2 {
                ran.recv().await.unwrap();
            }
            handle.stop().await.unwrap();
        });
    });
    let mut names = names.names.lock().unwrap().clone();
    names.sort();
    assert_eq!(
        names,
        [
            "Node",
            "Node/Store",
            "Node/Store/flush",
            "Node/gossip",
            "Node/gossip/handle"
        ]
    );
}
