//! The Kafka wire-protocol wing (issue 21, design/kafka.md): everything a
//! Kafka client's bytes go through before they reach the service layer, and
//! nothing the engine sees. Sub-folders:
//!
//! - [`records`]: record batch v2 (magic 2) decoding, validation and
//!   encoding, bounded decompression (gzip, snappy, lz4, zstd), and the
//!   mapping between Kafka records and the engine's records.
//!
//! Wire types never leak into the engine: the mapping produces
//! [`millrace::Record`]s and reads [`millrace::StoredRecord`]s.

pub mod records;
