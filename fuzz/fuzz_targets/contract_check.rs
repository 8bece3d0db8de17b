//! Arbitrary contract YAML, a registered schema and records through
//! `millrace::contract::fuzz::check`: parse, compile, check and observe; no
//! panic, bounded time and memory (regexes and recursive schemas included; no
//! remote `$ref` is ever fetched). `engine/tests/it/contract_fuzz.rs` replays
//! `corpus/contract_check` in CI.
//! Run with `cd fuzz && cargo +nightly fuzz run --sanitizer none contract_check -- -max_total_time=600 -timeout=5 -rss_limit_mb=1024`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = millrace::contract::fuzz::check(data);
});
