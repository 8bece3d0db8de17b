//! Structures shared by several messages ("Shared structures" and the
//! per-message sub-structures of `design/protocol.md`), each with its encoder
//! and decoder side by side; the consumer-group ones (offsets, resets, lag)
//! are in `offsets`.

use millrace::{Nulls, Record, StoredRecord};

use crate::wire::{DecodeError, DecodeResult, Reader, Writer, BYTES_MIN, OPTION_MIN, STRING_MIN};

/// A value with a wire encoding.
pub trait Wire: Sized {
    /// Size of the smallest encoding; bounds `list<T>` counts before allocation.
    const BYTES_MIN: usize;
    fn encode(&self, w: &mut Writer);
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self>;
}

pub(crate) fn write_list<T: Wire>(w: &mut Writer, items: &[T]) {
    w.list(items, |w, item| item.encode(w));
}

pub(crate) fn read_list<T: Wire>(r: &mut Reader<'_>, field: &'static str) -> DecodeResult<Vec<T>> {
    r.list(field, T::BYTES_MIN, T::decode)
}

impl Wire for String {
    const BYTES_MIN: usize = STRING_MIN;
    fn encode(&self, w: &mut Writer) {
        w.string(self);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        r.string("string")
    }
}

impl Wire for u64 {
    const BYTES_MIN: usize = 8;
    fn encode(&self, w: &mut Writer) {
        w.u64(*self);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        r.u64("u64")
    }
}

fn write_headers(w: &mut Writer, headers: &[(String, Vec<u8>)], nulls: &Nulls) {
    let mut index = 0usize;
    w.list(headers, |w, (name, value)| {
        w.string(name);
        w.nullable_bytes((!nulls.header(index)).then_some(value.as_slice()));
        index += 1;
    });
}

/// Headers and which of them are null.
type Headers = (Vec<(String, Vec<u8>)>, Vec<u16>);

fn read_headers(r: &mut Reader<'_>) -> DecodeResult<Headers> {
    let mut null_headers = Vec::new();
    let mut index = 0u16;
    let headers = r.list("headers", STRING_MIN + BYTES_MIN, |r| {
        let name = r.string("header.name")?;
        let value = r.nullable_bytes("header.value")?;
        if value.is_none() {
            null_headers.push(index);
        }
        index = index.saturating_add(1);
        Ok((name, value.unwrap_or_default()))
    })?;
    Ok((headers, null_headers))
}

impl Wire for Record {
    const BYTES_MIN: usize = OPTION_MIN + OPTION_MIN + BYTES_MIN + 4;
    fn encode(&self, w: &mut Writer) {
        w.option(self.timestamp_ms.as_ref(), |w, t| w.i64(*t));
        w.option(self.key.as_ref(), |w, k| w.bytes(k));
        w.nullable_bytes(self.value_opt());
        write_headers(w, &self.headers, &self.nulls);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let timestamp_ms = r.option("record.timestamp_ms", |r| r.i64("record.timestamp_ms"))?;
        let key = r.option("record.key", |r| r.bytes("record.key"))?;
        let value = r.nullable_bytes("record.value")?;
        let (headers, null_headers) = read_headers(r)?;
        Ok(Record {
            timestamp_ms,
            key,
            nulls: Nulls {
                value: value.is_none(),
                headers: null_headers,
            },
            value: value.unwrap_or_default(),
            headers,
        })
    }
}

impl Wire for StoredRecord {
    const BYTES_MIN: usize = 8 + 8 + OPTION_MIN + BYTES_MIN + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.offset);
        w.i64(self.timestamp_ms);
        w.option(self.key.as_ref(), |w, k| w.bytes(k));
        w.nullable_bytes(self.value_opt());
        write_headers(w, &self.headers, &self.nulls);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let offset = r.u64("record.offset")?;
        let timestamp_ms = r.i64("record.timestamp_ms")?;
        let key = r.option("record.key", |r| r.bytes("record.key"))?;
        let value = r.nullable_bytes("record.value")?;
        let (headers, null_headers) = read_headers(r)?;
        Ok(StoredRecord {
            offset,
            timestamp_ms,
            key,
            nulls: Nulls {
                value: value.is_none(),
                headers: null_headers,
            },
            value: value.unwrap_or_default(),
            headers,
        })
    }
}

