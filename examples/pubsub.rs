//! `pubsub`: the shape of py-libp2p's `Pubsub` service, in miniature.
//!
//! ```text
//! Pubsub                          the router (#[service] DSL)
//! ├── handle_peer_queue           daemon: a new peer becomes a child service...
//! │   ├── peer-alice              ...one per peer, added and removed at run time
//! │   │   └── read                   its daemon: receives the messages
//! │   └── ...
//! ├── handle_dead_peer_queue      daemon: stops a peer's service and forgets it
//! └── handle_outgoing             daemon: sends each published message to every live peer
//! ```
//!
//! The outside world talks to the router only through `handle.call(..)`, the external-call
//! guard: calls fail with `NotRunning` once the router is stopping. The script in `main`
//! adds four peers, publishes, removes one, publishes again, then publishes a message too
//! large for `peer-dave`, whose `read` task fails: the whole router stops, and the failure
//! is reported with its full path, `Pubsub/handle_peer_queue/peer-dave/read`. That failure
//! is the expected end of the demo: the process exits with status 0.
//!
//! Run: `cargo run --example pubsub`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use service_runtime::prelude::*;
use tokio::sync::mpsc;
use tracing::info;

type PeerId = String;

/// A published message.
#[derive(Clone, Debug)]
struct Message {
    seq: u64,
    data: String,
}

/// What the router reports to the outside (here: to `main`, which waits on these).
#[derive(Debug)]
enum Event {
    Joined(PeerId),
    Left(PeerId),
    Delivered { peer: PeerId, seq: u64 },
}

/// A queue whose receiving end one daemon owns.
struct Queue<T> {
    tx: mpsc::UnboundedSender<T>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<T>>,
}

impl<T> Queue<T> {
    fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Queue {
            tx,
            rx: tokio::sync::Mutex::new(rx),
        }
    }

    fn push(&self, item: T) {
        // The receiver lives as long as the router itself.
        let _ = self.tx.send(item);
    }
}

/// A live peer, as the router knows it.
struct Link {
    inbox: mpsc::UnboundedSender<Message>,
    service: ServiceHandle<Peer>,
}

/// The router.
#[service(no_new)]
struct Pubsub {
    new_peers: Queue<PeerId>,
    dead_peers: Queue<PeerId>,
    outgoing: Queue<Message>,
    peers: Mutex<BTreeMap<PeerId, Link>>,
    next_seq: AtomicU64,
    events: mpsc::UnboundedSender<Event>,
}

/// The external API: plain methods, called through `handle.call(..)` from outside.
impl Pubsub {
    fn new(events: mpsc::UnboundedSender<Event>) -> Self {
        Pubsub {
            new_peers: Queue::new(),
            dead_peers: Queue::new(),
            outgoing: Queue::new(),
            peers: Mutex::new(BTreeMap::new()),
            next_seq: AtomicU64::new(1),
            events,
        }
    }

    fn add_peer(&self, id: &str) {
        self.new_peers.push(id.to_owned());
    }

    fn remove_peer(&self, id: &str) {
        self.dead_peers.push(id.to_owned());
    }

    /// Queues `data` for every live peer; returns its sequence number.
    fn publish(&self, data: &str) -> u64 {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        self.outgoing.push(Message {
            seq,
            data: data.to_owned(),
        });
        seq
    }

    fn live_peers(&self) -> Vec<PeerId> {
        self.peers.lock().unwrap().keys().cloned().collect()
    }
}

/// The daemons. None of them watches `cx.cancelled()`: when the router stops, each is
/// aborted at its `.await` (after its children, the peers, are done).
#[service]
impl Pubsub {
    /// Starts a child service per new peer: `Pubsub/handle_peer_queue/peer-alice`.
    #[daemon]
    async fn handle_peer_queue(&self, cx: &Context) -> Result<(), LifecycleError> {
        let mut queue = self.new_peers.rx.lock().await;
        while let Some(id) = queue.recv().await {
            let (inbox, messages) = mpsc::unbounded_channel();
            // dave runs an old client that takes messages of 16 bytes at most.
            let max_message = if id == "dave" { 16 } else { 1024 };
            let peer = Peer {
                id: id.clone(),
                messages: Mutex::new(Some(messages)),
                max_message,
                events: self.events.clone(),
            };
            let service = cx.run_child_service(peer)?;
            self.peers
                .lock()
                .unwrap()
                .insert(id.clone(), Link { inbox, service });
            info!(peer = %id, "peer joined");
            let _ = self.events.send(Event::Joined(id));
        }
        Ok(())
    }

    /// Stops a removed peer's service, then forgets the peer.
    #[daemon]
    async fn handle_dead_peer_queue(&self) {
        let mut queue = self.dead_peers.rx.lock().await;
        while let Some(id) = queue.recv().await {
            let Some(link) = self.peers.lock().unwrap().remove(&id) else {
                continue;
            };
            // Stopping a child service is not a failure; when `stop` returns, every task of
            // the peer is done. Its inbox is closed only then.
            let _ = link.service.stop().await;
            drop(link);
            info!(peer = %id, "peer left");
            let _ = self.events.send(Event::Left(id));
        }
    }

    /// Sends each published message to every live peer.
    #[daemon]
    async fn handle_outgoing(&self) {
        let mut queue = self.outgoing.rx.lock().await;
        while let Some(message) = queue.recv().await {
            for link in self.peers.lock().unwrap().values() {
                let _ = link.inbox.send(message.clone());
            }
        }
    }
}

