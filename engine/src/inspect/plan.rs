//! What a repair takes out of service, before it does: every record range per
//! partition (the cut segment's tail and each later segment moved into the
//! backup, or the records a producer snapshot says were lost), with counts,
//! and the consumer groups, replay jobs (`__replay.<name>`) and redrive jobs
//! (`__redrive.<target>`) whose committed offsets lie past what is kept.
//! Reads only.

use super::*;
use crate::consumer::offsets::OFFSETS_TOPIC;

/// One file range a repair removes from the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRemoval {
    /// The file (a segment, index, snapshot or metadata file).
    pub file: PathBuf,
    /// Bytes `[from, to)` of `file` taken out (the whole file when moved).
    pub from_byte: u64,
    /// End of the removed range (exclusive).
    pub to_byte: u64,
    /// Offsets `[from, to)` the removed batches hold, as far as their headers
    /// (or, past damage, later CRC-valid batches) say; `None` if nothing there
    /// parses (a torn batch with no header).
    pub offsets: Option<(u64, u64)>,
    /// Records in `offsets` (0 when unknown).
    pub records: u64,
    /// The file is moved into the backup whole (a later segment, or the cut
    /// one when the cut is at its first byte).
    pub whole_file: bool,
}

/// What kind of consumer a committed offset belongs to (by its group name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerKind {
    /// An application's consumer group.
    Group,
    /// `millrace replay`'s progress, `__replay.<job>`.
    Replay,
    /// `millrace dlq redrive`'s cursor, `__redrive.<target>`.
    Redrive,
}

impl ConsumerKind {
    /// The kind of the committed offsets of `group`, by its name.
    pub fn of(group: &str) -> ConsumerKind {
        if group.starts_with("__replay.") {
            ConsumerKind::Replay
        } else if group.starts_with("__redrive.") {
            ConsumerKind::Redrive
        } else {
            ConsumerKind::Group
        }
    }

    /// `group`, `replay job` or `redrive job`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConsumerKind::Group => "group",
            ConsumerKind::Replay => "replay job",
            ConsumerKind::Redrive => "redrive job",
        }
    }
}

/// How a repair sets a consumer back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerEffect {
    /// Its committed offset lies past what the repair keeps of the partition
    /// it reads: it has read records the repair takes away, and the
    /// partition's next records get offsets above its commit (a hole).
    ReadRemovedRecords,
    /// The repair takes the commit itself out of `__offsets`: the consumer
    /// falls back to its last commit before the damage (`None`: no commit,
    /// it starts over) and reads again what it had already processed. A
    /// replay job's rerun finds its progress in the destination instead
    /// (`millrace replay`); a group or redrive job processes those records twice.
    CommitLost {
        /// The last commit before the damage, if any.
        falls_back_to: Option<u64>,
    },
}

impl ConsumerEffect {
    /// The effect's name in `--json` output.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConsumerEffect::ReadRemovedRecords => "read-removed-records",
            ConsumerEffect::CommitLost { .. } => "commit-lost",
        }
    }
}

/// A consumer (group, replay job or redrive job) that loses committed
/// progress in a repair: what it had committed on `topic`/`partition` and how
/// the repair sets it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedConsumer {
    /// Its name.
    pub group: String,
    /// What kind of consumer it is.
    pub kind: ConsumerKind,
    /// The partition the commit is for (not `__offsets` when the repair cuts
    /// `__offsets`: the partition the consumer reads).
    pub topic: String,
    /// Its partition.
    pub partition: u32,
    /// Its committed offset (the next it would read).
    pub committed: u64,
    /// How the repair sets it back.
    pub effect: ConsumerEffect,
}

