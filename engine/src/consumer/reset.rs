//! Offset reset for a consumer group, in the forms of
//! `kafka-consumer-groups --reset-offsets`: to earliest, latest, an offset,
//! shift by ±N, a date-time, or a duration back from now; per topic or
//! partition. A dry run returns the plan without applying it. Requests
//! outside `[log start, high watermark]` are clamped, with a warning in the
//! plan. An applied reset is first recorded in the internal audit log
//! `__offset_resets` (who, when, from, to), then committed in one batch:
//! a crash between the two leaves an audit entry for a reset that did not
//! take effect, never a reset without an audit entry.

use crate::clock::now_ms;
use crate::codec::{Decoder, Encoder};
use crate::consumer::groups::ConsumerGroups;
use crate::consumer::offsets::validate_commit;
use crate::error::{CorruptionKind, Error, Result};
use crate::log::batch::Record;
use std::collections::BTreeSet;
use std::time::Duration;

pub const RESET_AUDIT_TOPIC: &str = "__offset_resets";
pub const ACTOR_BYTES_MAX: usize = 255;
const AUDIT_VERSION: u8 = 1;
/// The audit target of a group deletion ([`ConsumerGroups::delete_group`]).
pub const DELETE_TARGET: &str = "delete";

/// Where to move the committed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTarget {
    /// The log start.
    Earliest,
    /// The high watermark.
    Latest,
    /// This offset.
    Offset(u64),
    /// Relative to the current committed offset (the log start if none).
    ShiftBy(i64),
    /// The first record with a timestamp at or after this time (ms since the
    /// Unix epoch); the high watermark if there is none.
    DateTime {
        /// The time, ms since the Unix epoch.
        timestamp_ms: i64,
    },
    /// As `DateTime` for `now − duration`.
    ByDuration(Duration),
}

/// Which partitions of the group to reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetScope {
    /// Every partition of a topic.
    Topic(String),
    /// Some partitions of a topic.
    Partitions {
        /// The topic.
        topic: String,
        /// Its partitions to reset.
        partitions: Vec<u32>,
    },
    /// Every partition the group has a committed offset for (`--all-topics`).
    AllCommitted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// An offset reset of a group (`Store::reset_offsets`; `millrace offsets reset`).
pub struct ResetRequest {
    /// The group.
    pub group: String,
    /// Which partitions.
    pub scopes: Vec<ResetScope>,
    /// Where to move them.
    pub target: ResetTarget,
    /// Plan only, change nothing.
    pub dry_run: bool,
    /// Who asks (recorded in the audit log), 1..=255 bytes.
    pub actor: String,
    /// Apply even if the group committed or polled within `GROUP_ACTIVE_WINDOW`.
    pub force: bool,
}

/// A group that committed or polled this recently (in this process) counts as
/// having active members: an applied reset is refused unless forced, because
/// their next commit would overwrite it (as with Kafka).
pub const GROUP_ACTIVE_WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

/// Something the operator should know about one partition's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetWarning {
    /// The requested offset was below the log start: clamped up to it.
    BelowLogStart {
        /// The offset the target asked for.
        requested: i128,
    },
    /// The requested offset was past the high watermark: clamped down to it.
    AboveHighWatermark {
        /// The offset the target asked for.
        requested: i128,
    },
    /// `ShiftBy` with nothing committed: shifted from the log start.
    NoCommittedOffset,
    /// No record at or after the time: moved to the high watermark.
    NoRecordAtOrAfter {
        /// The time asked for, ms since the Unix epoch.
        timestamp_ms: i64,
    },
}

/// One partition of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// Committed offset before the reset.
    pub current: Option<u64>,
    /// Committed offset after it.
    pub new: u64,
    /// The partition's first offset.
    pub log_start_offset: u64,
    /// Offset just past its last visible record.
    pub high_watermark: u64,
    /// What the operator should know.
    pub warnings: Vec<ResetWarning>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// What a reset did (or would do, on a dry run).
pub struct ResetPlan {
    /// The group.
    pub group: String,
    /// The target requested.
    pub target: ResetTarget,
    /// False for a dry run.
    pub applied: bool,
    /// When it was planned (ms since the Unix epoch).
    pub planned_at_ms: i64,
    /// One entry per partition.
    pub entries: Vec<PlannedReset>,
}

/// One partition of an applied reset, as recorded for audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetAuditEntry {
    /// When it was applied (ms since the Unix epoch).
    pub at_ms: i64,
    /// Who asked.
    pub actor: String,
    /// The group.
    pub group: String,
    /// The request's target, e.g. `shift-by:-10`.
    pub target: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// Committed offset before.
    pub from: Option<u64>,
    /// Committed offset after.
    pub to: u64,
}

