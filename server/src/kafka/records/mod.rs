//! Kafka record batches (magic 2) and their compression, and the mapping
//! between Kafka records and the engine's (design/kafka.md, "Records and
//! compression"):
//!
//! - [`batch`]: the fixed header, CRC-32C, [`Batches`] of a `records` field;
//! - [`record`]: the borrowed [`Record`] view and its iterator, [`BatchWriter`];
//! - [`compression`]: gzip, snappy (raw and xerial), lz4 (frame), zstd, with
//!   a bounded output size;
//! - [`produce`]: the produce-time rules and Kafka → the engine's records
//!   (borrowed: [`ProducedRecord`]; owned: [`millrace::Record`]);
//! - [`fetch`]: engine records → Kafka batches for Fetch responses.
//!
//! Decoding borrows from the input (or the decompressed records) and checks
//! every count and length against the bytes left before using it; errors are
//! [`RecordsError`]s naming the field and position.

pub mod batch;
pub mod compression;
mod cursor;
mod error;
pub mod fetch;
#[doc(hidden)]
pub mod fuzz;
pub mod produce;
pub mod record;

pub use batch::{
    Attributes, BatchHeader, Batches, RecordBatch, TimestampType, BATCH_HEADER_BYTES, MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
};
pub use compression::{compress, decompress, Compression, ZSTD_WINDOW_BYTES_MAX};
pub use error::{kafka_code, RecordsError};
pub use fetch::{encode_read_batch, FetchBatchWriter};
pub use produce::{produce_batch, produced_records, to_engine_records, ProducedRecord};
pub use record::{BatchFields, BatchWriter, Headers, Record, RecordIter, RECORD_BYTES_MIN};
