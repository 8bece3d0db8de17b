//! The record inside a batch: what is appended ([`Record`]), what is read back
//! ([`StoredRecord`], or borrowed: [`RecordView`]), and the parse of one
//! record's bytes. Byte layout in `design/format.md` ("Record"), including the
//! null sentinel of batch version 2.

use crate::codec::Decoder;
use crate::error::CorruptionKind;

/// Per record: length u32, timestamp i64, key length i32, value length u32, header count u16.
pub(crate) const RECORD_FIXED_SIZE: usize = 4 + 8 + 4 + 4 + 2;
/// Longest header name, in bytes (its length is a `u16` in the format).
pub const HEADER_NAME_BYTES_MAX: usize = u16::MAX as usize;
/// A value or header value length of `u32::MAX` in a version-2 batch: the
/// value is null (not empty). No value can be that long: a batch is at most
/// 64 MiB (design/format.md, "Record").
pub(crate) const NULL_LENGTH: u32 = u32::MAX;

/// Which values of a record are null rather than empty: a Kafka tombstone (a
/// null value) and null header values. The default, nothing null, is what every
/// native record has; a record with a null is written in a version-2 batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nulls {
    /// The value is null; the record's `value` is then empty.
    pub value: bool,
    /// Indexes into the record's `headers` whose value is null (each such value
    /// is empty), strictly ascending. Removing headers must keep them in step:
    /// use [`Record::retain_headers`].
    pub headers: Vec<u16>,
}

impl Nulls {
    /// Nothing is null.
    pub fn is_empty(&self) -> bool {
        !self.value && self.headers.is_empty()
    }
    /// True if header number `index` has a null value.
    pub fn header(&self, index: usize) -> bool {
        u16::try_from(index).is_ok_and(|i| self.headers.binary_search(&i).is_ok())
    }
}

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Optional key (a partitioning and compaction hint for the caller; the engine stores it).
    pub key: Option<Vec<u8>>,
    /// The payload (empty when it is null: [`Record::is_null_value`]).
    pub value: Vec<u8>,
    /// Headers, in order: (name, value); names need not be unique.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Producer-given timestamp in ms since the Unix epoch; `None` = append time.
    pub timestamp_ms: Option<i64>,
    /// Which of the value and header values are null (Kafka); empty by default.
    pub nulls: Nulls,
}

impl Record {
    /// A record with `value`, no key, no headers, and the append time as its timestamp.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Record {
            value: value.into(),
            ..Record::default()
        }
    }
    /// A record whose value is null (a Kafka tombstone), not empty.
    pub fn tombstone() -> Self {
        Record {
            nulls: Nulls {
                value: true,
                headers: Vec::new(),
            },
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
    /// Add a header whose value is null (not empty). More than 65535 headers
    /// fail validation at append, as any record with that many.
    pub fn with_null_header(mut self, name: impl Into<String>) -> Self {
        let index = u16::try_from(self.headers.len()).unwrap_or(u16::MAX);
        self.headers.push((name.into(), Vec::new()));
        self.nulls.headers.push(index);
        self
    }
    /// Set the timestamp (ms since the Unix epoch) instead of the append time.
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }
    /// True if the value is null (a Kafka tombstone), not empty.
    pub fn is_null_value(&self) -> bool {
        self.nulls.value
    }
    /// The value, `None` when it is null.
    pub fn value_opt(&self) -> Option<&[u8]> {
        (!self.nulls.value).then_some(self.value.as_slice())
    }
    /// The headers with null values as `None`, in order.
    pub fn headers_opt(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.headers
            .iter()
            .enumerate()
            .map(|(i, (n, v))| (n.as_str(), (!self.nulls.header(i)).then_some(v.as_slice())))
    }
    /// Keep only the headers whose name passes `keep`, with their nulls.
    pub fn retain_headers(&mut self, keep: impl FnMut(&str) -> bool) {
        retain_headers(&mut self.headers, &mut self.nulls, keep);
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
    /// Value of the first header named `name` (empty when null).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// A record as an append reads it: an owned [`Record`], or one borrowed from
/// the caller's buffer (the Kafka front's request), so that its bytes are
/// copied once, into the batch ([`crate::Store::append_pending`]). The
/// append sizes and checks each record before it encodes it, with the same
/// limits whatever the kind (design/format.md, "Record").
pub trait AppendRecord {
    /// The key, if any.
    fn key(&self) -> Option<&[u8]>;
    /// The value, `None` when it is null (a Kafka tombstone).
    fn value(&self) -> Option<&[u8]>;
    /// The producer's timestamp (ms since the Unix epoch); `None` = the append time.
    fn timestamp_ms(&self) -> Option<i64>;
    /// How many headers [`AppendRecord::headers`] yields.
    fn header_count(&self) -> usize;
    /// The headers in order (name, value), a null value as `None`. Read
    /// more than once by an append (sizing, then encoding): every call
    /// must yield the same headers.
    fn headers(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)>;
    /// Does the value or a header value hold a null?
    fn holds_nulls(&self) -> bool {
        self.value().is_none() || self.headers().any(|(_, value)| value.is_none())
    }
    /// What only this kind of record can get wrong (an owned record's
    /// nulls that disagree with its values), checked with the sizes.
    fn check_kind(&self) -> Result<(), String> {
        Ok(())
    }
    /// An owned copy (what a topic's contract judges).
    fn to_record(&self) -> Record;
    /// `records` as owned records: as they are when they are, else copied.
    fn owned(records: &[Self]) -> std::borrow::Cow<'_, [Record]>
    where
        Self: Sized,
    {
        std::borrow::Cow::Owned(records.iter().map(Self::to_record).collect())
    }
}

impl AppendRecord for Record {
    fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }
    fn value(&self) -> Option<&[u8]> {
        self.value_opt()
    }
    fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn headers(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.headers_opt()
    }
    fn holds_nulls(&self) -> bool {
        !self.nulls.is_empty()
    }
    fn check_kind(&self) -> Result<(), String> {
        check_nulls(self)
    }
    fn to_record(&self) -> Record {
        self.clone()
    }
    fn owned(records: &[Self]) -> std::borrow::Cow<'_, [Record]> {
        std::borrow::Cow::Borrowed(records)
    }
}