impl std::fmt::Display for ResetTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResetTarget::Earliest => write!(f, "earliest"),
            ResetTarget::Latest => write!(f, "latest"),
            ResetTarget::Offset(o) => write!(f, "offset:{o}"),
            ResetTarget::ShiftBy(n) => write!(f, "shift-by:{n}"),
            ResetTarget::DateTime { timestamp_ms } => write!(f, "datetime-ms:{timestamp_ms}"),
            ResetTarget::ByDuration(d) => write!(f, "by-duration-ms:{}", d.as_millis()),
        }
    }
}

impl ConsumerGroups {
    /// Plan, and unless `dry_run` apply, an offset reset (module docs).
    pub fn reset_offsets(&self, request: &ResetRequest) -> Result<ResetPlan> {
        // The groups of the store's jobs (`__*`) move only with their jobs.
        crate::names::validate_group_name(&request.group)?;
        validate_commit(&request.group, &[])?;
        if request.actor.is_empty() || request.actor.len() > ACTOR_BYTES_MAX {
            return Err(Error::invalid("actor", format!("use 1 to {ACTOR_BYTES_MAX} bytes")));
        }
        if !request.dry_run && !request.force {
            if let Some(idle) = self
                .group_idle(&request.group)
                .filter(|idle| *idle < GROUP_ACTIVE_WINDOW)
            {
                return Err(Error::GroupActive {
                    group: request.group.clone(),
                    idle_ms: idle.as_millis() as u64,
                });
            }
        }
        let now = now_ms();
        let mut entries = Vec::new();
        for (topic, partition) in self.reset_partitions(request)? {
            entries.push(self.plan_one(&request.group, &topic, partition, request.target, now)?);
        }
        let plan = ResetPlan {
            group: request.group.clone(),
            target: request.target,
            applied: !request.dry_run,
            planned_at_ms: now,
            entries,
        };
        if request.dry_run || plan.entries.is_empty() {
            return Ok(plan);
        }
        let audit: Vec<Record> = plan
            .entries
            .iter()
            .map(|e| {
                Record::new(encode_audit(&ResetAuditEntry {
                    at_ms: now,
                    actor: request.actor.clone(),
                    group: request.group.clone(),
                    target: request.target.to_string(),
                    topic: e.topic.clone(),
                    partition: e.partition,
                    from: e.current,
                    to: e.new,
                }))
            })
            .collect();
        self.catalog().ensure_internal_topic(RESET_AUDIT_TOPIC)?;
        let audit_partition = self.partition(RESET_AUDIT_TOPIC, 0)?;
        for chunk in audit.chunks(1000) {
            audit_partition.append(chunk, None, 0)?;
        }
        let commits: Vec<(String, u32, u64, Vec<u8>)> = plan
            .entries
            .iter()
            .map(|e| (e.topic.clone(), e.partition, e.new, Vec::new()))
            .collect();
        self.commit_offsets(&request.group, &commits)?;
        tracing::info!(group = %request.group, actor = %request.actor, target = %request.target, partitions = plan.entries.len(), "offsets reset");
        Ok(plan)
    }

    /// Record a group's deletion in the reset audit: one entry per removed
    /// offset, target `delete`, `from` and `to` the offset removed.
    pub(crate) fn audit_group_deletion(
        &self,
        group: &str,
        actor: &str,
        removed: &[((String, u32), crate::consumer::offsets::CommittedOffset)],
    ) -> Result<()> {
        let now = now_ms();
        let audit: Vec<Record> = removed
            .iter()
            .map(|((topic, partition), committed)| {
                Record::new(encode_audit(&ResetAuditEntry {
                    at_ms: now,
                    actor: actor.to_string(),
                    group: group.to_string(),
                    target: DELETE_TARGET.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                    from: Some(committed.offset),
                    to: committed.offset,
                }))
            })
            .collect();
        self.append_audit(&audit)
    }

    /// Append entries (`encode_audit`) to the reset audit.
    fn append_audit(&self, audit: &[Record]) -> Result<()> {
        self.catalog().ensure_internal_topic(RESET_AUDIT_TOPIC)?;
        let audit_partition = self.partition(RESET_AUDIT_TOPIC, 0)?;
        for chunk in audit.chunks(1000) {
            audit_partition.append(chunk, None, 0)?;
        }
        Ok(())
    }

    /// Record an operator's move of a mirror's position past records it had
    /// not delivered ("drop oldest unmirrored", `consumer/mirror.rs`).
    pub(crate) fn audit_mirror_drop(&self, entry: &ResetAuditEntry) -> Result<()> {
        self.append_audit(&[Record::new(encode_audit(entry))])
    }

    /// Applied resets, oldest first, optionally of one group only.
    pub fn reset_audit(&self, group: Option<&str>) -> Result<Vec<ResetAuditEntry>> {
        Ok(self
            .reset_audit_page(group, None, usize::MAX)?
            .into_iter()
            .map(|(_, entry)| entry)
            .collect())
    }

