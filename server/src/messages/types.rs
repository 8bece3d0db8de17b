//! Structures shared by several messages ("Shared structures" and the
//! per-message sub-structures of `design/protocol.md`), each with its encoder
//! and decoder side by side.

use millrace::{Record, StoredRecord};

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

fn write_headers(w: &mut Writer, headers: &[(String, Vec<u8>)]) {
    w.list(headers, |w, (name, value)| {
        w.string(name);
        w.bytes(value);
    });
}

fn read_headers(r: &mut Reader<'_>) -> DecodeResult<Vec<(String, Vec<u8>)>> {
    r.list("headers", STRING_MIN + BYTES_MIN, |r| {
        Ok((r.string("header.name")?, r.bytes("header.value")?))
    })
}

impl Wire for Record {
    const BYTES_MIN: usize = OPTION_MIN + OPTION_MIN + BYTES_MIN + 4;
    fn encode(&self, w: &mut Writer) {
        w.option(self.timestamp_ms.as_ref(), |w, t| w.i64(*t));
        w.option(self.key.as_ref(), |w, k| w.bytes(k));
        w.bytes(&self.value);
        write_headers(w, &self.headers);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(Record {
            timestamp_ms: r.option("record.timestamp_ms", |r| r.i64("record.timestamp_ms"))?,
            key: r.option("record.key", |r| r.bytes("record.key"))?,
            value: r.bytes("record.value")?,
            headers: read_headers(r)?,
        })
    }
}

impl Wire for StoredRecord {
    const BYTES_MIN: usize = 8 + 8 + OPTION_MIN + BYTES_MIN + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.offset);
        w.i64(self.timestamp_ms);
        w.option(self.key.as_ref(), |w, k| w.bytes(k));
        w.bytes(&self.value);
        write_headers(w, &self.headers);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(StoredRecord {
            offset: r.u64("record.offset")?,
            timestamp_ms: r.i64("record.timestamp_ms")?,
            key: r.option("record.key", |r| r.bytes("record.key"))?,
            value: r.bytes("record.value")?,
            headers: read_headers(r)?,
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

/// One line of an offset reset plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetPlanEntry {
    pub topic: String,
    pub partition: u32,
    pub current: Option<u64>,
    pub new_offset: u64,
    pub clamped: bool,
}

impl Wire for ResetPlanEntry {
    const BYTES_MIN: usize = STRING_MIN + 4 + OPTION_MIN + 8 + 1;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u32(self.partition);
        w.option(self.current.as_ref(), |w, c| w.u64(*c));
        w.u64(self.new_offset);
        w.bool(self.clamped);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ResetPlanEntry {
            topic: r.string("plan.topic")?,
            partition: r.u32("plan.partition")?,
            current: r.option("plan.current", |r| r.u64("plan.current"))?,
            new_offset: r.u64("plan.new_offset")?,
            clamped: r.bool("plan.clamped")?,
        })
    }
}

/// Consumer lag of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: u32,
    pub committed: Option<u64>,
    pub log_end: u64,
    pub lag: u64,
}

impl Wire for PartitionLag {
    const BYTES_MIN: usize = STRING_MIN + 4 + OPTION_MIN + 8 + 8;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u32(self.partition);
        w.option(self.committed.as_ref(), |w, c| w.u64(*c));
        w.u64(self.log_end);
        w.u64(self.lag);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(PartitionLag {
            topic: r.string("lag.topic")?,
            partition: r.u32("lag.partition")?,
            committed: r.option("lag.committed", |r| r.u64("lag.committed"))?,
            log_end: r.u64("lag.log_end")?,
            lag: r.u64("lag.lag")?,
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