fn retain_headers(headers: &mut Vec<(String, Vec<u8>)>, nulls: &mut Nulls, mut keep: impl FnMut(&str) -> bool) {
    let mut kept_nulls = Vec::new();
    let mut index = 0usize;
    let mut kept = 0u16;
    headers.retain(|(name, _)| {
        let is_null = nulls.header(index);
        index += 1;
        if !keep(name) {
            return false;
        }
        if is_null {
            kept_nulls.push(kept);
        }
        kept = kept.saturating_add(1);
        true
    });
    nulls.headers = kept_nulls;
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
    /// Its payload (empty when it is null: [`StoredRecord::is_null_value`]).
    pub value: Vec<u8>,
    /// Its headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Which of the value and header values are null (Kafka); empty for native records.
    pub nulls: Nulls,
}

impl StoredRecord {
    /// The value of the first header called `name` (empty when null).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
    /// True if the value is null (a Kafka tombstone), not empty.
    pub fn is_null_value(&self) -> bool {
        self.nulls.value
    }
    /// The value, `None` when it is null.
    pub fn value_opt(&self) -> Option<&[u8]> {
        (!self.nulls.value).then_some(self.value.as_slice())
    }
    /// The headers with null values as `None`, in order.
    pub fn headers_opt(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.headers
            .iter()
            .enumerate()
            .map(|(i, (n, v))| (n.as_str(), (!self.nulls.header(i)).then_some(v.as_slice())))
    }
    /// Back into an appendable record (keeps key, value, headers, timestamp, nulls).
    pub fn to_record(&self) -> Record {
        Record {
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
            timestamp_ms: Some(self.timestamp_ms),
            nulls: self.nulls.clone(),
        }
    }
}

/// What a reader may need of the batch a [`RecordView`] was read from (a
/// Kafka fetch re-encodes records into batches that keep these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchOrigin {
    /// Offset of the batch's first record.
    pub base_offset: u64,
    /// Who wrote the batch, for an idempotent or transactional one.
    pub producer: Option<crate::log::batch::ProducerStamp>,
    /// Written by a transaction's commit (`FLAG_TRANSACTIONAL`).
    pub transactional: bool,
}

