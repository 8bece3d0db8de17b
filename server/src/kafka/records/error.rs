//! The one error type of the record batch wing: every failure names the field
//! and, where it has one, the byte position (from the start of the batch, or
//! of the decompressed records) that failed.

use super::Compression;

/// Kafka error codes the front answers for [`RecordsError`]s (the numbers are
/// Kafka's, `kafka/common/protocol/Errors.java`).
pub mod kafka_code {
    /// CORRUPT_MESSAGE: a CRC mismatch or bytes that do not parse.
    pub const CORRUPT_MESSAGE: i16 = 2;
    /// MESSAGE_TOO_LARGE: a batch above the size limit once decompressed.
    pub const MESSAGE_TOO_LARGE: i16 = 10;
    /// UNSUPPORTED_COMPRESSION_TYPE: compression codes 5–7.
    pub const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
    /// INVALID_RECORD: a well-formed batch that breaks a produce rule.
    pub const INVALID_RECORD: i16 = 87;
}

/// What can go wrong decoding, validating, decompressing, mapping or encoding
/// a Kafka record batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    /// Fewer bytes left than the field needs.
    #[error("record batch truncated: {field} at byte {position} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Its byte position.
        position: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A varint longer than its type allows (5 bytes for 32 bits, 10 for 64).
    #[error("record batch: {field} at byte {position} is a varint longer than its type")]
    BadVarint {
        /// The field being read.
        field: &'static str,
        /// Its byte position.
        position: usize,
    },
    /// A negative length where none is allowed, or below -1 for a nullable field.
    #[error("record batch: {field} at byte {position} has invalid length {length}")]
    InvalidLength {
        /// The field being read.
        field: &'static str,
        /// Its byte position.
        position: usize,
        /// The length read.
        length: i64,
    },
    /// `batchLength` below the fixed header or above the bytes given.
    #[error("record batch at byte {position}: batch length {length} is invalid ({available} bytes left)")]
    BadBatchLength {
        /// Position of the batch.
        position: usize,
        /// The batch length read.
        length: i32,
        /// Bytes left after the length field.
        available: usize,
    },
    /// Magic 0 or 1 (legacy message sets) or unknown: only magic 2 is accepted.
    #[error("record batch magic {magic} is not supported (only magic 2 record batches)")]
    UnsupportedMagic {
        /// The magic byte read.
        magic: i8,
    },
    /// The CRC-32C over attributes..end does not match the stored one.
    #[error("record batch at base offset {base_offset}: CRC-32C stored {stored:#010x}, computed {computed:#010x}")]
    CorruptMessage {
        /// The batch's base offset.
        base_offset: i64,
        /// CRC in the batch.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// Compression code 5, 6 or 7.
    #[error("record batch: unknown compression code {code}")]
    UnsupportedCompression {
        /// The attributes' low three bits.
        code: u8,
    },
    /// The compressed bytes do not decompress.
    #[error("record batch: {codec:?} data is invalid")]
    CompressedDataInvalid {
        /// The codec.
        codec: Compression,
    },
    /// The records decompress to more than the caller's limit.
    #[error("record batch: {codec:?} data decompresses to more than {limit} bytes")]
    DecompressedTooLarge {
        /// The codec.
        codec: Compression,
        /// The limit.
        limit: usize,
    },
    /// A zstd frame asks for a window larger than this server accepts.
    #[error("record batch: zstd frame window of {window} bytes is above {max}")]
    ZstdWindowTooLarge {
        /// Window size the frame declares.
        window: u64,
        /// The most accepted.
        max: u64,
    },
    /// `recordCount` negative, zero, or more records than the bytes can hold.
    #[error("record batch: record count {count} is invalid for {bytes} bytes of records")]
    BadRecordCount {
        /// The record count read.
        count: i32,
        /// Bytes of (decompressed) records.
        bytes: usize,
    },
    /// A record's `length` does not match the bytes its fields take.
    #[error("record {index}: length {length} but its fields take {consumed} bytes")]
    RecordLengthMismatch {
        /// Index of the record in its batch.
        index: usize,
        /// Its length field.
        length: usize,
        /// Bytes its fields took.
        consumed: usize,
    },
    /// Bytes left after the last record the count announced.
    #[error("record batch: {trailing} bytes after its {count} records")]
    TrailingBytes {
        /// The record count.
        count: i32,
        /// Bytes left over.
        trailing: usize,
    },
    /// A header key that is not UTF-8.
    #[error("record {index}: header {header} key is not UTF-8")]
    HeaderKeyNotUtf8 {
        /// Index of the record in its batch.
        index: usize,
        /// Index of the header in the record.
        header: usize,
    },
    /// Offset deltas must run 0, 1, …, n-1.
    #[error("record {index}: offset delta {offset_delta}, expected {index}")]
    OffsetDeltaOutOfOrder {
        /// Index of the record in its batch.
        index: usize,
        /// Its offset delta.
        offset_delta: i32,
    },
    /// `lastOffsetDelta` must be `recordCount - 1`.
    #[error("record batch: last offset delta {last_offset_delta} with {count} records")]
    LastOffsetDeltaMismatch {
        /// The last offset delta read.
        last_offset_delta: i32,
        /// The record count.
        count: i32,
    },
    /// A producer may not write control batches.
    #[error("record batch: producers may not write control batches")]
    ControlBatchFromProducer,
    /// An idempotent batch (producer id set) with a negative base sequence.
    #[error("record batch: producer id {producer_id} with base sequence {base_sequence}")]
    InvalidSequence {
        /// The producer id.
        producer_id: i64,
        /// The base sequence.
        base_sequence: i32,
    },
    /// Produce v3+ carries exactly one batch per partition.
    #[error("produce: {found} record batches for one partition, exactly one expected")]
    BatchCount {
        /// Batches found (0, or 2 = more than one).
        found: usize,
    },
    /// A record's timestamp (base + delta) overflows.
    #[error("record {index}: timestamp delta overflows the base timestamp")]
    TimestampOverflow {
        /// Index of the record in its batch.
        index: usize,
    },
    /// A null value (tombstone): the engine cannot store it yet.
    #[error("record {index}: null values (tombstones) are not supported yet")]
    NullValueUnsupported {
        /// Index of the record in its batch.
        index: usize,
    },
    /// A null header value: the engine cannot store it yet.
    #[error("record {index}: header {header} has a null value, not supported yet")]
    NullHeaderValueUnsupported {
        /// Index of the record in its batch.
        index: usize,
        /// Index of the header in the record.
        header: usize,
    },
    /// Encoding: a value that does not fit its Kafka field (an offset above
    /// `i64::MAX`, more than `i32::MAX` records or bytes, a field longer than
    /// `i32::MAX`).
    #[error("encoding a record batch: {field} does not fit")]
    DoesNotFit {
        /// The field.
        field: &'static str,
    },
    /// Encoding with a codec this build cannot compress with (zstd).
    #[error("encoding a record batch: {codec:?} compression is not available")]
    CompressionUnavailable {
        /// The codec.
        codec: Compression,
    },
}

