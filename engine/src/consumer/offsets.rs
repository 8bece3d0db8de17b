//! Durable committed consumer offsets per (group, topic, partition), kept in
//! the internal log `__offsets/0` (`Always`). Each commit appends one record;
//! the table in memory is rebuilt from the log on first use. Compaction keeps
//! the log's size proportional to the number of keys, not of commits: once the
//! log holds more than `2 × keys + COMPACT_MIN` records, every current entry is
//! appended again as one batch and the log start is moved past everything
//! before that batch. Record layout: design/format.md ("Offset commit record").

// Over 600 lines: the `__offsets` table (records, load, compaction, floors) and the mirror positions it also keeps are one format; splitting it is an open item.

use super::groups::ConsumerGroups;
use crate::clock::now_ms;
use crate::codec::{Decoder, Encoder};
use crate::error::{CorruptionKind, Error, Result};
use crate::log::batch::Record;
use crate::log::partition::{Isolation, ReadOptions};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};

mod commit;
mod group_limit;

pub use commit::{OffsetCommit, OffsetCommitMode};

/// Internal topic holding committed consumer offsets.
pub const OFFSETS_TOPIC: &str = crate::names::OFFSETS_TOPIC;
/// Longest group name, in bytes.
pub const GROUP_BYTES_MAX: usize = crate::names::GROUP_NAME_BYTES_MAX;
/// Most metadata bytes per offset commit.
pub const METADATA_BYTES_MAX: usize = 4096;
const COMPACT_MIN: u64 = 1024;

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset the group will read.
    pub offset: u64,
    /// The metadata committed with it.
    pub metadata: Vec<u8>,
    /// When it was committed (ms since the Unix epoch).
    pub commit_time_ms: i64,
}

type Key = (String, String, u32);

/// The table in memory, and the new groups of the transaction being
/// committed (under the same lock, so a group is counted against
/// `groups_max` from the moment its transaction passed the check until it is
/// applied, and no other commit can take its room in between).
#[derive(Debug, Default)]
struct Loaded {
    map: Option<BTreeMap<Key, CommittedOffset>>,
    reserved: BTreeSet<String>,
}

#[derive(Debug, Default)]
pub(crate) struct OffsetTable {
    loaded: Mutex<Loaded>,
    /// When each group last committed or polled in this process (not
    /// persisted: a restarted process has no running consumers of its own).
    activity: Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// Commit clock: every offset commit (direct or transactional) gets a
    /// strictly larger commit time than any before it, persisted ones
    /// included, so "committed at or after this transaction" is exact even
    /// within one millisecond (transaction recovery relies on it).
    clock_ms: std::sync::atomic::AtomicI64,
}

impl OffsetTable {
    pub(crate) fn observe(&self, time_ms: i64) {
        self.clock_ms.fetch_max(time_ms, std::sync::atomic::Ordering::AcqRel);
    }

    fn next_time(&self) -> i64 {
        use std::sync::atomic::Ordering;
        let mut last = self.clock_ms.load(Ordering::Acquire);
        loop {
            let next = now_ms().max(last + 1);
            match self
                .clock_ms
                .compare_exchange(last, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return next,
                Err(current) => last = current,
            }
        }
    }
}

/// What a client's failed-record report passes: the group and the topic
/// are not the store's own (`__*`, `InternalName`); those are moved only by
/// the operations that own them. A DLQ's records are not failed again into
/// a DLQ of their own.
pub(crate) fn check_client_commit(group: &str, topic: &str) -> Result<()> {
    crate::names::validate_group_name(group)?;
    crate::names::refuse_internal_topic(topic)
}

/// What every client position commit passes (direct, transactional,
/// reset): the group is not the store's own, and the topic is not either
/// unless it is a dead-letter queue (`__dlq.<topic>`), which a group reads
/// like any topic and keeps its place in (`InternalName` otherwise).
pub(crate) fn check_position_commit(group: &str, topic: &str) -> Result<()> {
    crate::names::validate_group_name(group)?;
    crate::names::refuse_internal_position_topic(topic)
}

/// Whether a commit may be refused for adding a group past `groups_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupLimit {
    Check,
    /// A transaction's commit being applied: its new groups were reserved
    /// before its commit point ([`ConsumerGroups::reserve_new_groups`]), and a
    /// committed transaction is applied whole.
    Skip,
}

