//! The batch: the unit of writing, checksumming and recovery. Byte layout in
//! `design/format.md` ("Batch"); offsets below are computed from the previous
//! field's offset plus its size, never written twice.

use crate::codec::{le_i64, le_u16, le_u32, le_u64, put, Decoder};
use crate::error::CorruptionKind;

/// Magic number at the start of every batch (`MRB1`, little-endian); design/format.md.
pub const BATCH_MAGIC: u32 = u32::from_le_bytes(*b"MRB1");
/// The batch format version this build writes and reads.
pub const BATCH_VERSION: u16 = 1;

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

/// Hard upper bound on one batch, checked before anything is allocated.
pub const BATCH_BYTES_MAX: u32 = 64 * 1024 * 1024;
/// Per record: length u32, timestamp i64, key length i32, value length u32, header count u16.
const RECORD_FIXED_SIZE: usize = 4 + 8 + 4 + 4 + 2;
/// Longest header name, in bytes (its length is a `u16` in the format).
pub const HEADER_NAME_BYTES_MAX: usize = u16::MAX as usize;

/// Batch flag: written by a transaction (visible to `ReadCommitted` readers once committed).
pub const FLAG_TRANSACTIONAL: u16 = 1 << 0;
/// Batch flag: a control batch (a transaction marker), never returned as records.
pub const FLAG_CONTROL: u16 = 1 << 1;
const FLAGS_KNOWN: u16 = FLAG_TRANSACTIONAL | FLAG_CONTROL;

/// `producer_id` of a batch written without a producer.
pub const NO_PRODUCER: u64 = u64::MAX;

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Optional key (a partitioning and compaction hint for the caller; the engine stores it).
    pub key: Option<Vec<u8>>,
    /// The payload.
    pub value: Vec<u8>,
    /// Headers, in order: (name, value); names need not be unique.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Producer-given timestamp in ms since the Unix epoch; `None` = append time.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    /// A record with `value`, no key, no headers, and the append time as its timestamp.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Record {
            value: value.into(),
            ..Record::default()
        }
    }
    /// Set the key.
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }
    /// Add a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Set the timestamp (ms since the Unix epoch) instead of the append time.
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }
    /// Encoded size inside a batch.
    pub fn encoded_len(&self) -> usize {
        RECORD_FIXED_SIZE
            + self.key.as_ref().map_or(0, Vec::len)
            + self.value.len()
            + self
                .headers
                .iter()
                .map(|(n, v)| 2 + n.len() + 4 + v.len())
                .sum::<usize>()
    }
    /// Value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// A record as read back, with its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its offset in the partition.
    pub offset: u64,
    /// Its timestamp (ms since the Unix epoch): the producer's, or the append time.
    pub timestamp_ms: i64,
    /// Its key, if any.
    pub key: Option<Vec<u8>>,
    /// Its payload.
    pub value: Vec<u8>,
    /// Its headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl StoredRecord {
    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
    /// Back into an appendable record (keeps key, value, headers, timestamp).
    pub fn to_record(&self) -> Record {
        Record {
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
            timestamp_ms: Some(self.timestamp_ms),
        }
    }
}

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
        if le_u16(h, VERSION_AT) != BATCH_VERSION {
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
    let start = out.len();
    out.resize(start + HEADER_SIZE, 0);
    let mut first_timestamp_ms = append_time_ms;
    let mut max_timestamp_ms = i64::MIN;
    for (i, record) in records.iter().enumerate() {
        let timestamp = record.timestamp_ms.unwrap_or(append_time_ms);
        if i == 0 {
            first_timestamp_ms = timestamp;
        }
        max_timestamp_ms = max_timestamp_ms.max(timestamp);
        let record_len = record.encoded_len() as u32;
        out.extend_from_slice(&record_len.to_le_bytes());
        out.extend_from_slice(&timestamp.to_le_bytes());
        match &record.key {
            Some(key) => {
                out.extend_from_slice(&(key.len() as i32).to_le_bytes());
                out.extend_from_slice(key);
            }
            None => out.extend_from_slice(&(-1i32).to_le_bytes()),
        }
        out.extend_from_slice(&(record.value.len() as u32).to_le_bytes());
        out.extend_from_slice(&record.value);
        out.extend_from_slice(&(record.headers.len() as u16).to_le_bytes());
        for (name, value) in &record.headers {
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
        }
    }
    if records.is_empty() {
        max_timestamp_ms = append_time_ms;
    }
    let length = (out.len() - start) as u32;
    let header = BatchHeader {
        length,
        crc: 0,
        flags,
        base_offset,
        record_count: records.len() as u32,
        first_timestamp_ms,
        max_timestamp_ms,
        producer,
        synced_before,
    };
    let stamp = producer.unwrap_or(ProducerStamp {
        producer_id: NO_PRODUCER,
        epoch: 0,
        base_sequence: 0,
    });
    let mut h = [0u8; HEADER_SIZE];
    put(&mut h, MAGIC_AT, &BATCH_MAGIC.to_le_bytes());
    put(&mut h, LENGTH_AT, &length.to_le_bytes());
    put(&mut h, VERSION_AT, &BATCH_VERSION.to_le_bytes());
    put(&mut h, FLAGS_AT, &flags.to_le_bytes());
    put(&mut h, BASE_OFFSET_AT, &base_offset.to_le_bytes());
    put(&mut h, RECORD_COUNT_AT, &header.record_count.to_le_bytes());
    put(&mut h, SYNCED_BEFORE_AT, &synced_before.to_le_bytes());
    put(&mut h, FIRST_TIMESTAMP_AT, &first_timestamp_ms.to_le_bytes());
    put(&mut h, MAX_TIMESTAMP_AT, &max_timestamp_ms.to_le_bytes());
    put(&mut h, PRODUCER_ID_AT, &stamp.producer_id.to_le_bytes());
    put(&mut h, PRODUCER_EPOCH_AT, &stamp.epoch.to_le_bytes());
    put(&mut h, BASE_SEQUENCE_AT, &stamp.base_sequence.to_le_bytes());
    if let Some(dst) = out.get_mut(start..start + HEADER_SIZE) {
        dst.copy_from_slice(&h);
    }
    let crc = crc32fast::hash(out.get(start + CRC_FROM..).unwrap_or_default());
    if let Some(dst) = out.get_mut(start + CRC_AT..start + CRC_AT + 4) {
        dst.copy_from_slice(&crc.to_le_bytes());
    }
    BatchHeader { crc, ..header }
}

