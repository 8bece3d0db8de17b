//! Response bodies (the fields after `status == 0`), encoder and decoder side by side.

use millrace::StoredRecord;

use super::offsets::ResetPlanEntry;
use super::types::{
    read_list, write_list, CommittedPart, ConfigEntry, DlqEntry, PartitionInfo, ProducerSequence, RedrivenRecord,
    RefusedRecord, Wire,
};
use crate::wire::{DecodeResult, Reader, Writer, BYTES_MIN, STRING_MIN};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloResponse {
    pub version: u16,
    pub server_name: String,
    pub frame_bytes_max: u32,
    pub in_flight_max: u32,
}

impl Wire for HelloResponse {
    const BYTES_MIN: usize = 2 + 4 + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u16(self.version);
        w.string(&self.server_name);
        w.u32(self.frame_bytes_max);
        w.u32(self.in_flight_max);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(HelloResponse {
            version: r.u16("hello.version")?,
            server_name: r.string("hello.server_name")?,
            frame_bytes_max: r.u32("hello.frame_bytes_max")?,
            in_flight_max: r.u32("hello.in_flight_max")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub partitions: Vec<PartitionInfo>,
    pub config: Vec<super::types::ConfigEntry>,
}

impl Wire for TopicDescription {
    const BYTES_MIN: usize = 4 + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.name);
        write_list(w, &self.partitions);
        write_list::<ConfigEntry>(w, &self.config);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TopicDescription {
            name: r.string("describe.name")?,
            partitions: read_list(r, "describe.partitions")?,
            config: read_list(r, "describe.config")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerInit {
    pub producer_id: u64,
    pub epoch: u16,
    pub sequences: Vec<ProducerSequence>,
}

impl Wire for ProducerInit {
    const BYTES_MIN: usize = 8 + 2 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.producer_id);
        w.u16(self.epoch);
        write_list(w, &self.sequences);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ProducerInit {
            producer_id: r.u64("init.producer_id")?,
            epoch: r.u16("init.epoch")?,
            sequences: read_list(r, "init.sequences")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    pub base_offset: u64,
    pub next_offset: u64,
    /// A retry of a batch already appended; offsets are the original ones.
    pub duplicate: bool,
}

impl Wire for Produced {
    const BYTES_MIN: usize = 8 + 8 + 1;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.base_offset);
        w.u64(self.next_offset);
        w.bool(self.duplicate);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(Produced {
            base_offset: r.u64("produced.base_offset")?,
            next_offset: r.u64("produced.next_offset")?,
            duplicate: r.bool("produced.duplicate")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub next_offset: u64,
    pub high_watermark: u64,
    pub last_stable_offset: u64,
    pub records: Vec<StoredRecord>,
}

impl Wire for Fetched {
    const BYTES_MIN: usize = 8 + 8 + 8 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.next_offset);
        w.u64(self.high_watermark);
        w.u64(self.last_stable_offset);
        write_list(w, &self.records);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(Fetched {
            next_offset: r.u64("fetched.next_offset")?,
            high_watermark: r.u64("fetched.high_watermark")?,
            last_stable_offset: r.u64("fetched.last_stable_offset")?,
            records: read_list(r, "fetched.records")?,
        })
    }
}

/// A `Fetch` response as the server builds it: the records are encoded
/// straight from the engine's record views into `records` (no owned record in
/// between). Encodes to exactly the bytes of the [`Fetched`] with the same
/// records; a decoder always yields a [`Fetched`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedEncoded {
    pub next_offset: u64,
    pub high_watermark: u64,
    pub last_stable_offset: u64,
    /// Records in `records`.
    pub count: u32,
    /// `count` encoded `StoredRecord`s, back to back.
    pub records: Vec<u8>,
}

impl FetchedEncoded {
    /// Start encoding into `buffer` (cleared; its capacity is reused).
    pub fn with_buffer(mut buffer: Vec<u8>) -> Self {
        buffer.clear();
        FetchedEncoded {
            records: buffer,
            ..FetchedEncoded::default()
        }
    }

    /// Bytes [`FetchedEncoded::push`] adds for `record`.
    pub fn stored_len(record: &millrace::batch::RecordView<'_>) -> usize {
        const FIXED: usize = 8 + 8 + 1 + 4 + 4; // offset, timestamp, key tag, value length, header count
        let key = record.key.map_or(0, |key| 4 + key.len());
        let headers: usize = record
            .headers()
            .map(|(name, value)| 4 + name.len() + 4 + value.len())
            .sum();
        FIXED + key + record.value.len() + headers
    }

