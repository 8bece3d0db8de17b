//! `repair_segment` / `repair_index`: the explicit, operator-requested fixes.

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
        }
    }
}

/// A file's partition directory and the partition's segment bases (sorted),
/// refusing a file that is not inside `<data>/topics/<topic>/<partition>/`.
pub(super) fn locate_partition_file(data_dir: &Path, file: &Path) -> Result<(PathBuf, Vec<u64>)> {
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
    let canonical = |p: &Path| fs::canonicalize(p).map_err(|e| Error::io("resolve path", p, e));
    let inside = canonical(&dir)?
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .is_some_and(|t| canonical(&topics_dir).is_ok_and(|d| d == t));
    if !inside || !file.is_file() {
        return Err(outside());
    }
    let mut bases: Vec<u64> = list_names(&dir)?.iter().filter_map(|n| parse_log_name(n)).collect();
    bases.sort_unstable();
    Ok((dir, bases))
}

/// The segment's place in its partition: (partition dir, base offset, all bases sorted).
pub(super) fn locate_segment(data_dir: &Path, segment: &Path) -> Result<(PathBuf, u64, Vec<u64>)> {
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
    let (dir, bases) = locate_partition_file(data_dir, segment).map_err(|_| not_segment())?;
    Ok((dir, base, bases))
}

/// Where the segment at `base` has to start (None for the first); refuses
/// when an earlier segment is itself invalid (repair that one first).
pub(super) fn expected_base(dir: &Path, base: u64, bases: &[u64]) -> Result<Option<u64>> {
    let mut expected: Option<u64> = None;
    for b in bases.iter().take_while(|b| **b < base) {
        let scan = scan_log(&dir.join(log_name(*b)), *b, false, &mut |_| {}, &mut |_, _, _| true)?;
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
fn segment_file_base(name: &str) -> Option<u64> {
    let (digits, _) = name.split_once('.')?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn sync_dir(dir: &Path) -> Result<()> {
    FsStorage.sync_dir(dir).map_err(|e| Error::io("fsync dir", dir, e))
}

fn copy_synced(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).map_err(|e| Error::io("copy to backup", to, e))?;
    File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("fsync backup", to, e))
}

fn move_file(from: &Path, to: &Path) -> Result<()> {
    if fs::rename(from, to).is_err() {
        // Another file system: copy, fsync, then remove.
        copy_synced(from, to)?;
        fs::remove_file(from).map_err(|e| Error::io("remove", from, e))?;
    }
    Ok(())
}

/// Truncate `segment` at `position`, which must be the position of its first
/// invalid batch (as reported by [`check_dir`]); refuses any other position so
/// a typo cannot cut valid data. Before anything changes, the segment and its
/// index are copied into `backup_dir`; later segments of the partition (whose
/// offsets would no longer continue) are moved there, and the segment's index
/// is cut to its entries before `position`. Everything is fsync'd.
pub fn repair_segment(data_dir: &Path, segment: &Path, position: u64, backup_dir: &Path) -> Result<RepairOutcome> {
    require_store(data_dir)?;
    let _lock = lock(data_dir)?;
    // Refuses any position but the first invalid batch's.
    let plan = super::plan::plan_segment_locked(data_dir, segment, position)?;
    let (dir, base, bases) = locate_segment(data_dir, segment)?;
    let mut boundaries: Vec<IndexEntry> = Vec::new();
    let mut running_max = i64::MIN;
    let scan = scan_log(segment, base, false, &mut |_| {}, &mut |at, header, _| {
        boundaries.push(IndexEntry {
            relative_offset: (header.base_offset - base) as u32,
            position: at as u32,
            max_timestamp_before_ms: running_max,
        });
        running_max = running_max.max(header.max_timestamp_ms);
        true
    })?;
    fs::create_dir_all(backup_dir).map_err(|e| Error::io("create backup dir", backup_dir, e))?;
    let mut outcome = RepairOutcome::new(backup_dir);
    let first_segment = bases.first() == Some(&base);
    let move_whole = position == 0 && !first_segment;
    let index_path = dir.join(index_name(base));
    // 1. Back up the segment (and its index) being cut.
    if !move_whole {
        for file in [segment.to_path_buf(), index_path.clone()] {
            if file.exists() {
                let name = file.file_name().map(PathBuf::from).unwrap_or_default();
                copy_synced(&file, &backup_dir.join(name))?;
                outcome.copied.push(file);
            }
        }
    }
    // 2. Move later segments (and this one if it is cut at 0) into the backup.
    // Every per-segment file (`<20 digits>.<kind>`: log, index, snapshots)
    // of a dropped segment goes.
    for name in list_names(&dir)? {
        let Some(file_base) = segment_file_base(&name) else {
            continue;
        };
        if file_base > base || (move_whole && file_base == base) {
            let from = dir.join(&name);
            move_file(&from, &backup_dir.join(&name))?;
            outcome.moved.push(from);
        }
    }
    sync_dir(backup_dir)?;
    // 3. Truncate at the invalid position and drop the index (rebuilt on open).
    if !move_whole {
        let file = fs::OpenOptions::new()
            .write(true)
            .open(segment)
            .map_err(|e| Error::io("open segment", segment, e))?;
        file.set_len(position)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("truncate segment", segment, e))?;
        outcome.truncated = Some((segment.to_path_buf(), scan.file_bytes, position));
        if index_path.exists() {
            // Keep the prefix of entries that point at verified batch boundaries
            // before the cut; the engine extends the index from there on open.
            let bytes = fs::read(&index_path).map_err(|e| Error::io("read index", &index_path, e))?;
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
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&index_path)
                .map_err(|e| Error::io("open index", &index_path, e))?;
            file.set_len(kept.len() as u64)
                .and_then(|()| file.write_all_at(&kept, 0))
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io("rewrite index", &index_path, e))?;
        }
    }
    sync_dir(&dir)?;
    outcome.offsets_dropped = plan.offsets_dropped;
    outcome.records_dropped = plan.records_dropped;
    Ok(outcome)
}