/// A record borrowed from a batch's bytes (a mapped sealed segment or a read
/// buffer): no allocation. Valid for the duration of a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Its offset in the partition.
    pub offset: u64,
    /// Its timestamp (ms since the Unix epoch).
    pub timestamp_ms: i64,
    /// Its key, borrowed from the segment.
    pub key: Option<&'a [u8]>,
    /// Its payload, borrowed from the segment.
    pub value: &'a [u8],
    /// The encoded headers, validated when the view was made.
    headers_raw: &'a [u8],
    header_count: u16,
}

impl<'a> RecordView<'a> {
    /// The headers, in order (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let mut cursor = Decoder::new(self.headers_raw);
        (0..self.header_count).map_while(move |_| {
            let name_len = cursor.u16()? as usize;
            let name = std::str::from_utf8(cursor.take(name_len)?).ok()?;
            let value_len = cursor.u32()? as usize;
            Some((name, cursor.take(value_len)?))
        })
    }

    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Bytes of key and value (what read budgets count).
    #[inline]
    pub fn payload_len(&self) -> usize {
        self.value.len() + self.key.map_or(0, <[u8]>::len)
    }

    /// Copy it into an owned [`StoredRecord`].
    pub fn to_owned(&self) -> StoredRecord {
        // Exact capacity: `header_count` headers were parsed from bytes present
        // (6 bytes each at least), so this is bounded by the input; a collect
        // from `map_while` would grow by doubling, up to twice the memory.
        let mut headers = Vec::with_capacity(usize::from(self.header_count));
        headers.extend(self.headers().map(|(n, v)| (n.to_string(), v.to_vec())));
        StoredRecord {
            offset: self.offset,
            timestamp_ms: self.timestamp_ms,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.to_vec(),
            headers,
        }
    }
}