/// Everything one repair action takes out of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairPlan {
    /// The partition's directory.
    pub partition_dir: PathBuf,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The partition's log ends here after the repair.
    pub kept_end: u64,
    /// File ranges taken out, in file order.
    pub removals: Vec<PlannedRemoval>,
    /// Offsets `[from, to)` no longer served after the repair (None: none).
    pub offsets_dropped: Option<(u64, u64)>,
    /// Records in `offsets_dropped`.
    pub records_dropped: u64,
    /// Consumers committed past `kept_end`.
    pub affected: Vec<AffectedConsumer>,
    /// The partition's next offset after the repair: `kept_end`, or past
    /// every offset the removed bytes, a producer snapshot or an interrupted
    /// earlier repair (its `<offset>.hole`) show was handed out; offsets
    /// `[kept_end, continues_at)` are then a hole (design/durability.md,
    /// "Offsets are never handed out twice").
    pub continues_at: u64,
}

/// The offset just past the batches at and after `position` claim to hold:
/// the header at `position` if it parses and continues the segment (has
/// offset `expected`; its CRC may fail), and every CRC-valid batch found
/// after it by its magic. `None` if nothing parses.
fn claimed_end(
    storage: &dyn Storage,
    path: &Path,
    (position, expected): (u64, u64),
    file_bytes: u64,
) -> Result<Option<u64>> {
    let file = super::open_segment(storage, path)?;
    let mut end: Option<u64> = None;
    let mut header_bytes = [0u8; HEADER_SIZE];
    if position + HEADER_SIZE as u64 <= file_bytes
        && crate::io::read_exact_at(file.as_ref(), &mut header_bytes, position).is_ok()
    {
        if let Some(header) = BatchHeader::parse(&header_bytes)
            .ok()
            .filter(|h| h.base_offset == expected)
        {
            end = Some(header.next_offset());
        }
    }
    super::valid_batches_after(storage, path, position, file_bytes, &mut |_, header, _| {
        end = Some(end.map_or(header.next_offset(), |e| e.max(header.next_offset())));
        Ok(true)
    })?;
    Ok(end)
}

/// `(topic, partition)` of a partition directory `.../topics/<topic>/<00000>`.
pub(super) fn names_of(partition_dir: &Path) -> (String, u32) {
    let topic = partition_dir
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partition = partition_dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (topic, partition)
}

/// Every committed offset in `__offsets/0` (the latest per key), read from
/// its segments without opening the store; an unreadable batch ends the scan
/// (what was read before it is returned).
pub fn committed_offsets(data_dir: &Path) -> Result<Vec<(String, String, u32, u64)>> {
    committed_offsets_on(&ReadOnlyStorage::default(), data_dir)
}

fn committed_offsets_on(storage: &dyn Storage, data_dir: &Path) -> Result<Vec<(String, String, u32, u64)>> {
    let dir = data_dir.join(TOPICS_DIR).join(OFFSETS_TOPIC).join("00000");
    let mut latest: std::collections::BTreeMap<(String, String, u32), u64> = std::collections::BTreeMap::new();
    if !is_dir(storage, &dir)? {
        return Ok(Vec::new());
    }
    let mut bases: Vec<u64> = list_names(storage, &dir)?
        .iter()
        .filter_map(|n| parse_log_name(n))
        .collect();
    bases.sort_unstable();
    for base in bases {
        let scan = scan_log(
            storage,
            &dir.join(log_name(base)),
            base,
            true,
            &mut |_| {},
            &mut |_, _, records| {
                for record in records {
                    if let Some((key, value)) = crate::consumer::offsets::decode(&record.value) {
                        latest.insert(key, value.offset);
                    }
                }
                true
            },
        )?;
        if scan.invalid.is_some() {
            break;
        }
    }
    Ok(latest.into_iter().map(|((g, t, p), o)| (g, t, p, o)).collect())
}

