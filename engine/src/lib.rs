//! Millrace: an embedded log-structured pipeline storage engine.
//!
//! A [`Store`] is a data directory of topics; a topic has partitions; a
//! partition is a sequence of segments of CRC-checked batches. See
//! `design/format.md` and `design/durability.md`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod batch;
pub mod error;
pub mod index;
pub mod storage;
pub mod sync;

pub use batch::{Record, StoredRecord};
pub use error::{CorruptionKind, Error, Result};
