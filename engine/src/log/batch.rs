//! The batch: the unit of writing, checksumming and recovery. Byte layout in
//! `design/format.md` ("Batch"); offsets below are computed from the previous
//! field's offset plus its size, never written twice.

use crate::codec::{le_i64, le_u16, le_u32, le_u64, put};
use crate::error::CorruptionKind;
pub(crate) use crate::log::encoded::{EncodedRecords, EncodedSlice};
use crate::log::record::{encode_record, parse_record, RECORD_FIXED_SIZE};
pub use crate::log::record::{
    validate_record, validate_topic_record, AppendRecord, BatchOrigin, Nulls, Record, RecordView, StoredRecord,
    HEADER_NAME_BYTES_MAX,
};
use std::sync::atomic::{AtomicBool, Ordering};

/// Magic number at the start of every batch (`MRB1`, little-endian); design/format.md.
pub const BATCH_MAGIC: u32 = u32::from_le_bytes(*b"MRB1");
/// The batch format version of a batch without nulls (read by every release).
pub const BATCH_VERSION: u16 = 1;
/// The batch format version of a batch with a null value or null header value
/// (design/format.md, "Record"); this build reads both.
pub const BATCH_VERSION_NULLS: u16 = 2;

// Field offsets of the batch header.
const MAGIC_AT: usize = 0;
const LENGTH_AT: usize = MAGIC_AT + 4;
const CRC_AT: usize = LENGTH_AT + 4;
const VERSION_AT: usize = CRC_AT + 4;
const FLAGS_AT: usize = VERSION_AT + 2;
const BASE_OFFSET_AT: usize = FLAGS_AT + 2;
const RECORD_COUNT_AT: usize = BASE_OFFSET_AT + 8;
const SYNCED_BEFORE_AT: usize = RECORD_COUNT_AT + 4;
const FIRST_TIMESTAMP_AT: usize = SYNCED_BEFORE_AT + 4;
const MAX_TIMESTAMP_AT: usize = FIRST_TIMESTAMP_AT + 8;
const PRODUCER_ID_AT: usize = MAX_TIMESTAMP_AT + 8;
const PRODUCER_EPOCH_AT: usize = PRODUCER_ID_AT + 8;
const RESERVED2_AT: usize = PRODUCER_EPOCH_AT + 2;
const BASE_SEQUENCE_AT: usize = RESERVED2_AT + 2;
/// Size of the fixed batch header.
pub const HEADER_SIZE: usize = BASE_SEQUENCE_AT + 4;
const _: () = assert!(HEADER_SIZE == 64);
/// Bytes covered by the CRC start here (everything after the CRC field).
const CRC_FROM: usize = VERSION_AT;

/// Hard upper bound on one batch, checked before anything is allocated (a
/// limit of the configuration, which bounds topics' sizes by it).
pub use crate::config::BATCH_BYTES_MAX;

/// Batch flag: written by a transaction (visible to `ReadCommitted` readers once committed).
pub const FLAG_TRANSACTIONAL: u16 = 1 << 0;
/// Batch flag: a control batch (a transaction marker), never returned as records.
pub const FLAG_CONTROL: u16 = 1 << 1;
const FLAGS_KNOWN: u16 = FLAG_TRANSACTIONAL | FLAG_CONTROL;

/// `producer_id` of a batch written without a producer.
pub const NO_PRODUCER: u64 = u64::MAX;

/// Who wrote a batch, for idempotent producers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    /// The producer's id (`init_producer`).
    pub producer_id: u64,
    /// The producer's epoch; a later epoch fences this one.
    pub epoch: u16,
    /// Sequence number of the batch's first record in this partition.
    pub base_sequence: u32,
}

/// The parsed fixed header of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Length of the whole batch in bytes, header included.
    pub length: u32,
    /// CRC-32C over the batch after the CRC field.
    pub crc: u32,
    /// `FLAG_TRANSACTIONAL`, `FLAG_CONTROL`.
    pub flags: u16,
    /// Offset of the batch's first record.
    pub base_offset: u64,
    /// Number of records in the batch.
    pub record_count: u32,
    /// Timestamp of the first record.
    pub first_timestamp_ms: i64,
    /// Largest record timestamp in the batch.
    pub max_timestamp_ms: i64,
    /// Who wrote it, for an idempotent or transactional batch.
    pub producer: Option<ProducerStamp>,
    /// Byte position in this segment up to which the writer knew the log was
    /// fdatasync'd when it wrote this batch. Recovery uses it to tell a torn,
    /// never-acknowledged tail from corruption of durable data.
    pub synced_before: u32,
    /// [`BATCH_VERSION`], or [`BATCH_VERSION_NULLS`] when its records may hold nulls.
    pub version: u16,
}

