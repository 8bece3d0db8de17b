//! `Store`'s appends and reads: each finds its partition through the catalog
//! and forwards to it (log/partition); retention and truncation move a log
//! start under the commit lock.

use super::*;
use crate::log::batch::AppendRecord;
use crate::log::group_commit::Parked;
use crate::pipeline::dlq::route::judge_request;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use crate::log::partition::ScanMarks;

impl Store {
    /// A [`Scanner`](crate::Scanner) of `topic`/`partition` starting at
    /// `offset`. Fails if the partition does not exist; the offset is
    /// checked by each scan.
    pub fn scanner(&self, topic: &str, partition: u32, offset: u64, isolation: Isolation) -> Result<crate::Scanner> {
        crate::Scanner::new(self.inner.catalog.clone(), topic, partition, offset, isolation)
    }

    /// Append `records` as one batch; returns once acknowledged under the
    /// topic's durability mode. Internal topics (`__*`) are written only by
    /// the operations that own them (`InternalName`).
    ///
    /// With a contract installed on the topic ([`Store::record_checks`]),
    /// every record is checked first: a `reject` verdict refuses the whole
    /// request (`ContractViolation`, nothing appended); records with a `dlq`
    /// verdict go to the topic's DLQ in one transaction with the others
    /// (the answer is then the valid records' offsets, an empty range at
    /// the log end if none; [`Store::append_routed`] says which went where).
    pub fn append(&self, topic: &str, partition: u32, records: &[Record]) -> Result<AppendInfo> {
        crate::names::refuse_internal_topic(topic)?;
        let routing = judge_request(&self.inner.catalog.checks, topic, partition, records, "produce")?;
        let p = self.partition(topic, partition)?;
        if routing.letters.is_empty() {
            let info = p.append(records, None, 0)?;
            routing.observe(partition, info.base_offset, records);
            return Ok(info);
        }
        let routed = self.pipeline().commit_routed(topic, partition, records, &routing)?;
        Ok(routed.appended.unwrap_or_else(|| {
            let end = p.high_watermark();
            AppendInfo {
                base_offset: end,
                next_offset: end,
                log_append_time_ms: None,
            }
        }))
    }

    /// The explicitly internal write path: append `records` to an internal
    /// topic (`__*`) as they are, with no check that they are what the
    /// operation owning the topic would write. Recovery must confine what
    /// it finds there to that topic; this exists to test exactly that (a
    /// record an older version, a bug or damage left behind). Never for data.
    pub fn append_to_internal_topic(&self, topic: &str, partition: u32, records: &[Record]) -> Result<AppendInfo> {
        if !crate::names::is_internal(topic) {
            return Err(Error::invalid(
                "topic",
                format!("{topic:?} is not internal: use `append`"),
            ));
        }
        self.partition(topic, partition)?.append(records, None, 0)
    }

    /// Read visible, committed records from `offset` (read-committed isolation).
    pub fn read(&self, topic: &str, partition: u32, offset: u64, options: ReadOptions) -> Result<ReadResult> {
        self.partition(topic, partition)?
            .read(offset, options, Isolation::ReadCommitted)
    }

    /// Read from `offset` with a chosen isolation level.
    pub fn read_with(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        options: ReadOptions,
        isolation: Isolation,
    ) -> Result<ReadResult> {
        self.partition(topic, partition)?.read(offset, options, isolation)
    }

