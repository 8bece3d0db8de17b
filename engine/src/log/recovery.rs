//! Recovery of a partition's last segment at open: the decision table of
//! design/durability.md ("Recovery"), a test per row in tests/recovery.rs.

use crate::config::RecoveryMode;
use crate::error::{CorruptionKind, Error, Result};
use crate::io::checked::IoContext;
use crate::io::{read_exact_at, Storage, StorageFile};
use crate::log::batch;
use crate::log::context::LogContext;
use crate::log::index::IndexEntry;
use crate::log::partition::PREALLOCATE_BYTES;
use crate::log::scan::{valid_batches_after, ChunkReader};
use crate::log::segment::{self, Segment};
use crate::sync::Ordering;
use std::path::Path;

/// Recover the last segment of a partition: the decision table of
/// design/durability.md ("Recovery"), a test per row in tests/recovery.rs.
#[expect(
    clippy::too_many_lines,
    reason = "debt: the last segment's recovery walk and its decision table"
)]
pub(crate) fn recover_last(
    storage: &dyn Storage,
    dir: &Path,
    base_offset: u64,
    interval: u32,
    mode: RecoveryMode,
    now: i64,
    context: &LogContext,
) -> Result<Segment> {
    let (log_path, index_path, log, index) = Segment::open_files(storage, dir, base_offset)?;
    let log_len = log.len().at("stat segment", &log_path)?;
    let mut entries = segment::load_index(index.as_ref(), &index_path, log_len)?;
    // Keep index entries up to the last one that points at a real batch boundary.
    let mut start: (u64, u64, i64) = (0, base_offset, i64::MIN);
    while let Some(entry) = entries.last().copied() {
        // An entry whose offset would pass u64::MAX (a hostile index, or a
        // segment named near u64::MAX) points at no batch: drop it like any other.
        if let Some(offset) = base_offset.checked_add(u64::from(entry.relative_offset)) {
            if entry_is_valid(log.as_ref(), &log_path, log_len, &entry, offset)? {
                start = (u64::from(entry.position), offset, entry.max_timestamp_before_ms);
                break;
            }
        }
        entries.pop();
    }
    let segment = Segment::from_recovered(base_offset, log_path, index_path, log, index, now, entries);
    let scan = segment.scan_from(start.0, start.1, start.2, log_len, interval)?;
    let decision = match scan.invalid {
        Some(bad) => Some(decide_tail(
            segment.log.raw(),
            &segment.log_path,
            bad.position,
            scan.next_offset,
            log_len,
            || context.dedup.durable_end_past(storage, dir, scan.next_offset),
        )?),
        None => None,
    };
    let torn = scan
        .invalid
        .filter(|_| !matches!(decision, Some(TailDecision::Preallocated)));
    // A live view (a read-only open while a writer appends) samples a log
    // the writer is still filling: batches, index entries and producer
    // snapshots newer than the sample are no evidence of loss, and the
    // view simply ends at the first batch that does not verify yet.
    let live = storage.is_live_view();
    if torn.is_none() && mode == RecoveryMode::TornTailOnly && !live {
        // The log may also end early with no torn batch to show for it (the
        // active segment cut at a batch boundary, or deleted): a producer
        // snapshot past the end proves records were lost. Checked before
        // anything below changes a file, so a refused open changes nothing.
        let log_end = scan.next_offset;
        if let Some(claimed) = context.dedup.durable_end_past(storage, dir, log_end)? {
            tracing::error!(
                segment = %segment.log_path.display(),
                position = scan.valid_end,
                log_end,
                acknowledged_end = claimed,
                "acknowledged records lost: a producer snapshot says the log was fsync'd to offset {claimed}, \
                 but it ends at {log_end}; run `millrace check` and `millrace repair`"
            );
            return Err(Error::corruption(
                &segment.log_path,
                scan.valid_end,
                CorruptionKind::OffsetGap,
            ));
        }
    }
    if let Some(bad) = torn {
        let damaged = match decision {
            Some(TailDecision::Damaged { acknowledged_end }) => Some(acknowledged_end),
            _ => None,
        };
        if let (Some(claimed), RecoveryMode::TornTailOnly, false) = (damaged, mode, live) {
            if let Some(claimed) = claimed {
                tracing::error!(
                    segment = %segment.log_path.display(),
                    position = bad.position,
                    kind = ?bad.kind,
                    acknowledged_end = claimed,
                    "acknowledged records damaged: a producer snapshot says the log was fsync'd to offset \
                     {claimed}, past the invalid batch at offset {}", scan.next_offset
                );
            }
            return Err(Error::corruption(&segment.log_path, bad.position, bad.kind));
        }
        // Never remove a byte without a backup and a WARN line (tail_cut.rs).
        let cut = crate::log::tail_cut::contents(segment.log.raw(), scan.valid_end, log_len);
        let how = if mode == RecoveryMode::TornTailOnly {
            "a torn write never acknowledged"
        } else {
            "cut on request (TruncateCorruptTail)"
        };
        if storage.is_read_only() {
            // Nothing changes on disk: the tail is simply not served.
            tracing::warn!(
                segment = %segment.log_path.display(),
                from_byte = scan.valid_end,
                to_byte = log_len,
                kind = ?bad.kind,
                batches = cut.batches,
                records = cut.records,
                first_offset = scan.next_offset,
                "not serving the tail of {}: bytes {}..{} ({} batch header(s) claiming {} record(s) from \
                 offset {}), {how}; read-only, nothing changed on disk (the next writing open cuts it into a backup)",
                segment.log_path.display(),
                scan.valid_end,
                log_len,
                cut.batches,
                cut.records,
                scan.next_offset
            );
        } else {
            let backup = crate::log::tail_cut::back_up(
                storage,
                dir,
                segment.log.raw(),
                &segment.log_path,
                scan.valid_end,
                log_len,
                now,
            )?;
            tracing::warn!(
                segment = %segment.log_path.display(),
                from_byte = scan.valid_end,
                to_byte = log_len,
                kind = ?bad.kind,
                batches = cut.batches,
                records = cut.records,
                first_offset = scan.next_offset,
                backup = %backup.display(),
                "truncating the tail of {}: bytes {}..{} ({} batch header(s) claiming {} record(s) from offset {}), \
                 {how}; the bytes are kept in {}",
                segment.log_path.display(),
                scan.valid_end,
                log_len,
                cut.batches,
                cut.records,
                scan.next_offset,
                backup.display()
            );
        }
        segment.log.set_len("truncate torn tail", scan.valid_end)?;
        context.metrics.torn_tails_truncated.fetch_add(1, Ordering::Relaxed);
    } else if scan.valid_end < log_len {
        // Zeros written ahead of the data (`Segment::note_preallocated`), not a torn batch.
        tracing::info!(
            segment = %segment.log_path.display(),
            position = scan.valid_end,
            bytes = log_len - scan.valid_end,
            "cutting the preallocated zeros after the last batch"
        );
        segment.log.set_len("truncate preallocated tail", scan.valid_end)?;
    }
    // Everything recovered becomes durable and visible now. After a process
    // crash the tail may still be only in the page cache: sync it before
    // trusting it (and before the index below points into it).
    if let Err(e) = segment.log.sync_data("fsync recovered tail") {
        // The kernel may now consider the unwritten pages clean; write them
        // again so the next open's fsync retries them (see redirty_unsynced).
        rewrite_range(segment.log.raw(), &segment.log_path, start.0, scan.valid_end);
        return Err(e);
    }
    segment.apply_scan(&scan);
    segment.rewrite_index()?;
    Ok(segment)
}

