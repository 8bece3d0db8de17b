//! The [`FetchSink`] of a Kafka fetch: the records the service hands over,
//! borrowed from the segment, encoded straight into Kafka batches (one per
//! stored batch) appended to the response's records buffer.

use std::ops::Range;

use millrace::batch::{BatchOrigin, RecordView};

use crate::kafka::records::{
    Attributes, BatchFields, BatchWriter, Compression, RecordsError, TimestampType, BATCH_HEADER_BYTES,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use crate::server::service::FetchSink;

/// Most bytes a varint (zigzag i32) takes.
const VARINT_BYTES_MAX: usize = 5;
/// Most bytes a varlong takes.
const VARLONG_BYTES_MAX: usize = 10;
/// Kafka sequences are int32 and wrap from `i32::MAX` to 0.
const SEQUENCE_MODULUS: u64 = 1 << 31;

enum State<'b> {
    /// No batch open: the buffer, not written to.
    Idle(&'b mut Vec<u8>),
    /// A batch open for the records of one stored batch.
    Writing {
        writer: BatchWriter<'b>,
        origin: BatchOrigin,
        base_offset: u64,
        base_timestamp: i64,
    },
}

/// One partition's records as Kafka batches, one per stored batch (or the
/// part of it the fetch returns), each keeping the stored batch's producer
/// id, epoch and base sequence (moved by the records skipped) and its
/// transactional bit. Uncompressed, create time; on a log-append-time
/// topic each batch is marked log-append time (attributes bit 3) and holds
/// records of one timestamp only, its base and max timestamp (a stored batch
/// written before the topic became log-append, with records of several
/// times, becomes one Kafka batch per run of equal times, so a client that
/// takes the max timestamp for every record reads each record's own).
pub(super) struct PartitionSink<'b> {
    /// `None` only while a push moves it.
    state: Option<State<'b>>,
    /// Bytes in the buffer before this partition's batches.
    start: usize,
    /// Bytes of this partition's finished batches.
    finished: usize,
    /// Earlier partitions of the response have records (then this one's
    /// first record must fit too: only the response's first is exempt).
    after_records: bool,
    /// Records taken.
    taken: usize,
    failed: Option<RecordsError>,
    log_append_time: bool,
}

impl<'b> PartitionSink<'b> {
    pub(super) fn new(buffer: &'b mut Vec<u8>, log_append_time: bool) -> Self {
        let start = buffer.len();
        PartitionSink {
            state: Some(State::Idle(buffer)),
            start,
            finished: 0,
            after_records: start > 0,
            taken: 0,
            failed: None,
            log_append_time,
        }
    }

    /// Close the last batch; the range of the buffer the partition's batches
    /// take (empty without records), or the error that stopped it before
    /// its first record.
    pub(super) fn finish(mut self) -> Result<Range<usize>, RecordsError> {
        if let Some(State::Writing { writer, .. }) = self.state.take() {
            if writer.count() > 0 {
                let (length, _) = writer.finish_returning(Compression::None)?;
                self.finished += length;
            }
        }
        match self.failed {
            Some(error) if self.taken == 0 => Err(error),
            _ => Ok(self.start..self.start + self.finished),
        }
    }

    /// Whether `record` goes into the open batch (else it starts one).
    fn continues(&self, record: &RecordView<'_>) -> bool {
        match &self.state {
            Some(State::Writing {
                origin, base_timestamp, ..
            }) => {
                *origin == record.batch
                    && record.timestamp_ms.checked_sub(*base_timestamp).is_some()
                    && (!self.log_append_time || record.timestamp_ms == *base_timestamp)
            }
            _ => false,
        }
    }
}

/// The Kafka batch fields of a stored batch's records from `first` on.
fn fields(first: &RecordView<'_>, log_append_time: bool) -> BatchFields {
    let origin = first.batch;
    let (producer_id, producer_epoch, base_sequence) = match origin.producer {
        Some(stamp) => {
            let skipped = first.offset.saturating_sub(origin.base_offset);
            // Kafka sequences are int32 and wrap from i32::MAX to 0.
            let sequence = (u64::from(stamp.base_sequence) + skipped) % SEQUENCE_MODULUS;
            (
                i64::try_from(stamp.producer_id).unwrap_or(NO_PRODUCER_ID),
                // Above i16::MAX (native producers only): none.
                i16::try_from(stamp.epoch).unwrap_or(NO_PRODUCER_EPOCH),
                i32::try_from(sequence).unwrap_or(NO_SEQUENCE),
            )
        }
        None => (NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE),
    };
    BatchFields {
        base_offset: i64::try_from(first.offset).unwrap_or(i64::MAX),
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        attributes: Attributes::new(
            Compression::None,
            if log_append_time {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            origin.transactional,
            false,
        ),
        base_timestamp: first.timestamp_ms,
        producer_id,
        producer_epoch,
        base_sequence,
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
        !self.after_records && self.taken == 0
    }

    fn bytes_with(&self, record: &RecordView<'_>) -> usize {
        let open = match &self.state {
            Some(State::Writing { writer, .. }) => writer.bytes_so_far(),
            _ => 0,
        };
        let header = if self.continues(record) { 0 } else { BATCH_HEADER_BYTES };
        self.start + self.finished + open + header + encoded_bytes_max(record)
    }

    fn push(&mut self, record: &RecordView<'_>) {
        if self.failed.is_some() {
            return;
        }
        let continues = self.continues(record);
        let buffer = match self.state.take() {
            None => return,
            Some(State::Writing {
                writer,
                origin,
                base_offset,
                base_timestamp,
            }) if continues => {
                self.write(writer, origin, base_offset, base_timestamp, record);
                return;
            }
            Some(State::Writing { writer, .. }) => match writer.finish_returning(Compression::None) {
                Ok((length, buffer)) => {
                    self.finished += length;
                    buffer
                }
                Err(error) => {
                    self.failed = Some(error);
                    return;
                }
            },
            Some(State::Idle(buffer)) => buffer,
        };
        let writer = BatchWriter::begin(buffer, fields(record, self.log_append_time));
        self.write(writer, record.batch, record.offset, record.timestamp_ms, record);
    }
}

impl<'b> PartitionSink<'b> {
    fn write(
        &mut self,
        mut writer: BatchWriter<'b>,
        origin: BatchOrigin,
        base_offset: u64,
        base_timestamp: i64,
        record: &RecordView<'_>,
    ) {
        let offset_delta = record
            .offset
            .checked_sub(base_offset)
            .and_then(|delta| i32::try_from(delta).ok());
        let written = match (offset_delta, record.timestamp_ms.checked_sub(base_timestamp)) {
            (Some(offset_delta), Some(timestamp_delta)) => {
                writer.record(offset_delta, timestamp_delta, record.key, record.value_opt(), || {
                    record.headers_opt()
                })
            }
            _ => Err(RecordsError::DoesNotFit { field: "offsetDelta" }),
        };
        match written {
            Ok(()) => self.taken += 1,
            Err(error) => self.failed = Some(error),
        }
        self.state = Some(State::Writing {
            writer,
            origin,
            base_offset,
            base_timestamp,
        });
    }
}
