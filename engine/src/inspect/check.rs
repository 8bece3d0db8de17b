//! `check_dir`: verify every file of a data directory, closed or live.

use super::*;

/// Verify a data directory: every topic's metadata, every segment's batches
/// and index, and offset continuity between segments. Takes the directory
/// lock shared (other readers go on; no writer opens meanwhile). A directory
/// a writer holds open (a server, an embedding process) is checked live,
/// without the lock ([`CheckReport::live`]): a pass that finds a problem is
/// run again, up to [`crate::READ_ONLY_LIVE_ATTEMPTS`] passes in all, since a
/// race with the writer (a segment removed by retention meanwhile) does not
/// repeat and damage does.
pub fn check_dir(path: &Path) -> Result<CheckReport> {
    check_dir_with_progress(path, &mut |_| {})
}

/// [`check_dir`], reporting bytes scanned as it goes (for a progress bar).
pub fn check_dir_with_progress(path: &Path, progress: &mut dyn FnMut(Progress)) -> Result<CheckReport> {
    require_store(&ReadOnlyStorage::default(), path)?;
    let lock = lock_without_writing(path)?;
    let live = lock.is_live();
    let mut pass = 1;
    loop {
        let result = check_once(&ReadOnlyStorage::default(), path, live, progress);
        let clean = matches!(&result, Ok(report) if report.problems.is_empty());
        if clean || !live || pass >= crate::READ_ONLY_LIVE_ATTEMPTS {
            return result;
        }
        pass += 1;
    }
}

