//! The Kafka wire-protocol wing (issue 21, `design/kafka.md`): everything a
//! Kafka client's bytes go through before they reach the service layer, and
//! nothing the engine sees. Self-contained: wire types never leak into the
//! engine, and the native protocol (`crate::protocol`) is not touched.
//!
//! - [`protocol`]: the request/response codec (primitives incl. the flexible
//!   forms, headers v0–v2, the API/version table and KIP-511 fallback, every
//!   message of the phase-1 API set);
//! - [`records`]: record batch v2 (magic 2) decoding, validation and
//!   encoding, bounded decompression (gzip, snappy, lz4, zstd), and the
//!   mapping between Kafka records and the engine's records
//!   ([`millrace::Record`] in, [`millrace::StoredRecord`] out);
//! - [`front`]: the listener, connections and handlers over the service layer.

pub mod front;
pub mod protocol;
pub mod records;