    /// Append one record, encoded as a `StoredRecord`.
    pub fn push(&mut self, record: &millrace::batch::RecordView<'_>) {
        let out = &mut self.records;
        // The fixed fields in one copy: offset, timestamp, key tag.
        let mut head = [0u8; 17];
        let (offset, rest) = head.split_at_mut(8);
        let (timestamp, tag) = rest.split_at_mut(8);
        offset.copy_from_slice(&record.offset.to_le_bytes());
        timestamp.copy_from_slice(&record.timestamp_ms.to_le_bytes());
        if let Some(tag) = tag.first_mut() {
            *tag = u8::from(record.key.is_some());
        }
        out.extend_from_slice(&head);
        if let Some(key) = record.key {
            push_bytes(out, key);
        }
        push_nullable_bytes(out, record.value_opt());
        let count_at = out.len();
        out.extend_from_slice(&0u32.to_le_bytes());
        let mut headers = 0u32;
        for (name, value) in record.headers_opt() {
            push_bytes(out, name.as_bytes());
            push_nullable_bytes(out, value);
            headers += 1;
        }
        if let Some(count) = out.get_mut(count_at..count_at + 4) {
            count.copy_from_slice(&headers.to_le_bytes());
        }
        self.count += 1;
    }

    /// [`FetchedEncoded::push`] unless a record is in already and `records`
    /// would then be longer than `cap` bytes (the same test as comparing
    /// `records.len() + stored_len(record)` with `cap`, without measuring
    /// the record first); false when it was not added.
    pub fn push_within(&mut self, record: &millrace::batch::RecordView<'_>, cap: usize) -> bool {
        let before = self.records.len();
        self.push(record);
        if self.count > 1 && self.records.len() > cap {
            self.records.truncate(before);
            self.count -= 1;
            return false;
        }
        true
    }

