//! Offline inspection of a closed data directory, for `millrace check`,
//! `millrace dump` and `millrace repair`.
//!
//! - [`check_dir`] verifies every batch (header bounds, CRC, records, dense
//!   offsets), every index entry and every metadata file, and reports each
//!   problem with its file and byte position. Nothing is written.
//! - [`dump_segment`] visits the batches of one segment file.
//! - [`repair_segment`] / [`repair_index`] are the explicit, operator-requested
//!   fixes: back up, then truncate at the first invalid batch (moving later
//!   segments of the partition into the backup), or drop an index so the
//!   engine rebuilds it from the log.
//!
//! The directory is closed: these functions take its lock (and refuse if a
//! server or another process holds it). Every read and write goes through
//! [`crate::io::Storage`]: `check`, `dump` and the repair plans through
//! a [`ReadOnlyStorage`], the repairs through [`FsStorage`], and all of them
//! through any storage (the simulated disk of `testing::sim`, a
//! fault-injecting one) with an [`Inspector`]. The classification of
//! an invalid batch follows recovery (design/durability.md, "Recovery"): in
//! the last segment, an invalid batch that no later valid batch claims was
//! already fsync'd is a torn tail that the next open truncates by itself;
//! anything else is corruption.

use crate::config::TopicConfig;
use crate::error::{CorruptionKind, Error, Result};
use crate::io::checked::IoContext;
use crate::io::{FsStorage, OpenMode, ReadOnlyStorage, Storage, StorageFile};
use crate::layout::{partition_dir_name, FORMAT_FILE, START_OFFSET_FILE, TOPICS_DIR, TOPIC_META, UNFINISHED_SUFFIXES};
use crate::log::batch::{self, BatchHeader, StoredRecord, HEADER_SIZE};
use crate::log::index::{IndexEntry, ENTRY_SIZE};
use crate::log::recovery::TailDecision;
use crate::log::scan::{walk, Invalid, Visit};
use crate::log::segment::{index_name, log_name, parse_log_name};
use std::any::Any;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bound on metadata files read whole.
const METADATA_BYTES_MAX: u64 = 64 * 1024;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Something the next open repairs by itself (a torn tail of the last
    /// segment, an incomplete index). Reported, but not corruption.
    Recoverable,
    /// Durable data is damaged: the store refuses to open (or would return
    /// errors on read) until an operator repairs it.
    Corruption,
}

impl Severity {
    /// `recoverable` or `corruption`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Recoverable => "recoverable",
            Severity::Corruption => "corruption",
        }
    }
}

/// One thing found wrong, with its file and byte position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// Byte position in it.
    pub position: u64,
    /// What is wrong.
    pub kind: CorruptionKind,
    /// Whether the next open fixes it by itself.
    pub severity: Severity,
    /// A sentence for the operator.
    pub detail: String,
}

/// The result of [`check_dir`].
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// The data directory checked.
    pub path: PathBuf,
    /// Topics found.
    pub topics: u64,
    /// Partitions found.
    pub partitions: u64,
    /// Segment files checked.
    pub segments: u64,
    /// Valid batches.
    pub batches: u64,
    /// Records in the valid batches.
    pub records: u64,
    /// Bytes of segment files read.
    pub bytes: u64,
    /// Index entries read.
    pub index_entries: u64,
    /// Everything found wrong, in directory order.
    pub problems: Vec<Problem>,
    /// A writer held the directory: it was checked live, without a lock, as
    /// its files were at the time; the tail of a last segment being written
    /// is not reported as torn.
    pub live: bool,
    /// Holes recorded by `<base>.hole` markers (an accepted gap, or offsets a
    /// repair or an open took out of service): not damage, reads skip them.
    pub holes: Vec<Hole>,
}

/// A recorded hole: offsets `[from, to)` of a partition that are gone and
/// never handed out again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    /// The marker file `<to>.hole`.
    pub marker: PathBuf,
    /// The first offset of the hole (the previous segment's end).
    pub from: u64,
    /// The offset reads go on from.
    pub to: u64,
}

impl CheckReport {
    /// Any problem of severity [`Severity::Corruption`].
    pub fn corruption_found(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Corruption)
    }
}

