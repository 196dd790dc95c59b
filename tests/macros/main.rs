//! Behaviour of services written with the macros (`#[service]`, `#[task]`, `#[daemon]`,
//! `#[child]`): they must behave exactly as the same services written by hand. One module
//! per area; the expansions' compile-time behaviour is in `tests/ui`.

mod contained;
mod failures;
mod forms;
mod functions;
mod generics;
mod handles;
mod instances;
mod lints;
mod options;
mod order;
mod readiness;
mod restart;