/// The entries of `group`: one range, as the keys sort by group first.
fn group_entries<'a>(
    map: &'a BTreeMap<Key, CommittedOffset>,
    group: &'a str,
) -> impl Iterator<Item = (&'a Key, &'a CommittedOffset)> + 'a {
    map.range((group.to_string(), String::new(), 0)..)
        .take_while(move |((g, _, _), _)| g == group)
}

fn has_group(map: &BTreeMap<Key, CommittedOffset>, group: &str) -> bool {
    group_entries(map, group).next().is_some()
}

/// The first group after `group` (the smallest name greater than it is
/// `group` followed by NUL: every key of `group` sorts before that).
fn next_group(map: &BTreeMap<Key, CommittedOffset>, group: &str) -> Option<String> {
    let mut bound = group.to_string();
    bound.push('\0');
    map.range((bound, String::new(), 0)..)
        .next()
        .map(|((g, _, _), _)| g.clone())
}

/// How many groups, counting up to `stop_at` (one range lookup per group).
fn count_groups(map: &BTreeMap<Key, CommittedOffset>, stop_at: usize) -> usize {
    let mut count = 0;
    let mut next = map.keys().next().map(|(g, _, _)| g.clone());
    while let Some(group) = next {
        count += 1;
        if count >= stop_at {
            break;
        }
        next = next_group(map, &group);
    }
    count
}

pub(crate) fn validate_commit(group: &str, metadata: &[u8]) -> Result<()> {
    crate::names::check_group_length(group)?;
    if metadata.len() > METADATA_BYTES_MAX {
        return Err(Error::invalid(
            "metadata",
            format!("{} bytes; at most {METADATA_BYTES_MAX}", metadata.len()),
        ));
    }
    Ok(())
}

fn encode(key: &Key, value: &CommittedOffset) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u8(1).short_str(&key.0).short_str(&key.1).u32(key.2);
    e.u64(value.offset)
        .i64(value.commit_time_ms)
        .long_bytes(&value.metadata);
    e.seal_with_crc()
}

pub(crate) fn decode(bytes: &[u8]) -> Option<(Key, CommittedOffset)> {
    let mut d = Decoder::with_crc(bytes)?;
    if d.u8()? != 1 {
        return None;
    }
    let key = (d.short_str()?, d.short_str()?, d.u32()?);
    let value = CommittedOffset {
        offset: d.u64()?,
        commit_time_ms: d.i64()?,
        metadata: d.long_bytes()?,
    };
    d.is_empty().then_some((key, value))
}

/// The largest offset committed by any group per (topic, partition), read
/// from `__offsets/0` at open: durable evidence of how far each partition's
/// offsets went (`Partition::open` never continues below it). A record that
/// does not decode ends the read with a warning: what was read still counts.
/// In the same pass, the retention floors: per partition, the smallest
/// latest position of the mirrors (`__mirror.<name>` groups).
pub(crate) fn committed_floors(p: &crate::log::partition::Partition) -> crate::catalog::OpenFloors {
    let mut floors: BTreeMap<(String, u32), u64> = BTreeMap::new();
    let mut mirrors: BTreeMap<Key, u64> = BTreeMap::new();
    let mut offset = p.start_offset();
    while offset < p.high_watermark() {
        let r = match p.read(offset, ReadOptions::default(), Isolation::ReadUncommitted) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, offset, "committed offsets unreadable past this offset: not used as an offset floor");
                break;
            }
        };
        for rec in &r.records {
            let Some(((group, topic, partition), value)) = decode(&rec.value) else {
                tracing::warn!(
                    offset = rec.offset,
                    "undecodable committed-offset record: not used as an offset floor"
                );
                return crate::catalog::OpenFloors {
                    committed: floors,
                    retention: retention_floors(&mirrors),
                };
            };
            let floor = floors.entry((topic.clone(), partition)).or_insert(0);
            *floor = (*floor).max(value.offset);
            if group.starts_with(crate::names::MIRROR_PREFIX) {
                mirrors.insert((group, topic, partition), value.offset);
            }
        }
        if r.next_offset <= offset {
            break;
        }
        offset = r.next_offset;
    }
    crate::catalog::OpenFloors {
        committed: floors,
        retention: retention_floors(&mirrors),
    }
}

