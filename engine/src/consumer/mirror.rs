//! Mirror positions (`millrace mirror`, design/mirror.md): how far a mirror
//! has delivered each partition, kept as the committed offsets of the
//! internal group `__mirror.<name>`, and the retention floor they make. A
//! partition's retention floor is the smallest position of the mirrors that
//! hold it: retention by age or size deletes no segment holding a record at
//! or above it, so the edge never deletes a record a mirror has not
//! delivered; the store quota then refuses new appends instead. Only an
//! operator's explicit, audited [`ConsumerGroups::drop_unmirrored`] moves a
//! position past undelivered records.

use crate::clock::now_ms;
use crate::consumer::groups::ConsumerGroups;
use crate::consumer::offsets::CommittedOffset;
use crate::consumer::reset::{ResetAuditEntry, ACTOR_BYTES_MAX};
use crate::error::{Error, Result};
use crate::names::{mirror_group, MIRROR_PREFIX};

/// The audit target of [`ConsumerGroups::drop_unmirrored`].
pub const DROP_UNMIRRORED_TARGET: &str = "drop-unmirrored";

impl ConsumerGroups {
    /// Durably record mirror `mirror`'s positions (the next source offset
    /// to deliver, per partition), all or none, and raise the partitions'
    /// retention floors accordingly. Internal topics (`__dlq.<topic>`) may
    /// be mirrored like any other. A position past the high watermark is
    /// refused (`OffsetOutOfRange`). `metadata` (at most 4096 bytes) is
    /// kept with each position (the mirror's counters, for `mirror status`).
    pub fn commit_mirror_positions(
        &self,
        mirror: &str,
        positions: &[(String, u32, u64)],
        metadata: &[u8],
    ) -> Result<()> {
        crate::names::validate_group_name(mirror)?;
        let group = mirror_group(mirror);
        let commits: Vec<(String, u32, u64, Vec<u8>)> = positions
            .iter()
            .map(|(topic, partition, offset)| (topic.clone(), *partition, *offset, metadata.to_vec()))
            .collect();
        self.note_group_activity(&group);
        self.commit_group_offsets(&group, &commits)?;
        for (topic, partition, _) in positions {
            self.refresh_retention_floor(topic, *partition)?;
        }
        Ok(())
    }

    /// Mirror `mirror`'s positions: ((topic, partition), next offset and
    /// the metadata committed with it).
    pub fn mirror_positions(&self, mirror: &str) -> Result<Vec<((String, u32), CommittedOffset)>> {
        crate::names::validate_group_name(mirror)?;
        self.group_offsets(&mirror_group(mirror))
    }

    /// The names of the mirrors with a recorded position.
    pub fn mirrors(&self) -> Result<Vec<String>> {
        Ok(self
            .groups()?
            .into_iter()
            .filter_map(|g| g.strip_prefix(MIRROR_PREFIX).map(str::to_string))
            .collect())
    }

    /// The retention floor of a partition: the smallest mirror position on
    /// it, `None` if no mirror holds it.
    pub fn retention_floor(&self, topic: &str, partition: u32) -> Result<Option<u64>> {
        Ok(self.partition(topic, partition)?.retention_floor())
    }

    /// "Drop oldest unmirrored": the operator's explicit choice to let mirror
    /// `mirror` skip the records of a partition below `to` that it has not
    /// delivered, so that retention may delete them. Recorded first in the
    /// reset audit (`__offset_resets`, target `drop-unmirrored`, group
    /// `__mirror.<name>`), then committed. Returns the position before. A
    /// `to` at or below the current position changes nothing (`Ok`, no
    /// audit entry).
    pub fn drop_unmirrored(
        &self,
        mirror: &str,
        topic: &str,
        partition: u32,
        to: u64,
        actor: &str,
    ) -> Result<Option<u64>> {
        crate::names::validate_group_name(mirror)?;
        if actor.is_empty() || actor.len() > ACTOR_BYTES_MAX {
            return Err(Error::invalid("actor", format!("use 1 to {ACTOR_BYTES_MAX} bytes")));
        }
        let group = mirror_group(mirror);
        let before = self.committed_offset(&group, topic, partition)?;
        if before.is_some_and(|b| b >= to) {
            return Ok(before);
        }
        self.check_commit_within_log(topic, partition, to, 0)?;
        self.audit_mirror_drop(&ResetAuditEntry {
            at_ms: now_ms(),
            actor: actor.to_string(),
            group: group.clone(),
            target: DROP_UNMIRRORED_TARGET.to_string(),
            topic: topic.to_string(),
            partition,
            from: before,
            to,
        })?;
        self.commit_group_offsets(&group, &[(topic.to_string(), partition, to, Vec::new())])?;
        self.refresh_retention_floor(topic, partition)?;
        tracing::warn!(mirror, topic, partition, from = ?before, to, actor, "unmirrored records dropped from the mirror by the operator");
        Ok(before)
    }

    /// Recompute a partition's retention floor from the mirrors' positions.
    fn refresh_retention_floor(&self, topic: &str, partition: u32) -> Result<()> {
        let mut floor: Option<u64> = None;
        for mirror in self.mirrors()? {
            if let Some(offset) = self.committed_offset(&mirror_group(&mirror), topic, partition)? {
                floor = Some(floor.map_or(offset, |f| f.min(offset)));
            }
        }
        self.partition(topic, partition)?.set_retention_floor(floor);
        Ok(())
    }
}