fn affected(
    storage: &dyn Storage,
    data_dir: &Path,
    topic: &str,
    partition: u32,
    kept_end: u64,
) -> Result<Vec<AffectedConsumer>> {
    Ok(committed_offsets_on(storage, data_dir)?
        .into_iter()
        .filter(|(_, t, p, o)| t == topic && *p == partition && *o > kept_end)
        .map(|(group, topic, partition, committed)| AffectedConsumer {
            kind: ConsumerKind::of(&group),
            group,
            topic,
            partition,
            committed,
            effect: ConsumerEffect::ReadRemovedRecords,
        })
        .collect())
}

type CommitKey = (String, String, u32);
/// The latest commit per position: (offset, commit time).
type Commits = std::collections::BTreeMap<CommitKey, (u64, i64)>;

/// Fold the commits of `records` (`__offsets` records) into `latest`.
fn fold_commits(records: Vec<StoredRecord>, latest: &mut Commits) {
    for record in records {
        if let Some((key, value)) = crate::consumer::offsets::decode(&record.value) {
            latest.insert(key, (value.offset, value.commit_time_ms));
        }
    }
}

/// The commits of the readable batches of an `__offsets` segment at or after
/// byte `from`: the valid batches from `from` on, and past the first invalid
/// batch every CRC-valid batch found by its magic (what the repair moves into
/// the backup and a reader could still decode).
fn readable_commits_from(storage: &dyn Storage, path: &Path, base: u64, from: u64, latest: &mut Commits) -> Result<()> {
    let scan = scan_log(storage, path, base, true, &mut |_| {}, &mut |at, _, records| {
        if at >= from {
            fold_commits(records, latest);
        }
        true
    })?;
    if let Some(bad) = &scan.invalid {
        let after = bad.position.max(from);
        super::valid_batches_after(storage, path, after, scan.file_bytes, &mut |_, header, bytes| {
            if let Ok(records) = batch::decode_records(bytes, header) {
                fold_commits(records, latest);
            }
            Ok(true)
        })?;
    }
    Ok(())
}

/// For a repair of `__offsets` itself: every committed position whose latest
/// commit lies in what the repair takes out (the segment `base` from byte
/// `position` on, and every later segment), with the commit it falls back to
/// (the latest in what is kept, or the last transaction's, which open
/// re-applies over an older one). Commits in the damaged bytes themselves
/// cannot be read; the CLI says so.
fn lost_commits(
    storage: &dyn Storage,
    data_dir: &Path,
    (dir, base, position): (&Path, u64, u64),
    bases: &[u64],
) -> Result<Vec<AffectedConsumer>> {
    let mut kept = Commits::new();
    let mut removed = Commits::new();
    for b in bases.iter().filter(|b| **b <= base) {
        let path = dir.join(log_name(*b));
        let keep_before = if *b == base { position } else { u64::MAX };
        scan_log(storage, &path, *b, true, &mut |_| {}, &mut |at, _, records| {
            if at < keep_before {
                fold_commits(records, &mut kept);
            }
            true
        })?;
    }
    readable_commits_from(storage, &dir.join(log_name(base)), base, position, &mut removed)?;
    for later in bases.iter().filter(|b| **b > base) {
        readable_commits_from(storage, &dir.join(log_name(*later)), *later, 0, &mut removed)?;
    }
    // Open re-applies the last two transactions' offset commits over older
    // commits, in order (`txn::apply`): those positions come back.
    let last_two = super::transactions::last_records_offset_commits(storage, data_dir)?;
    for (time_ms, commit) in last_two
        .into_iter()
        .flat_map(|(time_ms, commits)| commits.into_iter().map(move |c| (time_ms, c)))
    {
        let key = (commit.group, commit.topic, commit.partition);
        let before = kept.get(&key).copied();
        if before.is_some_and(|(_, t)| t >= time_ms) {
            continue;
        }
        let offset = match commit.mode {
            crate::pipeline::txn::OffsetCommitMode::Set => commit.offset,
            crate::pipeline::txn::OffsetCommitMode::AdvanceOnly => {
                before.map_or(commit.offset, |(k, _)| k.max(commit.offset))
            }
        };
        kept.insert(key, (offset, time_ms));
    }
    Ok(removed
        .into_iter()
        .filter(|(key, (committed, _))| kept.get(key).map(|(k, _)| k) != Some(committed))
        .map(|((group, topic, partition), (committed, _))| AffectedConsumer {
            kind: ConsumerKind::of(&group),
            effect: ConsumerEffect::CommitLost {
                falls_back_to: kept.get(&(group.clone(), topic.clone(), partition)).map(|(k, _)| *k),
            },
            group,
            topic,
            partition,
            committed,
        })
        .collect())
}