/// Per partition, the smallest of the mirrors' positions.
fn retention_floors(mirrors: &BTreeMap<Key, u64>) -> BTreeMap<(String, u32), u64> {
    let mut floors: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for ((_, topic, partition), offset) in mirrors {
        let floor = floors.entry((topic.clone(), *partition)).or_insert(*offset);
        *floor = (*floor).min(*offset);
    }
    floors
}

impl ConsumerGroups {
    /// Durably forget every committed offset on `topics` (a deleted topic
    /// and its DLQ, where redrive progress lives), by a compaction that
    /// leaves them out. A topic created under this name must not inherit
    /// them: its offsets restart at 0 and a group would skip its records.
    pub(crate) fn forget_topic_offsets(&self, topics: &[&str]) -> Result<usize> {
        self.with_offsets(|map| {
            let before = map.len();
            map.retain(|(_, t, _), _| !topics.contains(&t.as_str()));
            let forgotten = before - map.len();
            if forgotten > 0 {
                self.compact_offsets_now(map)?;
            }
            Ok(forgotten)
        })
    }

    /// [`ConsumerGroups::forget_topic_offsets`] in this view only (a
    /// read-only open of a store whose last open did not forget them):
    /// nothing is written, the next writable open forgets them durably.
    pub(crate) fn hide_topic_offsets(&self, topics: &[&str]) -> Result<usize> {
        self.with_offsets(|map| {
            let before = map.len();
            map.retain(|(_, t, _), _| !topics.contains(&t.as_str()));
            Ok(before - map.len())
        })
    }

    /// Load the offset table (if not yet): `Err` if `__offsets` cannot be read.
    pub(crate) fn load_offset_table(&self) -> Result<()> {
        self.with_offsets(|_| Ok(()))
    }

    fn with_offsets<T>(&self, f: impl FnOnce(&mut BTreeMap<Key, CommittedOffset>) -> Result<T>) -> Result<T> {
        self.with_table(|map, _| f(map))
    }

