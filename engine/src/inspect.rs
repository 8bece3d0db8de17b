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
    pub path: PathBuf,
    pub position: u64,
    pub kind: CorruptionKind,
    pub severity: Severity,
    pub detail: String,
}

/// The result of [`check_dir`].
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub path: PathBuf,
    pub topics: u64,
    pub partitions: u64,
    pub segments: u64,
    pub batches: u64,
    pub records: u64,
    /// Bytes of segment files read.
    pub bytes: u64,
    pub index_entries: u64,
    pub problems: Vec<Problem>,
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
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Why a batch at a position is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBatch {
    pub position: u64,
    pub kind: CorruptionKind,
    pub detail: String,
}

/// One batch as visited by [`dump_segment`].
#[derive(Debug, Clone)]
pub struct BatchDump {
    pub position: u64,
    pub header: BatchHeader,
    pub records: Vec<StoredRecord>,
}

/// Summary of one segment file scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    pub path: PathBuf,
    pub base_offset: u64,
    pub file_bytes: u64,
    /// End of the last valid batch.
    pub valid_bytes: u64,
    /// Offset just past the last valid batch.
    pub next_offset: u64,
    pub batches: u64,
    pub records: u64,
    /// Largest record timestamp of the valid batches (i64::MIN if none).
    pub max_timestamp_ms: i64,
    /// The first invalid batch, if the scan stopped before the end of the file.
    pub invalid: Option<InvalidBatch>,
}

/// Hold the directory lock for the duration of an inspection.
fn lock(path: &Path) -> Result<Box<dyn Any + Send + Sync>> {
    FsStorage
        .lock_dir(path)
        .map_err(|e| Error::io("lock data dir", path, e))?
        .map_err(|pid| Error::Locked {
            path: path.to_path_buf(),
            pid,
        })
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

/// Verify a closed data directory: every topic's metadata, every segment's
/// batches and index, and offset continuity between segments. Takes the
/// directory lock; fails with [`Error::Locked`] if a server holds it.
pub fn check_dir(path: &Path) -> Result<CheckReport> {
    check_dir_with_progress(path, &mut |_| {})
}

/// [`check_dir`], reporting bytes scanned as it goes (for a progress bar).
pub fn check_dir_with_progress(path: &Path, progress: &mut dyn FnMut(Progress)) -> Result<CheckReport> {
    require_store(path)?;
    let _lock = lock(path)?;
    let mut report = CheckReport {
        path: path.to_path_buf(),
        ..CheckReport::default()
    };
    let partitions = list_partitions(path, &mut report)?;
    let mut bytes_total = 0u64;
    for partition in &partitions {
        for (_, log) in &partition.segments {
            bytes_total += fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        }
    }
    let mut bytes_done = 0u64;
    progress(Progress {
        bytes_done,
        bytes_total,
    });
    for partition in &partitions {
        check_partition(partition, &mut report, &mut |n| {
            bytes_done += n;
            progress(Progress {
                bytes_done,
                bytes_total,
            });
        })?;
    }
    Ok(report)
}

struct PartitionFiles {
    dir: PathBuf,
    /// (base offset, log path), sorted by base offset.
    segments: Vec<(u64, PathBuf)>,
}

fn list_names(dir: &Path) -> Result<Vec<String>> {
    FsStorage.list_dir(dir).map_err(|e| Error::io("list directory", dir, e))
}

fn list_partitions(path: &Path, report: &mut CheckReport) -> Result<Vec<PartitionFiles>> {
    let topics_dir = path.join(TOPICS_DIR);
    let mut partitions = Vec::new();
    if !topics_dir.is_dir() {
        return Ok(partitions);
    }
    for name in list_names(&topics_dir)? {
        if UNFINISHED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let dir = topics_dir.join(&name);
        if !dir.is_dir() {
            continue;
        }
        report.topics += 1;
        let meta_path = dir.join(TOPIC_META);
        let config = match read_small(&meta_path).and_then(|bytes| TopicConfig::decode(&bytes, &meta_path)) {
            Ok(config) => config,
            Err(e) => {
                report.problems.push(Problem {
                    path: meta_path,
                    position: 0,
                    kind: CorruptionKind::BadMetadata,
                    severity: Severity::Corruption,
                    detail: format!("topic metadata unreadable: {e}"),
                });
                continue;
            }
        };
        for p in 0..config.partitions {
            let pdir = dir.join(format!("{p:05}"));
            report.partitions += 1;
            if !pdir.is_dir() {
                report.problems.push(Problem {
                    path: pdir,
                    position: 0,
                    kind: CorruptionKind::BadMetadata,
                    severity: Severity::Corruption,
                    detail: format!(
                        "partition directory missing (topic.meta says {} partitions)",
                        config.partitions
                    ),
                });
                continue;
            }
            check_start_offset(&pdir, report);
            let mut segments: Vec<(u64, PathBuf)> = list_names(&pdir)?
                .iter()
                .filter_map(|n| parse_log_name(n).map(|base| (base, pdir.join(n))))
                .collect();
            segments.sort_unstable_by_key(|(base, _)| *base);
            partitions.push(PartitionFiles { dir: pdir, segments });
        }
    }
    Ok(partitions)
}

fn read_small(path: &Path) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut bytes = Vec::new();
    file.take(METADATA_BYTES_MAX)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(bytes)
}