/// A record borrowed from a batch's bytes (a mapped sealed segment or a read
/// buffer): no allocation. Valid for the duration of a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Its offset in the partition.
    pub offset: u64,
    /// The batch it was read from.
    pub batch: BatchOrigin,
    /// Its timestamp (ms since the Unix epoch).
    pub timestamp_ms: i64,
    /// Its key, borrowed from the segment.
    pub key: Option<&'a [u8]>,
    /// Its payload, borrowed from the segment (empty when it is null:
    /// [`RecordView::is_null_value`]).
    pub value: &'a [u8],
    value_null: bool,
    /// The encoded headers, validated when the view was made.
    headers_raw: &'a [u8],
    header_count: u16,
}

impl<'a> RecordView<'a> {
    /// The headers, in order (name, value), a null value as `None`.
    pub fn headers_opt(&self) -> impl Iterator<Item = (&'a str, Option<&'a [u8]>)> + 'a {
        let mut cursor = Decoder::new(self.headers_raw);
        (0..self.header_count).map_while(move |_| {
            let name_len = cursor.u16()? as usize;
            let name = std::str::from_utf8(cursor.take(name_len)?).ok()?;
            match cursor.u32()? {
                NULL_LENGTH => Some((name, None)),
                value_len => Some((name, Some(cursor.take(value_len as usize)?))),
            }
        })
    }

    /// The headers, in order (name, value); a null value reads as empty
    /// ([`RecordView::headers_opt`] tells them apart).
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.headers_opt().map(|(n, v)| (n, v.unwrap_or_default()))
    }

    /// The value of the first header called `name` (empty when null).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// True if the value is null (a Kafka tombstone), not empty.
    #[inline]
    pub fn is_null_value(&self) -> bool {
        self.value_null
    }

    /// The value, `None` when it is null.
    #[inline]
    pub fn value_opt(&self) -> Option<&'a [u8]> {
        (!self.value_null).then_some(self.value)
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
        let mut null_headers = Vec::new();
        for (i, (name, value)) in self.headers_opt().enumerate() {
            if value.is_none() {
                // `i` < header_count, a u16.
                null_headers.push(u16::try_from(i).unwrap_or(u16::MAX));
            }
            headers.push((name.to_string(), value.unwrap_or_default().to_vec()));
        }
        StoredRecord {
            offset: self.offset,
            timestamp_ms: self.timestamp_ms,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.to_vec(),
            headers,
            nulls: Nulls {
                value: self.value_null,
                headers: null_headers,
            },
        }
    }
}

/// Parse the record at the start of `rest` (the bytes left in its batch):
/// its `record_length` is bounded by `rest` once, then every field is read
/// from inside the record and must end exactly at `record_length`. A value or
/// header value length of [`NULL_LENGTH`] is a null only when `nulls_allowed`
/// (a version-2 batch); in a version-1 batch it is, as before, a length past
/// the record. Returns the view and the record's length.
#[inline(always)]
pub(crate) fn parse_record(
    rest: &[u8],
    offset: u64,
    nulls_allowed: bool,
) -> Result<(RecordView<'_>, usize), CorruptionKind> {
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
    let (value, value_null, tail) = match u32::from_le_bytes(*value_len) {
        NULL_LENGTH if nulls_allowed => (&[][..], true, tail),
        len => {
            let (value, tail) = tail.split_at_checked(len as usize).ok_or(BAD)?;
            (value, false, tail)
        }
    };
    let (header_count, headers_raw) = tail.split_first_chunk::<2>().ok_or(BAD)?;
    let header_count = u16::from_le_bytes(*header_count);
    // The headers must take exactly the rest of the record.
    let mut cursor = Decoder::new(headers_raw);
    for _ in 0..header_count {
        let name_len = cursor.u16().ok_or(BAD)? as usize;
        std::str::from_utf8(cursor.take(name_len).ok_or(BAD)?).map_err(|_| BAD)?;
        match cursor.u32().ok_or(BAD)? {
            NULL_LENGTH if nulls_allowed => {}
            value_len => {
                cursor.take(value_len as usize).ok_or(BAD)?;
            }
        }
    }
    if !cursor.is_empty() {
        return Err(BAD);
    }
    let view = RecordView {
        offset,
        // Filled in by the batch visit, which has the header.
        batch: BatchOrigin::default(),
        timestamp_ms,
        key,
        value,
        value_null,
        headers_raw,
        header_count,
    };
    Ok((view, record_len))
}