/// The plan of [`repair_segment`](super::repair_segment) at `position` of
/// `segment`: the same checks (the position must be the first invalid
/// batch), nothing changed.
pub fn plan_segment_repair(data_dir: &Path, segment: &Path, position: u64) -> Result<RepairPlan> {
    let storage = ReadOnlyStorage::default();
    require_store(&storage, data_dir)?;
    let _lock = lock_without_writer(data_dir)?;
    plan_segment_locked(&storage, data_dir, segment, position)
}

pub(super) fn plan_segment_locked(
    storage: &dyn Storage,
    data_dir: &Path,
    segment: &Path,
    position: u64,
) -> Result<RepairPlan> {
    let (dir, base, bases) = super::repair::locate_segment(storage, data_dir, segment)?;
    let expected = super::repair::expected_base(storage, &dir, base, &bases)?;
    let scan = scan_log(storage, segment, base, false, &mut |_| {}, &mut |_, _, _| true)?;
    // A gap recorded as a hole (`<base>.hole`, design/format.md) is no damage.
    let hole = storage.exists(&dir.join(crate::log::segment::hole_name(base)));
    let gap_at_start = expected.is_some_and(|e| e != base && !(e < base && hole));
    let first_invalid = if gap_at_start {
        Some(0)
    } else {
        scan.invalid.as_ref().map(|i| i.position)
    };
    if first_invalid != Some(position) {
        return Err(Error::invalid(
            "position",
            match first_invalid {
                Some(at) => format!(
                    "{} is first invalid at byte {at}, not {position}; run `millrace check` and use the position it reports",
                    segment.display()
                ),
                None => format!(
                    "{} has no invalid batch; nothing to repair at byte {position}",
                    segment.display()
                ),
            },
        ));
    }
    let first_segment = bases.first() == Some(&base);
    // The offset the batch at `position` should have; the log ends where
    // the previous segment does when this one goes whole (offsets missing
    // between them are gone already, and dropped with the rest).
    let cut_from = if position == 0 { base } else { scan.next_offset };
    let kept_end = if position == 0 {
        expected.unwrap_or(base)
    } else {
        cut_from
    };
    let mut removals = Vec::new();
    let cut_end = claimed_end(storage, segment, (position, cut_from), scan.file_bytes)?.filter(|end| *end > cut_from);
    let mut dropped_end = cut_end.unwrap_or(cut_from).max(kept_end);
    let mut later_removals = Vec::new();
    for later in bases.iter().filter(|b| **b > base) {
        let path = dir.join(log_name(*later));
        let later_scan = scan_log(storage, &path, *later, false, &mut |_| {}, &mut |_, _, _| true)?;
        // The empty segment an interrupted repair created to continue past
        // a hole: it holds nothing and stays.
        if later_scan.file_bytes == 0 && storage.exists(&dir.join(crate::log::segment::hole_name(*later))) {
            continue;
        }
        let mut end = later_scan.next_offset;
        if let Some(bad) = &later_scan.invalid {
            let claimed = claimed_end(storage, &path, (bad.position, end), later_scan.file_bytes)?;
            end = end.max(claimed.unwrap_or(end));
        }
        let offsets = (end > *later).then_some((*later, end));
        later_removals.push(PlannedRemoval {
            file: path,
            from_byte: 0,
            to_byte: later_scan.file_bytes,
            offsets,
            records: end - later,
            whole_file: true,
        });
        dropped_end = dropped_end.max(end);
    }
    let pending = super::repair::pending_hole(storage, &dir, kept_end)?;
    let continues_at = dropped_end.max(pending.unwrap_or(kept_end));
    // A first segment cut at 0 goes whole when the partition continues past
    // a hole (a later segment cut at 0 always does: its offsets would not
    // continue the one before).
    let move_whole = position == 0 && (!first_segment || continues_at > kept_end);
    removals.push(PlannedRemoval {
        file: segment.to_path_buf(),
        from_byte: position,
        to_byte: scan.file_bytes,
        offsets: cut_end.map(|end| (cut_from, end)),
        records: cut_end.map_or(0, |end| end - cut_from),
        whole_file: move_whole,
    });
    removals.extend(later_removals);
    let (topic, partition) = names_of(&dir);
    let offsets_dropped = (dropped_end > kept_end).then_some((kept_end, dropped_end));
    let mut affected = affected(storage, data_dir, &topic, partition, kept_end)?;
    if topic == OFFSETS_TOPIC && partition == 0 {
        affected.extend(lost_commits(storage, data_dir, (&dir, base, position), &bases)?);
    }
    Ok(RepairPlan {
        affected,
        partition_dir: dir,
        topic,
        partition,
        kept_end,
        removals,
        offsets_dropped,
        records_dropped: dropped_end - kept_end,
        continues_at,
    })
}

