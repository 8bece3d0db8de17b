//! A partition: an ordered list of segments, one writer at a time, and a
//! high watermark below which records are durable (under the topic's
//! durability mode) and visible to readers.

use crate::clock::now_ms;
use crate::config::{Durability, RecoveryMode, TimestampType, TopicConfig};
use crate::error::{CorruptionKind, Error, Result};
use crate::io::checked::{FailureSink, IoContext};
use crate::io::{write_atomic, Storage};
use crate::layout::START_OFFSET_FILE;
use crate::log::batch::{
    self, BatchHeader, ProducerStamp, Record, RecordCursor, RecordView, StoredRecord, BATCH_BYTES_MAX, HEADER_SIZE,
};
use crate::log::context::LogContext;
use crate::log::dedup::{Admission, DedupTable};
use crate::log::group_commit::{Look, Mark, Parked, Spin, SyncFailure, SyncGate};
use crate::log::index::IndexEntry;
use crate::log::recovery::{recover_last, rewrite_range};
use crate::log::segment::{self, parse_log_name, Segment};
use crate::sync::{AtomicU64, Mutex, Ordering};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

mod append;
mod group_commit;
mod open;
mod read;
mod retention;
mod roll;

use append::write_batches;
pub use read::ScanMarks;
pub(crate) use read::ScanResume;
use retention::NO_RETENTION_FLOOR;

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: u64,
    /// Offset just past the batch.
    pub next_offset: u64,
    /// The append time every record got, on a log-append-time topic
    /// (`TimestampType::LogAppend`) when the batch was written by this
    /// call; `None` otherwise (create time, a duplicate, a routed append).
    pub log_append_time_ms: Option<i64>,
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
    /// Idempotent-producer state; guarded by the writer lock (the `dedup` seam).
    producers: Box<dyn DedupTable>,
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
    pub topic: String,
    pub id: u32,
    pub dir: PathBuf,
    storage: Arc<dyn Storage>,
    /// The topic's configuration, replaced whole by `Store::alter_topic`
    /// (`set_config`): each use takes the current one.
    config: Mutex<Arc<TopicConfig>>,
    /// The durability mode appends are written under now, encoded
    /// (`encode_durability`): switched live by `Store::alter_topic`
    /// (`set_durability`), read under the writer lock by each append.
    durability: AtomicU64,
    /// Offset just past the last batch written under `Always` (0: none
    /// since open): its acknowledgement waits for an fsync even after a
    /// switch away from `Always` (`owes_sync`).
    always_upto: AtomicU64,
    context: Arc<LogContext>,
    /// Bytes of the segment files of every partition of this topic (one
    /// counter shared by them, as `context.used_bytes` is by the store's):
    /// what the topic's `quota_bytes` is checked against (`reserve_bytes`).
    topic_bytes: Arc<AtomicU64>,
    writer: Mutex<Writer>,
    segments: Mutex<Arc<Vec<Arc<Segment>>>>,
    gate: Arc<SyncGate>,
    /// What a failed write or fsync of this partition's files does (armed on
    /// every segment: io/checked.rs): poison the store, fail `gate`.
    failure: Arc<dyn FailureSink>,
    high_watermark: AtomicU64,
    start_offset: AtomicU64,
    /// The smallest position of the store's mirrors on this partition
    /// ([`NO_RETENTION_FLOOR`] if none mirrors it): retention by age or size
    /// keeps every segment holding a record at or above it (`retention.rs`).
    retention_floor: AtomicU64,
    last_flush: Mutex<Instant>,
    /// Offsets of transactional batches written but not yet released: the
    /// last stable offset (what read-committed readers see) stops at the
    /// smallest. See design/semantics.md, "Isolation".
    holds: crate::log::stable::StableOffset,
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
    /// The settling of an async leader between its polls
    /// (`Partition::poll_durable`); only the wait holding the turn to lead
    /// touches it.
    gathering: Mutex<Option<group_commit::Settling>>,
}