/// Encode one record (format.md "Record") onto `out`; nulls as [`NULL_LENGTH`]
/// (the caller writes the batch as version 2 when any record has one). Its
/// length is written once the rest is (the headers are read once here).
/// Returns the record's encoded length.
pub(crate) fn encode_record<R: AppendRecord + ?Sized>(out: &mut Vec<u8>, record: &R, timestamp_ms: i64) -> usize {
    let start = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&timestamp_ms.to_le_bytes());
    match record.key() {
        Some(key) => {
            out.extend_from_slice(&(key.len() as i32).to_le_bytes());
            out.extend_from_slice(key);
        }
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
    }
    put_nullable(out, record.value());
    out.extend_from_slice(&(record.header_count() as u16).to_le_bytes());
    for (name, value) in record.headers() {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        put_nullable(out, value);
    }
    let record_len = out.len() - start;
    if let Some(dst) = out.get_mut(start..start + 4) {
        dst.copy_from_slice(&(record_len as u32).to_le_bytes());
    }
    record_len
}

/// A value or header value: its length and bytes, or [`NULL_LENGTH`].
fn put_nullable(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(value) => {
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
        }
        None => out.extend_from_slice(&NULL_LENGTH.to_le_bytes()),
    }
}

/// Validate a record before it is encoded (sizes that the format can carry,
/// nulls that agree with the values).
pub fn validate_record(record: &Record, record_bytes_max: usize) -> Result<(), String> {
    let len = checked_len(record)?;
    if len > record_bytes_max {
        return Err(format!(
            "record of {len} bytes is larger than the topic's limit of {record_bytes_max} bytes"
        ));
    }
    Ok(())
}

/// [`validate_record`] for a record of `topic`: a record over the limit is
/// refused with the remedy, the command that raises the topic's
/// `record_bytes_max` (`millrace topic alter TOPIC --record-bytes-max N`,
/// through the native protocol's `AlterTopic` with a server running).
pub fn validate_topic_record(record: &Record, record_bytes_max: usize, topic: &str) -> Result<(), String> {
    validate_topic_record_of(record, record_bytes_max, topic).map(|_| ())
}

/// [`validate_topic_record`] for any kind of record; returns its encoded length.
pub(crate) fn validate_topic_record_of<R: AppendRecord + ?Sized>(
    record: &R,
    record_bytes_max: usize,
    topic: &str,
) -> Result<usize, String> {
    let len = checked_len(record)?;
    if len > record_bytes_max {
        return Err(format!(
            "record of {len} bytes is larger than the topic's limit of {record_bytes_max} bytes \
             (record_bytes_max of topic {topic}); raise it with \
             `millrace topic alter {topic} --record-bytes-max {len}`"
        ));
    }
    Ok(len)
}

/// The checks every record passes whatever the limit (sizes the format can
/// carry, the kind's own): its encoded length, or why it cannot be encoded.
fn checked_len<R: AppendRecord + ?Sized>(record: &R) -> Result<usize, String> {
    if record.key().is_some_and(|key| key.len() > i32::MAX as usize) {
        return Err("key longer than 2 GiB".into());
    }
    let count = record.header_count();
    if count > u16::MAX as usize {
        return Err(format!("{count} headers, at most {} allowed", u16::MAX));
    }
    let mut len = RECORD_FIXED_SIZE + record.key().map_or(0, <[u8]>::len) + record.value().map_or(0, <[u8]>::len);
    for (name, value) in record.headers() {
        if name.len() > HEADER_NAME_BYTES_MAX {
            return Err(format!(
                "header name of {} bytes, at most {HEADER_NAME_BYTES_MAX}",
                name.len()
            ));
        }
        len += 2 + name.len() + 4 + value.map_or(0, <[u8]>::len);
    }
    record.check_kind()?;
    Ok(len)
}

/// An owned record's nulls agree with its values.
fn check_nulls(record: &Record) -> Result<(), String> {
    if record.nulls.value && !record.value.is_empty() {
        return Err("a null value must be empty (`nulls.value` is set)".into());
    }
    let mut previous: Option<u16> = None;
    for &index in &record.nulls.headers {
        if previous.is_some_and(|p| p >= index) {
            return Err("null header indexes must be strictly ascending".into());
        }
        previous = Some(index);
        match record.headers.get(usize::from(index)) {
            Some((_, value)) if value.is_empty() => {}
            Some((name, _)) => return Err(format!("header {index} ({name:?}) is marked null but has a value")),
            None => {
                return Err(format!(
                    "null header index {index} past the record's {} headers",
                    record.headers.len()
                ))
            }
        }
    }
    Ok(())
}
