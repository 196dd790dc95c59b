#!/usr/bin/env bash
# Compile cost of the DSL: the build time of a crate with N services written with the
# macros (`#[service]` struct + impl with a task, a daemon and a child), against the same
# N services written by hand, each started once so that its code is generated.
# Dependencies are built first and shared, so the times compare the two crates alone.
# Not run by CI (timings are noisy); run it by hand:
#
#     scripts/compile-cost.sh [N=50] [RUNS=3]
#
# Prints the best of RUNS builds of each crate (`cargo build`, debug) and their ratio.
set -euo pipefail

n=${1:-50}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$work/target"

manifest() { # name
    cat <<EOF
[package]
name = "cost-$1"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
service-runtime = { path = "$root/service-runtime" }

[workspace]
EOF
}

common() {
    cat <<'EOF'
#![allow(dead_code, missing_docs, unused_imports)]
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use service_runtime::prelude::*;

pub struct Leaf;

impl Service for Leaf {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        cx.cancelled().await;
        Ok(())
    }
}
EOF
}

macro_service() { # index
    cat <<EOF

#[service(grace = "2s")]
pub struct Node$1 {
    peers: Vec<String>,
    count: AtomicU64,
}

#[service]
impl Node$1 {
    #[task]
    async fn announce(&self) -> Result<(), std::io::Error> {
        self.count.fetch_add(self.peers.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    #[daemon]
    async fn gossip(&self, cx: &Context) {
        cx.cancelled().await;
    }

    #[child]
    fn store(&self) -> Leaf {
        Leaf
    }
}
EOF
}

hand_service() { # index
    cat <<EOF

pub struct Node$1 {
    peers: Vec<String>,
    count: AtomicU64,
}

impl Node$1 {
    pub fn new(peers: Vec<String>, count: AtomicU64) -> Self {
        Self { peers, count }
    }

    async fn announce(&self) -> Result<(), std::io::Error> {
        self.count.fetch_add(self.peers.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn gossip(&self, cx: &Context) {
        cx.cancelled().await;
    }

    fn store(&self) -> Leaf {
        Leaf
    }
}

impl Service for Node$1 {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        let this = Arc::clone(&self);
        cx.run_task("announce", move |_cx| async move { this.announce().await })?;
        let this = Arc::clone(&self);
        cx.run_daemon_task("gossip", move |cx| async move { this.gossip(&cx).await })?;
        cx.run_child_service(self.store())?;
        Ok(())
    }

    fn name(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Node$1")
    }

    fn options(&self) -> Options {
        let mut options = Options::default();
        options.grace = Duration::from_secs(2);
        options
    }
}
EOF
}

for kind in macro hand; do
    mkdir -p "$work/$kind/src"
    manifest "$kind" > "$work/$kind/Cargo.toml"
    {
        common
        for i in $(seq 1 "$n"); do "${kind}_service" "$i"; done
        # Start every service, so that their futures are compiled too, not only checked.
        echo
        echo 'pub fn start_all() {'
        for i in $(seq 1 "$n"); do
            echo "    let _ = Node$i::new(Vec::new(), AtomicU64::new(0)).start();"
        done
        echo '}'
    } > "$work/$kind/src/lib.rs"
done

# Warm up: build the dependencies (and the macro crate) once.
for kind in macro hand; do
    cargo build --quiet --manifest-path "$work/$kind/Cargo.toml"
done

best() { # kind
    local best=""
    for _ in $(seq 1 "$runs"); do
        touch "$work/$1/src/lib.rs"
        local start end elapsed
        start=$(date +%s.%N)
        cargo build --quiet --manifest-path "$work/$1/Cargo.toml"
        end=$(date +%s.%N)
        elapsed=$(echo "$end - $start" | bc)
        if [ -z "$best" ] || [ "$(echo "$elapsed < $best" | bc)" = 1 ]; then best=$elapsed; fi
    done
    echo "$best"
}

macro_time=$(best macro)
hand_time=$(best hand)
printf '%d services, best of %d builds each\n' "$n" "$runs"
printf 'with the macros: %.2f s\n' "$macro_time"
printf 'by hand:         %.2f s\n' "$hand_time"
printf 'ratio:           %.2f\n' "$(echo "$macro_time / $hand_time" | bc -l)"