impl BatchHeader {
    /// Offset just past the batch's last record.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.record_count)
    }
    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> u64 {
        self.next_offset().saturating_sub(1)
    }
    /// True for a control batch (`FLAG_CONTROL`).
    pub fn is_control(&self) -> bool {
        self.flags & FLAG_CONTROL != 0
    }
    /// True for a batch written by a transaction (`FLAG_TRANSACTIONAL`).
    pub fn is_transactional(&self) -> bool {
        self.flags & FLAG_TRANSACTIONAL != 0
    }

    /// Parse and bound-check a header. Does not check the CRC (that needs the body).
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, CorruptionKind> {
        let h = bytes.get(..HEADER_SIZE).ok_or(CorruptionKind::BadLength)?;
        if le_u32(h, MAGIC_AT) != BATCH_MAGIC {
            return Err(CorruptionKind::BadMagic);
        }
        let length = le_u32(h, LENGTH_AT);
        if (length as usize) < HEADER_SIZE || length > BATCH_BYTES_MAX {
            return Err(CorruptionKind::BadLength);
        }
        let version = le_u16(h, VERSION_AT);
        if version != BATCH_VERSION && version != BATCH_VERSION_NULLS {
            return Err(CorruptionKind::BadVersion);
        }
        let flags = le_u16(h, FLAGS_AT);
        if flags & !FLAGS_KNOWN != 0 {
            return Err(CorruptionKind::BadVersion);
        }
        let record_count = le_u32(h, RECORD_COUNT_AT);
        // Every record takes at least RECORD_FIXED_SIZE bytes: bound the count.
        if record_count as usize > (length as usize - HEADER_SIZE) / RECORD_FIXED_SIZE {
            return Err(CorruptionKind::BadLength);
        }
        let base_offset = le_u64(h, BASE_OFFSET_AT);
        // Offsets never wrap: `next_offset()` must fit in a u64.
        if base_offset.checked_add(u64::from(record_count)).is_none() {
            return Err(CorruptionKind::OffsetGap);
        }
        let producer_id = le_u64(h, PRODUCER_ID_AT);
        let producer = (producer_id != NO_PRODUCER).then(|| ProducerStamp {
            producer_id,
            epoch: le_u16(h, PRODUCER_EPOCH_AT),
            base_sequence: le_u32(h, BASE_SEQUENCE_AT),
        });
        Ok(BatchHeader {
            length,
            crc: le_u32(h, CRC_AT),
            flags,
            base_offset,
            record_count,
            first_timestamp_ms: le_i64(h, FIRST_TIMESTAMP_AT),
            max_timestamp_ms: le_i64(h, MAX_TIMESTAMP_AT),
            producer,
            synced_before: le_u32(h, SYNCED_BEFORE_AT),
            version,
        })
    }
}

/// Check a whole batch (header + body, exactly `length` bytes): header bounds and CRC.
pub fn verify(batch: &[u8]) -> Result<BatchHeader, CorruptionKind> {
    let header = BatchHeader::parse(batch)?;
    let body = batch
        .get(CRC_FROM..header.length as usize)
        .ok_or(CorruptionKind::BadLength)?;
    if crc32fast::hash(body) != header.crc {
        return Err(CorruptionKind::ChecksumMismatch);
    }
    Ok(header)
}

/// Whether a batch of `records` holds a null, and so is written as
/// [`BATCH_VERSION_NULLS`] (under a store marker that allows it).
pub(crate) fn holds_nulls<R: AppendRecord>(records: &[R]) -> bool {
    records.iter().any(AppendRecord::holds_nulls)
}

/// The append time a batch is encoded with, and whether it replaces the
/// records' own timestamps (a log-append-time topic) or only fills in
/// those without one.
#[derive(Debug, Clone, Copy)]
pub struct AppendTime {
    /// Milliseconds since the Unix epoch.
    pub ms: i64,
    /// Every record gets `ms` (`TimestampType::LogAppend`).
    pub overrides: bool,
}

/// Encode a batch of `records` starting at `base_offset` onto the end of `out`.
/// Records without a timestamp get `append_time_ms`. Returns the header written.
pub fn encode(
    out: &mut Vec<u8>,
    base_offset: u64,
    records: &[Record],
    append_time_ms: i64,
    producer: Option<ProducerStamp>,
    flags: u16,
    synced_before: u32,
) -> BatchHeader {
    let time = AppendTime {
        ms: append_time_ms,
        overrides: false,
    };
    encode_at(out, base_offset, records, time, producer, flags, synced_before)
}