    /// [`ConsumerGroups::with_offsets`] with the groups reserved by a committing
    /// transaction (see [`group_limit::GroupReservation`]).
    fn with_table<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<Key, CommittedOffset>, &mut BTreeSet<String>) -> Result<T>,
    ) -> Result<T> {
        let mut guard = self.offset_table().loaded.lock();
        let loaded = &mut *guard;
        if loaded.map.is_none() {
            let mut map = BTreeMap::new();
            if let Some(p) = self.internal_log(OFFSETS_TOPIC)? {
                let mut offset = p.start_offset();
                while offset < p.high_watermark() {
                    let r = p.read(offset, ReadOptions::default(), Isolation::ReadUncommitted)?;
                    for rec in &r.records {
                        let (key, value) = decode(&rec.value)
                            .ok_or_else(|| Error::corruption(&p.dir, rec.offset, CorruptionKind::BadRecord))?;
                        self.offset_table().observe(value.commit_time_ms);
                        map.insert(key, value);
                    }
                    if r.next_offset <= offset {
                        break;
                    }
                    offset = r.next_offset;
                }
            }
            loaded.map = Some(map);
        }
        f(loaded.map.get_or_insert_with(BTreeMap::new), &mut loaded.reserved)
    }

    /// Append `entries` to `__offsets`: in batches of at most 1000 records,
    /// or, with `atomic`, as one batch (refused with `InvalidInput` if it
    /// would exceed the batch limit), so that a crash keeps all or none.
    fn write_offsets(&self, entries: &[(Key, CommittedOffset)], atomic: bool) -> Result<()> {
        self.catalog().ensure_internal_topic(OFFSETS_TOPIC)?;
        let p = self.partition(OFFSETS_TOPIC, 0)?;
        let records: Vec<Record> = entries.iter().map(|(k, v)| Record::new(encode(k, v))).collect();
        if atomic {
            p.append(&records, None, 0)?;
            return Ok(());
        }
        for chunk in records.chunks(1000) {
            p.append(chunk, None, 0)?;
        }
        Ok(())
    }

    /// A committed offset is evidence that the partition's offsets reached
    /// it (`Partition::open` never continues below one), so a commit may not
    /// lie past the high watermark: that would be evidence of nothing. A
    /// transaction's offset commit may also count the `ahead` records the
    /// same transaction appends to that partition (they are there once it is
    /// applied).
    pub(crate) fn check_commit_within_log(&self, topic: &str, partition: u32, offset: u64, ahead: u64) -> Result<()> {
        let high_watermark = self.partition(topic, partition)?.high_watermark();
        if offset > high_watermark.saturating_add(ahead) {
            return Err(Error::invalid(
                "offset",
                format!(
                    "{offset} for {topic}/{partition} is past its high watermark {high_watermark}{}: commit at most the offset after the last record read",
                    if ahead > 0 { format!(" plus the {ahead} records of this transaction") } else { String::new() }
                ),
            ));
        }
        Ok(())
    }

    /// Durably commit `offset` (the next offset to read) for a group; at most
    /// the partition's high watermark.
    pub fn commit_offset(&self, group: &str, topic: &str, partition: u32, offset: u64, metadata: &[u8]) -> Result<()> {
        check_position_commit(group, topic)?;
        self.check_commit_within_log(topic, partition, offset, 0)?;
        self.note_group_activity(group);
        self.commit_offset_at(
            &OffsetCommit {
                group: group.to_string(),
                topic: topic.to_string(),
                partition,
                offset,
                metadata: metadata.to_vec(),
                mode: OffsetCommitMode::Set,
            },
            self.offset_commit_time()?,
            GroupLimit::Check,
        )
    }

    pub(crate) fn commit_offset_at(&self, commit: &OffsetCommit, commit_time_ms: i64, limit: GroupLimit) -> Result<()> {
        validate_commit(&commit.group, &commit.metadata)?;
        self.partition(&commit.topic, commit.partition)?;
        let key: Key = (commit.group.clone(), commit.topic.clone(), commit.partition);
        let value = CommittedOffset {
            offset: commit.offset,
            metadata: commit.metadata.clone(),
            commit_time_ms,
        };
        self.with_table(|map, reserved| {
            // Decided under the table's lock: no commit lands in between.
            let behind = commit.mode == OffsetCommitMode::AdvanceOnly
                && map.get(&key).is_some_and(|current| current.offset >= commit.offset);
            if behind {
                return Ok(());
            }
            if limit == GroupLimit::Check {
                self.check_group_limit(map, reserved, &[commit.group.as_str()])?;
            }
            self.write_offsets(&[(key.clone(), value.clone())], true)?;
            map.insert(key, value);
            self.maybe_compact_offsets(map)
        })
    }

    /// Durably commit several offsets of one group together: written as one
    /// batch, so after a crash either all or none are committed (a commit too
    /// large for one batch of `__offsets` is `InvalidInput`; a server request
    /// carries at most 1000 entries). Used by
    /// `Consumer::commit` and offset resets. Internal
    /// groups and topics (`__*`) are refused (`InternalName`), except a
    /// topic's DLQ (`__dlq.<topic>`: `check_position_commit`).
    pub fn commit_offsets(&self, group: &str, commits: &[(String, u32, u64, Vec<u8>)]) -> Result<()> {
        crate::names::validate_group_name(group)?;
        for (topic, ..) in commits {
            crate::names::refuse_internal_position_topic(topic)?;
        }
        self.note_group_activity(group);
        self.commit_group_offsets(group, commits)
    }

    /// [`ConsumerGroups::commit_offsets`] without the name checks: for the
    /// operations that own an internal group (a mirror's positions).
    pub(crate) fn commit_group_offsets(&self, group: &str, commits: &[(String, u32, u64, Vec<u8>)]) -> Result<()> {
        let commit_time_ms = self.offset_commit_time()?;
        let mut entries = Vec::with_capacity(commits.len());
        for (topic, partition, offset, metadata) in commits {
            validate_commit(group, metadata)?;
            self.check_commit_within_log(topic, *partition, *offset, 0)?;
            let key: Key = (group.to_string(), topic.clone(), *partition);
            let value = CommittedOffset {
                offset: *offset,
                metadata: metadata.clone(),
                commit_time_ms,
            };
            entries.push((key, value));
        }
        if entries.is_empty() {
            return Ok(());
        }
        self.with_table(|map, reserved| {
            self.check_group_limit(map, reserved, &[group])?;
            self.write_offsets(&entries, true)?;
            map.extend(entries);
            self.maybe_compact_offsets(map)
        })
    }

    /// Every group, in order, from the first after `after` (all of them
    /// with `None`), at most `limit`: a page of [`ConsumerGroups::groups`].
    pub fn groups_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.with_offsets(|map| {
            let mut out = Vec::new();
            let mut next = match after {
                Some(group) => next_group(map, group),
                None => map.keys().next().map(|(g, _, _)| g.clone()),
            };
            while let Some(group) = next {
                if out.len() >= limit {
                    break;
                }
                next = next_group(map, &group);
                out.push(group);
            }
            Ok(out)
        })
    }

    /// Remove every committed offset of `group`, durably: after this returns
    /// the group is gone, after a restart too (the offsets log is compacted
    /// without it: its current entries are appended again and the log start
    /// moved past everything before them, so a crash before that move leaves
    /// the group as it was, never half deleted). Refused with
    /// [`Error::GroupActive`] while the group committed or polled within
    /// [`crate::consumer::reset::GROUP_ACTIVE_WINDOW`] unless `force`. Each removed
    /// offset is recorded in the reset audit (target `delete`, `to` = the
    /// offset removed), with `actor`. Returns what was removed; empty if
    /// the group had nothing committed. The store's own groups (`__*`) are
    /// refused with [`Error::InternalName`]: their offsets are the progress
    /// of redrive and replay jobs.
    pub fn delete_group(&self, group: &str, actor: &str, force: bool) -> Result<Vec<((String, u32), CommittedOffset)>> {
        self.delete_group_offsets(group, None, actor, force)
    }

    /// [`ConsumerGroups::delete_group`] limited to `topic` when given: the
    /// group's committed offsets on that topic's partitions go (durably,
    /// audited, refused while the group is active unless `force`), its
    /// offsets on other topics stay.
    pub fn delete_group_offsets(
        &self,
        group: &str,
        topic: Option<&str>,
        actor: &str,
        force: bool,
    ) -> Result<Vec<((String, u32), CommittedOffset)>> {
        crate::names::validate_group_name(group)?;
        if actor.is_empty() || actor.len() > crate::consumer::reset::ACTOR_BYTES_MAX {
            return Err(Error::invalid(
                "actor",
                format!("use 1 to {} bytes", crate::consumer::reset::ACTOR_BYTES_MAX),
            ));
        }
        if !force {
            if let Some(idle) = self
                .group_idle(group)
                .filter(|idle| *idle < crate::consumer::reset::GROUP_ACTIVE_WINDOW)
            {
                return Err(Error::GroupActive {
                    group: group.to_string(),
                    idle_ms: idle.as_millis() as u64,
                });
            }
        }
        // The commit lock (before the offsets' lock, as a commit takes them)
        // for the whole deletion: every commit record in `__transactions` is
        // applied under it, and its log start is moved past them below, so
        // that the next open does not apply an earlier transaction's offset
        // commit again and bring the deleted offsets back.
        let commits = self.catalog().lock_commits();
        self.with_offsets(|map| {
            let chosen = |t: &str| topic.is_none_or(|only| only == t);
            let removed: Vec<((String, u32), CommittedOffset)> = group_entries(map, group)
                .filter(|((_, t, _), _)| chosen(t))
                .map(|((_, t, p), v)| ((t.clone(), *p), v.clone()))
                .collect();
            if removed.is_empty() {
                return Ok(removed);
            }
            self.catalog().forget_applied_commits(&commits)?;
            self.audit_group_deletion(group, actor, &removed)?;
            let mut remaining = map.clone();
            remaining.retain(|(g, t, _), _| g != group || !chosen(t));
            self.compact_offsets_now(&remaining)?;
            *map = remaining;
            tracing::info!(
                group,
                ?topic,
                actor,
                partitions = removed.len(),
                "group offsets deleted"
            );
            Ok(removed)
        })
    }

    /// Compact the offsets log now (normally automatic). Returns the records
    /// left readable: one per (group, topic, partition).
    pub fn compact_offsets(&self) -> Result<u64> {
        self.with_offsets(|map| {
            if self.partition(OFFSETS_TOPIC, 0).is_err() {
                return Ok(0);
            }
            self.compact_offsets_now(map)?;
            Ok(map.len() as u64)
        })
    }

    fn maybe_compact_offsets(&self, map: &BTreeMap<Key, CommittedOffset>) -> Result<()> {
        let p = self.partition(OFFSETS_TOPIC, 0)?;
        let (start, end) = (p.start_offset(), p.high_watermark());
        if end - start <= 2 * map.len() as u64 + COMPACT_MIN {
            return Ok(());
        }
        self.compact_offsets_now(map)
    }

    fn compact_offsets_now(&self, map: &BTreeMap<Key, CommittedOffset>) -> Result<()> {
        let p = self.partition(OFFSETS_TOPIC, 0)?;
        let end = p.high_watermark();
        // Seal the segment holding the superseded records so that moving the
        // start past them deletes them from disk, not only from view.
        p.roll_now()?;
        let entries: Vec<(Key, CommittedOffset)> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        // A rewrite of values already committed: a crash in between loses nothing.
        self.write_offsets(&entries, false)?;
        // Everything before the rewritten entries is superseded.
        p.truncate_prefix(end)?;
        Ok(())
    }

    /// The committed offset of a group on a partition, if any.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>> {
        Ok(self.committed(group, topic, partition)?.map(|c| c.offset))
    }

    /// The committed offset of `group` on a partition, with its metadata and time.
    pub fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<CommittedOffset>> {
        let key: Key = (group.to_string(), topic.to_string(), partition);
        self.with_offsets(|map| Ok(map.get(&key).cloned()))
    }

    /// Every committed offset of a group: ((topic, partition), committed).
    pub fn group_offsets(&self, group: &str) -> Result<Vec<((String, u32), CommittedOffset)>> {
        // The keys sort by group first: the group's entries are one range,
        // found in log time (not a scan of every group's: a caller walking
        // every group stays linear).
        self.with_offsets(|map| {
            let from: Key = (group.to_string(), String::new(), 0);
            Ok(map
                .range(from..)
                .take_while(|((g, _, _), _)| g == group)
                .map(|((_, t, p), v)| ((t.clone(), *p), v.clone()))
                .collect())
        })
    }

    /// Every group with a committed offset.
    pub fn groups(&self) -> Result<Vec<String>> {
        self.with_offsets(|map| {
            let mut groups: Vec<String> = map.keys().map(|(g, _, _)| g.clone()).collect();
            groups.dedup();
            Ok(groups)
        })
    }

    /// Record that `group` is consuming (a commit or a poll) now.
    pub fn note_group_activity(&self, group: &str) {
        self.offset_table()
            .activity
            .lock()
            .insert(group.to_string(), std::time::Instant::now());
    }

    /// How long ago `group` last committed or polled in this process, if it did.
    pub fn group_idle(&self, group: &str) -> Option<std::time::Duration> {
        self.offset_table().activity.lock().get(group).map(|at| at.elapsed())
    }

    /// The next commit time from the commit clock (loads the table first so
    /// the clock has seen every persisted commit).
    pub(crate) fn offset_commit_time(&self) -> Result<i64> {
        self.with_offsets(|_| Ok(()))?;
        Ok(self.offset_table().next_time())
    }

    /// The commit time of `group`'s committed offset on a partition, if any
    /// (transaction recovery re-applies a commit only if nothing at or
    /// after its time is there).
    pub(crate) fn committed_time_ms(&self, group: &str, topic: &str, partition: u32) -> Result<Option<i64>> {
        Ok(self.committed(group, topic, partition)?.map(|c| c.commit_time_ms))
    }

    /// Apply an offset commit of a committed transaction at its commit time.
    pub(crate) fn apply_commit(&self, commit: &OffsetCommit, commit_time_ms: i64) -> Result<()> {
        // Reserved before the commit point (`ConsumerGroups::reserve_new_groups`):
        // an applied transaction is applied whole.
        self.commit_offset_at(commit, commit_time_ms, GroupLimit::Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrip() {
        let key: Key = ("g".into(), "t".into(), 3);
        let value = CommittedOffset {
            offset: 9,
            metadata: b"m".to_vec(),
            commit_time_ms: 5,
        };
        let bytes = encode(&key, &value);
        assert_eq!(decode(&bytes), Some((key, value)));
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
    }
}
