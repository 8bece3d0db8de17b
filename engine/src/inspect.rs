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
//! server or another process holds it) and read files with `std::fs`
//! directly, not through [`crate::io::Storage`]. The classification of
//! an invalid batch follows recovery (design/durability.md, "Recovery"): in
//! the last segment, an invalid batch that no later valid batch claims was
//! already fsync'd is a torn tail that the next open truncates by itself;
//! anything else is corruption.

use crate::config::TopicConfig;
use crate::error::{CorruptionKind, Error, Result};
use crate::io::{FsStorage, OpenMode, ReadOnlyStorage, Storage, StorageFile};
use crate::layout::{partition_dir_name, FORMAT_FILE, START_OFFSET_FILE, TOPICS_DIR, TOPIC_META, UNFINISHED_SUFFIXES};
use crate::log::batch::{self, BatchHeader, StoredRecord, HEADER_SIZE};
use crate::log::index::{IndexEntry, ENTRY_SIZE};
use crate::log::recovery::TailDecision;
use crate::log::scan::{walk, Invalid, Visit};
use crate::log::segment::{index_name, log_name, parse_log_name};
use std::any::Any;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
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
fn lock(path: &Path) -> Result<Box<dyn Any + Send + Sync>> {
    FsStorage
        .lock_dir(path)
        .map_err(|e| Error::io("lock data dir", path, e))?
        .map_err(|pid| Error::Locked {
            path: path.to_path_buf(),
            pid,
        })
}

/// Hold the directory lock shared for the duration of a check, without
/// writing the lock file: a check changes nothing in the data directory.
/// A writer holding it is not an error ([`ReadLock::Live`](crate::io::ReadLock)).
fn lock_without_writing(path: &Path) -> Result<crate::io::ReadLock> {
    crate::io::lock_dir_shared(path).map_err(|e| Error::io("lock data dir", path, e))
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

fn require_store(path: &Path) -> Result<()> {
    let format = path.join(FORMAT_FILE);
    if !format.is_file() {
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
    path: &Path,
    base_offset: u64,
    decode: bool,
    progress: &mut dyn FnMut(u64),
    visit: &mut dyn FnMut(u64, &BatchHeader, Vec<StoredRecord>) -> bool,
) -> Result<SegmentScan> {
    let file = open_segment(path)?;
    let file_bytes = file.len().map_err(|e| Error::io("stat segment", path, e))?;
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

/// A segment file opened for reading through the storage seam: a
/// [`ReadOnlyStorage`] opens it read-only (never through a symbolic link)
/// and writes nothing.
fn open_segment(path: &Path) -> Result<Arc<dyn StorageFile>> {
    ReadOnlyStorage::default()
        .open(path, OpenMode::Existing)
        .map_err(|e| Error::io("open segment", path, e))
}

/// A visitor of [`valid_batches_after`]: position, header, the batch's bytes;
/// returns false to stop.
pub(super) type BatchVisitor<'a> = crate::log::scan::BatchVisitor<'a>;

/// Visit every CRC-valid batch found by its magic after `position` (in file
/// order), with its position and bytes; `visit` returns false to stop: the
/// repair plan's view of what lies past damage (`plan.rs`), by the search
/// recovery's row 4 uses (`log::scan::valid_batches_after`).
pub(super) fn valid_batches_after(
    path: &Path,
    position: u64,
    file_bytes: u64,
    visit: &mut BatchVisitor<'_>,
) -> Result<()> {
    let file = open_segment(path)?;
    crate::log::scan::valid_batches_after(file.as_ref(), path, position, file_bytes, visit)
}

/// What recovery decides about the invalid batch at `position` of the last
/// segment `path` (`log::recovery::decide_tail`, design/durability.md
/// "Recovery" rows 2 to 5); `acknowledged_end` is the producer snapshots'
/// claim past the valid batches (row 4b), if any.
fn decide_tail(
    path: &Path,
    position: u64,
    expected_offset: u64,
    file_bytes: u64,
    acknowledged_end: Option<u64>,
) -> Result<TailDecision> {
    let file = open_segment(path)?;
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

fn list_names(dir: &Path) -> Result<Vec<String>> {
    FsStorage.list_dir(dir).map_err(|e| Error::io("list directory", dir, e))
}

fn read_small(path: &Path) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut bytes = Vec::new();
    file.take(METADATA_BYTES_MAX)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(bytes)
}

mod check;
mod metadata;
mod plan;
mod repair;
mod transactions;

pub use check::{check_dir, check_dir_with_progress};
pub use metadata::{is_repairable_metadata, repair_metadata};
pub use plan::{
    committed_offsets, plan_segment_repair, plan_snapshot_set_aside, AffectedConsumer, ConsumerEffect, ConsumerKind,
    PlannedRemoval, RepairPlan,
};
pub use repair::{repair_index, repair_segment, set_aside_snapshots, RepairOutcome};
pub use transactions::forget_transactions;

#[cfg(test)]
mod tests;
