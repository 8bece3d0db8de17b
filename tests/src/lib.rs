//! Shared helpers for the cross-crate integration, crash and end-to-end tests.
//!
//! - [`crash`]: the record scheme of the kill -9 harness, shared by the child
//!   (`src/bin/crash_appender.rs`) and the parent (`tests/kill9.rs`).
//! - [`fuzz_checks`]: the per-input checks of the fuzz targets in `fuzz/`,
//!   also replayed over the checked-in corpus by `tests/fuzz_corpus.rs`.
//! - [`fuzz_metadata`]: the check of the `metadata_open` fuzz target (every
//!   file but the segments, and the internal records), replayed the same way.
//! - [`pipeline`]: the order model of the pipeline kill -9 test, shared by
//!   the service child (`src/bin/pipeline_stage.rs`) and `tests/pipeline_kill9.rs`.
//! - [`alloc_track`]: a counting global allocator used to assert allocation bounds.

pub mod alloc_track;
pub mod crash;
pub mod fuzz_checks;
pub mod fuzz_metadata;
pub mod pipeline;
