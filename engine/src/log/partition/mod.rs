//! A partition: an ordered list of segments, one writer at a time, and a
//! high watermark below which records are durable (under the topic's
//! durability mode) and visible to readers.

use crate::batch::{
    self, BatchHeader, ProducerStamp, Record, RecordCursor, RecordView, StoredRecord, BATCH_BYTES_MAX, HEADER_SIZE,
};
use crate::commit::{Mark, Spin, SyncFailure, SyncGate};
use crate::config::{Durability, RecoveryMode, TopicConfig};
use crate::error::{CorruptionKind, Error, Result};
use crate::index::IndexEntry;
use crate::producer_state::{admit, Admission, ProducerTable};
use crate::segment::{self, parse_log_name, ChunkReader, InvalidAt, Segment};
use crate::storage::{read_exact_at, write_atomic, Storage, StorageFile};
use crate::store::Shared;
use crate::sync::{AtomicU64, Mutex, Ordering};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const START_OFFSET_FILE: &str = "start.offset";

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: u64,
    /// Offset just past the batch.
    pub next_offset: u64,
}

/// Limits of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Stop after this many bytes of records (at least one record is returned).
    pub max_bytes: usize,
    /// Stop after this many records.
    pub max_records: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_bytes: 1024 * 1024,
            max_records: 10_000,
        }
    }
}

/// A batch as read: its header and the records at or after the read offset.
#[derive(Debug, Clone)]
pub struct ReadBatch {
    /// The batch's header.
    pub header: BatchHeader,
    /// Its records at or after the read offset.
    pub records: Vec<StoredRecord>,
}

#[derive(Debug, Clone)]
/// What [`Store::read`](crate::Store::read) returns.
pub struct ReadResult {
    /// The records read, in offset order.
    pub records: Vec<StoredRecord>,
    /// Where to read next (past any control batches that were skipped).
    pub next_offset: u64,
    /// Offset just past the last visible record.
    pub high_watermark: u64,
    /// Offset below which no transaction is open (`ReadCommitted` reads stop there).
    pub last_stable_offset: u64,
    /// The partition's first offset.
    pub log_start_offset: u64,
}

/// A partition's numbers for describe/stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition.
    pub partition: u32,
    /// Its first offset.
    pub log_start_offset: u64,
    /// Offset just past the last visible record.
    pub high_watermark: u64,
    /// Offset just past the last written record (may exceed the watermark while a sync runs).
    pub log_end_offset: u64,
    /// Segment files.
    pub segments: usize,
    /// Bytes of its segment files.
    pub bytes: u64,
}

#[derive(Debug)]
struct Writer {
    active: Arc<Segment>,
    next_offset: u64,
    scratch: Vec<u8>,
    /// Idempotent-producer state; guarded by the writer lock (producer_state.rs).
    producers: ProducerTable,
    /// Offset of the newest producer snapshot written by this process (0 at
    /// open) and when: open replays batch headers only after the newest
    /// snapshot, so snapshots at close and every `SNAPSHOT_INTERVAL` keep the
    /// replay proportional to the recent tail, not to the active segment.
    snapshot_offset: u64,
    snapshot_at: Instant,
}

/// Longest a group-commit leader waits for appenders mid-write before it syncs.
const SETTLE_MAX: std::time::Duration = std::time::Duration::from_micros(300);

/// Longest a group-commit leader waits for the appenders the previous sync
/// acknowledged to come back with their next batch (see `Partition::settle`).
const GATHER_MAX: std::time::Duration = std::time::Duration::from_micros(200);

/// A leader stops waiting for them once none has arrived for this long.
const GATHER_IDLE: std::time::Duration = std::time::Duration::from_micros(GATHER_IDLE_US);
const GATHER_IDLE_US: u64 = 20;

/// A group-commit waiter spins for up to this many recent fsync times...
const SPIN_SYNCS: u64 = 3;
/// ...when the last sync covered at least this many appends.
const SPIN_GROUP_MIN: u64 = 8;

/// Counts an appender between entering `append` and finishing its write.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Zeros an `Always` partition keeps written ahead of its data, so that a
/// durable append's fdatasync overwrites existing blocks instead of growing
/// the file (see `Segment::note_preallocated` and design/durability.md).
/// Batches larger than a quarter of this are appended as they are.
pub(crate) const PREALLOCATE_BYTES: u64 = 1024 * 1024;

/// `Always` batches up to this size are written by the group-commit leader
/// together (see `Partition::write_pending`); larger ones by their appender.
const DEFER_BYTES_MAX: u64 = 64 * 1024;

/// How often an active partition's producer state is snapshotted (if it changed).
const SNAPSHOT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct Partition {
    #[allow(dead_code, reason = "kept for diagnostics (Debug)")]
    pub topic: String,
    pub id: u32,
    pub dir: PathBuf,
    storage: Arc<dyn Storage>,
    config: TopicConfig,
    pub durability: Durability,
    shared: Arc<Shared>,
    writer: Mutex<Writer>,
    segments: Mutex<Arc<Vec<Arc<Segment>>>>,
    gate: SyncGate,
    high_watermark: AtomicU64,
    start_offset: AtomicU64,
    last_flush: Mutex<Instant>,
    /// Offsets of transactional batches written but not yet released: the
    /// last stable offset (what read-committed readers see) stops at the
    /// smallest. See design/semantics.md, "Isolation".
    holds: crate::stable::StableOffset,
    /// Appenders inside `append` that have not finished their write (group commit).
    appending: AtomicU64,
    /// `Always`: small batches appended but not yet written to the file.
    pending: Mutex<Pending>,
    /// Held while pending batches are written to the file, so that a roll
    /// (which writes the ones pending after them) waits for them before it
    /// seals; keeps the spare buffer. Lock order: `writer`, `pending_write`,
    /// `pending`.
    pending_write: Mutex<Vec<u8>>,
    /// Group-commit gathering (`settle`): small `Always` appends started so
    /// far; that count when the last sync took its snapshot and when it
    /// ended; how many of them it covered.
    entered: AtomicU64,
    entered_at_snapshot: AtomicU64,
    entered_at_sync_end: AtomicU64,
    covered_by_last_sync: AtomicU64,
    /// Recent fdatasync time in µs (moving average; 0 before the first):
    /// how long a group-commit waiter may spin (`Partition::spin_budget`).
    recent_fsync_us: AtomicU64,
}

/// Batches appended to an `Always` partition and not yet written: the bytes
/// of consecutive batches starting at `position` in `segment` (the active one).
#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    position: u64,
    segment: Option<Arc<Segment>>,
}

/// What a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Only records of committed, fully applied transactions (and
    /// non-transactional records); reads stop at the last stable offset.
    #[default]
    ReadCommitted,
    /// Everything below the high watermark.
    ReadUncommitted,
}

pub(crate) use crate::clock::now_ms; // transitional: the clock lives in clock.rs

impl Partition {
    /// Create the directory of a new, empty partition (the caller fsyncs parents).
    pub fn create_files(storage: &dyn Storage, dir: &Path) -> Result<()> {
        storage
            .create_dir_all(dir)
            .map_err(|e| Error::io("create partition dir", dir, e))?;
        Segment::create(storage, dir, 0, now_ms())?;
        storage.sync_dir(dir).map_err(|e| Error::io("fsync dir", dir, e))
    }