    /// Visit records from `offset` without copying them: `visit` gets views
    /// into the segment's bytes (memory-mapped once sealed). Same budgets,
    /// isolation and offsets as [`Store::read_with`]; returns the next offset.
    pub fn scan(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        options: ReadOptions,
        isolation: Isolation,
        visit: impl FnMut(crate::log::batch::RecordView<'_>),
    ) -> Result<u64> {
        self.partition(topic, partition)?
            .scan(offset, options, isolation, visit)
    }

    /// [`Store::scan`], also returning the partition's marks as
    /// [`Store::read_with`] reports them (taken after the visit), so that a
    /// zero-copy reader can answer with the same numbers as `read_with`.
    pub fn scan_with_marks(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        options: ReadOptions,
        isolation: Isolation,
        visit: impl FnMut(crate::log::batch::RecordView<'_>),
    ) -> Result<ScanMarks> {
        let p = self.partition(topic, partition)?;
        let next_offset = p.scan(offset, options, isolation, visit)?;
        Ok(ScanMarks {
            next_offset,
            high_watermark: p.high_watermark(),
            last_stable_offset: p.last_stable_offset(),
            log_start_offset: p.start_offset(),
        })
    }

    /// Write one batch without waiting for its acknowledgement, for callers
    /// that wait elsewhere (the server waits for `Always` fsyncs on its own
    /// threads instead of blocking one per request). With a `producer` stamp
    /// the batch is sequenced as by [`Store::append_sequenced`] (a retry
    /// returns the original's offsets and `duplicate`).
    ///
    /// The append is acknowledged only when [`PendingAppend::wait`] returns
    /// `Ok`: at once unless the topic is `Always`, else once an fsync covers
    /// the batch. Until then readers do not see it, and a crash may take it
    /// back; dropping the `PendingAppend` leaves it to the next fsync.
    ///
    /// `records` are owned ([`Record`]) or borrowed from the caller's
    /// buffer ([`AppendRecord`]: the Kafka front's request), and encoded
    /// into the batch from where they are. A topic with a contract judges
    /// them where they are too; borrowed ones are copied only when some go
    /// to the DLQ (the routed transaction stages owned records).
    pub fn append_pending<R: AppendRecord>(
        &self,
        topic: &str,
        partition: u32,
        records: &[R],
        producer: Option<ProducerStamp>,
    ) -> Result<PendingAppend> {
        crate::names::refuse_internal_topic(topic)?;
        let p = self.partition(topic, partition)?;
        if self.inner.catalog.checks.get(topic).is_some() {
            return self.append_judged(p, topic, partition, records, producer);
        }
        // No contract: no verdicts to count or observe (`judge_request`
        // would judge nothing).
        let (info, duplicate) = p.append_deferred(records, producer)?;
        Ok(PendingAppend {
            base_offset: info.base_offset,
            next_offset: info.next_offset,
            duplicate,
            log_append_time_ms: info.log_append_time_ms,
            dead_lettered: Vec::new(),
            partition: p.owes_sync(info.next_offset).then_some(p),
        })
    }

    /// [`Store::append_pending`] to a topic with a contract: every record
    /// judged, those the contract sends to the DLQ routed there with the
    /// others in one transaction.
    fn append_judged<R: AppendRecord>(
        &self,
        p: Arc<Partition>,
        topic: &str,
        partition: u32,
        records: &[R],
        producer: Option<ProducerStamp>,
    ) -> Result<PendingAppend> {
        if let Some(stamp) = producer {
            // A retry is answered before it is judged: a contract applied
            // since the original must not change its answer.
            if let Some(info) = p.remembered_batch(stamp, records) {
                return Ok(PendingAppend {
                    base_offset: info.base_offset,
                    next_offset: info.next_offset,
                    duplicate: true,
                    log_append_time_ms: None,
                    dead_lettered: Vec::new(),
                    partition: p.owes_sync(info.next_offset).then_some(p),
                });
            }
        }
        let mut routing = judge_request(&self.inner.catalog.checks, topic, partition, records, "produce")?;
        if !routing.letters.is_empty() {
            // Acknowledged on return: the commit record is fdatasync'd. An
            // idempotent producer's batch is split too, its sequences
            // claimed with the transaction (design/contracts.md,
            // "Idempotent batches"). The transaction stages owned records.
            let records = R::owned(records);
            let (routed, duplicate) = match producer {
                Some(stamp) => self
                    .pipeline()
                    .commit_routed_sequenced(topic, partition, &records, &routing, stamp)?,
                None => (
                    self.pipeline().commit_routed(topic, partition, &records, &routing)?,
                    false,
                ),
            };
            if duplicate {
                // A retry: its verdicts were counted with the original.
                routing.duplicate();
            }
            let end = p.high_watermark();
            let info = routed.appended.unwrap_or(AppendInfo {
                base_offset: end,
                next_offset: end,
                log_append_time_ms: None,
            });
            return Ok(PendingAppend {
                base_offset: info.base_offset,
                next_offset: info.next_offset,
                duplicate,
                log_append_time_ms: info.log_append_time_ms,
                dead_lettered: routed.dead_lettered,
                partition: None,
            });
        }
        let (info, duplicate) = p.append_deferred(records, producer)?;
        if duplicate {
            routing.duplicate();
        } else {
            routing.observe(partition, info.base_offset, records);
        }
        Ok(PendingAppend {
            base_offset: info.base_offset,
            next_offset: info.next_offset,
            duplicate,
            log_append_time_ms: info.log_append_time_ms,
            dead_lettered: Vec::new(),
            partition: p.owes_sync(info.next_offset).then_some(p),
        })
    }

    /// The durability mode appends to `topic` are acknowledged under (its own
    /// or the store's default). Cheap: no I/O, one map lookup.
    pub fn durability(&self, topic: &str) -> Result<Durability> {
        let topic = self.topic(topic)?;
        Ok(self.inner.catalog.durability(&topic))
    }

    /// Read whole batches (with headers, control batches included) up to `end`.
    pub fn read_batches(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        options: ReadOptions,
        end: Option<u64>,
    ) -> Result<(Vec<ReadBatch>, u64)> {
        self.partition(topic, partition)?.read_batches(offset, options, end)
    }

    /// Earliest visible offset with a timestamp >= `timestamp_ms`, if any.
    pub fn offset_for_time(&self, topic: &str, partition: u32, timestamp_ms: i64) -> Result<Option<u64>> {
        self.partition(topic, partition)?.offset_for_time(timestamp_ms)
    }

    /// Offsets `[start, high watermark)` of a partition.
    pub fn offsets(&self, topic: &str, partition: u32) -> Result<(u64, u64)> {
        let p = self.partition(topic, partition)?;
        Ok((p.start_offset(), p.high_watermark()))
    }

    /// Block until the partition's high watermark passes `offset` or `timeout`
    /// elapses. Returns true if data past `offset` is visible.
    pub fn wait_for(&self, topic: &str, partition: u32, offset: u64, timeout: Duration) -> Result<bool> {
        let p = self.partition(topic, partition)?;
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.inner.catalog.shared.notifier.generation();
            if p.last_stable_offset() > offset {
                return Ok(true);
            }
            if !self.inner.catalog.shared.notifier.wait_past(seen, deadline) {
                return Ok(p.last_stable_offset() > offset);
            }
        }
    }

    /// The store-wide change notifier (consumers wait on it across partitions).
    pub fn wait_any(&self, seen_generation: u64, deadline: Instant) -> bool {
        self.inner.catalog.shared.notifier.wait_past(seen_generation, deadline)
    }

    /// A counter that moves whenever records become visible anywhere (for [`Store::wait_any`]).
    pub fn generation(&self) -> u64 {
        self.inner.catalog.shared.notifier.generation()
    }

    /// Make everything written so far durable and visible, in every mode.
    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        for p in self.inner.catalog.partitions() {
            p.flush()?;
        }
        Ok(())
    }

