//! Producer-state snapshots: `<offset>.producers` files in a partition
//! directory, written at every segment roll (state as of the new segment's
//! base offset), at close and every 10 s of activity (state as of a durable
//! log end; `Partition::snapshot_producers`), and the rebuild at open: newest
//! snapshot + the batch headers after it. Layout in design/format.md
//! ("Producer snapshot").
//!
//! Rebuild decision table (a test per row in `tests/it/producer.rs`):
//!
//! | snapshots found                     | action                                          |
//! |-------------------------------------|-------------------------------------------------|
//! | some with offset > log end          | delete them (warn, fsync dir), then the rows below |
//! | none (left)                         | replay every batch header of the log            |
//! | newest valid, offset <= log end     | load it, replay headers from its offset         |
//! | newest fails its CRC or parse       | warn, ignore it: the rows above for the rest    |
//! | newest remembers a batch that does not end by its offset | ignore it (warn, count in `derived_metadata_rejected`), replay every batch header |
//!
//! A snapshot past the log end describes batches the log no longer has (a
//! tail recovery cut: torn, never durable, or cut on the operator's request
//! by `TruncateCorruptTail`). It must go before the log grows past it again,
//! or it would describe different batches at the same offsets. The newest two
//! snapshots are kept so that there is usually an older one to fall back to;
//! a replay from the log start cannot see producers whose batches retention
//! deleted (their next append gets `OutOfOrderSequence`, never a duplicate).

use crate::error::Result;
use crate::io::checked::IoContext;
use crate::io::{read_all, write_atomic, Storage};
use crate::log::segment::Segment;
use crate::metrics::Metrics;
use crate::producer::state::{ProducerTable, DEDUP_BATCHES_MAX, PRODUCERS_MAX};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

const SNAPSHOT_SUFFIX: &str = ".producers";

fn snapshot_name(offset: u64) -> String {
    format!("{offset:020}{SNAPSHOT_SUFFIX}")
}

fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SNAPSHOT_SUFFIX)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

pub(crate) fn snapshot_bytes_max(window: u32) -> u64 {
    // Header + per producer (id, epoch, time, count) + its batches + CRC.
    32 + PRODUCERS_MAX as u64 * (8 + 2 + 8 + 2 + u64::from(window) * 16)
}

/// Write an already encoded snapshot for `offset` durably, then remove the
/// older ones but the newest of them (a fall-back, see the table above).
pub(crate) fn write_encoded(storage: &dyn Storage, dir: &Path, offset: u64, bytes: &[u8]) -> Result<()> {
    let path = dir.join(snapshot_name(offset));
    write_atomic(storage, &path, bytes).at("write producer snapshot", &path)?;
    let names = storage.list_dir(dir).at("list partition", dir)?;
    let mut older: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_snapshot_name(n))
        .filter(|o| *o < offset)
        .collect();
    older.sort_unstable();
    older.pop();
    for old in older {
        let old = dir.join(snapshot_name(old));
        storage.remove_file(&old).at("remove producer snapshot", &old)?;
    }
    Ok(())
}

/// The largest offset past `log_end` at which a producer snapshot of `dir`
/// that passes its CRC (and names its own offset) was written, if any.
/// Snapshots are only written for a log end that was fdatasync'd
/// (`Partition::snapshot_producers`, the roll, the close), so such a snapshot
/// is durable evidence that every record below its offset was acknowledged
/// durable: a log that ends before it lost them (design/durability.md,
/// "Recovery"). A snapshot that fails its CRC proves nothing and is skipped.
pub(crate) fn durable_end_past(storage: &dyn Storage, dir: &Path, log_end: u64) -> Result<Option<u64>> {
    let names = storage.list_dir(dir).at("list partition", dir)?;
    let mut claimed: Option<u64> = None;
    for offset in names.iter().filter_map(|n| parse_snapshot_name(n)) {
        if offset <= log_end || claimed.is_some_and(|c| c >= offset) {
            continue;
        }
        let path = dir.join(snapshot_name(offset));
        let Ok(bytes) = read_all(storage, &path, snapshot_bytes_max(DEDUP_BATCHES_MAX)) else {
            continue;
        };
        if ProducerTable::decode_snapshot(&bytes, DEDUP_BATCHES_MAX).is_some_and(|(stored, _)| stored == offset) {
            claimed = Some(offset);
        }
    }
    Ok(claimed)
}

/// Rebuild a partition's producer state at open (decision table above).
pub(crate) fn rebuild(
    storage: &dyn Storage,
    dir: &Path,
    segments: &[Arc<Segment>],
    log_end: u64,
    window: u32,
    metrics: &Metrics,
) -> Result<ProducerTable> {
    let names = storage.list_dir(dir).at("list partition", dir)?;
    let offsets: Vec<u64> = names.iter().filter_map(|n| parse_snapshot_name(n)).collect();
    let past_end: Vec<u64> = offsets.iter().copied().filter(|o| *o > log_end).collect();
    for offset in &past_end {
        let path = dir.join(snapshot_name(*offset));
        tracing::warn!(snapshot = %path.display(), log_end, "dropping a producer snapshot past the recovered log end");
        storage.remove_file(&path).at("remove producer snapshot", &path)?;
    }
    if !past_end.is_empty() {
        storage.sync_dir(dir).at("fsync dir", dir)?;
    }
    let mut candidates: Vec<u64> = offsets.into_iter().filter(|o| *o <= log_end).collect();
    candidates.sort_unstable_by(|a, b| b.cmp(a));
    let mut loaded = None;
    for offset in candidates {
        let path = dir.join(snapshot_name(offset));
        let bytes = read_all(storage, &path, snapshot_bytes_max(window)).at("read producer snapshot", &path)?;
        match ProducerTable::decode_snapshot(&bytes, window) {
            Some((stored_offset, table)) if stored_offset == offset && table.batches_end_by(offset) => {
                loaded = Some((offset, table));
                break;
            }
            Some((stored_offset, _)) if stored_offset == offset => {
                // Valid CRC, wrong content: rebuilt from the log instead.
                tracing::warn!(
                    snapshot = %path.display(),
                    "producer snapshot remembers batches past its own offset: ignored, replaying the log"
                );
                metrics.derived_metadata_rejected.fetch_add(1, Ordering::Relaxed);
                break;
            }
            // Derived from the log: rebuilt from an older snapshot or the
            // log itself rather than stopping the partition. `millrace check`
            // reports the file and `millrace repair` moves it to a backup.
            _ => tracing::warn!(
                snapshot = %path.display(),
                "damaged producer snapshot ignored; producer state rebuilt from an older snapshot or the log"
            ),
        }
    }
    let (from, mut table) = loaded.unwrap_or_else(|| (0, ProducerTable::new(window)));
    // Appends replayed here count as active at the reopen: the batch header
    // holds record timestamps (producer-chosen), not the append time, and a
    // producer must never expire early.
    let now = crate::clock::now_ms();
    for segment in segments {
        let (next_offset, end_position) = {
            let state = segment.state.lock();
            (state.next_offset, state.written_len)
        };
        if next_offset <= from {
            continue;
        }
        segment.for_each_batch(0, end_position, |_, header, _| {
            // Transactional batches are sequenced by the transaction
            // coordinator (txn.rs), not by the idempotent-producer state.
            if header.base_offset >= from && !header.is_control() && !header.is_transactional() {
                if let Some(stamp) = header.producer {
                    table.record(stamp, header.base_offset, header.record_count, now);
                }
            }
            Ok(true)
        })?;
    }
    Ok(table)
}
