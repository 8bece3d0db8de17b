//! The commit record: the one batch appended to `__transactions/0` that is a
//! transaction's commit point, holding everything the transaction writes.
//! Layout: design/format.md, "Transaction commit record".

use super::StagedPart;
use super::{OffsetCommit, OffsetCommitMode};
use crate::codec::{Decoder, Encoder};
use crate::log::batch::{self, EncodedRecords};

/// Commit record version 1: every offset commit sets the offset. Version 2
/// (written only when the record holds an advance-only commit) adds a mode
/// byte after each offset commit's metadata. Layout: design/format.md.
pub(crate) const RECORD_VERSION: u8 = 1;
pub(crate) const RECORD_VERSION_MODES: u8 = 2;
/// Version 3 (written only when the record holds a sequence claim): as 2,
/// then the claims (design/format.md, "Transaction commit record").
pub(crate) const RECORD_VERSION_CLAIMS: u8 = 3;

/// An idempotent producer's batch the transaction writes split (its valid
/// records to the topic, the others to the DLQ): once the commit is
/// applied, the partition remembers the batch's sequences
/// (design/contracts.md, "Idempotent batches").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SequenceClaim {
    pub(crate) topic: String,
    pub(crate) partition: u32,
    pub(crate) producer_id: u64,
    pub(crate) epoch: u16,
    pub(crate) base_sequence: u32,
    /// Records the producer sent (sequences the batch numbers).
    pub(crate) record_count: u32,
    /// Of them, records in the transaction's part for the topic.
    pub(crate) appended: u32,
}
/// The commit record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommitRecord {
    pub(crate) producer_id: u64,
    pub(crate) epoch: u16,
    pub(crate) sequence: u32,
    pub(crate) commit_time_ms: i64,
    /// (topic, partition, log end offset when committed, encoded batch of the records)
    pub(crate) parts: Vec<(String, u32, u64, Vec<u8>)>,
    pub(crate) offsets: Vec<OffsetCommit>,
    /// Sequence claims (version 3 only).
    pub(crate) claims: Vec<SequenceClaim>,
}

impl CommitRecord {
    /// The consumer-offset commits the record carries and their commit time
    /// (recovery re-applies the last record's over older commits).
    pub(crate) fn offset_commits(&self) -> (i64, &[OffsetCommit]) {
        (self.commit_time_ms, &self.offsets)
    }