/// What recovery decides about the first invalid batch of a partition's
/// last segment (design/durability.md, "Recovery"); `check` reports the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TailDecision {
    /// Row 3a: only zeros to the end, at most a preallocation: the zeros an
    /// `Always` partition writes ahead of its data. Cut, not counted.
    Preallocated,
    /// Rows 2, 3 and 5: a torn write, never acknowledged. Cut, into a backup.
    Torn,
    /// Row 4 (a later valid batch was written after the bad bytes were
    /// fsync'd) or row 4b (a producer snapshot, whose offset this carries,
    /// says the log was fsync'd past them): durable bytes damaged.
    Damaged {
        /// The durable end a producer snapshot claims (row 4b), if any.
        acknowledged_end: Option<u64>,
    },
}

/// Decide about the invalid batch at `position` of a last segment of
/// `log_len` bytes whose valid batches end at offset `expected_offset`;
/// `acknowledged_end` reads the producer snapshots' claim past it (row 4b),
/// asked only when the tail is not preallocated zeros.
pub(crate) fn decide_tail(
    log: &dyn StorageFile,
    path: &Path,
    position: u64,
    expected_offset: u64,
    log_len: u64,
    acknowledged_end: impl FnOnce() -> Result<Option<u64>>,
) -> Result<TailDecision> {
    if zero_tail(log, path, position, log_len)? {
        return Ok(TailDecision::Preallocated);
    }
    if let Some(end) = acknowledged_end()? {
        return Ok(TailDecision::Damaged {
            acknowledged_end: Some(end),
        });
    }
    if durable_batch_after(log, path, position, expected_offset, log_len)? {
        return Ok(TailDecision::Damaged { acknowledged_end: None });
    }
    Ok(TailDecision::Torn)
}

