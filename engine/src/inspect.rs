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
//! directly, not through [`crate::storage::Storage`]. The classification of
//! an invalid batch follows recovery (design/durability.md, "Recovery"): in
//! the last segment, an invalid batch that no later valid batch claims was
//! already fsync'd is a torn tail that the next open truncates by itself;
//! anything else is corruption.

use crate::batch::{self, BatchHeader, StoredRecord, BATCH_MAGIC, HEADER_SIZE};
use crate::config::TopicConfig;
use crate::error::{CorruptionKind, Error, Result};
use crate::index::{IndexEntry, ENTRY_SIZE};
use crate::segment::{index_name, log_name, parse_log_name};
use crate::storage::{FsStorage, Storage};
use std::any::Any;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

// Directory layout; must match store.rs (a test below opens a real store).
const FORMAT_FILE: &str = "MILLRACE";
const TOPICS_DIR: &str = "topics";
const TOPIC_META: &str = "topic.meta";
const START_OFFSET_FILE: &str = "start.offset";
const UNFINISHED_SUFFIXES: [&str; 2] = [".creating", ".deleting"];
/// Read-ahead of the sequential segment scan.
const SCAN_BUFFER_BYTES: usize = 1024 * 1024;
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
/// A writer holding it is not an error ([`ReadLock::Live`](crate::storage::ReadLock)).
fn lock_without_writing(path: &Path) -> Result<crate::storage::ReadLock> {
    crate::storage::lock_dir_shared(path).map_err(|e| Error::io("lock data dir", path, e))
}

