//! Arbitrary bytes as the only segment file of a one-topic store, then
//! `Store::open`: `Ok` or a typed `Corruption` at the first invalid batch,
//! never a panic; reads agree with an independent decode; allocation within
//! `allocation_bound_bytes`. The check is
//! `millrace_tests::fuzz_checks::check_segment_recovery`, which
//! `tests/tests/it/fuzz_corpus.rs` replays over `corpus/segment_recovery` in CI.
//! Each input is laid out as a store on disk (under /dev/shm where it exists,
//! see `scratch_dir`), as the last segment and as a sealed one. Run with
//! `cd fuzz && cargo +nightly fuzz run --sanitizer none segment_recovery -- -max_total_time=180`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOCATOR: millrace_tests::alloc_track::TrackingAllocator = millrace_tests::alloc_track::TrackingAllocator;

fuzz_target!(|data: &[u8]| {
    millrace_tests::fuzz_checks::check_segment_recovery(data);
});
