//! Counters an operator must see. Cheap relaxed atomics, read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds (microseconds) of the fsync latency histogram buckets.
pub const FSYNC_BUCKETS_US: [u64; 12] = [
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    u64::MAX,
];

#[derive(Debug, Default)]
/// The engine's live counters (relaxed atomics); read them with [`Metrics::snapshot`].
pub struct Metrics {
    /// Batches appended.
    pub append_batches: AtomicU64,
    /// Records appended.
    pub append_records: AtomicU64,
    /// Bytes appended.
    pub append_bytes: AtomicU64,
    /// Records returned by reads.
    pub fetch_records: AtomicU64,
    /// Bytes returned by reads.
    pub fetch_bytes: AtomicU64,
    /// Batches a read verified (CRC checked and valid): every batch a read
    /// walks over from its index entry, also the one its offset is in.
    pub read_batches_verified: AtomicU64,
    /// Reads that continued inside a batch the same reader verified before
    /// (a `Scanner` that stopped inside a batch of a sealed segment).
    pub read_batches_resumed: AtomicU64,
    /// fdatasyncs run.
    pub fsyncs: AtomicU64,
    /// Total fdatasync time, microseconds.
    pub fsync_micros_total: AtomicU64,
    /// fdatasync latency histogram, by `FSYNC_BUCKETS_US`.
    pub fsync_buckets: [AtomicU64; FSYNC_BUCKETS_US.len()],
    /// Segments sealed.
    pub segments_rolled: AtomicU64,
    /// Segments deleted by retention or the quota.
    pub segments_deleted: AtomicU64,
    /// Appends refused by the store quota.
    pub quota_rejections: AtomicU64,
    /// Torn tails cut at open.
    pub torn_tails_truncated: AtomicU64,
    /// Partitions an open continued at a group's committed offset above the
    /// recovered log end, leaving a hole (design/format.md, `<base>.hole`).
    pub offset_holes: AtomicU64,
    /// Parts of a commit record that recovery could not apply (target gone,
    /// record over the target's limits, damaged part): skipped and logged
    /// (`Store::unapplied_transaction_parts`).
    pub transaction_parts_unapplied: AtomicU64,
    /// Derived structures found to disagree with the log and dropped (then
    /// rebuilt from the log or scanned past): an index entry whose batch is
    /// not at its position or has another offset, a sealed segment's end
    /// entry that does not reach the next segment, a `start.offset` outside
    /// the log, a producer snapshot that disagrees with its name or the log.
    pub derived_metadata_rejected: AtomicU64,
    /// Waits for a group fsync that spun before sleeping
    /// (`StoreOptions::group_commit_spin`), and of those, how many saw the
    /// hand-off while spinning (the others then slept until it came).
    pub group_commit_spins: AtomicU64,
    /// Spinning waits that saw the hand-off while spinning.
    pub group_commit_spin_handoffs: AtomicU64,
    /// Appends refused with `Error::NoSpace` (the device was full before any
    /// byte of the batch was written; the store was not poisoned).
    pub no_space_rejections: AtomicU64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
/// The counters at one moment ([`Store::metrics`](crate::Store::metrics)); fields as in [`Metrics`].
pub struct MetricsSnapshot {
    /// Batches appended.
    pub append_batches: u64,
    /// Records appended.
    pub append_records: u64,
    /// Bytes appended.
    pub append_bytes: u64,
    /// Records returned by reads.
    pub fetch_records: u64,
    /// Bytes returned by reads.
    pub fetch_bytes: u64,
    /// Batches a read verified (CRC checked and valid).
    pub read_batches_verified: u64,
    /// Reads that continued inside a batch they had verified before.
    pub read_batches_resumed: u64,
    /// fdatasyncs run.
    pub fsyncs: u64,
    /// Total fdatasync time, microseconds.
    pub fsync_micros_total: u64,
    /// Cumulative-free counts per bucket of `FSYNC_BUCKETS_US`.
    pub fsync_buckets: Vec<u64>,
    /// Segments sealed.
    pub segments_rolled: u64,
    /// Segments deleted by retention or the quota.
    pub segments_deleted: u64,
    /// Appends refused by the store quota.
    pub quota_rejections: u64,
    /// Torn tails cut at open.
    pub torn_tails_truncated: u64,
    /// Offset holes left at open (see `Metrics::offset_holes`).
    pub offset_holes: u64,
    /// Transaction parts recovery could not apply.
    pub transaction_parts_unapplied: u64,
    /// Derived structures dropped for disagreeing with the log.
    pub derived_metadata_rejected: u64,
    /// Group-fsync waits that spun before sleeping.
    pub group_commit_spins: u64,
    /// Of those, the waits that saw the hand-off while spinning.
    pub group_commit_spin_handoffs: u64,
    /// Appends refused with `Error::NoSpace`.
    pub no_space_rejections: u64,
    /// Bytes of segment and index files now.
    pub used_bytes: u64,
    /// `StoreOptions::quota_bytes`.
    pub quota_bytes: Option<u64>,
    /// Why the store is poisoned (`None` while it is writable).
    pub poisoned: Option<crate::PoisonCause>,
}

impl Metrics {
    /// Count one fdatasync that took `micros`.
    pub fn record_fsync(&self, micros: u64) {
        self.fsyncs.fetch_add(1, Relaxed);
        self.fsync_micros_total.fetch_add(micros, Relaxed);
        let bucket = FSYNC_BUCKETS_US
            .iter()
            .position(|b| micros <= *b)
            .unwrap_or(FSYNC_BUCKETS_US.len() - 1);
        if let Some(b) = self.fsync_buckets.get(bucket) {
            b.fetch_add(1, Relaxed);
        }
    }

    /// The counters now, with the store's byte usage.
    pub fn snapshot(
        &self,
        used_bytes: u64,
        quota_bytes: Option<u64>,
        poisoned: Option<crate::PoisonCause>,
    ) -> MetricsSnapshot {
        MetricsSnapshot {
            append_batches: self.append_batches.load(Relaxed),
            append_records: self.append_records.load(Relaxed),
            append_bytes: self.append_bytes.load(Relaxed),
            fetch_records: self.fetch_records.load(Relaxed),
            fetch_bytes: self.fetch_bytes.load(Relaxed),
            read_batches_verified: self.read_batches_verified.load(Relaxed),
            read_batches_resumed: self.read_batches_resumed.load(Relaxed),
            fsyncs: self.fsyncs.load(Relaxed),
            fsync_micros_total: self.fsync_micros_total.load(Relaxed),
            fsync_buckets: self.fsync_buckets.iter().map(|b| b.load(Relaxed)).collect(),
            segments_rolled: self.segments_rolled.load(Relaxed),
            segments_deleted: self.segments_deleted.load(Relaxed),
            quota_rejections: self.quota_rejections.load(Relaxed),
            torn_tails_truncated: self.torn_tails_truncated.load(Relaxed),
            offset_holes: self.offset_holes.load(Relaxed),
            transaction_parts_unapplied: self.transaction_parts_unapplied.load(Relaxed),
            derived_metadata_rejected: self.derived_metadata_rejected.load(Relaxed),
            group_commit_spins: self.group_commit_spins.load(Relaxed),
            group_commit_spin_handoffs: self.group_commit_spin_handoffs.load(Relaxed),
            no_space_rejections: self.no_space_rejections.load(Relaxed),
            used_bytes,
            quota_bytes,
            poisoned,
        }
    }
}