/// [`encode`], with the append time replacing every record's timestamp
/// when `time.overrides`; the records owned or borrowed ([`AppendRecord`]).
pub fn encode_at<R: AppendRecord>(
    out: &mut Vec<u8>,
    base_offset: u64,
    records: &[R],
    time: AppendTime,
    producer: Option<ProducerStamp>,
    flags: u16,
    synced_before: u32,
) -> BatchHeader {
    let append_time_ms = time.ms;
    let start = out.len();
    out.resize(start + HEADER_SIZE, 0);
    let mut first_timestamp_ms = append_time_ms;
    let mut max_timestamp_ms = i64::MIN;
    for (i, record) in records.iter().enumerate() {
        let timestamp = match record.timestamp_ms() {
            Some(timestamp) if !time.overrides => timestamp,
            _ => append_time_ms,
        };
        if i == 0 {
            first_timestamp_ms = timestamp;
        }
        max_timestamp_ms = max_timestamp_ms.max(timestamp);
        encode_record(out, record, timestamp);
    }
    if records.is_empty() {
        max_timestamp_ms = append_time_ms;
    }
    let version = if holds_nulls(records) {
        BATCH_VERSION_NULLS
    } else {
        BATCH_VERSION
    };
    let fields = HeaderFields {
        base_offset,
        record_count: records.len() as u32,
        first_timestamp_ms,
        max_timestamp_ms,
        producer,
        flags,
        synced_before,
        version,
    };
    seal(out, start, &fields)
}

/// A batch header's fields that the records do not determine by themselves.
struct HeaderFields {
    base_offset: u64,
    record_count: u32,
    first_timestamp_ms: i64,
    max_timestamp_ms: i64,
    producer: Option<ProducerStamp>,
    flags: u16,
    synced_before: u32,
    version: u16,
}

/// Write the header of the batch that starts at `start` of `out` (its
/// records already follow the header's place) and its CRC.
fn seal(out: &mut [u8], start: usize, fields: &HeaderFields) -> BatchHeader {
    seal_with(out, start, fields, None)
}

/// [`seal`], with the CRC of the records' bytes (everything after the
/// header) when it is known: only the header is hashed then, and the
/// records' CRC combined in.
fn seal_with(out: &mut [u8], start: usize, fields: &HeaderFields, body_crc: Option<u32>) -> BatchHeader {
    let length = (out.len() - start) as u32;
    let header = BatchHeader {
        length,
        crc: 0,
        flags: fields.flags,
        base_offset: fields.base_offset,
        record_count: fields.record_count,
        first_timestamp_ms: fields.first_timestamp_ms,
        max_timestamp_ms: fields.max_timestamp_ms,
        producer: fields.producer,
        synced_before: fields.synced_before,
        version: fields.version,
    };
    let stamp = fields.producer.unwrap_or(ProducerStamp {
        producer_id: NO_PRODUCER,
        epoch: 0,
        base_sequence: 0,
    });
    let mut h = [0u8; HEADER_SIZE];
    put(&mut h, MAGIC_AT, &BATCH_MAGIC.to_le_bytes());
    put(&mut h, LENGTH_AT, &length.to_le_bytes());
    put(&mut h, VERSION_AT, &header.version.to_le_bytes());
    put(&mut h, FLAGS_AT, &header.flags.to_le_bytes());
    put(&mut h, BASE_OFFSET_AT, &header.base_offset.to_le_bytes());
    put(&mut h, RECORD_COUNT_AT, &header.record_count.to_le_bytes());
    put(&mut h, SYNCED_BEFORE_AT, &header.synced_before.to_le_bytes());
    put(&mut h, FIRST_TIMESTAMP_AT, &header.first_timestamp_ms.to_le_bytes());
    put(&mut h, MAX_TIMESTAMP_AT, &header.max_timestamp_ms.to_le_bytes());
    put(&mut h, PRODUCER_ID_AT, &stamp.producer_id.to_le_bytes());
    put(&mut h, PRODUCER_EPOCH_AT, &stamp.epoch.to_le_bytes());
    put(&mut h, BASE_SEQUENCE_AT, &stamp.base_sequence.to_le_bytes());
    if let Some(dst) = out.get_mut(start..start + HEADER_SIZE) {
        dst.copy_from_slice(&h);
    }
    let crc = match body_crc {
        Some(body) => crate::log::encoded::crc_with_known(
            out.get(start + CRC_FROM..).unwrap_or_default(),
            &[(HEADER_SIZE - CRC_FROM, length as usize - CRC_FROM, body)],
        ),
        None => crc32fast::hash(out.get(start + CRC_FROM..).unwrap_or_default()),
    };
    if let Some(dst) = out.get_mut(start + CRC_AT..start + CRC_AT + 4) {
        dst.copy_from_slice(&crc.to_le_bytes());
    }
    BatchHeader { crc, ..header }
}

