//! The engine's integration tests, one binary: each file is a module, the
//! shared helpers are `common`. The loom models need `--cfg loom` and stay
//! separate binaries (`engine/tests/loom*.rs`). README.md, "Where a new test
//! goes".

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a panic is the failure report (clippy.toml allows unwrap and indexing inside #[test] functions, this also \
              in helpers); a test is a scenario read top to bottom"
)]

mod anonymous_producers;
mod borrowed_append;
mod close;
mod common;
mod consume_in_transaction;
mod contract;
mod contract_enforce;
mod contract_fast;
mod contract_fuzz;
mod damaged_reads;
mod delete_leftovers;
mod dlq;
mod dlq_incarnation;
mod durability_switch;
mod durable_wait;
mod faults;
mod format_marker;
mod group_commit_spin;
mod group_delete;
mod handles;
mod index_lag;
mod internal_topics;
mod layering;
mod mirror_floor;
mod model;
mod no_space;
mod null_values;
mod offsets;
mod offsets_model;
mod pending_append;
mod poison_close;
mod poison_record;
mod preallocate;
mod preallocate_once;
mod producer;
mod producer_ids;
mod producer_model;
mod read_only_live;
mod recovery;
mod recovery_embedded;
mod registry_power_cut;
mod release_memory;
mod scanner;
mod schema_compat_fuzz;
mod schema_registry;
mod store_basic;
mod topic_alter;
mod txn;
mod txn_group_limit;
mod txn_limits;
mod txn_pending;
mod txn_staged;
mod txn_timeout;