    /// The fields before the records (everything but `records`).
    pub fn encode_head(&self, w: &mut Writer) {
        w.u64(self.next_offset);
        w.u64(self.high_watermark);
        w.u64(self.last_stable_offset);
        w.u32(self.count);
    }
}

/// `bytes`: a u32 length and the bytes (a record's parts fit in u32: the
/// engine bounds records far below 4 GiB).
fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// `nullable_bytes` (protocol.md "Conventions"): null as the length `NULL_LENGTH` alone.
fn push_nullable_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => out.extend_from_slice(&crate::wire::NULL_LENGTH.to_le_bytes()),
        Some(bytes) => push_bytes(out, bytes),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnBegun {
    pub transaction_id: u64,
}

impl Wire for TxnBegun {
    const BYTES_MIN: usize = 8;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.transaction_id);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TxnBegun {
            transaction_id: r.u64("txn_begun.transaction_id")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnCommitted {
    pub transaction_sequence: u32,
    pub parts: Vec<CommittedPart>,
}

impl Wire for TxnCommitted {
    const BYTES_MIN: usize = 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u32(self.transaction_sequence);
        write_list(w, &self.parts);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TxnCommitted {
            transaction_sequence: r.u32("committed.transaction_sequence")?,
            parts: read_list(r, "committed.parts")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFailed {
    /// False: the attempt was counted, deliver the record again.
    pub dead_lettered: bool,
    /// Where it landed in the DLQ (0 unless `dead_lettered`).
    pub dlq_offset: u64,
    pub attempts: u32,
    pub first_failure_ms: i64,
    pub last_failure_ms: i64,
}

impl Wire for RecordFailed {
    const BYTES_MIN: usize = 1 + 8 + 4 + 8 + 8;
    fn encode(&self, w: &mut Writer) {
        w.bool(self.dead_lettered);
        w.u64(self.dlq_offset);
        w.u32(self.attempts);
        w.i64(self.first_failure_ms);
        w.i64(self.last_failure_ms);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(RecordFailed {
            dead_lettered: r.bool("failed.dead_lettered")?,
            dlq_offset: r.u64("failed.dlq_offset")?,
            attempts: r.u32("failed.attempts")?,
            first_failure_ms: r.i64("failed.first_failure_ms")?,
            last_failure_ms: r.i64("failed.last_failure_ms")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetPlan {
    /// False for a dry run.
    pub applied: bool,
    pub entries: Vec<ResetPlanEntry>,
}

impl Wire for ResetPlan {
    const BYTES_MIN: usize = 1 + 4;
    fn encode(&self, w: &mut Writer) {
        w.bool(self.applied);
        write_list(w, &self.entries);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ResetPlan {
            applied: r.bool("plan.applied")?,
            entries: read_list(r, "plan.entries")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqListing {
    pub depth: u64,
    pub start_offset: u64,
    pub end_offset: u64,
    /// Age of the oldest record still in the DLQ, by its last failure time.
    pub oldest_age_ms: Option<i64>,
    pub entries: Vec<DlqEntry>,
}

impl Wire for DlqListing {
    const BYTES_MIN: usize = 8 + 8 + 8 + 1 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.depth);
        w.u64(self.start_offset);
        w.u64(self.end_offset);
        w.option(self.oldest_age_ms.as_ref(), |w, t| w.i64(*t));
        write_list(w, &self.entries);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DlqListing {
            depth: r.u64("dlq.depth")?,
            start_offset: r.u64("dlq.start_offset")?,
            end_offset: r.u64("dlq.end_offset")?,
            oldest_age_ms: r.option("dlq.oldest_age_ms", |r| r.i64("dlq.oldest_age_ms"))?,
            entries: read_list(r, "dlq.entries")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveReport {
    /// DLQ offset the run started from (durable progress of earlier runs).
    pub resumed_from: u64,
    /// DLQ offset the next run resumes from.
    pub next_offset: u64,
    pub redriven: Vec<RedrivenRecord>,
    /// DLQ offsets left in place: redrive cap reached.
    pub capped: Vec<u64>,
    /// DLQ records left in place: the target's contract refuses them.
    pub refused: Vec<RefusedRecord>,
}

impl Wire for RedriveReport {
    const BYTES_MIN: usize = 8 + 8 + 4 + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.resumed_from);
        w.u64(self.next_offset);
        write_list(w, &self.redriven);
        write_list(w, &self.capped);
        write_list(w, &self.refused);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(RedriveReport {
            resumed_from: r.u64("redrive.resumed_from")?,
            next_offset: r.u64("redrive.next_offset")?,
            redriven: read_list(r, "redrive.redriven")?,
            capped: read_list(r, "redrive.capped")?,
            refused: read_list(r, "redrive.refused")?,
        })
    }
}

/// A `Fetch` response kept as it arrived: the records are read in place from
/// the frame body instead of being copied into one [`StoredRecord`] each
/// ([`crate::Client::fetch_view`]). Same wire bytes as [`Fetched`]; parsing
/// checks everything [`Fetched::decode`] checks (lengths, tags, UTF-8 header
/// names, no trailing bytes), once, so that reading a record cannot fail.
#[derive(Debug, Clone, Default)]
pub struct FetchedView {
    pub next_offset: u64,
    pub high_watermark: u64,
    pub last_stable_offset: u64,
    body: Vec<u8>,
    records: Vec<RecordSpans>,
    /// Every record's headers, in order: (name, value) byte ranges in `body`;
    /// a null value is `None`.
    headers: Vec<(Span, Option<Span>)>,
}

/// A byte range of the body: `start..start + len`.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: usize,
    len: usize,
}

#[derive(Debug, Clone, Copy)]
struct RecordSpans {
    offset: u64,
    timestamp_ms: i64,
    key: Option<Span>,
    /// `None`: a null value.
    value: Option<Span>,
    /// This record's entries of `FetchedView::headers`.
    headers_start: usize,
    headers_count: usize,
}

/// One record of a [`FetchedView`], borrowed from it.
#[derive(Debug, Clone, Copy)]
pub struct FetchedRecord<'a> {
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    /// The value (empty when it is null: [`FetchedRecord::value_opt`]).
    pub value: &'a [u8],
    value_null: bool,
    body: &'a [u8],
    headers: &'a [(Span, Option<Span>)],
}

fn slice(body: &[u8], span: Span) -> &[u8] {
    body.get(span.start..span.start.saturating_add(span.len))
        .unwrap_or_default()
}

impl<'a> FetchedRecord<'a> {
    /// Header names and values, in order; a null value reads as empty
    /// ([`FetchedRecord::headers_opt`] tells them apart).
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + 'a {
        self.headers_opt()
            .map(|(name, value)| (name, value.unwrap_or_default()))
    }

    /// Header names and values, in order, a null value as `None`.
    pub fn headers_opt(&self) -> impl ExactSizeIterator<Item = (&'a str, Option<&'a [u8]>)> + 'a {
        let body = self.body;
        self.headers.iter().map(move |&(name, value)| {
            // Checked as UTF-8 when the view was parsed.
            (
                std::str::from_utf8(slice(body, name)).unwrap_or_default(),
                value.map(|value| slice(body, value)),
            )
        })
    }

    /// The value, `None` when it is null (a Kafka tombstone).
    pub fn value_opt(&self) -> Option<&'a [u8]> {
        (!self.value_null).then_some(self.value)
    }

    /// True if the value is null, not empty.
    pub fn is_null_value(&self) -> bool {
        self.value_null
    }

    /// An owned copy, as [`Fetched`] holds it.
    pub fn to_stored(&self) -> StoredRecord {
        StoredRecord {
            offset: self.offset,
            timestamp_ms: self.timestamp_ms,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.to_vec(),
            headers: self
                .headers()
                .map(|(name, value)| (name.to_string(), value.to_vec()))
                .collect(),
            nulls: millrace::Nulls {
                value: self.value_null,
                headers: self
                    .headers_opt()
                    .enumerate()
                    .filter(|(_, (_, value))| value.is_none())
                    .map(|(i, _)| u16::try_from(i).unwrap_or(u16::MAX))
                    .collect(),
            },
        }
    }
}

impl FetchedView {
    /// Parse the success fields of a `Fetch` response (`body` without the
    /// status), keeping `body` and remembering where each record's parts are.
    pub fn parse(body: Vec<u8>, fields_at: usize) -> DecodeResult<FetchedView> {
        let total = body.len();
        let fields = body.get(fields_at..).unwrap_or_default();
        let mut r = Reader::new(fields);
        let at = |r: &Reader<'_>, len: usize| Span {
            start: total - r.remaining() - len,
            len,
        };
        let next_offset = r.u64("fetched.next_offset")?;
        let high_watermark = r.u64("fetched.high_watermark")?;
        let last_stable_offset = r.u64("fetched.last_stable_offset")?;
        let count = r.u32("fetched.records")?;
        // Bounded by the bytes present before anything is allocated, as `Reader::list` does.
        let remaining = r.remaining() as u64;
        if u64::from(count).saturating_mul(StoredRecord::BYTES_MIN as u64) > remaining {
            return Err(crate::wire::DecodeError::CountTooLarge {
                field: "fetched.records",
                count,
                remaining,
            });
        }
        let mut records = Vec::with_capacity(count as usize);
        let mut headers = Vec::new();
        for _ in 0..count {
            let offset = r.u64("record.offset")?;
            let timestamp_ms = r.i64("record.timestamp_ms")?;
            let key = if r.option_tag("record.key")? {
                let key = r.bytes_borrowed("record.key")?;
                Some(at(&r, key.len()))
            } else {
                None
            };
            let value = r
                .nullable_bytes_borrowed("record.value")?
                .map(|value| at(&r, value.len()));
            let headers_start = headers.len();
            let headers_count = r.u32("headers")?;
            let remaining = r.remaining() as u64;
            if u64::from(headers_count).saturating_mul((STRING_MIN + BYTES_MIN) as u64) > remaining {
                return Err(crate::wire::DecodeError::CountTooLarge {
                    field: "headers",
                    count: headers_count,
                    remaining,
                });
            }
            for _ in 0..headers_count {
                let name = r.bytes_borrowed("header.name")?;
                if std::str::from_utf8(name).is_err() {
                    return Err(crate::wire::DecodeError::InvalidUtf8 { field: "header.name" });
                }
                let name = at(&r, name.len());
                let value = r
                    .nullable_bytes_borrowed("header.value")?
                    .map(|value| at(&r, value.len()));
                headers.push((name, value));
            }
            records.push(RecordSpans {
                offset,
                timestamp_ms,
                key,
                value,
                headers_start,
                headers_count: headers_count as usize,
            });
        }
        r.finish()?;
        Ok(FetchedView {
            next_offset,
            high_watermark,
            last_stable_offset,
            body,
            records,
            headers,
        })
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The `index`th record.
    pub fn get(&self, index: usize) -> Option<FetchedRecord<'_>> {
        let spans = self.records.get(index)?;
        Some(self.record(spans))
    }

    fn record(&self, spans: &RecordSpans) -> FetchedRecord<'_> {
        let body = self.body.as_slice();
        let headers_end = spans.headers_start.saturating_add(spans.headers_count);
        FetchedRecord {
            offset: spans.offset,
            timestamp_ms: spans.timestamp_ms,
            key: spans.key.map(|key| slice(body, key)),
            value: spans.value.map_or(&[][..], |value| slice(body, value)),
            value_null: spans.value.is_none(),
            body,
            headers: self.headers.get(spans.headers_start..headers_end).unwrap_or_default(),
        }
    }

    /// The records in offset order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = FetchedRecord<'_>> + '_ {
        self.records.iter().map(|spans| self.record(spans))
    }

    /// An owned copy of the whole response.
    pub fn to_fetched(&self) -> Fetched {
        Fetched {
            next_offset: self.next_offset,
            high_watermark: self.high_watermark,
            last_stable_offset: self.last_stable_offset,
            records: self.iter().map(|record| record.to_stored()).collect(),
        }
    }
}
