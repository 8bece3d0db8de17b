//! What Kafka validates on produce (`ProduceRequest.validateRecords`,
//! `LogValidator.validateBatch`), and the mapping of a validated batch onto
//! records the engine appends ([`ProducedRecord`], borrowed from the
//! request) for `Service::append*`.

use super::batch::{Batches, RecordBatch, TimestampType, NO_TIMESTAMP};
use super::record::Record;
use super::RecordsError;

/// The one batch of a Produce (v3+) partition's `records` field, its header
/// checked: magic 2 (else [`RecordsError::UnsupportedMagic`]), CRC, exactly
/// one batch, no control batch, a positive record count that matches
/// `lastOffsetDelta`, a known codec, a non-negative base sequence when a
/// producer id is set. The records themselves are checked by
/// [`produced_records`] as they are mapped.
pub fn produce_batch(records: &[u8]) -> Result<RecordBatch<'_>, RecordsError> {
    let mut batches = Batches::new(records);
    let batch = batches.next().ok_or(RecordsError::BatchCount { found: 0 })??;
    if batches.next().is_some() {
        return Err(RecordsError::BatchCount { found: 2 });
    }
    let header = &batch.header;
    if header.attributes.is_control() {
        return Err(RecordsError::ControlBatchFromProducer);
    }
    header.attributes.compression()?;
    if header.record_count <= 0 {
        return Err(RecordsError::BadRecordCount {
            count: header.record_count,
            bytes: batch.records_section.len(),
        });
    }
    if i64::from(header.last_offset_delta) != i64::from(header.record_count) - 1 {
        return Err(RecordsError::LastOffsetDeltaMismatch {
            last_offset_delta: header.last_offset_delta,
            count: header.record_count,
        });
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        return Err(RecordsError::InvalidSequence {
            producer_id: header.producer_id,
            base_sequence: header.base_sequence,
        });
    }
    Ok(batch)
}

/// The records of a produced batch as the engine appends them, borrowed
/// from the request (or from `scratch`, which holds the decompressed
/// records, at most `decompressed_bytes_max` bytes), appended to `out`:
/// keys, values, headers in order (duplicates kept), and the timestamp
/// (`base + delta` for create time; `None` = the engine's append time for
/// log-append time or a timestamp of -1). Checks each record's offset delta
/// is its index. A null value (a tombstone) and null header values stay
/// null ([`millrace::AppendRecord`]). Nothing is copied here: the engine
/// encodes the records into its batch from where they are.
pub fn produced_records<'s>(
    batch: &'s RecordBatch<'_>,
    scratch: &'s mut Vec<u8>,
    decompressed_bytes_max: usize,
    out: &mut Vec<ProducedRecord<'s>>,
) -> Result<(), RecordsError> {
    let (count, records) = produced(batch, scratch, decompressed_bytes_max)?;
    out.reserve(count);
    for record in records {
        out.push(record?);
    }
    Ok(())
}

/// [`produced_records`] copied into owned engine records (a transaction
/// stages owned records).
pub fn to_engine_records(
    batch: &RecordBatch<'_>,
    scratch: &mut Vec<u8>,
    decompressed_bytes_max: usize,
    out: &mut Vec<millrace::Record>,
) -> Result<(), RecordsError> {
    let (count, records) = produced(batch, scratch, decompressed_bytes_max)?;
    out.reserve(count);
    for record in records {
        out.push(millrace::AppendRecord::to_record(&record?));
    }
    Ok(())
}

/// The records of `batch` (decompressed into `scratch`) as the engine
/// appends them, after their count: bounded, it was checked against the
/// bytes (7 bytes a record).
fn produced<'s>(
    batch: &'s RecordBatch<'_>,
    scratch: &'s mut Vec<u8>,
    decompressed_bytes_max: usize,
) -> Result<(usize, impl Iterator<Item = Result<ProducedRecord<'s>, RecordsError>>), RecordsError> {
    let header = batch.header;
    let records = batch.records(scratch, decompressed_bytes_max)?;
    let create_time =
        header.attributes.timestamp_type() == TimestampType::CreateTime && header.base_timestamp != NO_TIMESTAMP;
    let base_timestamp = create_time.then_some(header.base_timestamp);
    let count = records.remaining();
    let records = records
        .enumerate()
        .map(move |(index, record)| produced_record(index, record?, base_timestamp));
    Ok((count, records))
}

/// A produced record, borrowed from the request, as the engine appends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducedRecord<'a> {
    record: Record<'a>,
    /// `None`: the engine's append time.
    timestamp_ms: Option<i64>,
}

impl millrace::AppendRecord for ProducedRecord<'_> {
    fn key(&self) -> Option<&[u8]> {
        self.record.key
    }
    fn value(&self) -> Option<&[u8]> {
        self.record.value
    }
    fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }
    fn header_count(&self) -> usize {
        self.record.headers.len()
    }
    fn headers(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.record.headers.iter()
    }
    fn to_record(&self) -> millrace::Record {
        let mut nulls = millrace::Nulls {
            value: self.record.value.is_none(),
            headers: Vec::new(),
        };
        let mut headers = Vec::with_capacity(self.record.headers.len());
        for (header, (name, value)) in self.record.headers.iter().enumerate() {
            if value.is_none() {
                // Below 65536: `produced_record` refused a null header past it.
                nulls.headers.push(u16::try_from(header).unwrap_or(u16::MAX));
            }
            headers.push((name.to_owned(), value.unwrap_or_default().to_vec()));
        }
        millrace::Record {
            key: self.record.key.map(<[u8]>::to_vec),
            value: self.record.value.unwrap_or_default().to_vec(),
            headers,
            timestamp_ms: self.timestamp_ms,
            nulls,
        }
    }
}

fn produced_record(
    index: usize,
    record: Record<'_>,
    base_timestamp: Option<i64>,
) -> Result<ProducedRecord<'_>, RecordsError> {
    if usize::try_from(record.offset_delta).ok() != Some(index) {
        return Err(RecordsError::OffsetDeltaOutOfOrder {
            index,
            offset_delta: record.offset_delta,
        });
    }
    let timestamp_ms = match base_timestamp {
        Some(base) => Some(
            base.checked_add(record.timestamp_delta)
                .ok_or(RecordsError::TimestampOverflow { index })?,
        ),
        None => None,
    };
    // The engine numbers null headers with a u16 (and refuses more than
    // 65535 headers).
    let first_unnumbered = usize::from(u16::MAX) + 1;
    if record.headers.len() > first_unnumbered
        && record
            .headers
            .iter()
            .skip(first_unnumbered)
            .any(|(_, value)| value.is_none())
    {
        return Err(RecordsError::DoesNotFit { field: "header count" });
    }
    Ok(ProducedRecord { record, timestamp_ms })
}