/// One pass of the check through `storage` (the lock is the caller's).
pub(super) fn check_once(
    storage: &dyn Storage,
    path: &Path,
    live: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckReport> {
    let mut report = CheckReport {
        path: path.to_path_buf(),
        live,
        ..CheckReport::default()
    };
    super::metadata::check_store_files(storage, path, &mut report)?;
    let partitions = list_partitions(storage, path, &mut report)?;
    let mut bytes_total = 0u64;
    for partition in &partitions {
        for (_, log) in &partition.segments {
            bytes_total += file_len(storage, log);
        }
    }
    let mut bytes_done = 0u64;
    progress(Progress {
        bytes_done,
        bytes_total,
    });
    for partition in &partitions {
        check_partition(storage, partition, live, &mut report, &mut |n| {
            bytes_done += n;
            progress(Progress {
                bytes_done,
                bytes_total,
            });
        })?;
    }
    transactions::check_transactions(storage, path, &mut report)?;
    super::deletes::check_interrupted_deletes(storage, path, &mut report)?;
    Ok(report)
}

struct PartitionFiles {
    dir: PathBuf,
    /// (base offset, log path), sorted by base offset.
    segments: Vec<(u64, PathBuf)>,
}

fn list_partitions(storage: &dyn Storage, path: &Path, report: &mut CheckReport) -> Result<Vec<PartitionFiles>> {
    let topics_dir = path.join(TOPICS_DIR);
    let mut partitions = Vec::new();
    if !is_dir(storage, &topics_dir)? {
        return Ok(partitions);
    }
    for name in list_names(storage, &topics_dir)? {
        if UNFINISHED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let dir = topics_dir.join(&name);
        if !is_dir(storage, &dir)? {
            continue;
        }
        report.topics += 1;
        let topic = topic_partitions(storage, &dir, report)?;
        for p in 0..topic.count {
            let pdir = dir.join(partition_dir_name(p));
            report.partitions += 1;
            if !is_dir(storage, &pdir)? {
                report.problems.push(Problem {
                    path: pdir,
                    position: 0,
                    kind: CorruptionKind::BadMetadata,
                    severity: Severity::Corruption,
                    detail: format!(
                        "partition directory missing ({} {} partitions)",
                        topic.source, topic.count
                    ),
                });
                continue;
            }
            check_start_offset(storage, &pdir, report);
            super::metadata::check_snapshots(storage, &pdir, report)?;
            let mut segments: Vec<(u64, PathBuf)> = list_names(storage, &pdir)?
                .iter()
                .filter_map(|n| parse_log_name(n).map(|base| (base, pdir.join(n))))
                .collect();
            segments.sort_unstable_by_key(|(base, _)| *base);
            partitions.push(PartitionFiles { dir: pdir, segments });
        }
    }
    Ok(partitions)
}

/// The partitions of a topic `check` looks into, and what says there are
/// that many.
struct TopicPartitions {
    count: u32,
    /// `topic.meta says` or, when it cannot be believed, `the directories
    /// hold` (what `repair` rebuilds it with).
    source: &'static str,
}

/// Check a topic's `topic.meta` (open refuses the whole topic when it is
/// damaged) and say which partitions to look into: those it names, or, when
/// it is unreadable or names fewer than exist, every partition directory,
/// so that each partition's own damage is reported now and not only after
/// the `topic.meta` is repaired (a damaged file is reported at the scope
/// that holds it: the topic for `topic.meta`, the partition for its files).
fn topic_partitions(storage: &dyn Storage, dir: &Path, report: &mut CheckReport) -> Result<TopicPartitions> {
    let meta_path = dir.join(TOPIC_META);
    match super::metadata::topic_meta_verdict(storage, &meta_path)? {
        (Ok(count), _) => Ok(TopicPartitions {
            count,
            source: "topic.meta says",
        }),
        (Err(detail), on_disk) => {
            report.problems.push(Problem {
                path: meta_path,
                position: 0,
                kind: CorruptionKind::BadMetadata,
                severity: Severity::Corruption,
                detail,
            });
            Ok(TopicPartitions {
                count: on_disk,
                source: "the directories hold",
            })
        }
    }
}

fn check_start_offset(storage: &dyn Storage, dir: &Path, report: &mut CheckReport) {
    let path = dir.join(START_OFFSET_FILE);
    if !storage.exists(&path) {
        return;
    }
    let ok = read_small(storage, &path)
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

#[expect(clippy::too_many_lines, reason = "debt: one partition's check, step by step")]
fn check_partition(
    storage: &dyn Storage,
    partition: &PartitionFiles,
    live: bool,
    report: &mut CheckReport,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut expected_base: Option<u64> = None;
    let count = partition.segments.len();
    for (i, (base, log)) in partition.segments.iter().enumerate() {
        let is_last = i + 1 == count;
        report.segments += 1;
        if let Some(expected) = expected_base {
            let hole = *base > expected && storage.exists(&log.with_file_name(crate::log::segment::hole_name(*base)));
            if hole {
                report.holes.push(super::Hole {
                    marker: log.with_file_name(crate::log::segment::hole_name(*base)),
                    from: expected,
                    to: *base,
                });
            } else if *base != expected {
                let remedy = if *base > expected {
                    "; a missing segment: `millrace repair --accept-gap` keeps every later segment and records the gap"
                } else {
                    ""
                };
                report.problems.push(Problem {
                    path: log.clone(),
                    position: 0,
                    kind: CorruptionKind::OffsetGap,
                    severity: Severity::Corruption,
                    detail: format!("segment starts at offset {base} but the previous one ends at {expected}{remedy}"),
                });
            }
        }
        // Read before the log: a live writer appends to the log before its
        // index and snapshots only a durable log end, so whatever these say
        // is in the log as scanned below.
        let index = read_index_file(storage, &partition.dir.join(index_name(*base)), log)?;
        // A producer snapshot past the log end proves the records below it
        // were acknowledged durable (recovery row 4b).
        let claimed_end = if is_last {
            acknowledged_end_past(storage, &partition.dir, *base)?
        } else {
            None
        };
        let mut boundaries: Vec<IndexEntry> = Vec::new();
        let mut running_max = i64::MIN;
        let scan = scan_log(storage, log, *base, false, progress, &mut |position, header, _| {
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
        let claimed = claimed_end.filter(|claimed| *claimed > scan.next_offset);
        // In the last segment, what the next open decides (the same code):
        // the zeros an `Always` partition writes ahead of its data (design/
        // format.md) are not a problem, the next open cuts them.
        let decision = match &scan.invalid {
            Some(bad) if is_last => Some(decide_tail(
                storage,
                log,
                bad.position,
                scan.next_offset,
                scan.file_bytes,
                claimed,
            )?),
            _ => None,
        };
        let preallocated = decision == Some(TailDecision::Preallocated);
        if let Some(bad) = scan.invalid.as_ref().filter(|_| !preallocated) {
            let durable = !matches!(decision, Some(TailDecision::Torn));
            let severity = if durable {
                Severity::Corruption
            } else {
                Severity::Recoverable
            };
            // Live, the end of the last segment may be a batch being written.
            let in_progress = live && !durable;
            let detail = if durable {
                if let Some(claimed) = claimed {
                    format!(
                        "{}; records {}..{claimed} were acknowledged (a producer snapshot says the log was \
                         fsync'd to offset {claimed}): acknowledged records damaged, not a torn tail",
                        bad.detail, scan.next_offset
                    )
                } else if is_last {
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
            if !in_progress {
                report.problems.push(Problem {
                    path: log.clone(),
                    position: bad.position,
                    kind: bad.kind,
                    severity,
                    detail,
                });
            }
            if durable {
                // Offsets after corruption are unknown: do not report follow-on gaps.
                expected_base = None;
            }
        }
        if let (Some(claimed), None) = (claimed, &scan.invalid) {
            report_lost_end(&partition.dir, scan.next_offset, claimed, report);
        }
        check_index(partition, *base, index, &scan, &boundaries, is_last, report);
    }
    if partition.segments.is_empty() {
        if let Some(claimed) = acknowledged_end_past(storage, &partition.dir, 0)? {
            report_lost_end(&partition.dir, 0, claimed, report);
        }
    }
    Ok(())
}

/// The largest offset past `log_end` that a valid producer snapshot of `dir`
/// claims was fsync'd (`producer_snapshot::durable_end_past`), read without
/// modifying anything.
fn acknowledged_end_past(storage: &dyn Storage, dir: &Path, log_end: u64) -> Result<Option<u64>> {
    crate::producer::snapshot::durable_end_past(storage, dir, log_end)
}

/// The log ends cleanly at `log_end`, but a producer snapshot says it was
/// fsync'd to `claimed`: records were lost (a truncated or deleted segment).
/// Reported on the snapshot file, which `repair` sets aside to accept the loss.
fn report_lost_end(dir: &Path, log_end: u64, claimed: u64, report: &mut CheckReport) {
    report.problems.push(Problem {
        path: dir.join(format!("{claimed:020}.producers")),
        position: 0,
        kind: CorruptionKind::OffsetGap,
        severity: Severity::Corruption,
        detail: format!(
            "acknowledged records lost: this producer snapshot says the log was fsync'd to offset {claimed}, \
             but it ends at {log_end} ({} records missing: a truncated or deleted segment); the store refuses \
             to open until `millrace repair --yes` sets the snapshot aside",
            claimed - log_end
        ),
    });
}

/// The bytes of an index file, `None` if it does not exist; at most one
/// entry per batch header that fits in `log` (and a partial entry), as
/// recovery reads it (more is never a valid index).
fn read_index_file(storage: &dyn Storage, path: &Path, log: &Path) -> Result<Option<Vec<u8>>> {
    let file = match storage.open(path, OpenMode::Existing) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at("read index", path),
    };
    let entries_max = file_len(storage, log) / HEADER_SIZE as u64 + 2;
    read_prefix(file.as_ref(), path, (entries_max + 1) * ENTRY_SIZE as u64).map(Some)
}

fn check_index(
    partition: &PartitionFiles,
    base: u64,
    index: Option<Vec<u8>>,
    scan: &SegmentScan,
    boundaries: &[IndexEntry],
    is_last: bool,
    report: &mut CheckReport,
) {
    let path = partition.dir.join(index_name(base));
    let bytes = match index {
        Some(b) => b,
        None => {
            report.problems.push(Problem {
                path,
                position: 0,
                kind: CorruptionKind::BadIndex,
                severity: Severity::Recoverable,
                detail: "index file missing; rebuilt from the log on next open".into(),
            });
            return;
        }
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
}
