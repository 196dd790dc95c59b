//! Reliability: randomized stress with deterministic seeds, named fault cases, and (ignored,
//! release mode) load runs. See `RELIABILITY.md` for what is checked and the figures.
//!
//! Two fault cases that need process-wide state live in binaries of their own:
//! `reliability_tracing` (`abort_warning.rs`) and `reliability_memory` (`memory.rs`).

mod faults;
mod load;
mod stress;