/// The plan of [`set_aside_snapshots`](super::set_aside_snapshots) for a
/// partition whose log ends before a producer snapshot (`check` reports it
/// on the snapshot file): the records between are already gone; the repair
/// accepts their loss. Nothing changed.
pub fn plan_snapshot_set_aside(data_dir: &Path, snapshot: &Path) -> Result<RepairPlan> {
    let storage = ReadOnlyStorage::default();
    require_store(&storage, data_dir)?;
    let _lock = lock_without_writer(data_dir)?;
    plan_snapshot_locked(&storage, data_dir, snapshot)
}

pub(super) fn plan_snapshot_locked(storage: &dyn Storage, data_dir: &Path, snapshot: &Path) -> Result<RepairPlan> {
    let (dir, bases) = super::repair::locate_partition_file(storage, data_dir, snapshot)?;
    let log_end = match bases.last() {
        Some(last) => {
            let scan = scan_log(
                storage,
                &dir.join(log_name(*last)),
                *last,
                false,
                &mut |_| {},
                &mut |_, _, _| true,
            )?;
            if let Some(bad) = scan.invalid {
                return Err(Error::invalid(
                    "snapshot",
                    format!(
                        "{} is invalid at byte {}; repair that segment first",
                        scan.path.display(),
                        bad.position
                    ),
                ));
            }
            scan.next_offset
        }
        None => 0,
    };
    let mut removals = Vec::new();
    let mut claimed = log_end;
    for name in list_names(storage, &dir)? {
        let Some(offset) = name
            .strip_suffix(".producers")
            .filter(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok())
        else {
            continue;
        };
        if offset <= log_end {
            continue;
        }
        let path = dir.join(&name);
        let bytes = file_len(storage, &path);
        claimed = claimed.max(offset);
        removals.push(PlannedRemoval {
            file: path,
            from_byte: 0,
            to_byte: bytes,
            offsets: Some((log_end, offset)),
            records: offset - log_end,
            whole_file: true,
        });
    }
    let (topic, partition) = names_of(&dir);
    Ok(RepairPlan {
        affected: affected(storage, data_dir, &topic, partition, log_end)?,
        partition_dir: dir,
        topic,
        partition,
        kept_end: log_end,
        removals,
        offsets_dropped: (claimed > log_end).then_some((log_end, claimed)),
        records_dropped: claimed - log_end,
        continues_at: claimed,
    })
}