/// A topic configuration key and its decimal text value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub key: String,
    pub value: String,
}

impl Wire for ConfigEntry {
    const BYTES_MIN: usize = STRING_MIN * 2;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.key);
        w.string(&self.value);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ConfigEntry {
            key: r.string("config.key")?,
            value: r.string("config.value")?,
        })
    }
}

/// Who wrote a batch, for idempotent produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    pub producer_id: u64,
    pub epoch: u16,
    pub base_sequence: u32,
}

impl Wire for ProducerStamp {
    const BYTES_MIN: usize = 8 + 2 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.producer_id);
        w.u16(self.epoch);
        w.u32(self.base_sequence);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ProducerStamp {
            producer_id: r.u64("producer.producer_id")?,
            epoch: r.u16("producer.epoch")?,
            base_sequence: r.u32("producer.base_sequence")?,
        })
    }
}

/// Where a fetch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Offset(u64),
    /// First record with a timestamp at or after this many ms since the epoch.
    Time(i64),
}

impl Wire for Position {
    const BYTES_MIN: usize = 1 + 8;
    fn encode(&self, w: &mut Writer) {
        match self {
            Position::Offset(offset) => {
                w.u8(0);
                w.u64(*offset);
            }
            Position::Time(timestamp_ms) => {
                w.u8(1);
                w.i64(*timestamp_ms);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        match r.u8("position")? {
            0 => Ok(Position::Offset(r.u64("position.offset")?)),
            1 => Ok(Position::Time(r.i64("position.timestamp_ms")?)),
            tag => Err(DecodeError::InvalidTag { field: "position", tag }),
        }
    }
}

/// Which records a fetch may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Never records of open or aborted transactions.
    #[default]
    ReadCommitted,
    ReadUncommitted,
}

impl Wire for Isolation {
    const BYTES_MIN: usize = 1;
    fn encode(&self, w: &mut Writer) {
        w.u8(match self {
            Isolation::ReadCommitted => 0,
            Isolation::ReadUncommitted => 1,
        });
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        match r.u8("isolation")? {
            0 => Ok(Isolation::ReadCommitted),
            1 => Ok(Isolation::ReadUncommitted),
            tag => Err(DecodeError::InvalidTag {
                field: "isolation",
                tag,
            }),
        }
    }
}

/// One partition of a described topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: u32,
    pub start_offset: u64,
    pub end_offset: u64,
    pub bytes: u64,
}

impl Wire for PartitionInfo {
    const BYTES_MIN: usize = 4 + 8 + 8 + 8;
    fn encode(&self, w: &mut Writer) {
        w.u32(self.partition);
        w.u64(self.start_offset);
        w.u64(self.end_offset);
        w.u64(self.bytes);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(PartitionInfo {
            partition: r.u32("partition_info.partition")?,
            start_offset: r.u64("partition_info.start_offset")?,
            end_offset: r.u64("partition_info.end_offset")?,
            bytes: r.u64("partition_info.bytes")?,
        })
    }
}

/// Where a re-initialised producer resumes on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSequence {
    pub topic: String,
    pub partition: u32,
    pub next_sequence: u32,
}

impl Wire for ProducerSequence {
    const BYTES_MIN: usize = STRING_MIN + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u32(self.partition);
        w.u32(self.next_sequence);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ProducerSequence {
            topic: r.string("sequence.topic")?,
            partition: r.u32("sequence.partition")?,
            next_sequence: r.u32("sequence.next_sequence")?,
        })
    }
}

/// Where one partition's part of a committed transaction landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedPart {
    pub topic: String,
    pub partition: u32,
    pub base_offset: u64,
    pub next_offset: u64,
}

impl Wire for CommittedPart {
    const BYTES_MIN: usize = STRING_MIN + 4 + 8 + 8;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u32(self.partition);
        w.u64(self.base_offset);
        w.u64(self.next_offset);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(CommittedPart {
            topic: r.string("part.topic")?,
            partition: r.u32("part.partition")?,
            base_offset: r.u64("part.base_offset")?,
            next_offset: r.u64("part.next_offset")?,
        })
    }
}