/// [`lock_without_writing`], refusing ([`Error::Locked`]) a directory a
/// writer holds: a repair plan is for a repair, which needs the writer gone.
fn lock_without_writer(path: &Path) -> Result<crate::storage::ReadLock> {
    match lock_without_writing(path)? {
        crate::storage::ReadLock::Live { writer_pid } => Err(Error::Locked {
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

/// Scan the batches of a segment file from its start, calling `visit` for
/// each valid batch, stopping at the first invalid one. `visit` returns false
/// to stop early.
fn scan_log(
    path: &Path,
    base_offset: u64,
    decode: bool,
    progress: &mut dyn FnMut(u64),
    visit: &mut dyn FnMut(u64, &BatchHeader, Vec<StoredRecord>) -> bool,
) -> Result<SegmentScan> {
    let file = File::open(path).map_err(|e| Error::io("open segment", path, e))?;
    let file_bytes = file.metadata().map_err(|e| Error::io("stat segment", path, e))?.len();
    let mut reader = BufReader::with_capacity(SCAN_BUFFER_BYTES, file);
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
    let mut buffer: Vec<u8> = Vec::new();
    let mut position = 0u64;
    while position < file_bytes {
        let invalid = |kind, detail: String| InvalidBatch { position, kind, detail };
        let remaining = file_bytes - position;
        if remaining < HEADER_SIZE as u64 {
            scan.invalid = Some(invalid(
                CorruptionKind::BadLength,
                format!("{remaining} trailing bytes, shorter than a batch header"),
            ));
            break;
        }
        buffer.resize(HEADER_SIZE, 0);
        reader
            .read_exact(&mut buffer)
            .map_err(|e| Error::io("read segment", path, e))?;
        let header = match BatchHeader::parse(&buffer) {
            Ok(h) => h,
            Err(kind) => {
                scan.invalid = Some(invalid(kind, "batch header does not parse".into()));
                break;
            }
        };
        let length = u64::from(header.length);
        if length > remaining {
            scan.invalid = Some(invalid(
                CorruptionKind::BadLength,
                format!("batch claims {length} bytes but only {remaining} remain in the file"),
            ));
            break;
        }
        buffer.resize(header.length as usize, 0);
        let body = buffer.get_mut(HEADER_SIZE..).unwrap_or_default();
        reader
            .read_exact(body)
            .map_err(|e| Error::io("read segment", path, e))?;
        let header = match batch::verify(&buffer) {
            Ok(h) => h,
            Err(kind) => {
                scan.invalid = Some(invalid(kind, format!("batch of {length} bytes fails its CRC")));
                break;
            }
        };
        if header.base_offset != scan.next_offset {
            scan.invalid = Some(invalid(
                CorruptionKind::OffsetGap,
                format!(
                    "batch base offset {} does not continue the segment (expected {})",
                    header.base_offset, scan.next_offset
                ),
            ));
            break;
        }
        // Records are always checked (a CRC-valid batch may still not parse);
        // they are handed to the visitor only when asked for.
        let records = match batch::decode_records(&buffer, &header) {
            Ok(r) => r,
            Err(kind) => {
                scan.invalid = Some(invalid(kind, "a record inside a CRC-valid batch does not parse".into()));
                break;
            }
        };
        let records = if decode { records } else { Vec::new() };
        let keep_going = visit(position, &header, records);
        scan.batches += 1;
        scan.records += u64::from(header.record_count);
        scan.max_timestamp_ms = scan.max_timestamp_ms.max(header.max_timestamp_ms);
        scan.next_offset = header.next_offset();
        position += length;
        scan.valid_bytes = position;
        progress(length);
        if !keep_going {
            break;
        }
    }
    Ok(scan)
}

/// Is there a CRC-valid batch after `position` whose writer knew the bytes at
/// `position` were already fsync'd? Then the invalid batch there was durable
/// and has been damaged since: corruption, not a torn tail.
///
/// As recovery (`durable_batch_after` in partition.rs, design/durability.md
/// "Recovery" rows 3 and 4): the later batch must also continue the offsets
/// past the bad one, which held at least `expected_offset`; batch-shaped bytes
/// carried inside a torn batch's payload usually do not.
fn durable_batch_after(path: &Path, position: u64, expected_offset: u64, file_bytes: u64) -> Result<bool> {
    const WINDOW: u64 = 1024 * 1024;
    let file = File::open(path).map_err(|e| Error::io("open segment", path, e))?;
    let magic = BATCH_MAGIC.to_le_bytes();
    let mut window_start = position + 1;
    let mut candidate = Vec::new();
    while window_start + HEADER_SIZE as u64 <= file_bytes {
        let len = (file_bytes - window_start).min(WINDOW + 3);
        let mut window = vec![0u8; len as usize];
        file.read_exact_at(&mut window, window_start)
            .map_err(|e| Error::io("read segment", path, e))?;
        for (i, w) in window.windows(4).enumerate() {
            if w != magic {
                continue;
            }
            let at = window_start + i as u64;
            let mut header_bytes = [0u8; HEADER_SIZE];
            if file.read_exact_at(&mut header_bytes, at).is_err() {
                continue;
            }
            let Ok(header) = BatchHeader::parse(&header_bytes) else {
                continue;
            };
            if at + u64::from(header.length) > file_bytes {
                continue;
            }
            candidate.resize(header.length as usize, 0);
            file.read_exact_at(&mut candidate, at)
                .map_err(|e| Error::io("read segment", path, e))?;
            if let Ok(header) = batch::verify(&candidate) {
                if u64::from(header.synced_before) > position && header.base_offset > expected_offset {
                    return Ok(true);
                }
            }
        }
        window_start += WINDOW;
    }
    Ok(false)
}

/// Are the bytes `[from, to)` of `path` all zero, and at most the 1 MiB an
/// `Always` partition preallocates? As recovery's row 3a (`is_zero_tail` in
/// partition.rs).
fn zero_tail(path: &Path, from: u64, to: u64) -> Result<bool> {
    if to.saturating_sub(from) > crate::partition::PREALLOCATE_BYTES {
        return Ok(false);
    }
    let file = File::open(path).map_err(|e| Error::io("open segment", path, e))?;
    let mut tail = vec![0u8; (to - from) as usize];
    file.read_exact_at(&mut tail, from)
        .map_err(|e| Error::io("read segment", path, e))?;
    Ok(tail.iter().all(|&b| b == 0))
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
    committed_offsets, plan_segment_repair, plan_snapshot_set_aside, AffectedConsumer, ConsumerKind, PlannedRemoval,
    RepairPlan,
};
pub use repair::{repair_index, repair_segment, set_aside_snapshots, RepairOutcome};
pub use transactions::forget_transactions;

#[cfg(test)]
mod tests;