/// Are the bytes `[from, to)` all zero? True for the zeros an `Always`
/// partition writes ahead of its data (`Segment::note_preallocated`, at most
/// `PREALLOCATE_BYTES`); longer tails are not read and count as torn.
fn zero_tail(log: &dyn StorageFile, path: &Path, from: u64, to: u64) -> Result<bool> {
    if to.saturating_sub(from) > PREALLOCATE_BYTES {
        return Ok(false);
    }
    let mut buf = vec![0u8; to.saturating_sub(from) as usize];
    read_exact_at(log, &mut buf, from).at("read segment", path)?;
    Ok(buf.iter().all(|&b| b == 0))
}

/// Read `[from, to)` back from the page cache and write it again, so that a
/// later fsync writes it (after a failed fsync marked it clean). Best effort.
pub(crate) fn rewrite_range(log: &dyn StorageFile, path: &Path, from: u64, to: u64) {
    let mut buf = vec![0u8; 1024 * 1024];
    let mut position = from;
    while position < to {
        let n = ((to - position) as usize).min(buf.len());
        let chunk = buf.get_mut(..n).unwrap_or_default();
        let result = read_exact_at(log, chunk, position).and_then(|()| log.write_all_at(chunk, position));
        if let Err(e) = result {
            tracing::error!(segment = %path.display(), error = %e, "could not rewrite unsynced bytes");
            return;
        }
        position += n as u64;
    }
}

/// Does the batch at `entry`'s position have the entry's `offset`? An end
/// entry (at the log's length) points at no batch: its offset cannot be
/// checked, so it is never a starting point (the scan from the entry before
/// it finds the log end and its offset from the batches).
pub(crate) fn entry_is_valid(
    log: &dyn StorageFile,
    path: &Path,
    log_len: u64,
    entry: &IndexEntry,
    offset: u64,
) -> Result<bool> {
    let position = u64::from(entry.position);
    if position >= log_len {
        return Ok(false);
    }
    let mut reader = ChunkReader::new(log, path, log_len);
    Ok(match reader.batch_at(position)? {
        Ok(raw) => batch::verify(raw).is_ok_and(|h| h.base_offset == offset),
        Err(_) => false,
    })
}

/// Is there a CRC-valid batch after `position` whose writer knew the bytes
/// at `position` were already fsync'd? Then the invalid batch there was
/// durable and has been corrupted since: an error, not a torn tail. A real
/// later batch also continues the offsets past the bad one (which held at
/// least `expected_offset`); batch-shaped bytes carried inside a torn batch's
/// payload usually do not.
fn durable_batch_after(
    log: &dyn StorageFile,
    path: &Path,
    position: u64,
    expected_offset: u64,
    log_len: u64,
) -> Result<bool> {
    let mut durable = false;
    valid_batches_after(log, path, position, log_len, &mut |_, header, _| {
        durable = u64::from(header.synced_before) > position && header.base_offset > expected_offset;
        Ok(!durable)
    })?;
    Ok(durable)
}