/// One connected peer: a child service of the router, written by hand because its name is
/// chosen at run time (it is its segment in task paths: `peer-alice`).
struct Peer {
    id: PeerId,
    messages: Mutex<Option<mpsc::UnboundedReceiver<Message>>>,
    max_message: usize,
    events: mpsc::UnboundedSender<Event>,
}

impl Service for Peer {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let messages = self
            .messages
            .lock()
            .unwrap()
            .take()
            .ok_or("a peer runs once")?;
        cx.run_daemon_task("read", move |_cx| self.read(messages))?;
        Ok(())
    }

    fn name(&self) -> Cow<'static, str> {
        format!("peer-{}", self.id).into()
    }
}

impl Peer {
    async fn read(
        self: Arc<Self>,
        mut messages: mpsc::UnboundedReceiver<Message>,
    ) -> Result<(), String> {
        while let Some(Message { seq, data }) = messages.recv().await {
            if data.len() > self.max_message {
                return Err(format!(
                    "message #{seq} is {} bytes, over this peer's {}-byte limit",
                    data.len(),
                    self.max_message
                ));
            }
            info!(seq, %data, "received");
            let _ = self.events.send(Event::Delivered {
                peer: self.id.clone(),
                seq,
            });
        }
        Ok(())
    }
}

/// Drives the router from outside, waiting on its events; returns its outcome.
struct Script {
    pubsub: ServiceHandle<Pubsub>,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Script {
    /// The next event. A time limit guards against a script that waits for nothing.
    async fn next_event(&mut self) -> Result<Event, String> {
        tokio::select! {
            event = self.events.recv() => event.ok_or_else(|| "the router is gone".to_owned()),
            outcome = self.pubsub.wait_finished() => Err(format!("the router stopped: {outcome:?}")),
            () = tokio::time::sleep(Duration::from_secs(5)) => Err("no event within 5 s".to_owned()),
        }
    }

    async fn add(&mut self, peers: &[&'static str]) -> Result<(), String> {
        for &id in peers {
            self.call(move |ps| ps.add_peer(id)).await?;
        }
        for _ in peers {
            match self.next_event().await? {
                Event::Joined(id) if peers.contains(&id.as_str()) => {}
                other => return Err(format!("unexpected {other:?}")),
            }
        }
        let live = self.call(|ps| ps.live_peers()).await?;
        println!("peers: {}", live.join(", "));
        Ok(())
    }

    async fn remove(&mut self, id: &'static str) -> Result<(), String> {
        self.call(move |ps| ps.remove_peer(id)).await?;
        match self.next_event().await? {
            Event::Left(left) if left == id => {}
            other => return Err(format!("unexpected {other:?}")),
        }
        let live = self.call(|ps| ps.live_peers()).await?;
        println!("removed {id}; peers: {}", live.join(", "));
        Ok(())
    }

    /// Publishes `data` and waits until every live peer has it.
    async fn publish(&mut self, data: &'static str) -> Result<(), String> {
        let live = self.call(|ps| ps.live_peers()).await?;
        let seq = self.call(move |ps| ps.publish(data)).await?;
        let mut delivered = Vec::new();
        while delivered.len() < live.len() {
            match self.next_event().await? {
                Event::Delivered { peer, seq: got } if got == seq => delivered.push(peer),
                other => return Err(format!("unexpected {other:?}")),
            }
        }
        delivered.sort();
        println!("#{seq} {data:?} delivered to: {}", delivered.join(", "));
        Ok(())
    }

    /// An external call into the router.
    async fn call<T>(&self, f: impl FnOnce(&Pubsub) -> T) -> Result<T, String> {
        self.pubsub
            .call(|ps| async move { f(&ps) })
            .await
            .map_err(|e| e.to_string())
    }

    async fn run(&mut self) -> Result<(), String> {
        self.add(&["alice", "bob", "carol", "dave"]).await?;
        self.publish("hello").await?;
        self.remove("bob").await?;
        self.publish("bob left").await?;
        // Too large for dave: his `read` task fails, and with it the router.
        let seq = self
            .call(|ps| ps.publish("a message of more than 16 bytes"))
            .await?;
        println!("#{seq} is too large for dave");
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_examples::init_tracing();
    if let Err(e) = service_examples::no_arguments() {
        return service_examples::fail(&e);
    }
    let (events, receiver) = mpsc::unbounded_channel();
    let mut script = Script {
        pubsub: Pubsub::new(events).start(),
        events: receiver,
    };
    if let Err(e) = script.run().await {
        return service_examples::fail(&format!("the pubsub script failed: {e}"));
    }
    let outcome = script.pubsub.wait_finished().await;
    // The guard at work: the router is finished, so calls into it are refused.
    if let Err(refused) = script.call(|ps| ps.publish("anyone there?")).await {
        println!("publish after the crash: {refused}");
    }
    match outcome {
        Err(error) if error.failures().len() == 1 => {
            println!("Pubsub stopped with the expected failure:\n  {error}");
            for failure in error.failures() {
                println!("  failure: path={} kind={}", failure.path(), failure.kind());
            }
            std::process::ExitCode::SUCCESS
        }
        other => service_examples::fail(&format!("unexpected outcome: {other:?}")),
    }
}