    /// Take the pages of memory-mapped sealed segments out of this process's
    /// resident set; returns the bytes of the maps released. Reads of sealed
    /// segments (`Scanner`, fetches) go through memory maps, and the pages
    /// they touched stay mapped, so the process's RSS grows with what was
    /// read. The pages stay in the page cache, which the kernel reclaims as
    /// usual; the next read maps each back in with a minor fault. For long
    /// running processes after a large read, while idle (`millrace serve`
    /// does it after a quiet period).
    pub fn release_mapped_pages(&self) -> u64 {
        self.sum_over_partitions(Partition::release_mapped_pages)
    }

    /// Drop the index entries of sealed segments from memory; returns the
    /// bytes freed. A sealed segment's sparse index (16 B per
    /// `index_interval_bytes` of log, 0.4 % of the data at the default 4 KiB)
    /// is loaded at open and kept for lookups, so it grows with the store;
    /// all of it is in the segment's index file, and the next lookup in a
    /// released segment reads it back (one read of the index file). For long
    /// running processes while idle (`millrace serve` does it after a quiet
    /// period, with [`Store::release_mapped_pages`]).
    pub fn release_sealed_indexes(&self) -> u64 {
        self.sum_over_partitions(Partition::release_sealed_indexes)
    }

    /// `f` of every partition of every topic (internal ones too), summed.
    fn sum_over_partitions(&self, f: impl Fn(&Partition) -> u64) -> u64 {
        self.inner.catalog.partitions().iter().map(|p| f(p)).sum()
    }

    /// Seal the active segment of a partition (tests and admin).
    pub fn roll(&self, topic: &str, partition: u32) -> Result<()> {
        self.partition(topic, partition)?.roll_now()
    }

    /// Delete sealed segments beyond retention everywhere. Returns segments deleted.
    pub fn enforce_retention(&self) -> Result<usize> {
        let now = now_ms();
        let mut deleted = 0;
        let topics = self.inner.catalog.topics();
        for topic in topics {
            for p in &topic.partitions {
                // The log start moves only under the commit lock (txn.rs, find_part).
                let _commits = self.lock_commits();
                self.check_open()?;
                deleted += p.enforce_retention(now)?;
            }
        }
        Ok(deleted)
    }