/// Progress of a long check: bytes of segment files scanned so far out of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes scanned so far.
    pub bytes_done: u64,
    /// Bytes to scan in all.
    pub bytes_total: u64,
}

/// Why a batch at a position is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBatch {
    /// Byte position of the batch.
    pub position: u64,
    /// What is wrong with it.
    pub kind: CorruptionKind,
    /// A sentence for the operator.
    pub detail: String,
}

/// One batch as visited by [`dump_segment`].
#[derive(Debug, Clone)]
pub struct BatchDump {
    /// Byte position of the batch in the file.
    pub position: u64,
    /// Its header.
    pub header: BatchHeader,
    /// Its records.
    pub records: Vec<StoredRecord>,
}

/// Summary of one segment file scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// The segment file.
    pub path: PathBuf,
    /// Offset of its first batch (from its name).
    pub base_offset: u64,
    /// Its length in bytes.
    pub file_bytes: u64,
    /// End of the last valid batch.
    pub valid_bytes: u64,
    /// Offset just past the last valid batch.
    pub next_offset: u64,
    /// Valid batches.
    pub batches: u64,
    /// Records in the valid batches.
    pub records: u64,
    /// Largest record timestamp of the valid batches (i64::MIN if none).
    pub max_timestamp_ms: i64,
    /// The first invalid batch, if the scan stopped before the end of the file.
    pub invalid: Option<InvalidBatch>,
}

/// Hold the directory lock for the duration of a repair.
fn lock(storage: &dyn Storage, path: &Path) -> Result<Box<dyn Any + Send + Sync>> {
    storage
        .lock_dir(path)
        .at("lock data dir", path)?
        .map_err(|pid| Error::Locked {
            path: path.to_path_buf(),
            pid,
        })
}

/// Hold the directory lock shared for the duration of a check, without
/// writing the lock file: a check changes nothing in the data directory.
/// A writer holding it is not an error ([`ReadLock::Live`](crate::io::ReadLock)).
fn lock_without_writing(path: &Path) -> Result<crate::io::ReadLock> {
    crate::io::lock_dir_shared(path).at("lock data dir", path)
}

/// [`lock_without_writing`], refusing ([`Error::Locked`]) a directory a
/// writer holds: a repair plan is for a repair, which needs the writer gone.
fn lock_without_writer(path: &Path) -> Result<crate::io::ReadLock> {
    match lock_without_writing(path)? {
        crate::io::ReadLock::Live { writer_pid } => Err(Error::Locked {
            path: path.to_path_buf(),
            pid: writer_pid,
        }),
        lock => Ok(lock),
    }
}

