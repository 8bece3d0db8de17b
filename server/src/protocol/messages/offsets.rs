//! The consumer-group structures of the wire ("Shared structures" and the
//! offset, reset and lag sub-structures of `design/protocol.md`): offsets to
//! commit and committed, reset targets, plans and warnings, the reset audit,
//! a partition's lag; each with its encoder and decoder side by side.

use crate::wire::{DecodeError, DecodeResult, Reader, Writer, BYTES_MIN, OPTION_MIN, STRING_MIN};

use super::types::{read_list, write_list, Wire};

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