    #[cfg(test)]
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _crc = self.encode_into(&mut out, &[]);
        out
    }

    /// The record as the value of the one record of its batch in
    /// `__transactions`, with `staged` as its parts (instead of
    /// `self.parts`): each part's records copied once behind a batch header.
    /// Parts whose records' CRC is known ([`EncodedRecords::seal_crc`]) are
    /// not hashed again: neither for their batch here, nor for the record's
    /// own CRC, nor for the batch of `__transactions` that holds it.
    pub(crate) fn encode_as_record(&self, staged: &[StagedPart<'_>], timestamp_ms: i64) -> EncodedRecords {
        let capacity = staged
            .iter()
            .map(|part| part.records.batch_len() + part.topic.len() + 18)
            .sum::<usize>()
            + 1024;
        let mut content = (0, 0, 0);
        let mut record = EncodedRecords::one_value(timestamp_ms, capacity, |out| {
            let start = out.len();
            let crc = self.encode_into(out, staged);
            // What the CRC covers: everything but the CRC itself.
            content = (start, out.len().saturating_sub(4), crc);
        });
        record.seal_crc_with_known(&[content]);
        record
    }

    /// Encode onto the end of `out`; the parts are `staged` when given,
    /// else `self.parts`. The CRC covers what this writes only; returns it.
    fn encode_into(&self, out: &mut Vec<u8>, staged: &[StagedPart<'_>]) -> u32 {
        let start = out.len();
        let with_claims = !self.claims.is_empty();
        let with_modes = with_claims || self.offsets.iter().any(|c| c.mode != OffsetCommitMode::Set);
        let version = if with_claims {
            RECORD_VERSION_CLAIMS
        } else if with_modes {
            RECORD_VERSION_MODES
        } else {
            RECORD_VERSION
        };
        let mut e = Encoder {
            bytes: std::mem::take(out),
        };
        // (start, end, CRC) of the parts' records, relative to `start`.
        let mut known = Vec::new();
        e.u8(version)
            .u64(self.producer_id)
            .u16(self.epoch)
            .u32(self.sequence)
            .i64(self.commit_time_ms);
        if staged.is_empty() {
            e.u32(self.parts.len() as u32);
            for (topic, partition, end, batch) in &self.parts {
                e.short_str(topic).u32(*partition).u64(*end).long_bytes(batch);
            }
        } else {
            e.u32(staged.len() as u32);
            for part in staged {
                e.short_str(part.topic)
                    .u32(part.partition)
                    .u64(part.end_hint)
                    .u32(part.records.batch_len() as u32);
                batch::encode_encoded(&mut e.bytes, 0, &part.records, None, 0, 0);
                if let Some(crc) = part.records.crc {
                    let end = e.bytes.len() - start;
                    known.push((end.saturating_sub(part.records.body.len()), end, crc));
                }
            }
        }
        e.u32(self.offsets.len() as u32);
        for c in &self.offsets {
            e.short_str(&c.group)
                .short_str(&c.topic)
                .u32(c.partition)
                .u64(c.offset)
                .long_bytes(&c.metadata);
            if with_modes {
                e.u8(match c.mode {
                    OffsetCommitMode::Set => 0,
                    OffsetCommitMode::AdvanceOnly => 1,
                });
            }
        }
        if with_claims {
            e.u32(self.claims.len() as u32);
            for c in &self.claims {
                e.short_str(&c.topic)
                    .u32(c.partition)
                    .u64(c.producer_id)
                    .u16(c.epoch)
                    .u32(c.base_sequence)
                    .u32(c.record_count)
                    .u32(c.appended);
            }
        }
        let crc = crate::log::encoded::crc_with_known(e.bytes.get(start..).unwrap_or_default(), &known);
        e.u32(crc);
        *out = e.bytes;
        crc
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<CommitRecord> {
        let mut d = Decoder::with_crc(bytes)?;
        let (with_modes, with_claims) = match d.u8()? {
            RECORD_VERSION => (false, false),
            RECORD_VERSION_MODES => (true, false),
            RECORD_VERSION_CLAIMS => (true, true),
            _ => return None,
        };
        let producer_id = d.u64()?;
        let epoch = d.u16()?;
        let sequence = d.u32()?;
        let commit_time_ms = d.i64()?;
        let count = d.u32()? as usize;
        // Each part takes at least 18 bytes: bound the allocation by what is left.
        let mut parts = Vec::with_capacity(count.min(d.remaining() / 18));
        for _ in 0..count {
            parts.push((d.short_str()?, d.u32()?, d.u64()?, d.long_bytes()?));
        }
        let count = d.u32()? as usize;
        let mut offsets = Vec::with_capacity(count.min(d.remaining() / 20));
        for _ in 0..count {
            let mut commit = OffsetCommit {
                group: d.short_str()?,
                topic: d.short_str()?,
                partition: d.u32()?,
                offset: d.u64()?,
                metadata: d.long_bytes()?,
                mode: OffsetCommitMode::Set,
            };
            if with_modes {
                commit.mode = match d.u8()? {
                    0 => OffsetCommitMode::Set,
                    1 => OffsetCommitMode::AdvanceOnly,
                    _ => return None,
                };
            }
            offsets.push(commit);
        }
        let mut claims = Vec::new();
        if with_claims {
            let count = d.u32()? as usize;
            // Each claim takes at least 27 bytes.
            claims.reserve(count.min(d.remaining() / 27));
            for _ in 0..count {
                claims.push(SequenceClaim {
                    topic: d.short_str()?,
                    partition: d.u32()?,
                    producer_id: d.u64()?,
                    epoch: d.u16()?,
                    base_sequence: d.u32()?,
                    record_count: d.u32()?,
                    appended: d.u32()?,
                });
            }
        }
        d.is_empty().then_some(CommitRecord {
            producer_id,
            epoch,
            sequence,
            commit_time_ms,
            parts,
            offsets,
            claims,
        })
    }
}
