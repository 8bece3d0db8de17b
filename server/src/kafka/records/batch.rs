//! Record batch v2 (magic 2): the fixed header, CRC-32C, splitting a
//! `records` field into batches, and access to the (decompressed) records.
//! Byte table in design/kafka.md ("Records and compression"); offsets below
//! are computed from the previous field's offset plus its size.

use super::compression::{decompress, Compression};
use super::cursor::Cursor;
use super::record::RecordIter;
use super::RecordsError;

const BASE_OFFSET_AT: usize = 0;
const BATCH_LENGTH_AT: usize = BASE_OFFSET_AT + 8;
const PARTITION_LEADER_EPOCH_AT: usize = BATCH_LENGTH_AT + 4;
const MAGIC_AT: usize = PARTITION_LEADER_EPOCH_AT + 4;
const CRC_AT: usize = MAGIC_AT + 1;
const ATTRIBUTES_AT: usize = CRC_AT + 4;
const LAST_OFFSET_DELTA_AT: usize = ATTRIBUTES_AT + 2;
const BASE_TIMESTAMP_AT: usize = LAST_OFFSET_DELTA_AT + 4;
const MAX_TIMESTAMP_AT: usize = BASE_TIMESTAMP_AT + 8;
const PRODUCER_ID_AT: usize = MAX_TIMESTAMP_AT + 8;
const PRODUCER_EPOCH_AT: usize = PRODUCER_ID_AT + 8;
const BASE_SEQUENCE_AT: usize = PRODUCER_EPOCH_AT + 2;
const RECORD_COUNT_AT: usize = BASE_SEQUENCE_AT + 4;
/// Size of the fixed header; the records follow.
pub const BATCH_HEADER_BYTES: usize = RECORD_COUNT_AT + 4;
const _: () = assert!(BATCH_HEADER_BYTES == 61);
/// `batchLength` counts the bytes after itself.
const LENGTH_COUNTED_FROM: usize = PARTITION_LEADER_EPOCH_AT;
/// The CRC covers attributes..end.
const CRC_FROM: usize = ATTRIBUTES_AT;

/// The one magic this wing reads and writes.
pub const MAGIC_V2: i8 = 2;
/// `producerId` of a batch without a producer.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producerEpoch` of a batch without a producer.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `baseSequence` of a batch without a producer.
pub const NO_SEQUENCE: i32 = -1;
/// `partitionLeaderEpoch` this single-node server writes (clients then skip
/// leader-epoch validation).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// A record timestamp of -1: none given.
pub const NO_TIMESTAMP: i64 = -1;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;

/// Who set a batch's timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// The producer's clock (attributes bit 3 clear).
    CreateTime,
    /// The broker's clock at append (bit 3 set).
    LogAppendTime,
}

/// A batch's `attributes` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attributes(pub i16);

impl Attributes {
    /// Attributes with these properties.
    pub fn new(compression: Compression, timestamp_type: TimestampType, transactional: bool, control: bool) -> Self {
        let mut bits = i16::from(compression.code());
        if timestamp_type == TimestampType::LogAppendTime {
            bits |= TIMESTAMP_TYPE_BIT;
        }
        if transactional {
            bits |= TRANSACTIONAL_BIT;
        }
        if control {
            bits |= CONTROL_BIT;
        }
        Attributes(bits)
    }
    /// The codec of bits 0–2 (codes 5–7 are an error).
    pub fn compression(self) -> Result<Compression, RecordsError> {
        Compression::from_code((self.0 & COMPRESSION_MASK) as u8)
    }
    /// Bit 3.
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & TIMESTAMP_TYPE_BIT == 0 {
            TimestampType::CreateTime
        } else {
            TimestampType::LogAppendTime
        }
    }
    /// Bit 4.
    pub fn is_transactional(self) -> bool {
        self.0 & TRANSACTIONAL_BIT != 0
    }
    /// Bit 5.
    pub fn is_control(self) -> bool {
        self.0 & CONTROL_BIT != 0
    }
}

