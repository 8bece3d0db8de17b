//! `DescribeDamage`: the topics and partitions that failed to open
//! (`design/protocol.md`, "0x0015 DescribeDamage"). A new opcode rather
//! than a field added to `DescribeTopic`, whose layout old clients read
//! exactly.

use super::types::{read_list, write_list, Wire};
use crate::wire::{DecodeResult, Reader, Writer, STRING_MIN};

/// Which damage to list: one topic's, or every topic's when absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeDamage {
    pub topic: Option<String>,
}

impl Wire for DescribeDamage {
    const BYTES_MIN: usize = 1;
    fn encode(&self, w: &mut Writer) {
        w.option(self.topic.as_ref(), |w, t| w.string(t));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DescribeDamage {
            topic: r.option("damage.topic", |r| r.string("damage.topic"))?,
        })
    }
}

/// A topic (`partition` absent: its `topic.meta` could not be read) or one
/// partition that failed to open, with the error its requests answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamageEntry {
    pub topic: String,
    pub partition: Option<u32>,
    /// The engine error's wire code (`Corruption`, `Io`, ...).
    pub code: u16,
    pub message: String,
}

impl Wire for DamageEntry {
    const BYTES_MIN: usize = STRING_MIN + 1 + 2 + STRING_MIN;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.option(self.partition.as_ref(), |w, p| w.u32(*p));
        w.u16(self.code);
        w.string(&self.message);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DamageEntry {
            topic: r.string("damage.topic")?,
            partition: r.option("damage.partition", |r| r.u32("damage.partition"))?,
            code: r.u16("damage.code")?,
            message: r.string("damage.message")?,
        })
    }
}

impl DamageEntry {
    /// Bytes of its encoding (for the response's frame budget).
    pub fn encoded_bytes(&self) -> usize {
        STRING_MIN + self.topic.len() + 1 + self.partition.map_or(0, |_| 4) + 2 + STRING_MIN + self.message.len()
    }
}

/// The answer to [`DescribeDamage`]: in (topic, partition) order, the whole
/// topic's entry first. `truncated`: more damage exists than one response
/// holds (at most 1,000 entries, within the frame budget).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DamageReport {
    pub entries: Vec<DamageEntry>,
    pub truncated: bool,
}

impl Wire for DamageReport {
    const BYTES_MIN: usize = 4 + 1;
    fn encode(&self, w: &mut Writer) {
        write_list(w, &self.entries);
        w.bool(self.truncated);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DamageReport {
            entries: read_list(r, "damage.entries")?,
            truncated: r.bool("damage.truncated")?,
        })
    }
}
