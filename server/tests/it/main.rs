//! The server's integration tests, one binary: each file is a module, the
//! shared helpers (a server on an ephemeral port, a raw frame socket) are
//! `common`. The kill -9 test is its own binary (`server/tests/kill9.rs`: a
//! child spawned while another test closes a store holds a copy of its lock
//! descriptor until it execs). README.md, "Where a new test goes".

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests: a panic is the failure report (clippy.toml allows unwrap and indexing inside #[test] functions, this also \
              in helpers); a test is a scenario read top to bottom"
)]

mod authorization;
mod blocking_client;
mod blocking_producer;
mod common;
mod consumer;
mod contract_enforce;
mod contract_metrics;
mod damaged_partitions;
mod e2e;
mod error_codes;
mod fail_record;
mod fast_path;
mod fetch_encode;
mod fetch_resume;
mod fuzz_corpus;
mod group_delete;
mod group_limit;
mod hostile;
mod idle_memory;
mod internal_topics;
mod kafka_codec;
mod kafka_hostile;
mod kafka_pipelined;
mod kafka_records;
mod layering;
mod listing_pages;
mod load;
mod metrics_http;
mod paging;
mod permissions;
mod pipelined;
mod produce_frame;
mod producer;
mod protocol_doc;
mod reset_audit;
mod tls;
mod token_group_limit;