/// The fixed header of a record batch, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (the producer writes 0).
    pub base_offset: i64,
    /// Bytes after this field to the end of the batch.
    pub batch_length: i32,
    /// Leader epoch (-1 from this server).
    pub partition_leader_epoch: i32,
    /// Always 2 once parsed.
    pub magic: i8,
    /// CRC-32C over attributes..end (checked on parse).
    pub crc: u32,
    /// Compression, timestamp type, transactional, control.
    pub attributes: Attributes,
    /// Offset delta of the last record.
    pub last_offset_delta: i32,
    /// Timestamp the record deltas are relative to.
    pub base_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Idempotent/transactional producer, or -1.
    pub producer_id: i64,
    /// Its epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

/// One record batch borrowed from its bytes, CRC checked; the records are
/// still encoded (and maybe compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordBatch<'a> {
    /// The header.
    pub header: BatchHeader,
    /// The records section (compressed if the attributes say so).
    pub records_section: &'a [u8],
    /// The whole batch's bytes.
    pub bytes: &'a [u8],
}

impl<'a> RecordBatch<'a> {
    /// A first look at the batch at the start of `input`, without checking
    /// it (no length or CRC check: [`RecordBatch::parse`] does that): its
    /// attributes, producer id and producer epoch, `None` when the bytes are
    /// too short to hold them. For deciding how a produce is run before it
    /// is parsed.
    pub fn peek_producer(input: &[u8]) -> Option<(Attributes, i64, i16)> {
        let attributes = input.get(ATTRIBUTES_AT..ATTRIBUTES_AT + 2)?;
        let producer_id = input.get(PRODUCER_ID_AT..PRODUCER_ID_AT + 8)?;
        let epoch = input.get(PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2)?;
        Some((
            Attributes(i16::from_be_bytes(attributes.try_into().ok()?)),
            i64::from_be_bytes(producer_id.try_into().ok()?),
            i16::from_be_bytes(epoch.try_into().ok()?),
        ))
    }

    /// Parse the batch at the start of `input` (`position` = its place in the
    /// enclosing field, for errors): magic first (a legacy message set fails
    /// as [`RecordsError::UnsupportedMagic`]), then the length against the
    /// bytes given, then the CRC. Returns the batch and the bytes after it.
    pub fn parse(input: &'a [u8], position: usize) -> Result<(RecordBatch<'a>, &'a [u8]), RecordsError> {
        let mut probe = Cursor::new(input, position);
        probe.take(MAGIC_AT, "batch header")?;
        let magic = probe.i8("magic")?;
        if magic != MAGIC_V2 {
            return Err(RecordsError::UnsupportedMagic { magic });
        }
        let mut cursor = Cursor::new(input, position);
        let base_offset = cursor.i64("baseOffset")?;
        let batch_length = cursor.i32("batchLength")?;
        let available = cursor.remaining();
        let total = usize::try_from(batch_length)
            .ok()
            .filter(|length| (BATCH_HEADER_BYTES - LENGTH_COUNTED_FROM..=available).contains(length))
            .map(|length| length + LENGTH_COUNTED_FROM)
            .ok_or(RecordsError::BadBatchLength {
                position,
                length: batch_length,
                available,
            })?;
        let (bytes, rest) = input.split_at_checked(total).ok_or(RecordsError::BadBatchLength {
            position,
            length: batch_length,
            available,
        })?;
        let mut cursor = Cursor::new(bytes, position);
        cursor.take(PARTITION_LEADER_EPOCH_AT, "batch header")?;
        let partition_leader_epoch = cursor.i32("partitionLeaderEpoch")?;
        let magic = cursor.i8("magic")?;
        let crc = cursor.u32("crc")?;
        let header = BatchHeader {
            base_offset,
            batch_length,
            partition_leader_epoch,
            magic,
            crc,
            attributes: Attributes(cursor.i16("attributes")?),
            last_offset_delta: cursor.i32("lastOffsetDelta")?,
            base_timestamp: cursor.i64("baseTimestamp")?,
            max_timestamp: cursor.i64("maxTimestamp")?,
            producer_id: cursor.i64("producerId")?,
            producer_epoch: cursor.i16("producerEpoch")?,
            base_sequence: cursor.i32("baseSequence")?,
            record_count: cursor.i32("recordCount")?,
        };
        let records_section = cursor.take(cursor.remaining(), "records")?;
        let computed = crc32c::crc32c(bytes.get(CRC_FROM..).unwrap_or_default());
        if computed != crc {
            return Err(RecordsError::CorruptMessage {
                base_offset,
                stored: crc,
                computed,
            });
        }
        Ok((
            RecordBatch {
                header,
                records_section,
                bytes,
            },
            rest,
        ))
    }

