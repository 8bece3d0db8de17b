//! The records inside a batch: the borrowed view and its iterator (decode),
//! and [`BatchWriter`] (encode). Every count and length is checked against
//! the bytes left before it is used; nothing is allocated while decoding.

use super::batch::{batch_length_of, finish_header, Attributes, BatchHeader, BATCH_HEADER_BYTES, MAGIC_V2};
use super::compression::{compress, Compression};
use super::cursor::{length_i32, put_varint, put_varlong, varint_len, varlong_len, Cursor};
use super::RecordsError;

/// The fewest bytes a record takes: length, attributes, timestamp delta,
/// offset delta, key length, value length, header count (one byte each).
pub const RECORD_BYTES_MIN: usize = 7;
/// The fewest bytes a header takes: key length and value length.
const HEADER_BYTES_MIN: usize = 2;

/// One record, borrowed from the batch (or its decompressed records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Record attributes (unused by Kafka, kept).
    pub attributes: i8,
    /// Timestamp minus the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset minus the batch's base offset.
    pub offset_delta: i32,
    /// The key; `None` = null.
    pub key: Option<&'a [u8]>,
    /// The value; `None` = null (a tombstone).
    pub value: Option<&'a [u8]>,
    /// The headers, validated.
    pub headers: Headers<'a>,
}

/// A record's headers: validated when the record was read, iterated lazily
/// in order (duplicate keys kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    raw: &'a [u8],
    count: usize,
}

impl<'a> Headers<'a> {
    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count
    }
    /// No headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// (key, value; `None` = null) in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a [u8]>)> + Clone + 'a {
        let mut cursor = Cursor::new(self.raw, 0);
        (0..self.count).map_while(move |_| {
            let key = cursor.length_prefixed(false, "header key").ok()??;
            let key = std::str::from_utf8(key).ok()?;
            let value = cursor.length_prefixed(true, "header value").ok()?;
            Some((key, value))
        })
    }
}

/// The records of one batch, in order. After the last record it checks that
/// no bytes are left ([`RecordsError::TrailingBytes`]); after an error it
/// ends.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    cursor: Cursor<'a>,
    index: usize,
    count: usize,
    done: bool,
}

impl<'a> RecordIter<'a> {
    /// Records in `bytes` (whose first byte is at `origin` for errors),
    /// `count` as the batch header says: refused unless `bytes` can hold
    /// that many records.
    pub(crate) fn new(bytes: &'a [u8], origin: usize, count: i32) -> Result<Self, RecordsError> {
        let fits = usize::try_from(count).ok().filter(|count| {
            count
                .checked_mul(RECORD_BYTES_MIN)
                .is_some_and(|need| need <= bytes.len())
        });
        let count = fits.ok_or(RecordsError::BadRecordCount {
            count,
            bytes: bytes.len(),
        })?;
        Ok(RecordIter {
            cursor: Cursor::new(bytes, origin),
            index: 0,
            count,
            done: false,
        })
    }

    /// Records not yet read.
    pub fn remaining(&self) -> usize {
        self.count - self.index
    }

    fn read_record(&mut self) -> Result<Record<'a>, RecordsError> {
        let index = self.index;
        let position = self.cursor.position();
        let length = self.cursor.varint("record length")?;
        let length = usize::try_from(length).map_err(|_| RecordsError::InvalidLength {
            field: "record length",
            position,
            length: i64::from(length),
        })?;
        let body_at = self.cursor.position();
        let body_bytes = self.cursor.take(length, "record")?;
        let mut body = Cursor::new(body_bytes, body_at);
        let attributes = body.i8("record attributes")?;
        let timestamp_delta = body.varlong("timestamp delta")?;
        let offset_delta = body.varint("offset delta")?;
        let key = body.length_prefixed(true, "key")?;
        let value = body.length_prefixed(true, "value")?;
        let count_at = body.position();
        let header_count = body.varint("header count")?;
        let header_count = usize::try_from(header_count)
            .ok()
            .filter(|count| count.saturating_mul(HEADER_BYTES_MIN) <= body.remaining())
            .ok_or(RecordsError::InvalidLength {
                field: "header count",
                position: count_at,
                length: i64::from(header_count),
            })?;
        let headers_at = body.consumed();
        for header in 0..header_count {
            let key = body.length_prefixed(false, "header key")?.unwrap_or_default();
            if std::str::from_utf8(key).is_err() {
                return Err(RecordsError::HeaderKeyNotUtf8 { index, header });
            }
            body.length_prefixed(true, "header value")?;
        }
        if body.remaining() != 0 {
            return Err(RecordsError::RecordLengthMismatch {
                index,
                length,
                consumed: body.consumed(),
            });
        }
        let raw = body_bytes.get(headers_at..).unwrap_or_default();
        Ok(Record {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers: Headers {
                raw,
                count: header_count,
            },
        })
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>, RecordsError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index == self.count {
            self.done = true;
            let trailing = self.cursor.remaining();
            return (trailing != 0).then_some(Err(RecordsError::TrailingBytes {
                count: i32::try_from(self.count).unwrap_or(i32::MAX),
                trailing,
            }));
        }
        let record = self.read_record();
        self.index += 1;
        if record.is_err() {
            self.done = true;
        }
        Some(record)
    }
}

/// What a batch's header says that is not computed from its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchFields {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Leader epoch to write ([`super::NO_PARTITION_LEADER_EPOCH`] here).
    pub partition_leader_epoch: i32,
    /// Timestamp type, transactional, control (the compression bits are set
    /// by [`BatchWriter::finish`]).
    pub attributes: Attributes,
    /// Timestamp the record deltas are relative to.
    pub base_timestamp: i64,
    /// Producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or -1.
    pub base_sequence: i32,
}

