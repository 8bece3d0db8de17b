//! The Kafka wire-protocol wing (issue 21, `design/kafka.md`): what lets
//! Kafka clients talk to `millrace serve`. Self-contained: wire types never
//! leak into the engine, and the native protocol (`crate::protocol`) is not
//! touched.
//!
//! - [`protocol`]: the request/response codec (primitives incl. the flexible
//!   forms, headers v0–v2, the API/version table and KIP-511 fallback, every
//!   message of the phase-1 API set);
//! - `records`: record batch v2, compression, the mapping to engine records;
//! - `front` (next phase): the listener and handlers over the service layer.

pub mod protocol;
