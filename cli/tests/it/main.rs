//! The `millrace` binary's end-to-end tests, one test binary: each file is a
//! module running the built `millrace` (assert_cmd), the shared helpers are
//! `common`; checked-in data directories are in `cli/tests/fixtures`.
//! README.md, "Where a new test goes".

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a panic is the failure report (clippy.toml allows unwrap and indexing inside #[test] functions, this also \
              in helpers); a test is a scenario read top to bottom"
)]

mod attempts_damage;
mod audit_lag_paging;
mod bench_interrupt;
mod check_damaged_topic;
mod check_repair;
mod common;
mod completions_bench;
mod consume_produce_ops;
mod contract;
mod contract_adherence;
mod contract_framing;
mod contract_retry;
mod contract_server;
mod damage_online;
mod damage_scope;
mod damaged_reads;
mod data_dir;
mod dlq;
mod dlq_fail;
mod dlq_recreate;
mod durability_live;
mod durations_typed;
mod file_safety;
mod group_delete;
mod group_describe_auth;
mod group_paging;
mod help_usage;
mod hole_index;
mod internal_names;
mod kafka_clients;
mod kafka_cluster;
mod kafka_cluster_id;
mod kafka_configs;
mod kafka_data;
mod kafka_dlq_txn;
mod kafka_groups;
mod kafka_idempotence;
mod kafka_producer_ids;
mod kafka_txn;
mod live_inspect;
#[cfg(feature = "mirror")]
mod mirror_e2e;
#[cfg(feature = "mirror")]
mod mirror_secure;
#[cfg(feature = "mirror")]
mod mirror_serve;
mod null_values;
mod offset_reuse;
mod offsets;
mod offsets_plans;
mod oversized;
mod poisoned_earlier;
mod poisoned_stats;
mod produce_interrupt;
mod read_only;
mod readme;
mod readme_walk;
mod registry;
mod registry_kill9;
mod repair_gap_restore;
mod repair_restore_undo;
mod replay;
mod schema_walk;
mod serve_banner;
mod serve_security;
mod server;
mod status_watch;
mod terminal;
mod topic_alter;
mod topic_config_values;
mod topic_history;
mod topic_produce_consume;
mod topic_quota;
