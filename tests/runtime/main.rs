//! Behaviour of the runtime, one module per area, named after the catalogue in
//! `shared/BEHAVIOURS.md` (item numbers in the test docs).

mod background;
mod budget;
mod cancellation;
mod children;
mod contained;
mod daemons;
mod edges;
mod errors;
mod external;
mod lifecycle;
mod limits;
mod observability;
mod orphans;
mod readiness;
mod run;
mod stats;
mod supervision;
mod tasks;
