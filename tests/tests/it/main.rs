//! The crash wing of the engine, one test binary: the power-cut simulation,
//! the fuzz-corpus replay, hostile segment files and allocation bounds. The
//! kill -9 suites are the `kill9` binary (see there why). README.md, "Where a
//! new test goes".

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a panic is the failure report (clippy.toml allows unwrap and indexing inside #[test] functions, this also \
              in helpers); a test is a scenario read top to bottom"
)]

/// Counts allocations per thread (`allocation_bounds`, `fuzz_corpus`); the
/// other modules only pay a thread-local add per allocation.
#[global_allocator]
static ALLOCATOR: millrace_tests::alloc_track::TrackingAllocator = millrace_tests::alloc_track::TrackingAllocator;

mod allocation_bounds;
mod fuzz_corpus;
mod hostile_segment_files;
mod kafka_allocation;
mod kafka_records_alloc;
mod produce_frame_alloc;
mod simulation;
