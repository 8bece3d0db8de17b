//! The mirror crate's integration tests: against librdkafka's mock cluster
//! (`rdkafka::mocking::MockCluster`), through the crate's public API and
//! the edge store's. End-to-end tests through the `millrace` binary (a
//! second `millrace serve` as the target, kill -9, a cut link) are in
//! cli/tests/it/mirror_*.rs.

mod mock;