/// A dead-lettered record with its provenance: the engine's own type,
/// encoded field by field (layout in design/protocol.md).
pub use millrace::dlq::DlqEntry;

impl Wire for DlqEntry {
    const BYTES_MIN: usize = 8 + STRING_MIN + 4 + 8 + STRING_MIN * 4 + 4 + 8 + 8 + 4 + Record::BYTES_MIN + OPTION_MIN;
    fn encode(&self, w: &mut Writer) {
        let letter = &self.letter;
        w.u64(self.dlq_offset);
        w.string(&letter.source_topic);
        w.u32(letter.source_partition);
        w.u64(letter.source_offset);
        w.string(&letter.group);
        w.string(&letter.stage);
        w.string(&letter.error_class);
        w.string(&letter.error_message);
        w.u32(letter.attempts);
        w.i64(letter.first_failure_ms);
        w.i64(letter.last_failure_ms);
        w.u32(letter.redrive_count);
        // A contract's provenance travels as the DLQ record's own headers
        // (`dlq.contract.*`), inside the record: no field of its own.
        match &letter.contract {
            Some(contract) => {
                let mut record = letter.record.clone();
                contract.add_to(&mut record);
                record.encode(w);
            }
            None => letter.record.encode(w),
        }
        w.option(self.redriven.as_ref(), |w, mark| {
            w.string(&mark.topic);
            w.u32(mark.partition);
            w.i64(mark.redriven_at_ms);
        });
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let dlq_offset = r.u64("dlq.offset")?;
        let mut letter = millrace::dlq::DeadLetter {
            source_topic: r.string("dlq.source_topic")?,
            source_partition: r.u32("dlq.source_partition")?,
            source_offset: r.u64("dlq.source_offset")?,
            group: r.string("dlq.group")?,
            stage: r.string("dlq.stage")?,
            error_class: r.string("dlq.error_class")?,
            error_message: r.string("dlq.error_message")?,
            attempts: r.u32("dlq.attempts")?,
            first_failure_ms: r.i64("dlq.first_failure_ms")?,
            last_failure_ms: r.i64("dlq.last_failure_ms")?,
            redrive_count: r.u32("dlq.redrive_count")?,
            record: Record::decode(r)?,
            contract: None,
        };
        letter.contract = millrace::dlq::ContractFailure::take_from(&mut letter.record);
        Ok(DlqEntry {
            dlq_offset,
            letter,
            redriven: r.option("dlq.redriven", |r| {
                Ok(millrace::dlq::RedriveMark {
                    topic: r.string("dlq.redriven.topic")?,
                    partition: r.u32("dlq.redriven.partition")?,
                    redriven_at_ms: r.i64("dlq.redriven.at_ms")?,
                })
            })?,
        })
    }
}

/// One DLQ record re-appended (or planned, on a dry run) by a redrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivenRecord {
    pub dlq_offset: u64,
    pub topic: String,
    pub partition: u32,
}

impl Wire for RedrivenRecord {
    const BYTES_MIN: usize = 8 + STRING_MIN + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.dlq_offset);
        w.string(&self.topic);
        w.u32(self.partition);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(RedrivenRecord {
            dlq_offset: r.u64("redriven.dlq_offset")?,
            topic: r.string("redriven.topic")?,
            partition: r.u32("redriven.partition")?,
        })
    }
}

/// One DLQ record a redrive left in place because the target topic's
/// contract of today refuses it (or would dead-letter it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRecord {
    pub dlq_offset: u64,
    /// Why: the rule, the field and what is wrong.
    pub reason: String,
}

impl Wire for RefusedRecord {
    const BYTES_MIN: usize = 8 + STRING_MIN;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.dlq_offset);
        w.string(&self.reason);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(RefusedRecord {
            dlq_offset: r.u64("refused.dlq_offset")?,
            reason: r.string("refused.reason")?,
        })
    }
}

/// A named counter or gauge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub value: u64,
}

impl Wire for Stat {
    const BYTES_MIN: usize = STRING_MIN + 8;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.name);
        w.u64(self.value);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(Stat {
            name: r.string("stat.name")?,
            value: r.u64("stat.value")?,
        })
    }
}