/// Encode a batch onto the end of `out` from records already encoded
/// ([`EncodedSlice`]: a transaction's staged part), copying their bytes as
/// they are: no record is encoded again. The header's timestamps are read
/// from the records. Returns the header written.
pub(crate) fn encode_encoded(
    out: &mut Vec<u8>,
    base_offset: u64,
    records: &EncodedSlice<'_>,
    producer: Option<ProducerStamp>,
    flags: u16,
    synced_before: u32,
) -> BatchHeader {
    let start = out.len();
    out.reserve(HEADER_SIZE + records.body.len());
    out.resize(start + HEADER_SIZE, 0);
    out.extend_from_slice(records.body);
    let (first_timestamp_ms, max_timestamp_ms) = records.timestamps();
    let fields = HeaderFields {
        base_offset,
        record_count: records.count,
        first_timestamp_ms,
        max_timestamp_ms,
        producer,
        flags,
        synced_before,
        version: if records.nulls {
            BATCH_VERSION_NULLS
        } else {
            BATCH_VERSION
        },
    };
    seal_with(out, start, &fields, records.crc)
}

/// Visit the records of a verified batch (`batch` is exactly the batch bytes)
/// in order, until `visit` returns false. Every length is checked against the
/// bytes left before it is used.
pub fn for_each_record<'a>(
    batch: &'a [u8],
    header: &BatchHeader,
    visit: impl FnMut(RecordView<'a>) -> bool,
) -> Result<(), CorruptionKind> {
    visit_records_from(batch, header, RecordCursor::START, &[], visit).map(|_| ())
}

/// Where record parsing stands inside a batch: the index of the next record
/// and its byte position from the start of the batch. Only ever produced by
/// [`visit_records_from`] for the same batch, so a reader can continue a
/// batch it has verified and parsed up to here without doing either again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordCursor {
    pub index: u32,
    pub position: usize,
}

impl RecordCursor {
    /// The first record of a batch.
    pub const START: RecordCursor = RecordCursor {
        index: 0,
        position: HEADER_SIZE,
    };
}

/// Whether the record walk reads ahead into the next mapped batch (on; see
/// [`visit_records_from`]). Not an API: `benches/scan_ratio` turns it off and
/// on in alternating rounds of one process to measure what the read-ahead
/// gains under the same load.
#[doc(hidden)]
pub static READ_AHEAD: AtomicBool = AtomicBool::new(true);

/// Visit the records of a verified batch from `from` (a cursor into the same
/// batch, or [`RecordCursor::START`]) until `visit` returns false. Returns
/// `None` once every record was visited and the records end exactly at the
/// batch's end, or the cursor of the record `visit` declined (not consumed).
///
/// `ahead`: the bytes that follow this batch in a memory-mapped segment
/// (empty if none): the walk asks the CPU to fetch them into its caches at
/// the pace it reads this batch, so the next batch's CRC check, the first
/// touch of its bytes, reads them from cache instead of waiting on memory
/// (the check runs at memory speed; the walk is compute, and the two overlap).
pub(crate) fn visit_records_from<'a>(
    batch: &'a [u8],
    header: &BatchHeader,
    from: RecordCursor,
    ahead: &[u8],
    mut visit: impl FnMut(RecordView<'a>) -> bool,
) -> Result<Option<RecordCursor>, CorruptionKind> {
    let body = batch.get(..header.length as usize).ok_or(CorruptionKind::BadLength)?;
    // Checked once here rather than per record: no record offset can wrap.
    if header.base_offset.checked_add(u64::from(header.record_count)).is_none() {
        return Err(CorruptionKind::OffsetGap);
    }
    let ahead = if READ_AHEAD.load(Ordering::Relaxed) { ahead } else { &[] };
    let mut position = from.position;
    let mut index = from.index;
    let nulls_allowed = header.version == BATCH_VERSION_NULLS;
    let origin = BatchOrigin {
        base_offset: header.base_offset,
        producer: header.producer,
        transactional: header.is_transactional(),
    };
    while index < header.record_count {
        let rest = body.get(position..).ok_or(CorruptionKind::BadRecord)?;
        let (mut view, len) = parse_record(rest, header.base_offset + u64::from(index), nulls_allowed)?;
        crate::io::mmap::prefetch(ahead, position, position + len);
        view.batch = origin;
        if !visit(view) {
            return Ok(Some(RecordCursor { index, position }));
        }
        position += len;
        index += 1;
    }
    if position != body.len() {
        return Err(CorruptionKind::BadRecord);
    }
    Ok(None)
}

