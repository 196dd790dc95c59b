//! W3's start-up and cancellation apart, for counting instructions (`scripts/phases.sh`):
//! `overhead --phases <tokio|tokio-joinset|runtime> <trees>` runs `trees` W3 trees one after
//! another on a current-thread runtime, each started inside [`phase_start`] and cancelled
//! inside [`phase_cancel`]. A current-thread runtime runs every task inside the `block_on` of
//! the function that waits for it, so callgrind's `--toggle-collect=<function>` counts
//! exactly the work of one phase (all the tasks it ran), which the multi-threaded runtime of
//! the timed runs spreads over its workers.
//!
//! `tokio-joinset` is a reference the timed runs do not have: the plain tree written to lose
//! no panic (`JoinSet` in place of `TaskTracker`), which is what the runtime guarantees.

use std::hint::black_box;

use tokio::runtime::Runtime;

use crate::{Side, plain, services};

/// The flag that selects this mode (first argument).
pub(crate) const FLAG: &str = "--phases";

/// W3's shape, as in the timed runs: fan-out 10, depth 3, 1,111 services.
const FANOUT: usize = 10;
const DEPTH: u32 = 3;
const SERVICES: usize = 1111;

/// Which tree a run builds.
#[derive(Clone, Copy)]
enum Kind {
    /// The plain side's, as timed.
    Tokio,
    /// The plain side's, collecting its tasks' panics.
    TokioJoinSet,
    /// The runtime side's.
    Runtime,
}

impl Kind {
    /// The kind an argument names: a [`Side`], or `tokio-joinset`.
    fn parse(name: &str) -> Option<Kind> {
        match (name, Side::parse(name)) {
            ("tokio-joinset", _) => Some(Kind::TokioJoinSet),
            (_, Some(Side::Tokio)) => Some(Kind::Tokio),
            (_, Some(Side::Runtime)) => Some(Kind::Runtime),
            (_, None) => None,
        }
    }
}

/// A started tree of any kind.
enum Tree {
    Tokio(plain::Tree),
    TokioJoinSet(plain::JoinedTree),
    Runtime(service_runtime::ServiceHandle<services::Tree>),
}

/// `args`: the kind (`tokio`, `tokio-joinset` or `runtime`) and how many trees to run.
pub(crate) fn main(args: &[String]) {
    fn usage<T>() -> T {
        panic!("usage: overhead {FLAG} <tokio|tokio-joinset|runtime> <trees>")
    }
    let kind = args
        .first()
        .and_then(|kind| Kind::parse(kind))
        .unwrap_or_else(usage);
    let trees: usize = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(usage);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build tokio runtime");
    for _ in 0..trees {
        let tree = phase_start(&rt, kind);
        phase_cancel(&rt, tree);
    }
}

/// Starts one tree and returns once every daemon runs.
#[inline(never)]
fn phase_start(rt: &Runtime, kind: Kind) -> Tree {
    rt.block_on(async {
        match kind {
            Kind::Tokio => Tree::Tokio(black_box(plain::w3_start(FANOUT, DEPTH, SERVICES).await).0),
            Kind::TokioJoinSet => Tree::TokioJoinSet(black_box(
                plain::joined_w3_start(FANOUT, DEPTH, SERVICES).await,
            )),
            Kind::Runtime => {
                Tree::Runtime(black_box(services::w3_start(FANOUT, DEPTH, SERVICES).await).0)
            }
        }
    })
}

/// Cancels the tree and returns once it is finished.
#[inline(never)]
fn phase_cancel(rt: &Runtime, tree: Tree) {
    rt.block_on(async {
        match tree {
            Tree::Tokio(tree) => {
                black_box(plain::w3_cancel(tree).await);
            }
            Tree::TokioJoinSet(tree) => plain::joined_w3_cancel(tree).await,
            Tree::Runtime(handle) => {
                black_box(services::w3_cancel(handle).await);
            }
        }
    });
}