fn check_start_offset(dir: &Path, report: &mut CheckReport) {
    let path = dir.join(START_OFFSET_FILE);
    if !path.exists() {
        return;
    }
    let ok = read_small(&path)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|t| t.trim().parse::<u64>().is_ok());
    if !ok {
        report.problems.push(Problem {
            path,
            position: 0,
            kind: CorruptionKind::BadMetadata,
            severity: Severity::Corruption,
            detail: "start offset file does not hold a number".into(),
        });
    }
}

fn check_partition(partition: &PartitionFiles, report: &mut CheckReport, progress: &mut dyn FnMut(u64)) -> Result<()> {
    let mut expected_base: Option<u64> = None;
    let count = partition.segments.len();
    for (i, (base, log)) in partition.segments.iter().enumerate() {
        let is_last = i + 1 == count;
        report.segments += 1;
        if let Some(expected) = expected_base {
            if *base != expected {
                report.problems.push(Problem {
                    path: log.clone(),
                    position: 0,
                    kind: CorruptionKind::OffsetGap,
                    severity: Severity::Corruption,
                    detail: format!("segment starts at offset {base} but the previous one ends at {expected}"),
                });
            }
        }
        let mut boundaries: Vec<IndexEntry> = Vec::new();
        let mut running_max = i64::MIN;
        let scan = scan_log(log, *base, false, progress, &mut |position, header, _| {
            boundaries.push(IndexEntry {
                relative_offset: (header.base_offset - *base) as u32,
                position: position as u32,
                max_timestamp_before_ms: running_max,
            });
            running_max = running_max.max(header.max_timestamp_ms);
            true
        })?;
        report.batches += scan.batches;
        report.records += scan.records;
        report.bytes += scan.file_bytes;
        progress(scan.file_bytes - scan.valid_bytes);
        expected_base = Some(scan.next_offset);
        if let Some(bad) = &scan.invalid {
            let durable = !is_last || durable_batch_after(log, bad.position, scan.next_offset, scan.file_bytes)?;
            let severity = if durable {
                Severity::Corruption
            } else {
                Severity::Recoverable
            };
            let detail = if durable {
                if is_last {
                    format!("{}; later batches were written after it was fsync'd", bad.detail)
                } else {
                    format!("{}; in a sealed segment", bad.detail)
                }
            } else {
                format!(
                    "{}; torn tail of the last segment ({} bytes never acknowledged), truncated on next open",
                    bad.detail,
                    scan.file_bytes - bad.position
                )
            };
            report.problems.push(Problem {
                path: log.clone(),
                position: bad.position,
                kind: bad.kind,
                severity,
                detail,
            });
            if durable {
                // Offsets after corruption are unknown: do not report follow-on gaps.
                expected_base = None;
            }
        }
        check_index(partition, *base, &scan, &boundaries, is_last, report)?;
    }
    Ok(())
}

fn check_index(
    partition: &PartitionFiles,
    base: u64,
    scan: &SegmentScan,
    boundaries: &[IndexEntry],
    is_last: bool,
    report: &mut CheckReport,
) -> Result<()> {
    let path = partition.dir.join(index_name(base));
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.problems.push(Problem {
                path,
                position: 0,
                kind: CorruptionKind::BadIndex,
                severity: Severity::Recoverable,
                detail: "index file missing; rebuilt from the log on next open".into(),
            });
            return Ok(());
        }
        Err(e) => return Err(Error::io("read index", &path, e)),
    };
    let entries: Vec<IndexEntry> = bytes
        .chunks_exact(ENTRY_SIZE)
        .map(|chunk| IndexEntry::decode_all(chunk, u64::MAX))
        .filter_map(|mut v| v.pop())
        .collect();
    report.index_entries += entries.len() as u64;
    let end_entry = IndexEntry {
        relative_offset: (scan.next_offset - base) as u32,
        position: scan.valid_bytes as u32,
        max_timestamp_before_ms: scan.max_timestamp_ms,
    };
    // A sealed segment's index is trusted when complete (ends at the log's length).
    let complete = entries
        .last()
        .is_some_and(|e| u64::from(e.position) == scan.file_bytes && scan.file_bytes > 0);
    let mut previous: Option<IndexEntry> = None;
    for (i, entry) in entries.iter().enumerate() {
        let at = (i * ENTRY_SIZE) as u64;
        let matches = boundaries
            .binary_search_by_key(&entry.position, |b| b.position)
            .ok()
            .and_then(|k| boundaries.get(k))
            == Some(entry)
            || (*entry == end_entry && scan.invalid.is_none());
        let monotonic = previous.is_none_or(|p| {
            entry.position > p.position
                && entry.relative_offset >= p.relative_offset
                && entry.max_timestamp_before_ms >= p.max_timestamp_before_ms
        });
        previous = Some(*entry);
        if matches && monotonic {
            continue;
        }
        if scan.invalid.is_some() && u64::from(entry.position) >= scan.valid_bytes {
            // Past the first invalid batch nothing can be verified; that
            // problem is reported already and its repair drops this index.
            break;
        }
        let within_valid = u64::from(entry.position) < scan.valid_bytes;
        let trusted = if is_last { within_valid && monotonic } else { complete };
        let severity = if trusted {
            Severity::Corruption
        } else {
            Severity::Recoverable
        };
        report.problems.push(Problem {
            path: path.clone(),
            position: at,
            kind: CorruptionKind::BadIndex,
            severity,
            detail: format!(
                "index entry {i} (offset +{}, log position {}) does not match a batch boundary of {}{}",
                entry.relative_offset,
                entry.position,
                log_name(base),
                if trusted {
                    ""
                } else {
                    "; the engine discards it on open"
                }
            ),
        });
        // One report per index is enough to act on.
        break;
    }
    if bytes.len() % ENTRY_SIZE != 0 {
        report.problems.push(Problem {
            path: path.clone(),
            position: (bytes.len() - bytes.len() % ENTRY_SIZE) as u64,
            kind: CorruptionKind::BadIndex,
            severity: Severity::Recoverable,
            detail: "partial index entry at the end; discarded on open".into(),
        });
    }
    if !is_last && !complete && scan.invalid.is_none() {
        report.problems.push(Problem {
            path,
            position: (entries.len() * ENTRY_SIZE) as u64,
            kind: CorruptionKind::BadIndex,
            severity: Severity::Recoverable,
            detail: "sealed segment's index has no end entry; rebuilt from the log on next open".into(),
        });
    }
    Ok(())
}

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairOutcome {
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
}