    /// The records, decompressed into `scratch` if compressed (at most
    /// `decompressed_bytes_max` bytes, else [`RecordsError::DecompressedTooLarge`]),
    /// borrowed from the batch if not. The record count is checked against
    /// the bytes before anything is read.
    pub fn records<'s>(
        &'s self,
        scratch: &'s mut Vec<u8>,
        decompressed_bytes_max: usize,
    ) -> Result<RecordIter<'s>, RecordsError> {
        let codec = self.header.attributes.compression()?;
        let (bytes, origin) = if codec == Compression::None {
            (self.records_section, BATCH_HEADER_BYTES)
        } else {
            scratch.clear();
            decompress(codec, self.records_section, scratch, decompressed_bytes_max)?;
            (scratch.as_slice(), 0)
        };
        RecordIter::new(bytes, origin, self.header.record_count)
    }
}

/// The batches of a `records` field, in order; stops at the first error.
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    rest: &'a [u8],
    position: usize,
    failed: bool,
}

impl<'a> Batches<'a> {
    /// The batches of `records` (a Produce partition's or a Fetch response's field).
    pub fn new(records: &'a [u8]) -> Self {
        Batches {
            rest: records,
            position: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<RecordBatch<'a>, RecordsError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match RecordBatch::parse(self.rest, self.position) {
            Ok((batch, rest)) => {
                self.position += batch.bytes.len();
                self.rest = rest;
                Some(Ok(batch))
            }
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

/// Fill in a batch header at `out[start..]` (written as zeros by
/// [`BatchHeader::reserve`]) and the CRC over what follows it.
pub(crate) fn finish_header(out: &mut [u8], header: &BatchHeader) -> Result<(), RecordsError> {
    let fields: [(usize, &[u8]); 12] = [
        (BASE_OFFSET_AT, &header.base_offset.to_be_bytes()),
        (BATCH_LENGTH_AT, &header.batch_length.to_be_bytes()),
        (PARTITION_LEADER_EPOCH_AT, &header.partition_leader_epoch.to_be_bytes()),
        (MAGIC_AT, &header.magic.to_be_bytes()),
        (ATTRIBUTES_AT, &header.attributes.0.to_be_bytes()),
        (LAST_OFFSET_DELTA_AT, &header.last_offset_delta.to_be_bytes()),
        (BASE_TIMESTAMP_AT, &header.base_timestamp.to_be_bytes()),
        (MAX_TIMESTAMP_AT, &header.max_timestamp.to_be_bytes()),
        (PRODUCER_ID_AT, &header.producer_id.to_be_bytes()),
        (PRODUCER_EPOCH_AT, &header.producer_epoch.to_be_bytes()),
        (BASE_SEQUENCE_AT, &header.base_sequence.to_be_bytes()),
        (RECORD_COUNT_AT, &header.record_count.to_be_bytes()),
    ];
    for (at, bytes) in fields {
        out.get_mut(at..at + bytes.len())
            .ok_or(RecordsError::DoesNotFit { field: "batch header" })?
            .copy_from_slice(bytes);
    }
    let crc = crc32c::crc32c(out.get(CRC_FROM..).unwrap_or_default());
    out.get_mut(CRC_AT..CRC_AT + 4)
        .ok_or(RecordsError::DoesNotFit { field: "crc" })?
        .copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// `batchLength` for a batch of `total` bytes.
pub(crate) fn batch_length_of(total: usize) -> Result<i32, RecordsError> {
    i32::try_from(total - LENGTH_COUNTED_FROM).map_err(|_| RecordsError::DoesNotFit { field: "batchLength" })
}
