//! Arbitrary bytes as one of the files a store reads when it opens, other
//! than its segments (`topic.meta`, `producers.registry`, a producer
//! snapshot, an index, `start.offset`), or as the value of an internal
//! record (`__offsets`, `__transactions`, `__attempts`, `__offset_resets`):
//! the first byte picks which. Then `Store::open`: `Ok` or an error, never a
//! panic, allocation within `fuzz_metadata::allocation_bound_bytes`; a store
//! that opened must read, append, close and reopen. The check is
//! `millrace_tests::fuzz_metadata::check_metadata_open`, which
//! `tests/tests/it/fuzz_corpus.rs` replays over `corpus/metadata_open` in CI.
//! Run with
//! `cd fuzz && cargo fuzz run --sanitizer none metadata_open -- -max_total_time=180`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOCATOR: millrace_tests::alloc_track::TrackingAllocator = millrace_tests::alloc_track::TrackingAllocator;

fuzz_target!(|data: &[u8]| {
    millrace_tests::fuzz_metadata::check_metadata_open(data);
});
