// Over 600 lines: each shared wire structure with its encoder and decoder side by side, in protocol.md's order.
//! Structures shared by several messages ("Shared structures" and the
//! per-message sub-structures of `design/protocol.md`), each with its encoder
//! and decoder side by side.

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

/// An offset to commit (the next offset to read) with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub metadata: Vec<u8>,
}

impl Wire for PartitionOffset {
    const BYTES_MIN: usize = STRING_MIN + 4 + 8 + BYTES_MIN;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u32(self.partition);
        w.u64(self.offset);
        w.bytes(&self.metadata);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(PartitionOffset {
            topic: r.string("offset.topic")?,
            partition: r.u32("offset.partition")?,
            offset: r.u64("offset.offset")?,
            metadata: r.bytes("offset.metadata")?,
        })
    }
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub metadata: Vec<u8>,
    pub commit_time_ms: i64,
}

impl Wire for CommittedOffset {
    const BYTES_MIN: usize = STRING_MIN + 4 + 8 + BYTES_MIN + 8;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u32(self.partition);
        w.u64(self.offset);
        w.bytes(&self.metadata);
        w.i64(self.commit_time_ms);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(CommittedOffset {
            topic: r.string("committed.topic")?,
            partition: r.u32("committed.partition")?,
            offset: r.u64("committed.offset")?,
            metadata: r.bytes("committed.metadata")?,
            commit_time_ms: r.i64("committed.commit_time_ms")?,
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

/// Where an offset reset moves a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTarget {
    Earliest,
    Latest,
    ToOffset(u64),
    ShiftBy(i64),
    ToTime(i64),
    /// Back from now, in ms.
    ByDuration(u64),
}

impl Wire for ResetTarget {
    const BYTES_MIN: usize = 1;
    fn encode(&self, w: &mut Writer) {
        match self {
            ResetTarget::Earliest => w.u8(0),
            ResetTarget::Latest => w.u8(1),
            ResetTarget::ToOffset(offset) => {
                w.u8(2);
                w.u64(*offset);
            }
            ResetTarget::ShiftBy(delta) => {
                w.u8(3);
                w.i64(*delta);
            }
            ResetTarget::ToTime(timestamp_ms) => {
                w.u8(4);
                w.i64(*timestamp_ms);
            }
            ResetTarget::ByDuration(duration_ms) => {
                w.u8(5);
                w.u64(*duration_ms);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        match r.u8("reset_target")? {
            0 => Ok(ResetTarget::Earliest),
            1 => Ok(ResetTarget::Latest),
            2 => Ok(ResetTarget::ToOffset(r.u64("reset_target.offset")?)),
            3 => Ok(ResetTarget::ShiftBy(r.i64("reset_target.delta")?)),
            4 => Ok(ResetTarget::ToTime(r.i64("reset_target.timestamp_ms")?)),
            5 => Ok(ResetTarget::ByDuration(r.u64("reset_target.duration_ms")?)),
            tag => Err(DecodeError::InvalidTag {
                field: "reset_target",
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

/// Something the operator should know about one line of a reset plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetWarning {
    /// The requested offset was below the log start: clamped up to it.
    BelowLogStart { requested: i64 },
    /// The requested offset was past the high watermark: clamped down to it.
    AboveHighWatermark { requested: i64 },
    /// `ShiftBy` with nothing committed: shifted from the log start.
    NoCommittedOffset,
    /// No record at or after the time: moved to the high watermark.
    NoRecordAtOrAfter { timestamp_ms: i64 },
}

impl Wire for ResetWarning {
    const BYTES_MIN: usize = 1 + 8;
    fn encode(&self, w: &mut Writer) {
        let (tag, value) = match self {
            ResetWarning::BelowLogStart { requested } => (0, *requested),
            ResetWarning::AboveHighWatermark { requested } => (1, *requested),
            ResetWarning::NoCommittedOffset => (2, 0),
            ResetWarning::NoRecordAtOrAfter { timestamp_ms } => (3, *timestamp_ms),
        };
        w.u8(tag);
        w.i64(value);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let tag = r.u8("warning")?;
        let value = r.i64("warning.value")?;
        match tag {
            0 => Ok(ResetWarning::BelowLogStart { requested: value }),
            1 => Ok(ResetWarning::AboveHighWatermark { requested: value }),
            2 if value == 0 => Ok(ResetWarning::NoCommittedOffset),
            3 => Ok(ResetWarning::NoRecordAtOrAfter { timestamp_ms: value }),
            _ => Err(DecodeError::InvalidTag { field: "warning", tag }),
        }
    }
}

/// One line of an offset reset plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetPlanEntry {
    pub topic: String,
    pub partition: u32,
    pub current: Option<u64>,
    pub new_offset: u64,
    pub log_start_offset: u64,
    pub high_watermark: u64,
    pub warnings: Vec<ResetWarning>,
}

impl Wire for ResetPlanEntry {
    const BYTES_MIN: usize = STRING_MIN + 4 + OPTION_MIN + 8 + 8 + 8 + 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u32(self.partition);
        w.option(self.current.as_ref(), |w, c| w.u64(*c));
        w.u64(self.new_offset);
        w.u64(self.log_start_offset);
        w.u64(self.high_watermark);
        write_list(w, &self.warnings);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ResetPlanEntry {
            topic: r.string("plan.topic")?,
            partition: r.u32("plan.partition")?,
            current: r.option("plan.current", |r| r.u64("plan.current"))?,
            new_offset: r.u64("plan.new_offset")?,
            log_start_offset: r.u64("plan.log_start_offset")?,
            high_watermark: r.u64("plan.high_watermark")?,
            warnings: read_list(r, "plan.warnings")?,
        })
    }
}

/// One partition of an applied offset reset, as recorded in the audit log:
/// the engine's own type, encoded as-is.
pub use millrace::ResetAuditEntry;

impl Wire for ResetAuditEntry {
    const BYTES_MIN: usize = 8 + STRING_MIN * 4 + 4 + OPTION_MIN + 8;
    fn encode(&self, w: &mut Writer) {
        w.i64(self.at_ms);
        w.string(&self.actor);
        w.string(&self.group);
        w.string(&self.target);
        w.string(&self.topic);
        w.u32(self.partition);
        w.option(self.from.as_ref(), |w, f| w.u64(*f));
        w.u64(self.to);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ResetAuditEntry {
            at_ms: r.i64("audit.at_ms")?,
            actor: r.string("audit.actor")?,
            group: r.string("audit.group")?,
            target: r.string("audit.target")?,
            topic: r.string("audit.topic")?,
            partition: r.u32("audit.partition")?,
            from: r.option("audit.from", |r| r.u64("audit.from"))?,
            to: r.u64("audit.to")?,
        })
    }
}

/// Consumer lag of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: u32,
    pub committed: Option<u64>,
    pub log_start_offset: u64,
    pub high_watermark: u64,
    pub lag: u64,
}

impl Wire for PartitionLag {
    const BYTES_MIN: usize = STRING_MIN + 4 + OPTION_MIN + 8 + 8 + 8;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u32(self.partition);
        w.option(self.committed.as_ref(), |w, c| w.u64(*c));
        w.u64(self.log_start_offset);
        w.u64(self.high_watermark);
        w.u64(self.lag);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(PartitionLag {
            topic: r.string("lag.topic")?,
            partition: r.u32("lag.partition")?,
            committed: r.option("lag.committed", |r| r.u64("lag.committed"))?,
            log_start_offset: r.u64("lag.log_start_offset")?,
            high_watermark: r.u64("lag.high_watermark")?,
            lag: r.u64("lag.lag")?,
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
        letter.record.encode(w);
        w.option(self.redriven.as_ref(), |w, mark| {
            w.string(&mark.topic);
            w.u32(mark.partition);
            w.i64(mark.redriven_at_ms);
        });
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DlqEntry {
            dlq_offset: r.u64("dlq.offset")?,
            letter: millrace::dlq::DeadLetter {
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
            },
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
