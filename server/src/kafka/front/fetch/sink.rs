//! The [`FetchSink`] of a Kafka fetch: the records the service hands over,
//! borrowed from the segment, encoded straight into one Kafka batch per
//! partition, appended to the response's records buffer.

use std::ops::Range;

use millrace::batch::RecordView;

use crate::kafka::records::{
    Attributes, BatchFields, BatchWriter, Compression, RecordsError, TimestampType, BATCH_HEADER_BYTES,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use crate::server::service::FetchSink;

/// Most bytes a varint (zigzag i32) takes.
const VARINT_BYTES_MAX: usize = 5;
/// Most bytes a varlong takes.
const VARLONG_BYTES_MAX: usize = 10;

enum State<'b> {
    /// No record yet: the buffer, not written to.
    Idle(&'b mut Vec<u8>),
    Writing(BatchWriter<'b>),
}

/// One partition's records as one Kafka batch (uncompressed, create time,
/// no producer fields: the service's record views do not carry them).
pub(super) struct PartitionSink<'b> {
    /// `None` only while a push moves it.
    state: Option<State<'b>>,
    /// Bytes in the buffer before this partition's batch.
    start: usize,
    /// Earlier partitions of the response have records (then this one's
    /// first record must fit too: only the response's first is exempt).
    after_records: bool,
    base_offset: u64,
    base_timestamp: i64,
    failed: Option<RecordsError>,
}

impl<'b> PartitionSink<'b> {
    pub(super) fn new(buffer: &'b mut Vec<u8>) -> Self {
        let start = buffer.len();
        PartitionSink {
            state: Some(State::Idle(buffer)),
            start,
            after_records: start > 0,
            base_offset: 0,
            base_timestamp: 0,
            failed: None,
        }
    }

    /// Close the batch; the range of the buffer it takes (empty without
    /// records), or the error that stopped it before its first record.
    pub(super) fn finish(self) -> Result<Range<usize>, RecordsError> {
        match (self.state, self.failed) {
            (Some(State::Writing(writer)), failed) => {
                if writer.count() == 0 {
                    // Its first record failed: no batch (the header bytes
                    // left in the buffer are outside every range).
                    return Err(failed.unwrap_or(RecordsError::DoesNotFit { field: "recordCount" }));
                }
                let length = writer.finish(Compression::None)?;
                Ok(self.start..self.start + length)
            }
            (_, Some(error)) => Err(error),
            (_, None) => Ok(self.start..self.start),
        }
    }

    fn timestamp_delta(&self, record: &RecordView<'_>) -> Option<i64> {
        record.timestamp_ms.checked_sub(self.base_timestamp)
    }
}

/// The most bytes `record` takes in a Kafka batch.
fn encoded_bytes_max(record: &RecordView<'_>) -> usize {
    let headers: usize = record
        .headers_opt()
        .map(|(name, value)| 2 * VARINT_BYTES_MAX + name.len() + value.map_or(0, <[u8]>::len))
        .sum();
    // length, attributes, timestamp delta, offset delta, key and value
    // lengths, header count.
    let fixed = VARINT_BYTES_MAX + 1 + VARLONG_BYTES_MAX + 4 * VARINT_BYTES_MAX;
    fixed + record.payload_len() + headers
}

impl FetchSink for PartitionSink<'_> {
    fn is_empty(&self) -> bool {
        !self.after_records && !matches!(self.state, Some(State::Writing(_)))
    }

    fn bytes_with(&self, record: &RecordView<'_>) -> usize {
        let batch = match &self.state {
            Some(State::Writing(writer)) => {
                // A record whose timestamp is too far from the batch's first
                // for a delta starts the next fetch instead.
                if self.timestamp_delta(record).is_none() {
                    return usize::MAX;
                }
                writer.bytes_so_far()
            }
            _ => BATCH_HEADER_BYTES,
        };
        self.start + batch + encoded_bytes_max(record)
    }

    fn push(&mut self, record: &RecordView<'_>) {
        if self.failed.is_some() {
            return;
        }
        let mut writer = match self.state.take() {
            None => return,
            Some(State::Writing(writer)) => writer,
            Some(State::Idle(buffer)) => {
                self.base_offset = record.offset;
                self.base_timestamp = record.timestamp_ms;
                BatchWriter::begin(
                    buffer,
                    BatchFields {
                        base_offset: i64::try_from(record.offset).unwrap_or(i64::MAX),
                        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                        attributes: Attributes::new(Compression::None, TimestampType::CreateTime, false, false),
                        base_timestamp: record.timestamp_ms,
                        producer_id: NO_PRODUCER_ID,
                        producer_epoch: NO_PRODUCER_EPOCH,
                        base_sequence: NO_SEQUENCE,
                    },
                )
            }
        };
        let offset_delta = record
            .offset
            .checked_sub(self.base_offset)
            .and_then(|delta| i32::try_from(delta).ok());
        let written = match (offset_delta, self.timestamp_delta(record)) {
            (Some(offset_delta), Some(timestamp_delta)) => {
                writer.record(offset_delta, timestamp_delta, record.key, record.value_opt(), || {
                    record.headers_opt()
                })
            }
            _ => Err(RecordsError::DoesNotFit { field: "offsetDelta" }),
        };
        if let Err(error) = written {
            self.failed = Some(error);
        }
        self.state = Some(State::Writing(writer));
    }
}
