//! `repair_segment` / `repair_index`: the explicit, operator-requested fixes.

use super::manifest::{note, Journal, ManifestEntry};
use super::*;

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairOutcome {
    /// Where the removed bytes and replaced files were kept.
    pub backup_dir: PathBuf,
    /// The segment truncated, its old and new length (None when it was moved whole).
    pub truncated: Option<(PathBuf, u64, u64)>,
    /// Files copied into the backup directory.
    pub copied: Vec<PathBuf>,
    /// Files moved into the backup directory (later segments of the partition).
    pub moved: Vec<PathBuf>,
    /// Index files removed (the engine rebuilds them on open). A truncated
    /// segment's index is cut to its entries before the truncation instead.
    pub index_removed: Vec<PathBuf>,
    /// Offsets lost: `[from, to)` of the partition.
    pub offsets_dropped: Option<(u64, u64)>,
    /// Records in `offsets_dropped`.
    pub records_dropped: u64,
    /// The groups, replay and redrive jobs that lost committed progress (as
    /// the plan listed them).
    pub affected: Vec<super::AffectedConsumer>,
    /// Offsets `[from, to)` of a missing segment accepted as a hole
    /// (`repair --accept-gap`): reads go on at `to`.
    pub accepted_gap: Option<(u64, u64)>,
}

impl RepairOutcome {
    /// An outcome that has changed nothing yet, backing up into `backup_dir`.
    pub(crate) fn new(backup_dir: &Path) -> RepairOutcome {
        RepairOutcome {
            backup_dir: backup_dir.to_path_buf(),
            truncated: None,
            copied: Vec::new(),
            moved: Vec::new(),
            index_removed: Vec::new(),
            offsets_dropped: None,
            records_dropped: 0,
            affected: Vec::new(),
            accepted_gap: None,
        }
    }
}

/// A file's partition directory and the partition's segment bases (sorted),
/// refusing a file that is not inside `<data>/topics/<topic>/<partition>/`.
pub(super) fn locate_partition_file(
    storage: &dyn Storage,
    data_dir: &Path,
    file: &Path,
) -> Result<(PathBuf, Vec<u64>)> {
    let outside = || {
        Error::invalid(
            "file",
            format!(
                "{} is not a file of a partition inside {}",
                file.display(),
                data_dir.join(TOPICS_DIR).display()
            ),
        )
    };
    let dir = file.parent().ok_or_else(outside)?.to_path_buf();
    let topics_dir = data_dir.join(TOPICS_DIR);
    let canonical = |p: &Path| storage.canonicalize(p).at("resolve path", p);
    let topics = canonical(&topics_dir)?;
    let inside = canonical(&dir)?
        .parent()
        .and_then(Path::parent)
        .is_some_and(|t| t == topics);
    if !inside || is_dir(storage, file)? {
        return Err(outside());
    }
    // A missing file is the operator's mistake; any other failure is I/O.
    match storage.open(file, OpenMode::Existing) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(outside()),
        Err(e) => return Err(e).at("open", file),
    }
    let mut bases: Vec<u64> = list_names(storage, &dir)?
        .iter()
        .filter_map(|n| parse_log_name(n))
        .collect();
    bases.sort_unstable();
    Ok((dir, bases))
}

/// The segment's place in its partition: (partition dir, base offset, all bases sorted).
pub(super) fn locate_segment(
    storage: &dyn Storage,
    data_dir: &Path,
    segment: &Path,
) -> Result<(PathBuf, u64, Vec<u64>)> {
    let not_segment = || {
        Error::invalid(
            "segment file",
            format!(
                "{} is not a segment log file (<20 digits>.log) inside {}",
                segment.display(),
                data_dir.join(TOPICS_DIR).display()
            ),
        )
    };
    let base = segment
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_log_name)
        .ok_or_else(not_segment)?;
    let (dir, bases) = locate_partition_file(storage, data_dir, segment).map_err(|e| match e {
        // An I/O failure is reported as such, never as the operator's mistake.
        Error::Io { ref source, .. } if source.kind() != io::ErrorKind::NotFound => e,
        _ => not_segment(),
    })?;
    Ok((dir, base, bases))
}

/// Where the segment at `base` has to start (None for the first); refuses
/// when an earlier segment is itself invalid (repair that one first).
pub(super) fn expected_base(storage: &dyn Storage, dir: &Path, base: u64, bases: &[u64]) -> Result<Option<u64>> {
    let mut expected: Option<u64> = None;
    for b in bases.iter().take_while(|b| **b < base) {
        let scan = scan_log(
            storage,
            &dir.join(log_name(*b)),
            *b,
            false,
            &mut |_| {},
            &mut |_, _, _| true,
        )?;
        if let Some(invalid) = scan.invalid {
            return Err(Error::invalid(
                "position",
                format!(
                    "an earlier segment of this partition, {}, is itself invalid at byte {}; repair that one first",
                    scan.path.display(),
                    invalid.position
                ),
            ));
        }
        expected = Some(scan.next_offset);
    }
    Ok(expected)
}

