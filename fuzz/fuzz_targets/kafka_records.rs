//! Arbitrary bytes as a Kafka `records` field (first byte: the
//! decompression limit) through `millrace_server::kafka::records::fuzz::check`:
//! decode, bounded decompression, re-encode and decode again, the produce
//! rules and the engine mapping; no panic, allocation within
//! `allocation_bound_bytes`. `tests/tests/it/kafka_records_alloc.rs` replays
//! `corpus/kafka_records` in CI.
//! Run with `cd fuzz && cargo +nightly fuzz run --sanitizer none kafka_records -- -max_total_time=600`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millrace_server::kafka::records::fuzz::{allocation_bound_bytes, check};
use millrace_tests::alloc_track::measure;

#[global_allocator]
static ALLOCATOR: millrace_tests::alloc_track::TrackingAllocator = millrace_tests::alloc_track::TrackingAllocator;

fuzz_target!(|data: &[u8]| {
    let ((), stats) = measure(|| check(data));
    let bound = allocation_bound_bytes(data);
    assert!(
        stats.peak_bytes <= bound,
        "allocated {} bytes for a {}-byte input (bound {bound})",
        stats.peak_bytes,
        data.len()
    );
});
