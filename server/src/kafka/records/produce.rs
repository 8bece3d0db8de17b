//! What Kafka validates on produce (`ProduceRequest.validateRecords`,
//! `LogValidator.validateBatch`), and the mapping of a validated batch onto
//! the engine's [`millrace::Record`]s for `Service::append*`.

use super::batch::{Batches, RecordBatch, TimestampType, NO_TIMESTAMP};
use super::record::Record;
use super::RecordsError;

/// The one batch of a Produce (v3+) partition's `records` field, its header
/// checked: magic 2 (else [`RecordsError::UnsupportedMagic`]), CRC, exactly
/// one batch, no control batch, a positive record count that matches
/// `lastOffsetDelta`, a known codec, a non-negative base sequence when a
/// producer id is set. The records themselves are checked by
/// [`to_engine_records`] as they are mapped.
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

/// Map a produced batch onto engine records, appended to `out`: keys, values,
/// headers in order (duplicates kept), and the timestamp (`base + delta` for
/// create time; `None` = the engine's append time for log-append time or a
/// timestamp of -1). Checks each record's offset delta is its index. Null
/// values and null header values fail with
/// [`RecordsError::NullValueUnsupported`] / [`RecordsError::NullHeaderValueUnsupported`]
/// until the engine can store them. `scratch` holds the decompressed records
/// (at most `decompressed_bytes_max` bytes).
pub fn to_engine_records(
    batch: &RecordBatch<'_>,
    scratch: &mut Vec<u8>,
    decompressed_bytes_max: usize,
    out: &mut Vec<millrace::Record>,
) -> Result<(), RecordsError> {
    let header = batch.header;
    let records = batch.records(scratch, decompressed_bytes_max)?;
    // Bounded: the count was checked against the bytes (7 bytes a record).
    out.reserve(records.remaining());
    let create_time =
        header.attributes.timestamp_type() == TimestampType::CreateTime && header.base_timestamp != NO_TIMESTAMP;
    for (index, record) in records.enumerate() {
        let record = record?;
        out.push(engine_record(
            index,
            &record,
            create_time.then_some(header.base_timestamp),
        )?);
    }
    Ok(())
}

fn engine_record(
    index: usize,
    record: &Record<'_>,
    base_timestamp: Option<i64>,
) -> Result<millrace::Record, RecordsError> {
    if usize::try_from(record.offset_delta).ok() != Some(index) {
        return Err(RecordsError::OffsetDeltaOutOfOrder {
            index,
            offset_delta: record.offset_delta,
        });
    }
    let value = record.value.ok_or(RecordsError::NullValueUnsupported { index })?;
    let timestamp_ms = match base_timestamp {
        Some(base) => Some(
            base.checked_add(record.timestamp_delta)
                .ok_or(RecordsError::TimestampOverflow { index })?,
        ),
        None => None,
    };
    let mut headers = Vec::with_capacity(record.headers.len());
    for (header, (name, value)) in record.headers.iter().enumerate() {
        let value = value.ok_or(RecordsError::NullHeaderValueUnsupported { index, header })?;
        headers.push((name.to_owned(), value.to_vec()));
    }
    Ok(millrace::Record {
        key: record.key.map(<[u8]>::to_vec),
        value: value.to_vec(),
        headers,
        timestamp_ms,
        nulls: millrace::Nulls::default(),
    })
}