impl RecordsError {
    /// The Kafka error code a Produce response carries for this error.
    pub fn kafka_code(&self) -> i16 {
        match self {
            RecordsError::Truncated { .. }
            | RecordsError::BadVarint { .. }
            | RecordsError::InvalidLength { .. }
            | RecordsError::BadBatchLength { .. }
            | RecordsError::CorruptMessage { .. }
            | RecordsError::CompressedDataInvalid { .. }
            | RecordsError::BadRecordCount { .. }
            | RecordsError::RecordLengthMismatch { .. }
            | RecordsError::TrailingBytes { .. }
            | RecordsError::ZstdWindowTooLarge { .. } => kafka_code::CORRUPT_MESSAGE,
            RecordsError::DecompressedTooLarge { .. } => kafka_code::MESSAGE_TOO_LARGE,
            RecordsError::UnsupportedCompression { .. } | RecordsError::CompressionUnavailable { .. } => {
                kafka_code::UNSUPPORTED_COMPRESSION_TYPE
            }
            RecordsError::UnsupportedMagic { .. }
            | RecordsError::HeaderKeyNotUtf8 { .. }
            | RecordsError::OffsetDeltaOutOfOrder { .. }
            | RecordsError::LastOffsetDeltaMismatch { .. }
            | RecordsError::ControlBatchFromProducer
            | RecordsError::InvalidSequence { .. }
            | RecordsError::BatchCount { .. }
            | RecordsError::TimestampOverflow { .. }
            | RecordsError::NullValueUnsupported { .. }
            | RecordsError::NullHeaderValueUnsupported { .. }
            | RecordsError::DoesNotFit { .. } => kafka_code::INVALID_RECORD,
        }
    }
}