    /// Make records below `offset` unreadable and delete segments wholly
    /// below it. Not for internal topics (`InternalName`): a DLQ is purged
    /// with `dlq_purge`, the others trim themselves.
    pub fn truncate_prefix(&self, topic: &str, partition: u32, offset: u64) -> Result<u64> {
        crate::names::refuse_internal_topic(topic)?;
        self.inner.catalog.truncate_prefix(topic, partition, offset)
    }
}

/// A batch written by [`Store::append_pending`] whose acknowledgement may
/// still be owed.
#[must_use = "an `Always` append is acknowledged only when `wait` returns Ok"]
#[derive(Debug)]
pub struct PendingAppend {
    /// Offset of the batch's first record.
    pub base_offset: u64,
    /// Offset just past the batch.
    pub next_offset: u64,
    /// A producer's retry: nothing was written, the offsets are the original's.
    pub duplicate: bool,
    /// The append time of a log-append-time topic's batch
    /// (`AppendInfo::log_append_time_ms`).
    pub log_append_time_ms: Option<i64>,
    /// (index in the request, DLQ offset) of each record the topic's
    /// contract sent to its DLQ (then the offsets are the other records',
    /// written with them in one transaction, already acknowledged).
    pub dead_lettered: Vec<(usize, u64)>,
    /// `Some` while an fsync is owed (`Always`).
    partition: Option<Arc<Partition>>,
}

impl PendingAppend {
    /// Whether [`PendingAppend::wait`] may block (an `Always` topic).
    pub fn needs_wait(&self) -> bool {
        self.partition.is_some()
    }

    /// Block until the batch is acknowledged: under `Always` until an fsync
    /// covers it, leading or joining a group fsync. An error means it is not
    /// acknowledged (a failed fsync poisons the store, as for any append).
    pub fn wait(self) -> Result<ProducerAppend> {
        if let Some(partition) = &self.partition {
            partition.wait_durable(self.next_offset)?;
        }
        Ok(self.acknowledged())
    }

    /// The async form of [`PendingAppend::wait`]: a future that completes
    /// when the batch is acknowledged, without a thread blocked meanwhile:
    /// the task is parked in the partition's group commit and woken by the
    /// fsync that covers the batch (or fails). A poll that finds no fsync
    /// running on the partition leads one on the polling thread (it writes
    /// the pending batches and fdatasyncs, as [`PendingAppend::wait`] would
    /// there), so under an async runtime a worker thread runs that fsync.
    /// Dropping the future unfinished is as dropping the `PendingAppend`
    /// (the next fsync covers the batch); a turn to lead the next group
    /// fsync that it had been handed passes on to another waiter.
    pub fn acknowledgement(self) -> WaitDurable {
        WaitDurable {
            pending: self,
            parked: Parked::default(),
        }
    }

    fn acknowledged(&self) -> ProducerAppend {
        ProducerAppend {
            base_offset: self.base_offset,
            next_offset: self.next_offset,
            duplicate: self.duplicate,
            log_append_time_ms: self.log_append_time_ms,
        }
    }
}

/// The future of [`PendingAppend::acknowledgement`].
#[must_use = "an `Always` append is acknowledged only when the future completes with Ok"]
#[derive(Debug)]
pub struct WaitDurable {
    pending: PendingAppend,
    parked: Parked,
}

impl Future for WaitDurable {
    type Output = Result<ProducerAppend>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(partition) = &this.pending.partition {
            match partition.poll_durable(this.pending.next_offset, &mut this.parked, cx.waker()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Ready(Ok(())) => {}
            }
        }
        Poll::Ready(Ok(this.pending.acknowledged()))
    }
}

impl WaitDurable {
    /// Whether this wait holds the turn to lead its partition's next fsync
    /// and is gathering: waiting, without a timer, for the appenders the
    /// last fsync acknowledged to come back (each one that does wakes it).
    /// The caller bounds that: when its timer fires, [`WaitDurable::stop_gathering`].
    pub fn is_gathering(&self) -> bool {
        self.parked.is_leading()
    }

    /// End this wait's gathering: at its next poll it syncs what was written.
    pub fn stop_gathering(&mut self) {
        if let (Some(partition), true) = (&self.pending.partition, self.parked.is_leading()) {
            partition.stop_gathering();
        }
    }
}

impl Drop for WaitDurable {
    fn drop(&mut self) {
        if let Some(partition) = &self.pending.partition {
            partition.abandon_durable(&mut self.parked);
        }
    }
}