/// Encodes one batch into a caller's buffer: [`BatchWriter::begin`] leaves
/// room for the header, [`BatchWriter::record`] appends records in offset
/// order, [`BatchWriter::finish`] compresses (if asked), fills in the header
/// and the CRC.
#[derive(Debug)]
pub struct BatchWriter<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
    fields: BatchFields,
    count: i32,
    last_offset_delta: i32,
    max_timestamp: i64,
}

impl<'o> BatchWriter<'o> {
    /// Start a batch at the end of `out`.
    pub fn begin(out: &'o mut Vec<u8>, fields: BatchFields) -> Self {
        let start = out.len();
        out.resize(start + BATCH_HEADER_BYTES, 0);
        BatchWriter {
            out,
            start,
            fields,
            count: 0,
            last_offset_delta: 0,
            max_timestamp: fields.base_timestamp,
        }
    }

    /// Records written so far.
    pub fn count(&self) -> i32 {
        self.count
    }

    /// Bytes of the batch so far (uncompressed).
    pub fn bytes_so_far(&self) -> usize {
        self.out.len() - self.start
    }

    /// Append a record. `headers` is called twice (to size the record, then
    /// to write it), so it must yield the same headers both times.
    pub fn record<'r, F, I>(
        &mut self,
        offset_delta: i32,
        timestamp_delta: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: F,
    ) -> Result<(), RecordsError>
    where
        F: Fn() -> I,
        I: Iterator<Item = (&'r str, Option<&'r [u8]>)>,
    {
        let nullable_len = |bytes: Option<&[u8]>, field| -> Result<usize, RecordsError> {
            Ok(match bytes {
                None => varint_len(-1),
                Some(bytes) => varint_len(length_i32(bytes.len(), field)?) + bytes.len(),
            })
        };
        let mut header_count = 0usize;
        let mut headers_len = 0usize;
        for (name, value) in headers() {
            header_count += 1;
            headers_len += varint_len(length_i32(name.len(), "header key")?) + name.len();
            headers_len += nullable_len(value, "header value")?;
        }
        let header_count = length_i32(header_count, "header count")?;
        let body_len = 1
            + varlong_len(timestamp_delta)
            + varint_len(offset_delta)
            + nullable_len(key, "key")?
            + nullable_len(value, "value")?
            + varint_len(header_count)
            + headers_len;
        let body_len = length_i32(body_len, "record length")?;
        let out = &mut *self.out;
        let record_at = out.len();
        out.reserve(varint_len(body_len) + body_len as usize);
        put_varint(out, body_len);
        let body_at = out.len();
        out.push(0);
        put_varlong(out, timestamp_delta);
        put_varint(out, offset_delta);
        put_nullable(out, key);
        put_nullable(out, value);
        put_varint(out, header_count);
        let mut written = 0usize;
        for (name, value) in headers() {
            written += 1;
            put_nullable(out, Some(name.as_bytes()));
            put_nullable(out, value);
        }
        if written != header_count as usize || out.len() - body_at != body_len as usize {
            out.truncate(record_at);
            return Err(RecordsError::DoesNotFit {
                field: "headers (yielded differently by the two calls)",
            });
        }
        self.count = self
            .count
            .checked_add(1)
            .ok_or(RecordsError::DoesNotFit { field: "recordCount" })?;
        self.last_offset_delta = offset_delta;
        let timestamp = self
            .fields
            .base_timestamp
            .checked_add(timestamp_delta)
            .ok_or(RecordsError::DoesNotFit { field: "timestamp" })?;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Ok(())
    }

    /// Compress the records with `compression`, then write the header and
    /// the CRC. Returns the batch's byte length.
    pub fn finish(self, compression: Compression) -> Result<usize, RecordsError> {
        self.finish_returning(compression).map(|(length, _)| length)
    }

    /// [`BatchWriter::finish`], also giving back the buffer (to begin the
    /// next batch in it).
    pub fn finish_returning(self, compression: Compression) -> Result<(usize, &'o mut Vec<u8>), RecordsError> {
        let records_at = self.start + BATCH_HEADER_BYTES;
        if compression != Compression::None {
            let mut compressed = Vec::new();
            compress(
                compression,
                self.out.get(records_at..).unwrap_or_default(),
                &mut compressed,
            )?;
            self.out.truncate(records_at);
            self.out.extend_from_slice(&compressed);
        }
        let total = self.out.len() - self.start;
        let attributes = Attributes((self.fields.attributes.0 & !0x07) | i16::from(compression.code()));
        let header = BatchHeader {
            base_offset: self.fields.base_offset,
            batch_length: batch_length_of(total)?,
            partition_leader_epoch: self.fields.partition_leader_epoch,
            magic: MAGIC_V2,
            crc: 0,
            attributes,
            last_offset_delta: self.last_offset_delta,
            base_timestamp: self.fields.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.fields.producer_id,
            producer_epoch: self.fields.producer_epoch,
            base_sequence: self.fields.base_sequence,
            record_count: self.count,
        };
        finish_header(self.out.get_mut(self.start..).unwrap_or_default(), &header)?;
        Ok((total, self.out))
    }
}

fn put_nullable(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(out, -1),
        Some(bytes) => {
            // Lengths were checked to fit an i32 when the record was sized.
            put_varint(out, i32::try_from(bytes.len()).unwrap_or(i32::MAX));
            out.extend_from_slice(bytes);
        }
    }
}
