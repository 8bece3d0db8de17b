//! Arbitrary bytes through `millrace::batch::verify` and `decode_records`
//! (as given, with the CRC recomputed, and header-parsed only): no panic,
//! exact re-encoding, allocation within `allocation_bound_bytes`. The check is
//! `millrace_tests::fuzz_checks::check_batch_decode`, which
//! `tests/tests/it/fuzz_corpus.rs` replays over `corpus/batch_decode` in CI.
//! Run with `cd fuzz && cargo +nightly fuzz run --sanitizer none batch_decode -- -max_total_time=180`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOCATOR: millrace_tests::alloc_track::TrackingAllocator = millrace_tests::alloc_track::TrackingAllocator;

fuzz_target!(|data: &[u8]| {
    millrace_tests::fuzz_checks::check_batch_decode(data);
});