    /// Applied resets with their offsets in the audit log, oldest first,
    /// optionally of one group only: at most `max` entries whose offset is
    /// above `after` (absent: from the log start). The offset is a cursor
    /// for the next call.
    pub fn reset_audit_page(
        &self,
        group: Option<&str>,
        after: Option<u64>,
        max: usize,
    ) -> Result<Vec<(u64, ResetAuditEntry)>> {
        self.catalog()
            .internal_log_page(RESET_AUDIT_TOPIC, after, max, |log, offset, value| {
                let entry = decode_audit(value)
                    .ok_or_else(|| Error::corruption(&log.dir, offset, CorruptionKind::BadRecord))?;
                Ok(group.is_none_or(|g| g == entry.group).then_some(entry))
            })
    }

    fn reset_partitions(&self, request: &ResetRequest) -> Result<BTreeSet<(String, u32)>> {
        let mut out = BTreeSet::new();
        for scope in &request.scopes {
            match scope {
                ResetScope::Topic(topic) => {
                    let count = self.partition_count(topic)?;
                    out.extend((0..count).map(|p| (topic.clone(), p)));
                }
                ResetScope::Partitions { topic, partitions } => {
                    for p in partitions {
                        self.offsets(topic, *p)?;
                        out.insert((topic.clone(), *p));
                    }
                }
                ResetScope::AllCommitted => {
                    for ((topic, p), _) in self.group_offsets(&request.group)? {
                        if self.offsets(&topic, p).is_ok() {
                            out.insert((topic, p));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn plan_one(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        target: ResetTarget,
        now: i64,
    ) -> Result<PlannedReset> {
        let current = self.committed_offset(group, topic, partition)?;
        let (start, end) = self.offsets(topic, partition)?;
        let mut warnings = Vec::new();
        let by_time = |timestamp_ms: i64, warnings: &mut Vec<ResetWarning>| -> Result<i128> {
            Ok(match self.offset_for_time(topic, partition, timestamp_ms)? {
                Some(o) => i128::from(o),
                None => {
                    warnings.push(ResetWarning::NoRecordAtOrAfter { timestamp_ms });
                    i128::from(end)
                }
            })
        };
        let requested: i128 = match target {
            ResetTarget::Earliest => i128::from(start),
            ResetTarget::Latest => i128::from(end),
            ResetTarget::Offset(o) => i128::from(o),
            ResetTarget::ShiftBy(n) => {
                let base = current.unwrap_or_else(|| {
                    warnings.push(ResetWarning::NoCommittedOffset);
                    start
                });
                i128::from(base) + i128::from(n)
            }
            ResetTarget::DateTime { timestamp_ms } => by_time(timestamp_ms, &mut warnings)?,
            ResetTarget::ByDuration(d) => {
                let back = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                by_time(now.saturating_sub(back), &mut warnings)?
            }
        };
        let new = if requested < i128::from(start) {
            warnings.push(ResetWarning::BelowLogStart { requested });
            start
        } else if requested > i128::from(end) {
            warnings.push(ResetWarning::AboveHighWatermark { requested });
            end
        } else {
            u64::try_from(requested).unwrap_or(end)
        };
        Ok(PlannedReset {
            topic: topic.to_string(),
            partition,
            current,
            new,
            log_start_offset: start,
            high_watermark: end,
            warnings,
        })
    }
}

fn encode_audit(entry: &ResetAuditEntry) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u8(AUDIT_VERSION)
        .i64(entry.at_ms)
        .short_str(&entry.actor)
        .short_str(&entry.group);
    e.short_str(&entry.target).short_str(&entry.topic).u32(entry.partition);
    match entry.from {
        Some(from) => e.u8(1).u64(from),
        None => e.u8(0).u64(0),
    };
    e.u64(entry.to);
    e.seal_with_crc()
}

fn decode_audit(bytes: &[u8]) -> Option<ResetAuditEntry> {
    let mut d = Decoder::with_crc(bytes)?;
    if d.u8()? != AUDIT_VERSION {
        return None;
    }
    let at_ms = d.i64()?;
    let actor = d.short_str()?;
    let group = d.short_str()?;
    let target = d.short_str()?;
    let topic = d.short_str()?;
    let partition = d.u32()?;
    let has_from = d.u8()?;
    let from = d.u64()?;
    let to = d.u64()?;
    let from = match has_from {
        0 => None,
        1 => Some(from),
        _ => return None,
    };
    d.is_empty().then_some(ResetAuditEntry {
        at_ms,
        actor,
        group,
        target,
        topic,
        partition,
        from,
        to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_roundtrip() {
        let entry = ResetAuditEntry {
            at_ms: 5,
            actor: "ops@host".into(),
            group: "g".into(),
            target: ResetTarget::ShiftBy(-3).to_string(),
            topic: "t".into(),
            partition: 2,
            from: Some(9),
            to: 6,
        };
        let bytes = encode_audit(&entry);
        assert_eq!(decode_audit(&bytes), Some(entry.clone()));
        let none = ResetAuditEntry { from: None, ..entry };
        assert_eq!(decode_audit(&encode_audit(&none)), Some(none));
        assert_eq!(decode_audit(&bytes[1..]), None);
    }
}
