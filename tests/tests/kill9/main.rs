//! The kill -9 suites, one test binary: each kills a child (`src/bin/*`,
//! spawned through `millrace_tests::kill9`) over and over and checks the store
//! it leaves. Not in `it`: a child spawned while another test of the same
//! process closes a store holds a copy of the store's lock descriptor until it
//! execs, so that test's reopen can fail with `Locked` (seen with the fuzz
//! corpus replay, which reopens thousands of stores).

#![expect(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests: a panic is the failure report (clippy.toml allows unwrap inside #[test] functions, this also in \
              helpers); a test is a scenario read top to bottom"
)]

mod kill9;
mod kill9_producer;
mod pipeline_kill9;
