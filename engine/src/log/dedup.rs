//! The seam through which a partition asks the idempotent-producer feature
//! (`producer/`) about producers' batches, without knowing it: the log
//! defines what it calls, `producer/dedup.rs` implements it, and the facade
//! hands the implementation to every partition in its [`LogContext`]
//! (`super::context`). So the dependency points feature → log.
//!
//! What the log asks, and when (design/semantics.md, "Producer state
//! machine"; design/durability.md, "Recovery"):
//! - at open, after the tail is recovered: the partition's table
//!   ([`ProducerDedup::open_table`]), rebuilt from its snapshots and the log;
//! - during recovery: whether a durable snapshot claims a log end past the
//!   recovered one ([`ProducerDedup::durable_end_past`]);
//! - under the writer lock, for each sequenced append: admit it, then record
//!   it once written ([`DedupTable`]);
//! - at a roll and from maintenance: a snapshot of the table.
//!
//! [`LogContext`]: super::context::LogContext

use crate::error::Result;
use crate::io::Storage;
use crate::log::batch::ProducerStamp;
use crate::log::segment::Segment;
use crate::metrics::Metrics;
use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

/// What an append from a producer should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The next sequence: write the batch.
    Append,
    /// A retry of a remembered batch: do not write; answer with its offsets.
    Duplicate {
        /// The remembered batch's first offset.
        base_offset: u64,
        /// Offset just past it.
        next_offset: u64,
    },
}

/// The store-wide side of the seam: builds each partition's table and reads
/// and writes the partition's producer snapshots.
pub(crate) trait ProducerDedup: Debug + Send + Sync {
    /// The partition's table at open, once its log is recovered and ends at
    /// `log_end` (snapshots past it are removed first).
    fn open_table(
        &self,
        storage: &dyn Storage,
        dir: &Path,
        segments: &[Arc<Segment>],
        log_end: u64,
        metrics: &Metrics,
    ) -> Result<Box<dyn DedupTable>>;

    /// The largest log end past `log_end` that a valid producer snapshot of
    /// `dir` says was durable, if any: evidence of lost acknowledged records.
    fn durable_end_past(&self, storage: &dyn Storage, dir: &Path, log_end: u64) -> Result<Option<u64>>;

    /// Write a snapshot encoded by [`DedupTable::encode_snapshot`] for the
    /// durable log end `offset`, durably, and drop the older ones.
    fn write_snapshot(&self, storage: &dyn Storage, dir: &Path, offset: u64, bytes: &[u8]) -> Result<()>;
}

/// One partition's producer state, guarded by the partition's writer lock.
pub(crate) trait DedupTable: Debug + Send + Sync {
    /// Decide a sequenced append of `record_count` records (epoch, then sequence).
    fn admit(&self, stamp: ProducerStamp, record_count: u32, now_ms: i64) -> Result<Admission>;

    /// The offsets of the batch `stamp` retries if it is remembered here at
    /// the producer's current epoch, deciding and changing nothing else: the
    /// contract paths answer a retry before judging it (a retry after a
    /// contract change gets its original answer).
    fn remembered(&self, stamp: ProducerStamp, record_count: u32) -> Option<(u64, u64)>;

    /// Remember a batch that was written at `base_offset`.
    fn record(&mut self, stamp: ProducerStamp, base_offset: u64, record_count: u32, now_ms: i64);

    /// Remember a batch of `record_count` sequences of which `appended`
    /// records were written at `base_offset..` (the others went to the
    /// topic's DLQ); nothing if it is remembered already.
    fn record_split(&mut self, stamp: ProducerStamp, base_offset: u64, record_count: u32, appended: u32, now_ms: i64);

    /// The producer's last sequence here, if it has state here.
    fn last_sequence(&self, producer_id: u64) -> Option<u32>;

    /// The last sequence a batch of `epoch` continues from here: as
    /// `last_sequence`, but `None` for a producer whose sequences restart
    /// with each epoch (an anonymous one) when its state here is older.
    fn last_sequence_at(&self, producer_id: u64, epoch: u16) -> Option<u32>;

    /// Last append time of every producer with state here.
    fn activity(&self) -> Vec<(u64, i64)>;

    /// Before a roll's snapshot: forget the producers whose id the store no
    /// longer knows, and the expired ones whose batches all lie below the
    /// log start `start_offset`.
    fn forget_gone(&mut self, start_offset: u64, now_ms: i64);

    /// Snapshot file contents for the state as of the log end `offset`.
    fn encode_snapshot(&self, offset: u64) -> Vec<u8>;
}
