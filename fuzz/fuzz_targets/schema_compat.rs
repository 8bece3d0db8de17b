//! Arbitrary pairs of Avro or JSON schemas through
//! `millrace::schema::fuzz::compat`: parsing and the compatibility checker
//! at every level; no panic, bounded time and memory (recursive schemas,
//! `$ref` cycles and regexes included; no remote `$ref` is ever fetched).
//! `engine/tests/it/schema_compat_fuzz.rs` replays `corpus/schema_compat` in CI.
//! Run with `cd fuzz && cargo +stable fuzz run --sanitizer none schema_compat -- -max_total_time=300 -timeout=5 -rss_limit_mb=1024`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = millrace::schema::fuzz::compat(data);
});