/// Accept the loss a producer snapshot past the log end reports (`check`
/// reports it on the snapshot file; see [`plan_snapshot_set_aside`](super::plan_snapshot_set_aside)):
/// move every producer snapshot of the partition past its log end into
/// `backup_dir`, fsync'd. The records between the log end and the snapshot
/// are gone already; afterwards the store opens at the log end.
pub fn set_aside_snapshots(data_dir: &Path, snapshot: &Path, backup_dir: &Path) -> Result<RepairOutcome> {
    require_store(data_dir)?;
    let _lock = lock(data_dir)?;
    let plan = super::plan::plan_snapshot_locked(data_dir, snapshot)?;
    fs::create_dir_all(backup_dir).map_err(|e| Error::io("create backup dir", backup_dir, e))?;
    let mut outcome = RepairOutcome {
        offsets_dropped: plan.offsets_dropped,
        records_dropped: plan.records_dropped,
        ..RepairOutcome::new(backup_dir)
    };
    for removal in &plan.removals {
        let name = removal.file.file_name().map(PathBuf::from).unwrap_or_default();
        move_file(&removal.file, &backup_dir.join(name))?;
        outcome.moved.push(removal.file.clone());
    }
    sync_dir(backup_dir)?;
    sync_dir(&plan.partition_dir)?;
    Ok(outcome)
}

/// Back up and remove the index of `segment`; the engine rebuilds it from the
/// log on the next open (by a strict scan).
pub fn repair_index(data_dir: &Path, segment: &Path, backup_dir: &Path) -> Result<RepairOutcome> {
    require_store(data_dir)?;
    let _lock = lock(data_dir)?;
    let (dir, base, _) = locate_segment(data_dir, segment)?;
    let index_path = dir.join(index_name(base));
    fs::create_dir_all(backup_dir).map_err(|e| Error::io("create backup dir", backup_dir, e))?;
    let mut outcome = RepairOutcome::new(backup_dir);
    if index_path.exists() {
        move_file(&index_path, &backup_dir.join(index_name(base)))?;
        sync_dir(backup_dir)?;
        sync_dir(&dir)?;
        outcome.moved.push(index_path.clone());
        outcome.index_removed.push(index_path);
    }
    Ok(outcome)
}
