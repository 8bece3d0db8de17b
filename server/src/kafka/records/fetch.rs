//! Engine records read by a fetch → Kafka record batches. Millrace's batch
//! format is not Kafka's, so every fetched batch is re-encoded; a fetch that
//! starts inside an engine batch starts exactly at the requested offset (the
//! re-encoded batch begins at the first record the engine returned, with
//! the base sequence moved by as many records), and the producer id, epoch
//! and transactional bit are kept.

use millrace::batch::{BatchHeader as EngineBatchHeader, RecordView, FLAG_CONTROL, FLAG_TRANSACTIONAL};
use millrace::{ReadBatch, StoredRecord};

use super::batch::{
    Attributes, TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use super::compression::Compression;
use super::record::{BatchFields, BatchWriter};
use super::RecordsError;

/// Kafka sequences are int32 and wrap from `i32::MAX` to 0
/// (`DefaultRecordBatch.incrementSequence`).
const SEQUENCE_MODULUS: u64 = 1 << 31;

/// Re-encodes one engine batch (or its tail) as one Kafka batch.
#[derive(Debug)]
pub struct FetchBatchWriter<'o> {
    writer: BatchWriter<'o>,
    base_offset: u64,
    base_timestamp: i64,
}

impl<'o> FetchBatchWriter<'o> {
    /// Start the Kafka batch for the records of `engine` from `first_offset`
    /// (whose timestamp is `first_timestamp_ms`) on. Control batches (the
    /// engine's commit markers) are never fetched as records: the caller
    /// skips them ([`encode_read_batch`] does).
    pub fn begin(
        out: &'o mut Vec<u8>,
        engine: &EngineBatchHeader,
        first_offset: u64,
        first_timestamp_ms: i64,
    ) -> Result<Self, RecordsError> {
        let base_offset = i64::try_from(first_offset).map_err(|_| RecordsError::DoesNotFit { field: "baseOffset" })?;
        let skipped = first_offset
            .checked_sub(engine.base_offset)
            .ok_or(RecordsError::DoesNotFit { field: "baseSequence" })?;
        let (producer_id, producer_epoch, base_sequence) = match engine.producer {
            Some(stamp) => (
                i64::try_from(stamp.producer_id).unwrap_or(NO_PRODUCER_ID),
                i16::try_from(stamp.epoch).unwrap_or(NO_PRODUCER_EPOCH),
                ((u64::from(stamp.base_sequence) + skipped) % SEQUENCE_MODULUS) as i32,
            ),
            None => (NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE),
        };
        let transactional = engine.flags & FLAG_TRANSACTIONAL != 0;
        let fields = BatchFields {
            base_offset,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            attributes: Attributes::new(Compression::None, TimestampType::CreateTime, transactional, false),
            base_timestamp: first_timestamp_ms,
            producer_id,
            producer_epoch,
            base_sequence,
        };
        Ok(FetchBatchWriter {
            writer: BatchWriter::begin(out, fields),
            base_offset: first_offset,
            base_timestamp: first_timestamp_ms,
        })
    }

    /// Append one record (offsets ascending from the first).
    /// `headers` is called twice and must yield the same headers each time.
    pub fn push<'r, F, I>(
        &mut self,
        offset: u64,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: F,
    ) -> Result<(), RecordsError>
    where
        F: Fn() -> I,
        I: Iterator<Item = (&'r str, Option<&'r [u8]>)>,
    {
        let offset_delta = offset
            .checked_sub(self.base_offset)
            .and_then(|delta| i32::try_from(delta).ok())
            .ok_or(RecordsError::DoesNotFit { field: "offsetDelta" })?;
        let timestamp_delta = timestamp_ms
            .checked_sub(self.base_timestamp)
            .ok_or(RecordsError::DoesNotFit {
                field: "timestampDelta",
            })?;
        self.writer.record(offset_delta, timestamp_delta, key, value, headers)
    }

    /// Append a record read as a [`StoredRecord`].
    pub fn push_stored(&mut self, record: &StoredRecord) -> Result<(), RecordsError> {
        self.push(
            record.offset,
            record.timestamp_ms,
            record.key.as_deref(),
            Some(&record.value),
            || {
                record
                    .headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), Some(value.as_slice())))
            },
        )
    }

    /// Append a record borrowed from a segment.
    pub fn push_view(&mut self, record: &RecordView<'_>) -> Result<(), RecordsError> {
        self.push(
            record.offset,
            record.timestamp_ms,
            record.key,
            Some(record.value),
            || record.headers().map(|(name, value)| (name, Some(value))),
        )
    }

    /// Records written so far.
    pub fn count(&self) -> i32 {
        self.writer.count()
    }

    /// Write the header and CRC (compressing with `compression`); returns the
    /// batch's bytes.
    pub fn finish(self, compression: Compression) -> Result<usize, RecordsError> {
        self.writer.finish(compression)
    }
}

/// Append one engine read batch to a Fetch response's `records` as a Kafka
/// batch starting at its first returned record. `Ok(None)`: nothing written
/// (a control batch, or no records at or after the read offset).
pub fn encode_read_batch(
    out: &mut Vec<u8>,
    batch: &ReadBatch,
    compression: Compression,
) -> Result<Option<usize>, RecordsError> {
    let Some(first) = batch.records.first() else {
        return Ok(None);
    };
    if batch.header.flags & FLAG_CONTROL != 0 {
        return Ok(None);
    }
    let start = out.len();
    let mut writer = FetchBatchWriter::begin(out, &batch.header, first.offset, first.timestamp_ms)?;
    for record in &batch.records {
        if let Err(error) = writer.push_stored(record) {
            out.truncate(start);
            return Err(error);
        }
    }
    writer.finish(compression).map(Some)
}