/// The segment's place in its partition: (partition dir, base offset, all bases sorted).
fn locate_segment(data_dir: &Path, segment: &Path) -> Result<(PathBuf, u64, Vec<u64>)> {
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
    let dir = segment.parent().ok_or_else(not_segment)?.to_path_buf();
    let topics_dir = data_dir.join(TOPICS_DIR);
    let canonical = |p: &Path| fs::canonicalize(p).map_err(|e| Error::io("resolve path", p, e));
    let inside = canonical(&dir)?
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .is_some_and(|t| canonical(&topics_dir).is_ok_and(|d| d == t));
    if !inside || !segment.is_file() {
        return Err(not_segment());
    }
    let mut bases: Vec<u64> = list_names(&dir)?.iter().filter_map(|n| parse_log_name(n)).collect();
    bases.sort_unstable();
    Ok((dir, base, bases))
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
    let (dir, base, bases) = locate_segment(data_dir, segment)?;
    // Where does this segment have to start? (None for the first.)
    let mut expected: Option<u64> = None;
    for b in bases.iter().take_while(|b| **b < base) {
        let scan = scan_log(&dir.join(log_name(*b)), *b, false, &mut |_| {}, &mut |_, _, _| true)?;
        expected = if scan.invalid.is_some() {
            None
        } else {
            Some(scan.next_offset)
        };
        if scan.invalid.is_some() {
            return Err(Error::invalid(
                "position",
                format!(
                    "an earlier segment of this partition, {}, is itself invalid at byte {}; repair that one first",
                    scan.path.display(),
                    scan.invalid.map_or(0, |i| i.position)
                ),
            ));
        }
    }
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
    let gap_at_start = expected.is_some_and(|e| e != base);
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
    fs::create_dir_all(backup_dir).map_err(|e| Error::io("create backup dir", backup_dir, e))?;
    let mut outcome = RepairOutcome {
        backup_dir: backup_dir.to_path_buf(),
        truncated: None,
        copied: Vec::new(),
        moved: Vec::new(),
        index_removed: Vec::new(),
        offsets_dropped: None,
    };
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
    let mut last_dropped_end = scan.next_offset;
    for b in bases.iter().filter(|b| **b > base) {
        let later = scan_log(&dir.join(log_name(*b)), *b, false, &mut |_| {}, &mut |_, _, _| true)?;
        last_dropped_end = last_dropped_end.max(later.next_offset);
    }
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
    let kept_end = if move_whole { base } else { scan.next_offset };
    if last_dropped_end > kept_end || scan.invalid.is_some() {
        outcome.offsets_dropped = Some((kept_end, last_dropped_end.max(kept_end)));
    }
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
    let mut outcome = RepairOutcome {
        backup_dir: backup_dir.to_path_buf(),
        truncated: None,
        copied: Vec::new(),
        moved: Vec::new(),
        index_removed: Vec::new(),
        offsets_dropped: None,
    };
    if index_path.exists() {
        move_file(&index_path, &backup_dir.join(index_name(base)))?;
        sync_dir(backup_dir)?;
        sync_dir(&dir)?;
        outcome.moved.push(index_path.clone());
        outcome.index_removed.push(index_path);
    }
    Ok(outcome)
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