    /// Open and recover a partition. Only the last segment's tail after its last
    /// valid index entry is scanned; see the recovery table in design/durability.md.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: PathBuf,
        topic: &str,
        id: u32,
        config: TopicConfig,
        durability: Durability,
        recovery: RecoveryMode,
        shared: Arc<Shared>,
        committed_floor: u64,
    ) -> Result<Partition> {
        let now = now_ms();
        let names = storage
            .list_dir(&dir)
            .map_err(|e| Error::io("list partition", &dir, e))?;
        // Entries found now may exist only in the page cache (a process crash
        // before their directory fsync): make them durable before relying on them.
        storage.sync_dir(&dir).map_err(|e| Error::io("fsync dir", &dir, e))?;
        let mut bases: Vec<u64> = names.iter().filter_map(|n| parse_log_name(n)).collect();
        bases.sort_unstable();
        if bases.is_empty() {
            Segment::create(storage.as_ref(), &dir, 0, now)?;
            storage.sync_dir(&dir).map_err(|e| Error::io("fsync dir", &dir, e))?;
            bases.push(0);
        }
        let interval = config.index_interval_bytes;
        let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(bases.len());
        let (last_base, sealed_bases) = match bases.split_last() {
            Some((last, rest)) => (*last, rest),
            None => return Err(Error::invalid("partition", "no segments")),
        };
        for (base, next_base) in sealed_bases.iter().zip(bases.iter().skip(1)) {
            let segment = Segment::open_sealed(storage.as_ref(), &dir, *base, *next_base, interval, now, &shared)?;
            segments.push(Arc::new(segment));
        }
        let last = Arc::new(recover_last(
            storage.as_ref(),
            &dir,
            last_base,
            interval,
            recovery,
            now,
            &shared,
        )?);
        // Segments must continue each other's offsets.
        let mut expected: Option<u64> = None;
        for s in segments.iter().chain(std::iter::once(&last)) {
            if let Some(e) = expected {
                // A gap is corruption unless recorded as a hole (`continue_at_floor`).
                let hole = s.base_offset > e && storage.exists(&dir.join(segment::hole_name(s.base_offset)));
                if s.base_offset != e && !hole {
                    return Err(Error::corruption(&s.log_path, 0, CorruptionKind::OffsetGap));
                }
            }
            expected = Some(s.state.lock().next_offset);
        }
        segments.push(last.clone());
        let (mut next_offset, mut written_len) = {
            let state = last.state.lock();
            (state.next_offset, state.written_len)
        };
        let mut last = last;
        if next_offset < committed_floor {
            last = continue_at_floor(
                storage.as_ref(),
                &dir,
                &mut segments,
                (next_offset, committed_floor),
                now,
            )?;
            shared.metrics.offset_holes.fetch_add(1, Ordering::Relaxed);
            (next_offset, written_len) = (committed_floor, 0);
        }
        let bytes: u64 = segments.iter().map(|s| s.state.lock().written_len).sum();
        shared.used_bytes.fetch_add(bytes, Ordering::Relaxed);
        let first_base = segments.first().map_or(0, |s| s.base_offset);
        let persisted_start = read_start_offset(storage.as_ref(), &dir)?;
        let start = start_offset_at_open(
            storage.as_ref(),
            &dir,
            persisted_start,
            first_base,
            next_offset,
            durability,
            &shared,
        )?;
        let producers = crate::producer_snapshot::rebuild(
            storage.as_ref(),
            &dir,
            &segments,
            next_offset,
            shared.producers.window,
            &shared.metrics,
        )?;
        // Everything recovered is durable: the tail was just fsync'd.
        let mark = Mark {
            offset: next_offset,
            segment_base: last.base_offset,
            position: written_len,
        };
        Ok(Partition {
            topic: topic.to_string(),
            id,
            dir,
            storage,
            config,
            durability,
            shared,
            writer: Mutex::new(Writer {
                active: last,
                next_offset,
                scratch: Vec::new(),
                producers,
                snapshot_offset: 0,
                snapshot_at: Instant::now(),
            }),
            segments: Mutex::new(Arc::new(segments)),
            gate: SyncGate::new(mark),
            high_watermark: AtomicU64::new(next_offset),
            start_offset: AtomicU64::new(start),
            last_flush: Mutex::new(Instant::now()),
            holds: crate::stable::StableOffset::new(),
            appending: AtomicU64::new(0),
            pending: Mutex::new(Pending::default()),
            pending_write: Mutex::new(Vec::new()),
            entered: AtomicU64::new(0),
            entered_at_snapshot: AtomicU64::new(0),
            entered_at_sync_end: AtomicU64::new(0),
            covered_by_last_sync: AtomicU64::new(0),
            recent_fsync_us: AtomicU64::new(0),
        })
    }

    pub fn high_watermark(&self) -> u64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Offset below which every record is stable (see stable.rs).
    pub fn last_stable_offset(&self) -> u64 {
        self.holds.last_stable(&self.high_watermark)
    }

    /// Keep read-committed readers below `offset` until [`Partition::release`].
    /// Must be called under the writer lock before the batch at `offset` is written
    /// (from the `check` closure of `append_checked`).
    pub fn hold(&self, offset: u64) {
        self.holds.hold(offset);
    }

    pub fn release(&self, offset: u64) {
        self.holds.release(offset);
        self.shared.notifier.notify();
    }

    pub fn start_offset(&self) -> u64 {
        self.start_offset.load(Ordering::Acquire)
    }

    #[allow(dead_code, reason = "used by producer and transaction modules")]
    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    fn publish(&self, offset: u64) {
        let previous = self.high_watermark.fetch_max(offset, Ordering::AcqRel);
        if offset > previous {
            self.shared.notifier.notify();
        }
    }

    fn poison(&self, cause: &Error) {
        self.shared.poison(cause);
        self.gate.fail();
    }

    /// The zeros an `Always` partition writes ahead of a batch failed to
    /// write. They lie past every batch (written or pending), so no byte of
    /// any batch changed: a full device (ENOSPC, EDQUOT) refuses this batch
    /// with `NoSpace` and leaves the store writable, to go on once space is
    /// freed. Any other error poisons, as a failed append does.
    fn preallocation_failed(&self, path: &Path, requested_bytes: u64, source: std::io::Error) -> Error {
        if matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ) {
            self.shared.metrics.no_space_rejections.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(segment = %path.display(), requested_bytes, error = %source, "no space for the batch: refused, nothing written, store still writable");
            return Error::NoSpace {
                path: path.to_path_buf(),
                requested_bytes,
            };
        }
        let error = Error::io("preallocate", path, source);
        self.poison(&error);
        error
    }

    /// Append one batch. Returns once the batch is acknowledged under the
    /// partition's durability mode.
    pub fn append(&self, records: &[Record], producer: Option<ProducerStamp>, flags: u16) -> Result<AppendInfo> {
        self.append_checked(records, producer, flags, |_| Ok(()))
    }

    /// Append one batch; `check` runs under the writer lock with the offset the
    /// batch would get, and may refuse it (used for producer sequencing).
    pub fn append_checked(
        &self,
        records: &[Record],
        producer: Option<ProducerStamp>,
        flags: u16,
        check: impl FnOnce(u64) -> Result<()>,
    ) -> Result<AppendInfo> {
        self.append_inner(records, producer, flags, false, check)
            .map(|(info, _)| info)
    }

    /// Append one batch from a registered producer: the epoch and sequence
    /// are checked and the producer state updated under the writer lock.
    /// Returns the offsets and whether the batch was a retry (not written again).
    pub fn append_sequenced(&self, records: &[Record], stamp: ProducerStamp, flags: u16) -> Result<(AppendInfo, bool)> {
        self.append_inner(records, Some(stamp), flags, true, |_| Ok(()))
    }

    /// The producer's last sequence here, read under the writer lock so that
    /// it orders with appends (see the fencing argument in producer_state.rs).
    pub fn producer_last_sequence(&self, producer_id: u64) -> Option<u32> {
        self.writer.lock().producers.last_sequence(producer_id)
    }

    /// Last append time of every producer with state here.
    pub fn producer_activity(&self) -> Vec<(u64, i64)> {
        let w = self.writer.lock();
        w.producers.iter().map(|(id, e)| (id, e.last_append_ms)).collect()
    }

    fn append_inner(
        &self,
        records: &[Record],
        producer: Option<ProducerStamp>,
        flags: u16,
        sequenced: bool,
        check: impl FnOnce(u64) -> Result<()>,
    ) -> Result<(AppendInfo, bool)> {
        let (info, duplicate) = self.write_inner(records, producer, flags, sequenced, check)?;
        if self.owes_sync() {
            // A thread that appends and waits comes straight back with its
            // next batch: worth gathering (see `settle`).
            self.sync_to(info.next_offset, true)?;
        }
        Ok((info, duplicate))
    }

    /// Write one batch (or recognise a producer's retry) without waiting for
    /// its acknowledgement: under `Always` the caller must call
    /// [`Partition::wait_durable`] with `next_offset` before acknowledging
    /// (the batch is not visible to readers until then); under the other modes
    /// it is acknowledged on return. A retry's offsets are the original's,
    /// which may still be waiting for its fsync: the same wait covers it.
    pub(crate) fn append_deferred(
        &self,
        records: &[Record],
        producer: Option<ProducerStamp>,
    ) -> Result<(AppendInfo, bool)> {
        self.write_inner(records, producer, 0, producer.is_some(), |_| Ok(()))
    }

    /// Whether an append is acknowledged only by an fsync (`Always`).
    pub(crate) fn owes_sync(&self) -> bool {
        self.durability == Durability::Always
    }

    /// Under `Always`, block until everything up to `offset` is durable
    /// (leading or joining a group fsync); otherwise return at once. A
    /// leader here does not wait for the appenders the last sync acknowledged
    /// (the server's, after a network round trip, come back too late to be
    /// worth it, and the spinning wait takes the CPU they need).
    pub(crate) fn wait_durable(&self, offset: u64) -> Result<()> {
        if self.owes_sync() {
            self.sync_to(offset, false)?;
        }
        Ok(())
    }

    fn write_inner(
        &self,
        records: &[Record],
        producer: Option<ProducerStamp>,
        flags: u16,
        sequenced: bool,
        check: impl FnOnce(u64) -> Result<()>,
    ) -> Result<(AppendInfo, bool)> {
        if records.is_empty() {
            return Err(Error::invalid("records", "a batch needs at least one record"));
        }
        let mut total = HEADER_SIZE;
        for record in records {
            batch::validate_record(record, self.config.record_bytes_max as usize)
                .map_err(|detail| Error::invalid("record", detail))?;
            total += record.encoded_len();
        }
        if total > BATCH_BYTES_MAX as usize || total as u64 > self.config.segment_bytes {
            return Err(Error::invalid(
                "batch",
                format!(
                    "{total} bytes; at most {} per batch for this topic",
                    BATCH_BYTES_MAX.min(self.config.segment_bytes as u32)
                ),
            ));
        }
        let now = now_ms();
        // `Always`: small batches are encoded now and written by the
        // group-commit leader together, just before its fsync (one write for
        // the group, none under the writer lock); a leader waits for their
        // appenders to come back (`settle`). Not large batches: their write
        // costs far more than the call, and copying megabytes that left the
        // cache since they were encoded costs more again (16 appenders of
        // 1 MiB batches ran 4 × slower deferred); and their fsync is long
        // enough that writing during it beats waiting for each other.
        let defer = self.durability == Durability::Always && total as u64 <= DEFER_BYTES_MAX;
        let in_flight = InFlight::enter(&self.appending);
        if defer {
            self.entered.fetch_add(1, Ordering::AcqRel);
        }
        let mut guard = self.writer.lock();
        let w = &mut *guard;
        self.shared.check_writable()?;
        check(w.next_offset)?;
        let record_count = records.len() as u32;
        if let (true, Some(stamp)) = (sequenced, producer) {
            let admission = admit(&w.producers, &self.shared.producers.epochs, stamp, record_count, now)?;
            if let Admission::Duplicate {
                base_offset,
                next_offset,
            } = admission
            {
                drop(guard);
                drop(in_flight);
                // The original may still be waiting for its fsync: a retry is
                // acknowledged under the same durability as the original
                // (the caller's `wait_durable` with these offsets).
                let info = AppendInfo {
                    base_offset,
                    next_offset,
                };
                return Ok((info, true));
            }
        }
        self.maybe_roll(w, total as u64, now)?;
        let synced = self.gate.synced();
        let synced_before = if synced.segment_base == w.active.base_offset {
            synced.position as u32
        } else {
            0
        };
        // A batch written now goes after the pending ones.
        if !defer && self.durability == Durability::Always {
            if let Err(e) = self.write_pending(w) {
                self.poison(&e);
                return Err(e);
            }
        }
        w.scratch.clear();
        let header = batch::encode(
            &mut w.scratch,
            w.next_offset,
            records,
            now,
            producer,
            flags,
            synced_before,
        );
        let length = u64::from(header.length);
        self.shared.reserve(length)?;
        let (position, file_len) = {
            let state = w.active.state.lock();
            (state.written_len, state.file_len)
        };
        // `Always`: keep zeros written ahead of the data (same write), so
        // that durable appends overwrite instead of growing the file. Written
        // a step at a time: when fewer than an eighth of a step lie ahead,
        // the next step, capped at the segment's end. Once the zeros reach
        // that end nothing more is written (the last step's appends must not
        // each rewrite the zeros up to the end).
        let zeros = if self.durability == Durability::Always && length <= PREALLOCATE_BYTES / 4 {
            let end = position + length;
            let segment_end = self.config.segment_bytes;
            if file_len < (end + PREALLOCATE_BYTES / 8).min(segment_end) {
                (end + PREALLOCATE_BYTES).min(segment_end).saturating_sub(end)
            } else {
                0
            }
        } else {
            0
        };
        if zeros > 0 {
            // Zeros first (over the batch's place too), then the batch: a
            // failed write leaves nothing of the batch behind.
            // (The pending batches before it are below `position`.)
            let zeroed = vec![0u8; (length + zeros) as usize];
            if let Err(e) = w.active.log.write_all_at(&zeroed, position) {
                self.shared.release(length);
                // Whatever part of the zeros reached the file lies past every
                // batch: cut at seal or close like any preallocated tail.
                w.active.note_preallocated(position + length + zeros);
                return Err(self.preallocation_failed(&w.active.log_path, length + zeros, e));
            }
            w.active.note_preallocated(position + length + zeros);
        }
        if defer {
            let mut pending = self.pending.lock();
            if pending.bytes.is_empty() {
                pending.position = position;
                pending.segment = Some(w.active.clone());
            }
            pending.bytes.extend_from_slice(&w.scratch);
        } else if let Err(e) = w.active.log.write_all_at(&w.scratch, position) {
            self.shared.release(length);
            let error = Error::io("append", &w.active.log_path, e);
            self.poison(&error);
            return Err(error);
        }
        if let Err(e) = w.active.note_written(
            &header,
            position,
            self.config.index_interval_bytes,
            u64::from(synced_before),
            !defer,
        ) {
            self.poison(&e);
            return Err(e);
        }
        w.next_offset = header.next_offset();
        // Same rule as the rebuild at open (producer_snapshot::rebuild).
        if let Some(stamp) = producer.filter(|_| !header.is_control() && !header.is_transactional()) {
            w.producers.record(stamp, header.base_offset, record_count, now);
        }
        let next_offset = w.next_offset;
        let mark = Mark {
            offset: next_offset,
            segment_base: w.active.base_offset,
            position: position + length,
        };
        self.gate.record_written(mark);
        let metrics = &self.shared.metrics;
        metrics.append_batches.fetch_add(1, Ordering::Relaxed);
        metrics
            .append_records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        metrics.append_bytes.fetch_add(length, Ordering::Relaxed);
        if self.durability == Durability::Os {
            self.publish(next_offset);
        }
        drop(guard);
        drop(in_flight);
        let info = AppendInfo {
            base_offset: header.base_offset,
            next_offset,
        };
        Ok((info, false))
    }

    /// Wait until everything up to `offset` is durable, leading a group fsync if needed.
    fn sync_to(&self, offset: u64, gather: bool) -> Result<()> {
        let metrics = &self.shared.metrics;
        let outcome = |woken: bool| {
            metrics.group_commit_spins.fetch_add(1, Ordering::Relaxed);
            if woken {
                metrics.group_commit_spin_handoffs.fetch_add(1, Ordering::Relaxed);
            }
        };
        let spin = Spin {
            budget: if gather { self.spin_budget() } else { Duration::ZERO },
            outcome: &outcome,
        };
        let result = self.gate.wait_synced_settled(
            offset,
            spin,
            || self.settle(gather),
            || {
                // What this sync covers: appends started before its snapshot.
                let entered = self.entered.load(Ordering::Acquire);
                let before = self.entered_at_snapshot.swap(entered, Ordering::AcqRel);
                self.covered_by_last_sync
                    .store(entered.saturating_sub(before), Ordering::Release);
                let result = self.write_and_sync();
                self.entered_at_sync_end
                    .store(self.entered.load(Ordering::Acquire), Ordering::Release);
                result
            },
        );
        match result {
            Ok(mark) => {
                self.publish(mark.offset);
                Ok(())
            }
            Err(SyncFailure::Failed(e)) => {
                self.poison(&e);
                let w = self.writer.lock();
                self.redirty_unsynced(&w.active);
                Err(e)
            }
            Err(SyncFailure::Poisoned) => Err(Error::Poisoned),
        }
    }

    /// How long a thread waiting for another's group fsync spins before it
    /// sleeps (`SyncGate::wait_synced_settled`): the time `SPIN_SYNCS` recent
    /// fsyncs take (a waiter that arrived during one sync is covered by the
    /// next). Not at all when that is over the store's `group_commit_spin`
    /// (a slow disk: a wake-up is small beside the wait, and the spinning
    /// would only burn CPU), nor when the last sync covered fewer than
    /// `SPIN_GROUP_MIN` appends (the wake-ups spinning saves are one per
    /// member of the group; a small group's are cheap).
    fn spin_budget(&self) -> Duration {
        if self.covered_by_last_sync.load(Ordering::Relaxed) < SPIN_GROUP_MIN {
            return Duration::ZERO;
        }
        let expected = Duration::from_micros(self.recent_fsync_us.load(Ordering::Relaxed).saturating_mul(SPIN_SYNCS));
        if expected > self.shared.group_commit_spin {
            Duration::ZERO
        } else {
            expected
        }
    }

    /// Group commit: before snapshotting what its fsync will cover, a leader
    /// waits (briefly, bounded) for appenders that are inside `append` to
    /// finish encoding, and for those the previous sync acknowledged to come
    /// back with their next batch, as long as they keep arriving: one fsync
    /// then covers them all. Without the second wait, sixteen appenders split
    /// into two groups that alternate between syncs, each fsync covering
    /// eight; with it, one covering sixteen, and the appenders write while no
    /// fsync runs instead of waiting for one that started without them. Only
    /// a leader that is itself such an appender (`Partition::append`) gathers.
    fn settle(&self, gather: bool) {
        let started = Instant::now();
        let expected = if gather {
            self.covered_by_last_sync.load(Ordering::Acquire)
        } else {
            0
        };
        let base = self.entered_at_sync_end.load(Ordering::Acquire);
        let mut arrived = self.entered.load(Ordering::Acquire);
        let mut last_arrival = started;
        loop {
            let now = Instant::now();
            let writing = self.appending.load(Ordering::Acquire) > 0 && now - started < SETTLE_MAX;
            let entered = self.entered.load(Ordering::Acquire);
            if entered != arrived {
                arrived = entered;
                last_arrival = now;
            }
            let gathering = entered.saturating_sub(base) < expected
                && now - started < GATHER_MAX
                && now - last_arrival < GATHER_IDLE;
            if !writing && !gathering {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// A group-commit leader's sync: the pending batches, then the fdatasync.
    fn write_and_sync(&self) -> Result<()> {
        {
            // Without the writer lock: appenders go on appending meanwhile.
            let mut spare = self.pending_write.lock();
            let (position, segment) = {
                let mut pending = self.pending.lock();
                std::mem::swap(&mut pending.bytes, &mut *spare);
                (pending.position, pending.segment.take())
            };
            let result = match segment {
                Some(segment) if !spare.is_empty() => write_batches(&segment, &spare, position),
                _ => Ok(()),
            };
            spare.clear();
            result?;
        }
        let active = self.active_segment();
        if cfg!(feature = "test-skip-fsync") {
            return Ok(());
        }
        let started = Instant::now();
        let r = active
            .log
            .sync_data()
            .map_err(|e| Error::io("fsync segment", &active.log_path, e));
        let micros = started.elapsed().as_micros() as u64;
        self.shared.metrics.record_fsync(micros);
        // One leader at a time per partition: no lost updates that matter.
        let recent = self.recent_fsync_us.load(Ordering::Relaxed);
        let average = if recent == 0 {
            micros
        } else {
            recent.saturating_mul(3).saturating_add(micros) / 4
        };
        self.recent_fsync_us.store(average, Ordering::Relaxed);
        r
    }

    /// Write the batches still pending (the caller holds the writer lock, so
    /// no more arrive): before a batch written directly, before a roll seals
    /// the segment, and before the zeros are cut at close.
    fn write_pending(&self, _writer: &mut Writer) -> Result<()> {
        let _writing = self.pending_write.lock();
        let mut pending = self.pending.lock();
        let Some(segment) = pending.segment.take() else {
            return Ok(());
        };
        let result = if self.shared.is_poisoned() {
            Err(Error::Poisoned)
        } else {
            write_batches(&segment, &pending.bytes, pending.position)
        };
        pending.bytes.clear();
        result
    }

    /// See [`crate::Store::release_mapped_pages`].
    pub(crate) fn release_mapped_pages(&self) -> u64 {
        let segments = self.segments.lock().clone();
        segments.iter().map(|segment| segment.release_mapped_pages()).sum()
    }

    /// See [`crate::Store::release_sealed_indexes`].
    pub(crate) fn release_sealed_indexes(&self) -> u64 {
        let segments = self.segments.lock().clone();
        segments.iter().map(|segment| segment.release_index()).sum()
    }

    fn active_segment(&self) -> Arc<Segment> {
        let segments = self.segments.lock().clone();
        #[expect(clippy::expect_used, reason = "a partition always has an active segment")]
        segments.last().cloned().expect("partition has a segment")
    }

    /// After a failed fdatasync, Linux marks the unwritten pages clean: reads
    /// still return the new bytes but no later fsync writes them, so a reopen
    /// in the same boot would trust data a power cut then takes back. Write
    /// the unsynced range again (from the page cache) so that the fsync at
    /// the next open either makes it durable or fails. Best effort: the store
    /// is already poisoned.
    fn redirty_unsynced(&self, active: &Segment) {
        let synced = self.gate.synced();
        let from = if synced.segment_base == active.base_offset {
            synced.position
        } else {
            0
        };
        let to = active.state.lock().flushed_len;
        rewrite_range(active.log.as_ref(), &active.log_path, from, to);
    }

    /// Wait for every append that took the writer lock before the store was
    /// closed (`Store::close`, which sets `closed` first): appends check it
    /// under the same lock, so none writes after this returns.
    pub(crate) fn close_barrier(&self) {
        drop(self.writer.lock());
    }

    /// Make everything written durable and visible (interval flush, close).
    pub fn flush(&self) -> Result<()> {
        *self.last_flush.lock() = Instant::now();
        let written = self.gate.written();
        if self.gate.synced().offset < written.offset {
            self.sync_to(written.offset, false)?;
        }
        self.publish(written.offset);
        // The log is durable up to the synced mark: its index entries may now
        // reach the index file (so the next open scans only what follows).
        let synced = self.gate.synced();
        let active = self.active_segment();
        if synced.segment_base == active.base_offset {
            if let Err(e) = active.persist_index_upto(synced.position) {
                self.poison(&e);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Cut the active segment's preallocated zeros and fsync (clean close), so
    /// that the files of a closed store end at their last batch.
    pub fn trim_preallocated(&self) -> Result<()> {
        let mut w = self.writer.lock();
        if let Err(e) = self.write_pending(&mut w) {
            self.poison(&e);
            return Err(e);
        }
        let preallocated = {
            let state = w.active.state.lock();
            state.file_len > state.written_len
        };
        if !preallocated {
            return Ok(());
        }
        w.active.trim_preallocated()?;
        w.active
            .log
            .sync_data()
            .map_err(|e| Error::io("fsync segment", &w.active.log_path, e))
    }

    /// Interval-mode flush if due.
    pub fn flush_if_due(&self, now: Instant) -> Result<()> {
        if let Durability::Interval { ms } = self.durability {
            let due = now.duration_since(*self.last_flush.lock()).as_millis() as u64 >= ms;
            if due {
                return self.flush();
            }
        }
        Ok(())
    }

    fn maybe_roll(&self, w: &mut Writer, incoming: u64, now: i64) -> Result<()> {
        let written = w.active.state.lock().written_len;
        if written == 0 {
            return Ok(());
        }
        let too_big = written + incoming > self.config.segment_bytes;
        let too_old = self
            .config
            .segment_age_ms
            .is_some_and(|age| now.saturating_sub(w.active.created_ms) >= age as i64);
        if too_big || too_old {
            self.roll(w, now)?;
        }
        Ok(())
    }

    /// Seal the active segment and start a new one. See design/durability.md, "Segment roll".
    fn roll(&self, w: &mut Writer, now: i64) -> Result<()> {
        // A poisoned store writes nothing more: sealing would fsync again after
        // a failed fsync and publish batches that were never acknowledged.
        // A closed one no longer owns the directory.
        self.shared.check_writable()?;
        let result = (|| {
            self.write_pending(w)?;
            w.active.seal()?;
            let sealed_len = w.active.state.lock().written_len;
            self.gate.record_synced(Mark {
                offset: w.next_offset,
                segment_base: w.active.base_offset,
                position: sealed_len,
            });
            self.publish(w.next_offset);
            // The producer snapshot is written before the new segment exists,
            // so the newest snapshot never lies past the durable log end.
            // An expired producer's state goes once its batches are gone
            // from the log (then the registry may forget the name); before
            // that it is the name's position (`ProducerEpochs::forget_expired`).
            let epochs = &self.shared.producers.epochs;
            let start = self.start_offset();
            let gone: Vec<u64> = w
                .producers
                .iter()
                .filter(|(id, entry)| {
                    !epochs.is_live(*id, now)
                        && entry
                            .batches
                            .back()
                            .is_none_or(|b| b.base_offset.saturating_add(u64::from(b.record_count)) <= start)
                })
                .map(|(id, _)| id)
                .collect();
            w.producers.retain(|id| epochs.knows(id) && !gone.contains(&id));
            crate::producer_snapshot::write(self.storage.as_ref(), &self.dir, w.next_offset, &w.producers)?;
            w.snapshot_offset = w.next_offset;
            w.snapshot_at = Instant::now();
            let segment = Arc::new(Segment::create(self.storage.as_ref(), &self.dir, w.next_offset, now)?);
            self.storage
                .sync_dir(&self.dir)
                .map_err(|e| Error::io("fsync dir", &self.dir, e))?;
            Ok(segment)
        })();
        let segment = match result {
            Ok(s) => s,
            Err(e) => {
                self.poison(&e);
                self.redirty_unsynced(&w.active);
                return Err(e);
            }
        };
        let mut segments = self.segments.lock();
        let mut list: Vec<Arc<Segment>> = segments.as_ref().clone();
        list.push(segment.clone());
        *segments = Arc::new(list);
        drop(segments);
        w.active = segment;
        self.shared.metrics.segments_rolled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Snapshot the producer state at the log end if it moved since the last
    /// snapshot and (unless `force`) `SNAPSHOT_INTERVAL` has passed. Only a
    /// fully durable log end is snapshotted (else this waits for a later call),
    /// so a snapshot never lies past what recovery will find. The state is
    /// encoded under the writer lock; the file is written after releasing it.
    pub fn snapshot_producers(&self, force: bool) -> Result<()> {
        let (offset, bytes) = {
            let mut w = self.writer.lock();
            let due = force || w.snapshot_at.elapsed() >= SNAPSHOT_INTERVAL;
            if self.shared.is_poisoned() || w.next_offset == w.snapshot_offset || !due {
                return Ok(());
            }
            if self.gate.synced().offset < w.next_offset {
                return Ok(());
            }
            w.snapshot_offset = w.next_offset;
            w.snapshot_at = Instant::now();
            (w.next_offset, w.producers.encode_snapshot(w.next_offset))
        };
        crate::producer_snapshot::write_encoded(self.storage.as_ref(), &self.dir, offset, &bytes)
    }

    /// Roll now if the active segment is not empty (tests, admin).
    pub fn roll_now(&self) -> Result<()> {
        let mut guard = self.writer.lock();
        if guard.active.state.lock().written_len == 0 {
            return Ok(());
        }
        self.roll(&mut guard, now_ms())
    }

    /// Age-based roll from the maintenance thread.
    pub fn roll_if_old(&self, now: i64) -> Result<()> {
        if self.config.segment_age_ms.is_none() {
            return Ok(());
        }
        let mut guard = self.writer.lock();
        self.maybe_roll(&mut guard, 0, now)
    }

    fn segments_snapshot(&self) -> Arc<Vec<Arc<Segment>>> {
        self.segments.lock().clone()
    }

    /// Visit records from `offset` below `end` (exclusive; at most the high
    /// watermark) within the budgets, without copying: each record is a view
    /// into the batch's bytes (a mapped sealed segment or a read buffer).
    /// Records of control batches are visited too but not counted. Returns
    /// the offset to continue from. Damage (a corrupt batch, an offset gap)
    /// after at least one visited record ends the read there without an
    /// error: the error is returned by the read that starts at the damage.
    pub fn visit_records(
        &self,
        offset: u64,
        options: ReadOptions,
        end: Option<u64>,
        visit: impl FnMut(&BatchHeader, RecordView<'_>),
    ) -> Result<u64> {
        self.visit_records_resuming(offset, options, end, &mut None, visit)
    }

    /// [`Partition::visit_records`] for a reader that comes back for more:
    /// `resume` is what the previous call of the same reader left (taken
    /// here, and set again when this call stops inside a batch of a mapped
    /// segment). It is used only if it is for exactly `offset` and its
    /// segment is still this partition's: then the batch it points into,
    /// verified by that call and unchanged in the mapping since, is continued
    /// at the record where that call stopped, without checking its CRC or
    /// parsing the records before again. Every byte visited is still covered
    /// by a CRC this reader verified.
    pub(crate) fn visit_records_resuming(
        &self,
        offset: u64,
        options: ReadOptions,
        end: Option<u64>,
        resume: &mut Option<ScanResume>,
        visit: impl FnMut(&BatchHeader, RecordView<'_>),
    ) -> Result<u64> {
        let previous = resume.take();
        let high_watermark = self.high_watermark();
        let end = end.map_or(high_watermark, |e| e.min(high_watermark));
        let start = self.start_offset();
        if offset < start || offset > high_watermark {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                start,
                end: high_watermark,
            });
        }
        if offset >= end {
            return Ok(offset);
        }
        let segments = self.segments_snapshot();
        let first = segments.partition_point(|s| s.base_offset <= offset).saturating_sub(1);
        let mut state = VisitState {
            next: offset,
            end,
            options,
            bytes: 0,
            count: 0,
            full: false,
            resume: None,
            visit,
        };
        // Continue inside the batch the previous call stopped in.
        let mut outcome = Ok(());
        let mut continue_at: Option<(usize, u64)> = None;
        if let Some(r) = previous.filter(|r| r.offset == offset) {
            let i = segments
                .partition_point(|s| s.base_offset <= r.segment.base_offset)
                .saturating_sub(1);
            let same_segment = segments.get(i).is_some_and(|s| Arc::ptr_eq(s, &r.segment)) && i == first;
            let raw = r
                .segment
                .mapped()
                .and_then(|m| m.get(r.batch_position as usize..))
                .and_then(|b| b.get(..r.header.length as usize));
            if let (true, Some(raw)) = (same_segment, raw) {
                outcome = state
                    .batch(&r.segment, r.batch_position, &r.header, raw, true, r.cursor)
                    .map(drop);
                continue_at = Some((i, r.batch_position + u64::from(r.header.length)));
            }
        }
        if outcome.is_ok() {
            outcome = self.visit_segments(&segments, first, continue_at, &mut state);
        }
        let metrics = &self.shared.metrics;
        metrics.fetch_records.fetch_add(state.count as u64, Ordering::Relaxed);
        metrics.fetch_bytes.fetch_add(state.bytes as u64, Ordering::Relaxed);
        if let Err(error) = outcome {
            // Damage after the records visited so far: answer them (they
            // were verified), and the error to the read that reaches it
            // (the next one, which starts at the damage: design/durability.md,
            // "Reads before damage").
            if state.next == offset {
                return Err(error);
            }
            tracing::warn!(
                topic = %self.topic,
                partition = self.id,
                from = offset,
                to = state.next,
                %error,
                "read stopped at damage: returning the records before it"
            );
        }
        *resume = state.resume;
        Ok(state.next)
    }

    /// The segment loop of [`Partition::visit_records_resuming`], from
    /// segment `first` (at `continue_at`'s position in its segment, if set,
    /// else at the index entry for `state.next`). Every batch visited must
    /// continue the offsets visited so far (a batch past `state.next` would
    /// skip records: `OffsetGap` at its position).
    ///
    /// The index is a cache, believed only where the log agrees: the batch
    /// an entry points at must be valid and have the entry's offset. An
    /// entry whose batch has another offset is dropped (counted in
    /// `derived_metadata_rejected`) and the lookup retried. An entry where no
    /// valid batch starts is avoided: the lookup is retried from the entry
    /// before it (at worst the segment's start), and the entry is dropped
    /// (and counted) if that scan passes its position without a batch
    /// boundary there or finds another offset there; if the scan finds the
    /// damage at that position, the entry was right and the damage is
    /// reported. Each pass drops an entry or moves to an earlier one.
    fn visit_segments<F: FnMut(&BatchHeader, RecordView<'_>)>(
        &self,
        segments: &[Arc<Segment>],
        first: usize,
        continue_at: Option<(usize, u64)>,
        state: &mut VisitState<F>,
    ) -> Result<()> {
        for (i, segment) in segments.iter().enumerate().skip(first) {
            if state.full {
                break;
            }
            if segment.base_offset > state.next
                && segment.base_offset <= state.end
                && self
                    .storage
                    .exists(&self.dir.join(segment::hole_name(segment.base_offset)))
            {
                // A recorded hole (design/format.md, `<base>.hole`): step
                // over it, also when nothing follows it yet (a hole at the
                // end: the read ends there instead of making no progress).
                state.next = segment.base_offset;
            }
            if segment.base_offset >= state.end {
                break;
            }
            let mut avoid: Option<IndexEntry> = None;
            loop {
                let (position, entry, end_position) = {
                    let seg = segment.state_with_index()?;
                    let (position, entry) = match continue_at {
                        Some((at, position)) if at == i => (position, None),
                        _ => {
                            let relative =
                                state.next.saturating_sub(segment.base_offset).min(u64::from(u32::MAX)) as u32;
                            let usable = avoid.map_or(seg.entries.len(), |a| {
                                seg.entries.partition_point(|e| e.position < a.position)
                            });
                            match segment::floor_by_offset(seg.entries.get(..usable).unwrap_or_default(), relative) {
                                Some(e) => (u64::from(e.position), Some(*e)),
                                None => (0, None),
                            }
                        }
                    };
                    (position, entry, seg.flushed_len)
                };
                let offset_of = |e: &IndexEntry| segment.base_offset.saturating_add(u64::from(e.relative_offset));
                let entry_offset = entry.as_ref().map(offset_of);
                let avoided_at = avoid.map(|a| u64::from(a.position));
                let mut disagrees = false;
                // What this pass found at the avoided entry's position: the
                // offset of a batch there, or that it went past it.
                let mut at_avoided: Option<u64> = None;
                let mut past_avoided = false;
                let result =
                    segment.for_each_batch_from(position, end_position, |batch_position, header, raw, mapped| {
                        if batch_position == position && entry_offset.is_some_and(|o| o != header.base_offset) {
                            disagrees = true;
                            return Ok(false);
                        }
                        match avoided_at {
                            Some(a) if a == batch_position => at_avoided = Some(header.base_offset),
                            Some(a) if a < batch_position + u64::from(header.length) && a > batch_position => {
                                past_avoided = true;
                            }
                            _ => {}
                        }
                        if header.base_offset > state.next {
                            return Err(Error::corruption(
                                &segment.log_path,
                                batch_position,
                                CorruptionKind::OffsetGap,
                            ));
                        }
                        state.batch(segment, batch_position, header, raw, mapped, RecordCursor::START)
                    });
                if let Some(a) = avoid {
                    let wrong = match at_avoided {
                        Some(base_offset) => base_offset != offset_of(&a),
                        None => past_avoided,
                    };
                    if wrong {
                        self.reject_index_entry(segment, &a);
                        avoid = None;
                    }
                }
                // No valid batch where the entry points: the entry or the
                // log is wrong; a scan from the entry before finds out which.
                let unreadable = matches!(
                    &result,
                    Err(Error::Corruption { position: p, kind, .. }) if *p == position && *kind != CorruptionKind::BadRecord
                );
                match entry {
                    Some(entry) if disagrees => self.reject_index_entry(segment, &entry),
                    Some(entry) if unreadable => avoid = Some(entry),
                    _ => {
                        result?;
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Drop an index entry a lookup found to disagree with the log (warned,
    /// counted in `derived_metadata_rejected`).
    fn reject_index_entry(&self, segment: &Segment, entry: &IndexEntry) {
        tracing::warn!(
            index = %segment.index_path.display(),
            relative_offset = entry.relative_offset,
            position = entry.position,
            "index entry disagrees with the log: dropped"
        );
        segment.reject_index_entry(entry);
        self.shared
            .metrics
            .derived_metadata_rejected
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Read batches from `offset` up to `end` (exclusive, at most the high
    /// watermark), as owned records grouped by batch (control batches included).
    /// Records before `offset` in the first batch are dropped.
    pub fn read_batches(&self, offset: u64, options: ReadOptions, end: Option<u64>) -> Result<(Vec<ReadBatch>, u64)> {
        let mut batches: Vec<ReadBatch> = Vec::new();
        let next = self.visit_records(offset, options, end, |header, view| match batches.last_mut() {
            Some(batch) if batch.header.base_offset == header.base_offset => batch.records.push(view.to_owned()),
            _ => batches.push(ReadBatch {
                header: *header,
                records: vec![view.to_owned()],
            }),
        })?;
        Ok((batches, next))
    }

    /// Visit data records (control batches skipped) from `offset` without
    /// copying them; see [`Partition::visit_records`].
    pub fn scan(
        &self,
        offset: u64,
        options: ReadOptions,
        isolation: Isolation,
        visit: impl FnMut(RecordView<'_>),
    ) -> Result<u64> {
        self.scan_resuming(offset, options, isolation, &mut None, visit)
    }

    /// [`Partition::scan`] continuing where the same reader stopped; see
    /// [`Partition::visit_records_resuming`].
    pub(crate) fn scan_resuming(
        &self,
        offset: u64,
        options: ReadOptions,
        isolation: Isolation,
        resume: &mut Option<ScanResume>,
        mut visit: impl FnMut(RecordView<'_>),
    ) -> Result<u64> {
        let end = match isolation {
            Isolation::ReadCommitted => Some(self.last_stable_offset()),
            Isolation::ReadUncommitted => None,
        };
        self.visit_records_resuming(offset, options, end, resume, |header, view| {
            if !header.is_control() {
                visit(view);
            }
        })
    }

    /// Read data records (control batches skipped) from `offset`.
    pub fn read(&self, offset: u64, options: ReadOptions, isolation: Isolation) -> Result<ReadResult> {
        let end = match isolation {
            Isolation::ReadCommitted => Some(self.last_stable_offset()),
            Isolation::ReadUncommitted => None,
        };
        let mut records = Vec::with_capacity(options.max_records.min(1024));
        let next_offset = self.visit_records(offset, options, end, |header, view| {
            if !header.is_control() {
                records.push(view.to_owned());
            }
        })?;
        Ok(ReadResult {
            records,
            next_offset,
            high_watermark: self.high_watermark(),
            last_stable_offset: self.last_stable_offset(),
            log_start_offset: self.start_offset(),
        })
    }

    /// Earliest visible offset whose record timestamp is >= `timestamp_ms`.
    pub fn offset_for_time(&self, timestamp_ms: i64) -> Result<Option<u64>> {
        let high_watermark = self.high_watermark();
        let start = self.start_offset();
        for segment in self.segments_snapshot().iter() {
            let (position, end_position, max_ts) = {
                let state = segment.state_with_index()?;
                let position =
                    segment::floor_by_time(&state.entries, timestamp_ms).map_or(0, |e| u64::from(e.position));
                (position, state.flushed_len, state.max_timestamp_ms)
            };
            if max_ts < timestamp_ms {
                continue;
            }
            let mut found = None;
            segment.for_each_batch(position, end_position, |_, header, raw| {
                if header.base_offset >= high_watermark {
                    return Ok(false);
                }
                if header.max_timestamp_ms < timestamp_ms || header.is_control() {
                    return Ok(true);
                }
                let records =
                    batch::decode_records(raw, header).map_err(|kind| Error::corruption(&segment.log_path, 0, kind))?;
                found = records
                    .iter()
                    .find(|r| r.timestamp_ms >= timestamp_ms && r.offset >= start && r.offset < high_watermark)
                    .map(|r| r.offset);
                Ok(found.is_none())
            })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    pub fn info(&self) -> PartitionInfo {
        let segments = self.segments_snapshot();
        PartitionInfo {
            partition: self.id,
            log_start_offset: self.start_offset(),
            high_watermark: self.high_watermark(),
            log_end_offset: self.gate.written().offset,
            segments: segments.len(),
            bytes: segments.iter().map(|s| s.state.lock().written_len).sum(),
        }
    }

    /// Delete whole sealed segments past the retention limits or wholly below
    /// the start offset. Returns the number of segments deleted.
    pub fn enforce_retention(&self, now: i64) -> Result<usize> {
        let segments = self.segments_snapshot();
        let mut total: u64 = segments.iter().map(|s| s.state.lock().written_len).sum();
        let start = self.start_offset();
        let mut delete = 0usize;
        for segment in segments.iter().take(segments.len().saturating_sub(1)) {
            let (len, max_ts, next) = {
                let state = segment.state.lock();
                (state.written_len, state.max_timestamp_ms, state.next_offset)
            };
            let by_time = self
                .config
                .retention_ms
                .is_some_and(|ms| max_ts < now.saturating_sub(ms as i64));
            let by_size = self.config.retention_bytes.is_some_and(|limit| total > limit);
            let below_start = next <= start;
            if !(by_time || by_size || below_start) {
                break;
            }
            total -= len;
            delete += 1;
        }
        if delete > 0 {
            self.delete_front(delete)?;
        }
        Ok(delete)
    }

    fn delete_front(&self, count: usize) -> Result<()> {
        let _writer = self.writer.lock();
        if self.shared.is_closed() {
            return Err(Error::Closed);
        }
        let removed: Vec<Arc<Segment>> = {
            let mut segments = self.segments.lock();
            let count = count.min(segments.len().saturating_sub(1));
            let list: Vec<Arc<Segment>> = segments.as_ref().clone();
            let (removed, kept) = list.split_at(count);
            let removed = removed.to_vec();
            *segments = Arc::new(kept.to_vec());
            if let Some(first) = kept.first() {
                self.start_offset.fetch_max(first.base_offset, Ordering::AcqRel);
            }
            removed
        };
        for segment in &removed {
            let len = segment.state.lock().written_len;
            for path in [&segment.log_path, &segment.index_path] {
                self.storage
                    .remove_file(path)
                    .map_err(|e| Error::io("delete segment", path, e))?;
            }
            self.shared.release(len);
            self.shared.metrics.segments_deleted.fetch_add(1, Ordering::Relaxed);
        }
        self.storage
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("fsync dir", &self.dir, e))
    }

    /// Move the log start offset forward to `offset` (records below become
    /// unreadable; whole segments below it are deleted). Durable on return.
    pub fn truncate_prefix(&self, offset: u64) -> Result<u64> {
        let high_watermark = self.high_watermark();
        if offset > high_watermark {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                start: self.start_offset(),
                end: high_watermark,
            });
        }
        if offset <= self.start_offset() {
            return Ok(self.start_offset());
        }
        let path = self.dir.join(START_OFFSET_FILE);
        {
            // Under the writer lock, which `Store::close` takes after it
            // sets `closed`: no file is written once the lock is released.
            let _writer = self.writer.lock();
            if self.shared.is_closed() {
                return Err(Error::Closed);
            }
            write_atomic(self.storage.as_ref(), &path, format!("{offset}\n").as_bytes())
                .map_err(|e| Error::io("write start offset", &path, e))?;
        }
        self.start_offset.fetch_max(offset, Ordering::AcqRel);
        self.enforce_retention(now_ms())?;
        Ok(self.start_offset())
    }
}

/// Where a sequential reader stopped inside a batch of a mapped (sealed)
/// segment: the batch at `batch_position` was verified (CRC) by that reader
/// and its records parsed up to `cursor`, the record of `offset`.
#[derive(Debug, Clone)]
pub(crate) struct ScanResume {
    segment: Arc<Segment>,
    batch_position: u64,
    header: BatchHeader,
    cursor: RecordCursor,
    offset: u64,
}

/// The running state of one [`Partition::visit_records_resuming`] call.
struct VisitState<F> {
    /// Offset of the next record to visit.
    next: u64,
    end: u64,
    options: ReadOptions,
    bytes: usize,
    count: usize,
    /// A budget or `end` was reached: visit nothing more.
    full: bool,
    resume: Option<ScanResume>,
    visit: F,
}

impl<F: FnMut(&BatchHeader, RecordView<'_>)> VisitState<F> {
    fn budget_spent(&self) -> bool {
        self.count >= self.options.max_records || (self.bytes >= self.options.max_bytes && self.count > 0)
    }

    /// Visit the records of one verified batch from `from`, those at or
    /// after `next`, within the budgets. Returns whether to go on with the
    /// next batch. `mapped`: `raw` is in the segment's mapping.
    fn batch(
        &mut self,
        segment: &Arc<Segment>,
        batch_position: u64,
        header: &BatchHeader,
        raw: &[u8],
        mapped: bool,
        from: RecordCursor,
    ) -> Result<bool> {
        if header.base_offset >= self.end {
            self.full = true;
            return Ok(false);
        }
        if header.next_offset() <= self.next {
            return Ok(true);
        }
        if self.budget_spent() {
            self.full = true;
            return Ok(false);
        }
        let control = header.is_control();
        let stopped = batch::visit_records_from(raw, header, from, |view| {
            if view.offset < self.next {
                return true;
            }
            if !control {
                if self.budget_spent() {
                    return false;
                }
                self.bytes += view.payload_len() + 24;
                self.count += 1;
            }
            self.next = view.offset + 1;
            (self.visit)(header, view);
            true
        })
        .map_err(|kind| Error::corruption(&segment.log_path, batch_position, kind))?;
        match stopped {
            None => {
                self.next = header.next_offset();
                Ok(true)
            }
            Some(cursor) => {
                self.full = true;
                if mapped {
                    self.resume = Some(ScanResume {
                        segment: segment.clone(),
                        batch_position,
                        header: *header,
                        cursor,
                        offset: self.next,
                    });
                }
                Ok(false)
            }
        }
    }
}

/// The recovered log ends at `end`, below `floor`, an offset a group has
/// committed (so the partition's offsets reached it once): appending at
/// `end` would hand records offsets the group has read past, and it would
/// skip them. So the partition continues at `floor` (design/durability.md,
/// "Offsets are never reused"): the hole marker `<floor>.hole` is made
/// durable, then the active segment is sealed (or removed when empty) and an
/// empty segment is created at `floor`. Offsets `[end, floor)` are a hole
/// that reads step over; every record below `end` stays readable. A crash in
/// between leaves the marker and the evidence, so the next open finishes.
/// Returns the new active segment (pushed onto `segments`).
fn continue_at_floor(
    storage: &dyn Storage,
    dir: &Path,
    segments: &mut Vec<Arc<Segment>>,
    (end, floor): (u64, u64),
    now: i64,
) -> Result<Arc<Segment>> {
    tracing::warn!(
        partition = %dir.display(),
        log_end = end,
        floor,
        "a consumer group committed offset {floor} but the log ends at {end} (records were cut or lost): \
         new records start at {floor}; offsets {end}..{floor} are a hole"
    );
    let marker = dir.join(segment::hole_name(floor));
    write_atomic(storage, &marker, format!("{end}\n").as_bytes())
        .map_err(|e| Error::io("write hole marker", &marker, e))?;
    if let Some(active) = segments.last().cloned() {
        if active.state.lock().written_len == 0 {
            for path in [&active.log_path, &active.index_path] {
                if storage.exists(path) {
                    storage
                        .remove_file(path)
                        .map_err(|e| Error::io("remove empty segment", path, e))?;
                }
            }
            segments.pop();
        } else {
            active.seal()?;
        }
    }
    let fresh = Arc::new(Segment::create(storage, dir, floor, now)?);
    storage.sync_dir(dir).map_err(|e| Error::io("fsync dir", dir, e))?;
    segments.push(fresh.clone());
    Ok(fresh)
}

fn read_start_offset(storage: &dyn Storage, dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(START_OFFSET_FILE);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let bytes = crate::storage::read_all(storage, &path, 64).map_err(|e| Error::io("read start offset", &path, e))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::corruption(&path, 0, CorruptionKind::BadMetadata))?;
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| Error::corruption(&path, 0, CorruptionKind::BadMetadata))
}

/// The log start at open: the larger of the first segment's base and the
/// persisted `start.offset`, which must lie in the log (at most its end).
/// One past the recovered end disagrees with the log (counted in
/// `derived_metadata_rejected`, warned, and the file rewritten before an
/// append can take an offset under it):
/// - under `Os`, `truncate_prefix` may have moved it past records a power
///   cut then took (the high watermark is published before the fsync): it is
///   lowered to the log end, as every record below it was truncated;
/// - under `Always` and `Interval` it was at most the durable high watermark
///   when written, so only damage (or an operator's cut of the tail below it)
///   puts it there: it is not believed, and the log starts at its first
///   segment, so that no acknowledged record is hidden.
fn start_offset_at_open(
    storage: &dyn Storage,
    dir: &Path,
    persisted: Option<u64>,
    first_base: u64,
    log_end: u64,
    durability: Durability,
    shared: &Shared,
) -> Result<u64> {
    let Some(persisted) = persisted.filter(|&persisted| persisted > log_end) else {
        return Ok(first_base.max(persisted.unwrap_or(0)).min(log_end));
    };
    let start = if durability == Durability::Os {
        log_end
    } else {
        first_base.min(log_end)
    };
    let path = dir.join(START_OFFSET_FILE);
    tracing::warn!(
        path = %path.display(),
        persisted,
        log_end,
        start,
        ?durability,
        "log start past the recovered log end: not believed"
    );
    shared.metrics.derived_metadata_rejected.fetch_add(1, Ordering::Relaxed);
    write_atomic(storage, &path, format!("{start}\n").as_bytes())
        .map_err(|e| Error::io("write start offset", &path, e))?;
    Ok(start)
}

/// Recover the last segment of a partition: the decision table of
/// design/durability.md ("Recovery"), a test per row in tests/recovery.rs.
fn recover_last(
    storage: &dyn Storage,
    dir: &Path,
    base_offset: u64,
    interval: u32,
    mode: RecoveryMode,
    now: i64,
    shared: &Shared,
) -> Result<Segment> {
    let (log_path, index_path, log, index) = Segment::open_files(storage, dir, base_offset)?;
    let log_len = log.len().map_err(|e| Error::io("stat segment", &log_path, e))?;
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
    let torn = scan
        .invalid
        .filter(|bad| !is_zero_tail(segment.log.as_ref(), &segment.log_path, bad.position, log_len));
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
        if let Some(claimed) = crate::producer_snapshot::durable_end_past(storage, dir, log_end)? {
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
        let durable_after =
            durable_batch_after(segment.log.as_ref(), &segment.log_path, bad, scan.next_offset, log_len)?;
        // Row 4b: a producer snapshot written after an fdatasync past the
        // bad batch proves it was acknowledged: loss, not a torn tail.
        let claimed = crate::producer_snapshot::durable_end_past(storage, dir, scan.next_offset)?;
        if (durable_after || claimed.is_some()) && mode == RecoveryMode::TornTailOnly && !live {
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
        let cut = crate::tail_cut::contents(segment.log.as_ref(), scan.valid_end, log_len);
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
            let backup = crate::tail_cut::back_up(
                storage,
                dir,
                segment.log.as_ref(),
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
        segment
            .log
            .set_len(scan.valid_end)
            .map_err(|e| Error::io("truncate torn tail", &segment.log_path, e))?;
        shared.metrics.torn_tails_truncated.fetch_add(1, Ordering::Relaxed);
    } else if scan.valid_end < log_len {
        // Zeros written ahead of the data (`Segment::note_preallocated`), not a torn batch.
        tracing::info!(
            segment = %segment.log_path.display(),
            position = scan.valid_end,
            bytes = log_len - scan.valid_end,
            "cutting the preallocated zeros after the last batch"
        );
        segment
            .log
            .set_len(scan.valid_end)
            .map_err(|e| Error::io("truncate preallocated tail", &segment.log_path, e))?;
    }
    // Everything recovered becomes durable and visible now. After a process
    // crash the tail may still be only in the page cache: sync it before
    // trusting it (and before the index below points into it).
    if let Err(e) = segment.log.sync_data() {
        // The kernel may now consider the unwritten pages clean; write them
        // again so the next open's fsync retries them (see redirty_unsynced).
        rewrite_range(segment.log.as_ref(), &segment.log_path, start.0, scan.valid_end);
        return Err(Error::io("fsync recovered tail", &segment.log_path, e));
    }
    segment.apply_scan(&scan);
    segment.rewrite_index()?;
    Ok(segment)
}

/// Are the bytes `[from, to)` all zero? True for the zeros an `Always`
/// partition writes ahead of its data (`Segment::note_preallocated`, at most
/// `PREALLOCATE_BYTES`); longer tails are not read and count as torn.
/// A read error answers false: the caller then handles the tail as torn.
fn is_zero_tail(log: &dyn StorageFile, path: &Path, from: u64, to: u64) -> bool {
    if to.saturating_sub(from) > PREALLOCATE_BYTES {
        return false;
    }
    let mut buf = vec![0u8; (to - from) as usize];
    match read_exact_at(log, &mut buf, from) {
        Ok(()) => buf.iter().all(|&b| b == 0),
        Err(error) => {
            tracing::warn!(segment = %path.display(), %error, "could not read the segment tail");
            false
        }
    }
}

/// Write consecutive batches appended at `position` and note them in the file.
fn write_batches(segment: &Segment, bytes: &[u8], position: u64) -> Result<()> {
    segment
        .log
        .write_all_at(bytes, position)
        .map_err(|e| Error::io("append", &segment.log_path, e))?;
    segment.note_flushed(position + bytes.len() as u64);
    Ok(())
}

/// Read `[from, to)` back from the page cache and write it again, so that a
/// later fsync writes it (after a failed fsync marked it clean). Best effort.
fn rewrite_range(log: &dyn StorageFile, path: &Path, from: u64, to: u64) {
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
fn entry_is_valid(log: &dyn StorageFile, path: &Path, log_len: u64, entry: &IndexEntry, offset: u64) -> Result<bool> {
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

/// Is there a CRC-valid batch after `bad` whose writer knew the bytes at
/// `bad.position` were already fsync'd? Then the bad batch was durable and has
/// been corrupted since: an error, not a torn tail.
fn durable_batch_after(
    log: &dyn StorageFile,
    path: &Path,
    bad: InvalidAt,
    expected_offset: u64,
    log_len: u64,
) -> Result<bool> {
    const WINDOW: u64 = 1024 * 1024;
    let magic = batch::BATCH_MAGIC.to_le_bytes();
    let mut window_start = bad.position + 1;
    let mut reader = ChunkReader::new(log, path, log_len);
    while window_start + HEADER_SIZE as u64 <= log_len {
        let len = (log_len - window_start).min(WINDOW + 3);
        let mut buf = vec![0u8; len as usize];
        read_exact_at(log, &mut buf, window_start).map_err(|e| Error::io("read segment", path, e))?;
        for (i, w) in buf.windows(4).enumerate() {
            if w != magic {
                continue;
            }
            let pos = window_start + i as u64;
            if let Ok(raw) = reader.batch_at(pos)? {
                if let Ok(header) = batch::verify(raw) {
                    // A real later batch continues the offsets past the bad one
                    // (which held at least `expected_offset`); batch-shaped bytes
                    // inside a torn batch's payload usually do not.
                    if u64::from(header.synced_before) > bad.position && header.base_offset > expected_offset {
                        return Ok(true);
                    }
                }
            }
        }
        window_start += WINDOW;
    }
    Ok(false)
}
