//! A `Produce` request that keeps its frame body: the records are read
//! where they arrived ([`WireRecord`], a [`millrace::AppendRecord`]) and
//! encoded once, into the engine's batch, instead of being copied into owned
//! [`Record`]s first (issue 26). The layout is `Produce`'s
//! (design/protocol.md); [`ProduceFrame::decode`] checks every byte of it
//! as [`Produce`]'s decoder does, with the same errors.

use millrace::{AppendRecord, Nulls, Record};

use super::{Produce, ProducerStamp, Wire};
use crate::wire::{DecodeError, DecodeResult, Reader, BYTES_MIN, STRING_MIN};

/// A decoded `Produce` whose records stay in the frame body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceFrame {
    pub topic: String,
    pub partition: u32,
    pub producer: Option<ProducerStamp>,
    body: Vec<u8>,
    /// Where the record list starts in `body`.
    records_at: usize,
}

impl ProduceFrame {
    /// Decode a `Produce` body, checking every record (the frame is refused
    /// with the error [`Produce`]'s decoder gives), and keep it.
    pub fn decode(body: Vec<u8>) -> DecodeResult<Self> {
        let mut r = Reader::new(&body);
        let topic = r.string("produce.topic")?;
        let partition = r.u32("produce.partition")?;
        let producer = r.option("produce.producer", ProducerStamp::decode)?;
        let records_at = body.len() - r.remaining();
        for_each_record(&mut r, |_| ())?;
        r.finish()?;
        Ok(ProduceFrame {
            topic,
            partition,
            producer,
            body,
            records_at,
        })
    }

    /// The records, borrowed from the frame body.
    pub fn records(&self) -> DecodeResult<Vec<WireRecord<'_>>> {
        let bytes = self.body.get(self.records_at..).unwrap_or_default();
        // The count, checked against the bytes when the frame was decoded.
        let count = Reader::new(bytes).u32("produce.records")?;
        let mut records = Vec::with_capacity((count as usize).min(bytes.len() / Record::BYTES_MIN));
        for_each_record(&mut Reader::new(bytes), |record| records.push(record))?;
        Ok(records)
    }

    /// The request with owned records (a path that is not the hot one).
    pub fn into_produce(self) -> DecodeResult<Produce> {
        let records = self.records()?.iter().map(WireRecord::to_record).collect();
        Ok(Produce {
            topic: self.topic,
            partition: self.partition,
            producer: self.producer,
            records,
        })
    }
}

/// Read a `list<Record>` and hand each record to `each`.
fn for_each_record<'a>(r: &mut Reader<'a>, mut each: impl FnMut(WireRecord<'a>)) -> DecodeResult<()> {
    let count = r.list_count("produce.records", Record::BYTES_MIN)?;
    for _ in 0..count {
        each(WireRecord::decode(r)?);
    }
    Ok(())
}

/// One record of a `Produce`, borrowed from the frame body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireRecord<'a> {
    pub timestamp_ms: Option<i64>,
    pub key: Option<&'a [u8]>,
    /// `None` = null (not empty).
    pub value: Option<&'a [u8]>,
    /// The header entries (after their count), each checked when decoded.
    headers: &'a [u8],
    header_count: usize,
}

impl<'a> WireRecord<'a> {
    /// [`Record`]'s wire layout, with the same checks and errors.
    pub fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let timestamp_ms = r.option("record.timestamp_ms", |r| r.i64("record.timestamp_ms"))?;
        let key = r.option("record.key", |r| r.bytes_borrowed("record.key"))?;
        let value = r.nullable_bytes_borrowed("record.value")?;
        let count = r.list_count("headers", STRING_MIN + BYTES_MIN)?;
        let start = r.rest();
        for _ in 0..count {
            header(r)?;
        }
        let headers = start.get(..start.len() - r.remaining()).unwrap_or_default();
        Ok(WireRecord {
            timestamp_ms,
            key,
            value,
            headers,
            header_count: count as usize,
        })
    }
}

/// One header entry: name (UTF-8) and nullable value.
fn header<'a>(r: &mut Reader<'a>) -> DecodeResult<(&'a str, Option<&'a [u8]>)> {
    let name = r.bytes_borrowed("header.name")?;
    let name = std::str::from_utf8(name).map_err(|_| DecodeError::InvalidUtf8 { field: "header.name" })?;
    let value = r.nullable_bytes_borrowed("header.value")?;
    Ok((name, value))
}

impl AppendRecord for WireRecord<'_> {
    fn key(&self) -> Option<&[u8]> {
        self.key
    }
    fn value(&self) -> Option<&[u8]> {
        self.value
    }
    fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }
    fn header_count(&self) -> usize {
        self.header_count
    }
    fn headers(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        // Checked when the record was decoded: a failure cannot happen and
        // would end the walk early, never read past the entries.
        let mut r = Reader::new(self.headers);
        (0..self.header_count).map_while(move |_| header(&mut r).ok())
    }
    fn to_record(&self) -> Record {
        let mut nulls = Nulls {
            value: self.value.is_none(),
            headers: Vec::new(),
        };
        let mut headers = Vec::with_capacity(self.header_count);
        for (index, (name, value)) in self.headers().enumerate() {
            if value.is_none() {
                nulls.headers.push(u16::try_from(index).unwrap_or(u16::MAX));
            }
            headers.push((name.to_owned(), value.unwrap_or_default().to_vec()));
        }
        Record {
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.unwrap_or_default().to_vec(),
            headers,
            timestamp_ms: self.timestamp_ms,
            nulls,
        }
    }
}