/// The base offset of a per-segment file named `<20 digits>.<anything>`.
pub(super) fn segment_file_base(name: &str) -> Option<u64> {
    let (digits, _) = name.split_once('.')?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Move `from` into the backup at `to`: a rename, or where that fails
/// (another file system) a copy, fsync'd with its directory entry, before
/// the original is removed. The caller fsyncs both directories.
pub(super) fn move_file(storage: &dyn Storage, from: &Path, to: &Path) -> Result<()> {
    if storage.rename(from, to).is_err() {
        copy_synced(storage, from, to)?;
        if let Some(backup_dir) = to.parent() {
            sync_dir(storage, backup_dir)?;
        }
        storage.remove_file(from).at("remove", from)?;
    }
    Ok(())
}

/// Make the partition in `dir` continue at `continue_at`, above offsets
/// `[kept_end, continue_at)` that a repair takes out (design/durability.md,
/// "Offsets are never handed out twice"): `<continue_at>.hole` (holding `kept_end`) is
/// written durably, then an empty segment at `continue_at` is created and
/// the directory fsync'd. Done before anything is cut or moved, so a power
/// cut in the middle of a repair never lets the partition hand those
/// offsets out again; a rerun finds the marker ([`pending_hole`]) and keeps
/// the same continuation.
fn continue_past(
    storage: &dyn Storage,
    dir: &Path,
    (kept_end, continue_at): (u64, u64),
    journal: Option<&Journal>,
) -> Result<()> {
    if continue_at <= kept_end {
        return Ok(());
    }
    let marker = dir.join(crate::log::segment::hole_name(continue_at));
    if !storage.exists(&marker) {
        note(journal, |j| j.creating(&marker))?;
    }
    crate::io::write_atomic(storage, &marker, format!("{kept_end}\n").as_bytes()).at("write hole marker", &marker)?;
    if !storage.exists(&dir.join(log_name(continue_at))) {
        note(journal, |j| j.creating(&dir.join(log_name(continue_at))))?;
        note(journal, |j| j.creating(&dir.join(index_name(continue_at))))?;
        crate::log::segment::Segment::create(storage, dir, continue_at, crate::clock::now_ms())?;
    }
    sync_dir(storage, dir)
}

/// The largest `<offset>.hole` marker or producer snapshot name of the
/// partition `dir` above `above`: offsets below it were handed out (a
/// snapshot says the log was durable up to it; a marker is the continuation
/// an earlier, interrupted repair chose).
pub(super) fn pending_hole(storage: &dyn Storage, dir: &Path, above: u64) -> Result<Option<u64>> {
    Ok(list_names(storage, dir)?
        .iter()
        .filter(|n| n.ends_with(".hole") || n.ends_with(".producers"))
        .filter_map(|n| segment_file_base(n))
        .filter(|offset| *offset > above)
        .max())
}

/// Truncate `segment` at `position`, which must be the position of its first
/// invalid batch (as reported by [`check_dir`]); refuses any other position so
/// a typo cannot cut valid data. Before anything changes, the segment and its
/// index are copied into `backup_dir`; later segments of the partition (whose
/// offsets would no longer continue) are moved there, and the segment's index
/// is cut to its entries before `position`. When the removed bytes held
/// offsets past the kept end, the partition continues past them (a hole,
/// [`RepairPlan::continues_at`](super::RepairPlan)). Everything is fsync'd.
pub fn repair_segment(data_dir: &Path, segment: &Path, position: u64, backup_dir: &Path) -> Result<RepairOutcome> {
    repair_segment_on(&FsStorage, data_dir, (segment, position), backup_dir, None)
}

/// [`repair_segment`] through `storage`, in this order, each step durable
/// before the next: (1) the backup directory exists durably; (2) the cut
/// segment and its index are copied into it and fsync'd, with its entries;
/// (3) the continuation past the removed offsets ([`continue_past`]);
/// (4) later segments' files are moved into the backup (backup directory
/// fsync'd, then the partition's); (5) the segment is truncated and fsync'd,
/// its index cut; (6) the partition directory is fsync'd. A power cut at
/// any point leaves what a rerun repairs to the same end, with nothing lost
/// that is not in the backup.
pub(super) fn repair_segment_on(
    storage: &dyn Storage,
    data_dir: &Path,
    (segment, position): (&Path, u64),
    backup_dir: &Path,
    journal: Option<&Journal>,
) -> Result<RepairOutcome> {
    require_store(storage, data_dir)?;
    let _lock = lock(storage, data_dir)?;
    // Refuses any position but the first invalid batch's.
    let plan = super::plan::plan_segment_locked(storage, data_dir, segment, position)?;
    let (dir, base, _) = locate_segment(storage, data_dir, segment)?;
    let mut boundaries: Vec<IndexEntry> = Vec::new();
    let mut running_max = i64::MIN;
    let scan = scan_log(storage, segment, base, false, &mut |_| {}, &mut |at, header, _| {
        boundaries.push(IndexEntry {
            relative_offset: (header.base_offset - base) as u32,
            position: at as u32,
            max_timestamp_before_ms: running_max,
        });
        running_max = running_max.max(header.max_timestamp_ms);
        true
    })?;
    create_dir_durable(storage, backup_dir)?;
    let mut outcome = RepairOutcome::new(backup_dir);
    let move_whole = plan.removals.first().is_some_and(|r| r.whole_file);
    let index_path = dir.join(index_name(base));
    // 1. Back up the segment (and its index) being cut.
    if !move_whole {
        for file in [segment.to_path_buf(), index_path.clone()] {
            if storage.exists(&file) {
                let name = file.file_name().map(PathBuf::from).unwrap_or_default();
                copy_synced(storage, &file, &backup_dir.join(&name))?;
                outcome.copied.push(file);
            }
        }
        sync_dir(storage, backup_dir)?;
        for file in &outcome.copied {
            let name = file.file_name().map(PathBuf::from).unwrap_or_default();
            note(journal, |j| j.copied(file, &backup_dir.join(name)))?;
        }
    }
    // 2. The partition continues past every offset taken out.
    continue_past(storage, &dir, (plan.kept_end, plan.continues_at), journal)?;
    // 3. Move later segments (and this one if it is cut at 0) into the backup.
    // Every per-segment file (`<20 digits>.<kind>`: log, index, snapshots,
    // hole markers) of a dropped segment goes, but the continuation's.
    for name in list_names(storage, &dir)? {
        let Some(file_base) = segment_file_base(&name) else {
            continue;
        };
        let continuation = file_base == plan.continues_at
            && plan.continues_at > plan.kept_end
            && [".log", ".index", ".hole"].iter().any(|kind| name.ends_with(kind));
        if !continuation && (file_base > base || (move_whole && file_base == base)) {
            let from = dir.join(&name);
            note(journal, |j| j.moving(&from, &backup_dir.join(&name)))?;
            move_file(storage, &from, &backup_dir.join(&name))?;
            outcome.moved.push(from);
        }
    }
    sync_dir(storage, backup_dir)?;
    sync_dir(storage, &dir)?;
    // 4. Truncate at the invalid position and cut the index (extended on open).
    if !move_whole {
        note(journal, |j| {
            j.record(&ManifestEntry::Cut {
                path: j.store_path(segment),
                len: position,
            })
        })?;
        let file = storage.open(segment, OpenMode::Existing).at("open segment", segment)?;
        file.set_len(position)
            .and_then(|()| file.sync_data())
            .at("truncate segment", segment)?;
        outcome.truncated = Some((segment.to_path_buf(), scan.file_bytes, position));
        // Followed by the continuation, the segment is sealed now: its index
        // gets the end entry a sealed segment's has.
        let end = (plan.continues_at > plan.kept_end).then(|| IndexEntry {
            relative_offset: (scan.next_offset - base) as u32,
            position: position as u32,
            max_timestamp_before_ms: scan.max_timestamp_ms,
        });
        if storage.exists(&index_path) || end.is_some() {
            if !storage.exists(&index_path) {
                note(journal, |j| j.creating(&index_path))?;
            }
            cut_index(storage, &index_path, (position, end), &boundaries)?;
        }
    }
    sync_dir(storage, &dir)?;
    outcome.offsets_dropped = plan.offsets_dropped;
    outcome.records_dropped = plan.records_dropped;
    outcome.affected = plan.affected;
    Ok(outcome)
}

/// Keep the prefix of the index's entries that point at verified batch
/// boundaries before the cut at `position` (then `end`, the end entry of a
/// segment the cut seals); the engine extends the index from there on open.
fn cut_index(
    storage: &dyn Storage,
    index_path: &Path,
    (position, end): (u64, Option<IndexEntry>),
    boundaries: &[IndexEntry],
) -> Result<()> {
    let mode = if storage.exists(index_path) {
        OpenMode::Existing
    } else {
        OpenMode::CreateNew
    };
    let file = storage.open(index_path, mode).at("open index", index_path)?;
    // At most one entry per verified boundary (and one more to stop at).
    let bytes_max = (boundaries.len() as u64 + 1) * ENTRY_SIZE as u64;
    let bytes = read_prefix(file.as_ref(), index_path, bytes_max)?;
    let mut kept = Vec::new();
    for chunk in bytes.chunks_exact(ENTRY_SIZE) {
        let Some(entry) = IndexEntry::decode_all(chunk, position.saturating_sub(1)).pop() else {
            break;
        };
        if entry.position == 0 || !boundaries.contains(&entry) {
            break;
        }
        kept.extend_from_slice(&entry.encode());
    }
    if let Some(end) = end {
        kept.extend_from_slice(&end.encode());
    }
    file.set_len(kept.len() as u64)
        .and_then(|()| file.write_all_at(&kept, 0))
        .and_then(|()| file.sync_data())
        .at("rewrite index", index_path)
}

/// Accept the loss a producer snapshot past the log end reports (`check`
/// reports it on the snapshot file; see [`plan_snapshot_set_aside`](super::plan_snapshot_set_aside)):
/// move every producer snapshot of the partition past its log end into
/// `backup_dir`, fsync'd. The records between the log end and the snapshot
/// are gone already; afterwards the store opens at the log end and the
/// partition continues past the snapshot's offset (a hole), so no offset the
/// snapshot proves was handed out is handed out again.
pub fn set_aside_snapshots(data_dir: &Path, snapshot: &Path, backup_dir: &Path) -> Result<RepairOutcome> {
    set_aside_snapshots_on(&FsStorage, data_dir, snapshot, backup_dir, None)
}

/// [`set_aside_snapshots`] through `storage`: the backup directory made
/// durable, the continuation written ([`continue_past`]), then the
/// snapshots moved (backup directory fsync'd before the partition's).
pub(super) fn set_aside_snapshots_on(
    storage: &dyn Storage,
    data_dir: &Path,
    snapshot: &Path,
    backup_dir: &Path,
    journal: Option<&Journal>,
) -> Result<RepairOutcome> {
    require_store(storage, data_dir)?;
    let _lock = lock(storage, data_dir)?;
    let plan = super::plan::plan_snapshot_locked(storage, data_dir, snapshot)?;
    create_dir_durable(storage, backup_dir)?;
    let mut outcome = RepairOutcome {
        offsets_dropped: plan.offsets_dropped,
        records_dropped: plan.records_dropped,
        affected: plan.affected.clone(),
        ..RepairOutcome::new(backup_dir)
    };
    continue_past(
        storage,
        &plan.partition_dir,
        (plan.kept_end, plan.continues_at),
        journal,
    )?;
    for removal in &plan.removals {
        let name = removal.file.file_name().map(PathBuf::from).unwrap_or_default();
        note(journal, |j| j.moving(&removal.file, &backup_dir.join(&name)))?;
        move_file(storage, &removal.file, &backup_dir.join(name))?;
        outcome.moved.push(removal.file.clone());
    }
    sync_dir(storage, backup_dir)?;
    sync_dir(storage, &plan.partition_dir)?;
    Ok(outcome)
}

/// Back up and remove the index of `segment`; the engine rebuilds it from the
/// log on the next open (by a strict scan).
pub fn repair_index(data_dir: &Path, segment: &Path, backup_dir: &Path) -> Result<RepairOutcome> {
    repair_index_on(&FsStorage, data_dir, segment, backup_dir, None)
}

/// [`repair_index`] through `storage`.
pub(super) fn repair_index_on(
    storage: &dyn Storage,
    data_dir: &Path,
    segment: &Path,
    backup_dir: &Path,
    journal: Option<&Journal>,
) -> Result<RepairOutcome> {
    require_store(storage, data_dir)?;
    let _lock = lock(storage, data_dir)?;
    let (dir, base, _) = locate_segment(storage, data_dir, segment)?;
    let index_path = dir.join(index_name(base));
    create_dir_durable(storage, backup_dir)?;
    let mut outcome = RepairOutcome::new(backup_dir);
    if storage.exists(&index_path) {
        note(journal, |j| j.moving(&index_path, &backup_dir.join(index_name(base))))?;
        move_file(storage, &index_path, &backup_dir.join(index_name(base)))?;
        sync_dir(storage, backup_dir)?;
        sync_dir(storage, &dir)?;
        outcome.moved.push(index_path.clone());
        outcome.index_removed.push(index_path);
    }
    Ok(outcome)
}