/// Visit the records of a verified batch (`batch` is exactly the batch bytes)
/// in order, until `visit` returns false. Every length is checked against the
/// bytes left before it is used.
pub fn for_each_record<'a>(
    batch: &'a [u8],
    header: &BatchHeader,
    visit: impl FnMut(RecordView<'a>) -> bool,
) -> Result<(), CorruptionKind> {
    visit_records_from(batch, header, RecordCursor::START, visit).map(|_| ())
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

/// Visit the records of a verified batch from `from` (a cursor into the same
/// batch, or [`RecordCursor::START`]) until `visit` returns false. Returns
/// `None` once every record was visited and the records end exactly at the
/// batch's end, or the cursor of the record `visit` declined (not consumed).
pub(crate) fn visit_records_from<'a>(
    batch: &'a [u8],
    header: &BatchHeader,
    from: RecordCursor,
    mut visit: impl FnMut(RecordView<'a>) -> bool,
) -> Result<Option<RecordCursor>, CorruptionKind> {
    let body = batch.get(..header.length as usize).ok_or(CorruptionKind::BadLength)?;
    // Checked once here rather than per record: no record offset can wrap.
    if header.base_offset.checked_add(u64::from(header.record_count)).is_none() {
        return Err(CorruptionKind::OffsetGap);
    }
    let mut position = from.position;
    let mut index = from.index;
    while index < header.record_count {
        let rest = body.get(position..).ok_or(CorruptionKind::BadRecord)?;
        let (view, len) = parse_record(rest, header.base_offset + u64::from(index))?;
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

/// Parse the record at the start of `rest` (the bytes left in its batch):
/// its `record_length` is bounded by `rest` once, then every field is read
/// from inside the record and must end exactly at `record_length`. Returns
/// the view and the record's length.
#[inline(always)]
fn parse_record(rest: &[u8], offset: u64) -> Result<(RecordView<'_>, usize), CorruptionKind> {
    const BAD: CorruptionKind = CorruptionKind::BadRecord;
    let record_len = u32::from_le_bytes(*rest.first_chunk::<4>().ok_or(BAD)?) as usize;
    if record_len < RECORD_FIXED_SIZE {
        return Err(BAD);
    }
    let record = rest.get(..record_len).ok_or(BAD)?;
    // Length, timestamp and key length: one fixed 16-byte prefix.
    let (prefix, tail) = record.split_first_chunk::<16>().ok_or(BAD)?;
    let [_, _, _, _, t0, t1, t2, t3, t4, t5, t6, t7, k0, k1, k2, k3] = *prefix;
    let timestamp_ms = i64::from_le_bytes([t0, t1, t2, t3, t4, t5, t6, t7]);
    let (key, tail) = match i32::from_le_bytes([k0, k1, k2, k3]) {
        -1 => (None, tail),
        n if n >= 0 => {
            let (key, tail) = tail.split_at_checked(n as usize).ok_or(BAD)?;
            (Some(key), tail)
        }
        _ => return Err(BAD),
    };
    let (value_len, tail) = tail.split_first_chunk::<4>().ok_or(BAD)?;
    let (value, tail) = tail
        .split_at_checked(u32::from_le_bytes(*value_len) as usize)
        .ok_or(BAD)?;
    let (header_count, headers_raw) = tail.split_first_chunk::<2>().ok_or(BAD)?;
    let header_count = u16::from_le_bytes(*header_count);
    // The headers must take exactly the rest of the record.
    let mut cursor = Decoder::new(headers_raw);
    for _ in 0..header_count {
        let name_len = cursor.u16().ok_or(BAD)? as usize;
        std::str::from_utf8(cursor.take(name_len).ok_or(BAD)?).map_err(|_| BAD)?;
        let value_len = cursor.u32().ok_or(BAD)? as usize;
        cursor.take(value_len).ok_or(BAD)?;
    }
    if !cursor.is_empty() {
        return Err(BAD);
    }
    let view = RecordView {
        offset,
        timestamp_ms,
        key,
        value,
        headers_raw,
        header_count,
    };
    Ok((view, record_len))
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

/// Validate a record before it is encoded (sizes that the format can carry).
pub fn validate_record(record: &Record, record_bytes_max: usize) -> Result<(), String> {
    if let Some(key) = &record.key {
        if key.len() > i32::MAX as usize {
            return Err("key longer than 2 GiB".into());
        }
    }
    if record.headers.len() > u16::MAX as usize {
        return Err(format!(
            "{} headers, at most {} allowed",
            record.headers.len(),
            u16::MAX
        ));
    }
    for (name, _) in &record.headers {
        if name.len() > HEADER_NAME_BYTES_MAX {
            return Err(format!(
                "header name of {} bytes, at most {HEADER_NAME_BYTES_MAX}",
                name.len()
            ));
        }
    }
    let len = record.encoded_len();
    if len > record_bytes_max {
        return Err(format!(
            "record of {len} bytes is larger than the topic's limit of {record_bytes_max} bytes"
        ));
    }
    Ok(())
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