/// The cursor of the record of `offset` in a verified batch, hopping over
/// the records before it by their lengths from `from` (each length checked
/// against the bytes left; the records hopped over are not parsed: the
/// batch's CRC covers them and none of them is returned). `None` when
/// `offset` is not after `from`'s record (nothing to hop over).
pub(crate) fn cursor_of(
    batch: &[u8],
    header: &BatchHeader,
    from: RecordCursor,
    offset: u64,
) -> Result<Option<RecordCursor>, CorruptionKind> {
    let Some(target) = offset
        .checked_sub(header.base_offset)
        .and_then(|relative| u32::try_from(relative).ok())
        .map(|relative| relative.min(header.record_count))
    else {
        return Ok(None);
    };
    if target <= from.index {
        return Ok(None);
    }
    let body = batch.get(..header.length as usize).ok_or(CorruptionKind::BadLength)?;
    let mut position = from.position;
    for _ in from.index..target {
        let rest = body.get(position..).ok_or(CorruptionKind::BadRecord)?;
        let len = u32::from_le_bytes(*rest.first_chunk::<4>().ok_or(CorruptionKind::BadRecord)?) as usize;
        if len < RECORD_FIXED_SIZE || len > rest.len() {
            return Err(CorruptionKind::BadRecord);
        }
        position += len;
    }
    Ok(Some(RecordCursor {
        index: target,
        position,
    }))
}

/// Decode the records of a verified batch. `batch` is exactly the batch bytes.
pub fn decode_records(batch: &[u8], header: &BatchHeader) -> Result<Vec<StoredRecord>, CorruptionKind> {
    // Bounded by the bytes present, whatever the header claims.
    let body = batch.len().saturating_sub(HEADER_SIZE);
    let mut records = Vec::with_capacity((header.record_count as usize).min(body / RECORD_FIXED_SIZE));
    for_each_record(batch, header, |view| {
        records.push(view.to_owned());
        true
    })?;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_crc_catches_flip() {
        let records = vec![
            Record::new(b"hello".to_vec())
                .with_key(b"k".to_vec())
                .with_header("h", b"v".to_vec()),
            Record::new(Vec::new()).with_timestamp(42),
        ];
        let mut buf = Vec::new();
        let header = encode(&mut buf, 10, &records, 1000, None, 0, 0);
        assert_eq!(header.length as usize, buf.len());
        let parsed = verify(&buf).expect("valid batch");
        assert_eq!(parsed, header);
        let decoded = decode_records(&buf, &parsed).expect("records");
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[0].offset, 10);
        assert_eq!(decoded[0].timestamp_ms, 1000);
        assert_eq!(decoded[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(decoded[1].timestamp_ms, 42);
        assert_eq!(parsed.max_timestamp_ms, 1000);
        for i in 0..buf.len() {
            let mut flipped = buf.clone();
            flipped[i] ^= 0x10;
            assert!(verify(&flipped).is_err(), "flip at byte {i} went unnoticed");
        }
    }

    /// Found by the batch_decode fuzz target: a CRC-valid batch whose offsets
    /// pass u64::MAX made `decode_records` (and `next_offset`) overflow.
    #[test]
    fn offsets_past_u64_max_are_rejected() {
        let records = vec![Record::new(b"a".to_vec()), Record::new(b"b".to_vec())];
        let mut buf = Vec::new();
        encode(&mut buf, u64::MAX - 2, &records, 0, None, 0, 0);
        assert_eq!(verify(&buf).map(|h| h.next_offset()), Ok(u64::MAX));
        buf.clear();
        encode(&mut buf, u64::MAX - 1, &records, 0, None, 0, 0);
        assert_eq!(verify(&buf), Err(CorruptionKind::OffsetGap));
        // A header not made by `parse` cannot make the decoder overflow either.
        let mut ok = Vec::new();
        let header = encode(&mut ok, 0, &records, 0, None, 0, 0);
        let forged = BatchHeader {
            base_offset: u64::MAX,
            ..header
        };
        assert_eq!(decode_records(&ok, &forged), Err(CorruptionKind::OffsetGap));
    }
}
