//! Behaviour of the runtime, one module per area; each test's doc line states the behaviour
//! it checks.

mod background;
mod budget;
mod cancellation;
mod children;
mod contained;
mod daemons;
mod diagnostics;
mod drain;
mod edges;
mod errors;
mod external;
mod interop;
mod lifecycle;
mod limits;
mod observability;
mod orphans;
mod outside;
mod readiness;
mod restarting;
mod run;
mod signals;
mod snapshot;
mod stats;
mod supervision;
#[cfg(all(feature = "systemd", unix))]
mod systemd;
mod tasks;
