//! The messages of the phase-1 API set, one module per API family; each
//! cites the Kafka message JSON it follows (apache/kafka
//! `clients/src/main/resources/common/message/*.json`).

pub mod api_versions;
pub mod configs;
pub mod fetch;
pub mod groups;
pub mod list_offsets;
pub mod metadata;
pub mod offsets;
pub mod produce;
pub mod sasl;
pub mod topics;
pub mod txn;