/// `Durability` as one word, so that an append reads the mode without a
/// lock: `Always` and `Os` take the two largest values, an interval its
/// milliseconds (at least 1: `Durability::parse` and the store options
/// refuse 0). An interval of `u64::MAX - 2` ms or more (half a billion
/// years) is held as `u64::MAX - 2`: no flush comes due either way.
const DURABILITY_ALWAYS: u64 = u64::MAX;
const DURABILITY_OS: u64 = u64::MAX - 1;
const DURABILITY_INTERVAL_MS_MAX: u64 = u64::MAX - 2;

pub(super) fn encode_durability(durability: Durability) -> u64 {
    match durability {
        Durability::Always => DURABILITY_ALWAYS,
        Durability::Os => DURABILITY_OS,
        Durability::Interval { ms } => ms.min(DURABILITY_INTERVAL_MS_MAX),
    }
}

fn decode_durability(code: u64) -> Durability {
    match code {
        DURABILITY_ALWAYS => Durability::Always,
        DURABILITY_OS => Durability::Os,
        ms => Durability::Interval { ms },
    }
}

/// A live partition's answer to a failed write, fsync or truncation of its
/// files: the store is poisoned (its first cause kept) and nothing more of
/// this partition is acknowledged (design/durability.md, "Poisoning").
#[derive(Debug)]
struct PoisonOnFailure {
    context: Arc<LogContext>,
    gate: Arc<SyncGate>,
}

impl FailureSink for PoisonOnFailure {
    fn failed(&self, error: &Error) {
        self.context.poison(error);
        self.gate.fail();
    }
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

impl Partition {
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
        self.context.notifier.notify();
    }

    pub fn start_offset(&self) -> u64 {
        self.start_offset.load(Ordering::Acquire)
    }

    /// The topic's configuration in effect now.
    pub fn config(&self) -> Arc<TopicConfig> {
        self.config.lock().clone()
    }

    /// Replace the configuration (an altered topic, `Catalog::alter_topic`,
    /// after its `topic.meta` is durable): appends, rolls and retention
    /// started after this use it. Its durability is switched by
    /// [`Partition::set_durability`].
    pub(crate) fn set_config(&self, config: TopicConfig) {
        *self.config.lock() = Arc::new(config);
    }

    /// The durability mode appends are written under now.
    pub fn durability(&self) -> Durability {
        decode_durability(self.durability.load(Ordering::Acquire))
    }

    /// Switch the durability mode appends are written under (an altered
    /// topic, after its `topic.meta` is durable; design/durability.md,
    /// "Switching durability"). Under the writer lock: every batch written
    /// before is under the old mode, every one after under the new. Batches
    /// pending for a group-commit leader are written first, so that an
    /// `Os` batch written next is never published ahead of bytes not in the
    /// file. Then everything written so far is fsync'd and published
    /// (`flush`): when this returns, every record appended before the
    /// switch is durable, whatever either mode, and the waiters of batches
    /// written under `Always` were answered by that sync (or lead their
    /// own: `owes_sync` still holds for them).
    pub(crate) fn set_durability(&self, durability: Durability) -> Result<()> {
        let code = encode_durability(durability);
        {
            let mut w = self.writer.lock();
            if self.durability.load(Ordering::Acquire) == code {
                return Ok(());
            }
            self.context.check_writable()?;
            self.write_pending(&mut w)?;
            self.durability.store(code, Ordering::Release);
        }
        tracing::info!(topic = %self.topic, partition = self.id, %durability, "durability switched");
        self.flush()
    }

    fn publish(&self, offset: u64) {
        let previous = self.high_watermark.fetch_max(offset, Ordering::AcqRel);
        if offset > previous {
            self.context.notifier.notify();
        }
    }

    /// Poison the store and fail this partition's waiters, for a failure
    /// that no checked file reported (a judged write, a step of a roll).
    fn poison(&self, cause: &Error) {
        self.failure.failed(cause);
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

    /// Wait for every append that took the writer lock before the store was
    /// closed (`Store::close`, which sets `closed` first): appends check it
    /// under the same lock, so none writes after this returns.
    pub(crate) fn close_barrier(&self) {
        drop(self.writer.lock());
    }

    fn segments_snapshot(&self) -> Arc<Vec<Arc<Segment>>> {
        self.segments.lock().clone()
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
}