fn require_store(storage: &dyn Storage, path: &Path) -> Result<()> {
    let format = path.join(FORMAT_FILE);
    if !is_file(storage, &format)? {
        return Err(Error::invalid(
            "data directory",
            format!(
                "{} is not a millrace data directory (no {FORMAT_FILE} file); pass the directory given to `--data`",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Scan the batches of a segment file from its start (the walk recovery
/// uses, `log::scan::walk`, through [`ReadOnlyStorage`]), calling `visit`
/// for each valid batch, stopping at the first invalid one. `visit` returns
/// false to stop early.
fn scan_log(
    storage: &dyn Storage,
    path: &Path,
    base_offset: u64,
    decode: bool,
    progress: &mut dyn FnMut(u64),
    visit: &mut dyn FnMut(u64, &BatchHeader, Vec<StoredRecord>) -> bool,
) -> Result<SegmentScan> {
    let file = open_segment(storage, path)?;
    let file_bytes = file.len().at("stat segment", path)?;
    let mut scan = SegmentScan {
        path: path.to_path_buf(),
        base_offset,
        file_bytes,
        valid_bytes: 0,
        next_offset: base_offset,
        batches: 0,
        records: 0,
        max_timestamp_ms: i64::MIN,
        invalid: None,
    };
    let walked = walk(
        file.as_ref(),
        path,
        0,
        base_offset,
        file_bytes,
        |position, header, raw| {
            // Records are always checked (a CRC-valid batch may still not parse);
            // they are handed to the visitor only when asked for.
            let records = match batch::decode_records(raw, header) {
                Ok(records) => records,
                Err(kind) => return Ok(Visit::Refuse(kind)),
            };
            let records = if decode { records } else { Vec::new() };
            let keep_going = visit(position, header, records);
            scan.batches += 1;
            scan.records += u64::from(header.record_count);
            scan.max_timestamp_ms = scan.max_timestamp_ms.max(header.max_timestamp_ms);
            progress(u64::from(header.length));
            Ok(if keep_going { Visit::Continue } else { Visit::Stop })
        },
    )?;
    scan.valid_bytes = walked.valid_end;
    scan.next_offset = walked.next_offset;
    scan.invalid = walked.invalid.map(|bad| InvalidBatch {
        position: bad.position,
        kind: bad.kind,
        detail: match bad.reason {
            Invalid::Short { remaining } => format!("{remaining} trailing bytes, shorter than a batch header"),
            Invalid::Header => "batch header does not parse".into(),
            Invalid::Length { claimed, remaining } => {
                format!("batch claims {claimed} bytes but only {remaining} remain in the file")
            }
            Invalid::Checksum { length } => format!("batch of {length} bytes fails its CRC"),
            Invalid::Offset { found, expected } => {
                format!("batch base offset {found} does not continue the segment (expected {expected})")
            }
            Invalid::Refused => "a record inside a CRC-valid batch does not parse".into(),
        },
    });
    Ok(scan)
}

/// A segment file opened for reading through the storage seam (a
/// [`ReadOnlyStorage`] opens it read-only, never through a symbolic link,
/// and writes nothing).
fn open_segment(storage: &dyn Storage, path: &Path) -> Result<Arc<dyn StorageFile>> {
    storage.open(path, OpenMode::Existing).at("open segment", path)
}

/// A visitor of [`valid_batches_after`]: position, header, the batch's bytes;
/// returns false to stop.
pub(super) type BatchVisitor<'a> = crate::log::scan::BatchVisitor<'a>;

/// Visit every CRC-valid batch found by its magic after `position` (in file
/// order), with its position and bytes; `visit` returns false to stop: the
/// repair plan's view of what lies past damage (`plan.rs`), by the search
/// recovery's row 4 uses (`log::scan::valid_batches_after`).
pub(super) fn valid_batches_after(
    storage: &dyn Storage,
    path: &Path,
    position: u64,
    file_bytes: u64,
    visit: &mut BatchVisitor<'_>,
) -> Result<()> {
    let file = open_segment(storage, path)?;
    crate::log::scan::valid_batches_after(file.as_ref(), path, position, file_bytes, visit)
}

/// What recovery decides about the invalid batch at `position` of the last
/// segment `path` (`log::recovery::decide_tail`, design/durability.md
/// "Recovery" rows 2 to 5); `acknowledged_end` is the producer snapshots'
/// claim past the valid batches (row 4b), if any.
fn decide_tail(
    storage: &dyn Storage,
    path: &Path,
    position: u64,
    expected_offset: u64,
    file_bytes: u64,
    acknowledged_end: Option<u64>,
) -> Result<TailDecision> {
    let file = open_segment(storage, path)?;
    crate::log::recovery::decide_tail(file.as_ref(), path, position, expected_offset, file_bytes, || {
        Ok(acknowledged_end)
    })
}

/// Visit every valid batch of one segment file (records decoded), in order.
/// `visit` returns false to stop. Reads only; takes no lock, so it may be
/// pointed at a copy of a segment or at a live one (whose tail may then look torn).
pub fn dump_segment(path: &Path, mut visit: impl FnMut(BatchDump) -> bool) -> Result<SegmentScan> {
    let base_offset = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_log_name)
        .ok_or_else(|| {
            Error::invalid(
                "segment file",
                format!("{}: expected a segment log file named <20 digits>.log", path.display()),
            )
        })?;
    scan_log(
        &ReadOnlyStorage::default(),
        path,
        base_offset,
        true,
        &mut |_| {},
        &mut |position, header, records| {
            visit(BatchDump {
                position,
                header: *header,
                records,
            })
        },
    )
}

fn list_names(storage: &dyn Storage, dir: &Path) -> Result<Vec<String>> {
    storage.list_dir(dir).at("list directory", dir)
}

/// The first [`METADATA_BYTES_MAX`] bytes of a metadata file (more is
/// damage its decoder reports).
fn read_small(storage: &dyn Storage, path: &Path) -> Result<Vec<u8>> {
    let file = storage.open(path, OpenMode::Existing).at("open", path)?;
    read_prefix(file.as_ref(), path, METADATA_BYTES_MAX)
}

/// The first `max_bytes` bytes of `file` (all of it if shorter).
fn read_prefix(file: &dyn StorageFile, path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let len = file.len().at("stat", path)?.min(max_bytes);
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
    crate::io::read_exact_at(file, &mut bytes, 0).at("read", path)?;
    Ok(bytes)
}

/// Whether `path` is a directory (through the storage: a simulated disk has
/// no `std::fs` view). A failure other than "missing" or "not a directory"
/// is an I/O error, never taken for an answer.
fn is_dir(storage: &dyn Storage, path: &Path) -> Result<bool> {
    match storage.check_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(false),
        Err(e) => Err(e).at("stat", path),
    }
}

/// Whether `path` exists and is not a directory (an I/O failure is an error).
fn is_file(storage: &dyn Storage, path: &Path) -> Result<bool> {
    if is_dir(storage, path)? {
        return Ok(false);
    }
    match storage.open(path, OpenMode::Existing) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).at("open", path),
    }
}

/// A file's length, 0 if it cannot be opened.
fn file_len(storage: &dyn Storage, path: &Path) -> u64 {
    storage
        .open(path, OpenMode::Existing)
        .and_then(|f| f.len())
        .unwrap_or(0)
}

/// Copy `from` to `to` through the storage (a new file, replacing one a
/// crashed repair left) and fsync it: the backup of a file about to change.
/// The caller fsyncs `to`'s directory.
fn copy_synced(storage: &dyn Storage, from: &Path, to: &Path) -> Result<()> {
    /// Bytes copied per read and write.
    const CHUNK_BYTES: u64 = 1 << 20;
    let source = open_segment(storage, from)?;
    let len = source.len().at("stat", from)?;
    let target = storage.open(to, OpenMode::Truncate).at("create backup", to)?;
    let mut buf = vec![0u8; usize::try_from(len.min(CHUNK_BYTES)).unwrap_or(0)];
    let mut at = 0u64;
    while at < len {
        let n = usize::try_from((len - at).min(CHUNK_BYTES)).unwrap_or(0);
        let chunk = buf.get_mut(..n).unwrap_or_default();
        crate::io::read_exact_at(source.as_ref(), chunk, at).at("read", from)?;
        target.write_all_at(chunk, at).at("copy to backup", to)?;
        at += n as u64;
    }
    target.sync_data().at("fsync backup", to)
}

/// Create `dir` (a backup directory) and make it and its parents' entries
/// durable before anything is put in it: a backup whose directory a power
/// cut takes away is no backup.
fn create_dir_durable(storage: &dyn Storage, dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    for ancestor in dir.ancestors() {
        if ancestor.as_os_str().is_empty() || is_dir(storage, ancestor)? {
            break;
        }
        missing.push(ancestor);
    }
    storage.create_dir_all(dir).at("create backup dir", dir)?;
    for created in missing {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(storage, parent)?;
        }
    }
    Ok(())
}

fn sync_dir(storage: &dyn Storage, dir: &Path) -> Result<()> {
    storage.sync_dir(dir).at("fsync dir", dir)
}

mod actions;
mod check;
mod deletes;
mod manifest;
mod metadata;
mod plan;
mod repair;
mod restore;
mod transactions;

pub use actions::{backup_for, repair_actions, Inspector, RepairAction, RepairRun};
pub use check::{check_dir, check_dir_with_progress};
pub use manifest::{
    gap_before, read_audit, read_manifest, unfinished_backup, Journal, ManifestEntry, AUDIT_FILE, MANIFEST_FILE,
};
pub use metadata::{is_repairable_metadata, repair_metadata};
pub use plan::{
    committed_offsets, plan_segment_repair, plan_snapshot_set_aside, AffectedConsumer, ConsumerEffect, ConsumerKind,
    PlannedRemoval, RepairPlan,
};
pub use repair::{repair_index, repair_segment, set_aside_snapshots, RepairOutcome};
pub use restore::{restore, RestoreOutcome};
pub use transactions::forget_transactions;

#[cfg(test)]
mod tests;
