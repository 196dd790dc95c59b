//! Compile-time behaviour of the macros, and of the runtime's diagnostics that they share
//! (`IntoTaskResult`'s, also reported for `run_task`): one `tests/ui/<problem>.rs` per diagnostic, with
//! the expected compiler output next to it in `<problem>.stderr`, and `tests/ui/pass/` for
//! tricky input that must compile (and run).
//!
//! After changing a diagnostic, regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p service-tests --test ui` and review every changed
//! `.stderr` by eye: the error must point at the tokens at fault and say what to write.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
    cases.pass("ui/pass/*.rs");
}
