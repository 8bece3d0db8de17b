// Over 600 lines (818 before its unit tests): the commit record, its apply and its recovery are one protocol (design/durability.md, "Transactions").
// Over 600 lines: the `Transaction` handle's documented API (record, apply and recovery are split out).
//! Atomic outbox commits: records to any number of partitions, consumer-offset
//! commits and dead-letter records become visible together or not at all.
//!
//! Design (single node, no coordinator process; argued in design/durability.md,
//! "Transactions"): a transaction is buffered in memory until `commit()`. The
//! commit point is ONE batch appended, with fdatasync, to the internal
//! partition `__transactions/0`: the *commit record*, holding everything the
//! transaction writes. Every record is checked against its target's limits
//! before that point, so every part can be applied. Only then is it applied:
//! offset commits first, then each part as transactional batches (several
//! when the part is larger than its target's batch limit), the first
//! registered as a hold on the partition's last stable offset before it is
//! written, and all holds released together once every part is written — so
//! read-committed readers see all of it at once. A crash after the commit
//! point is repaired on open by applying the last commit record again (the
//! last two: a commit answered at its commit point lets the next record be
//! written before its parts are durable, `commit_at_commit_point`),
//! skipping records already present; a part that cannot be applied (written
//! by an older version, or its target is gone) is skipped and reported, never
//! a reason to refuse the whole store. Abort, a crash before the commit point,
//! a fenced epoch or a timeout: nothing was written anywhere.

mod apply;
mod record;
mod recover;
mod transactions;

use apply::{apply_offsets, write, write_parts, PartTarget};
pub(crate) use record::{CommitRecord, SequenceClaim};
pub(crate) use recover::{forget_applied, recover};
pub(crate) use transactions::check_transaction_timeout;
pub use transactions::Transactions;

pub use crate::consumer::offsets::{OffsetCommit, OffsetCommitMode};

use crate::log::batch::{self, AppendRecord, EncodedRecords, ProducerStamp, Record, FLAG_TRANSACTIONAL, HEADER_SIZE};

use super::context::Pipeline;
use crate::catalog::CommitGuard;
use crate::config::{Durability, TopicConfig};
use crate::error::{Error, Result};
use crate::log::partition::{Isolation, Partition, ReadOptions};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::names::TRANSACTIONS_TOPIC;
/// Commit records applied since the log was last trimmed before we trim again.
const TRIM_EVERY: u64 = 64;

/// Where one part of a committed transaction landed: from the first offset
/// of its first batch to the end of its last (a part larger than its
/// partition's batch limit is several batches, and other appends may fall
/// between them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedPart {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// Offset of the part's first record.
    pub base_offset: u64,
    /// Offset just past its last record.
    pub next_offset: u64,
}

/// A part of the last commit record that recovery could not apply: it was
/// skipped (logged, counted in `transaction_parts_unapplied`) and the rest of
/// the store opened. `millrace check` reports the same record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnappliedPart {
    /// Offset of the commit record in `__transactions/0`.
    pub commit_offset: u64,
    /// The producer that committed it.
    pub producer_id: u64,
    /// Its epoch.
    pub epoch: u16,
    /// The transaction's sequence number for that producer.
    pub transaction_sequence: u32,
    /// The part's topic.
    pub topic: String,
    /// The part's partition.
    pub partition: u32,
    /// Records the part holds (0 if its batch could not be decoded).
    pub records: u64,
    /// Why it could not be applied.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// What a committed transaction wrote.
pub struct CommitInfo {
    /// The transaction's sequence number for its producer.
    pub transaction_sequence: u32,
    /// Where each part landed.
    pub parts: Vec<CommittedPart>,
}

#[derive(Debug, Default)]
pub(crate) struct CoordinatorState {
    /// Highest epoch seen per producer id, and its last transaction sequence.
    pub(super) producers: HashMap<u64, (u16, u32)>,
    pub(super) applied_since_trim: u64,
    /// Offset just past the last fully applied commit record.
    pub(super) applied_upto: u64,
    /// What recovery could not apply at the last open.
    pub(super) unapplied: Vec<UnappliedPart>,
}

/// Serialises commits (so at most the last commit record, or the last two
/// with `commit_at_commit_point`, can be partly applied after a crash) and tracks epochs and sequences.
#[derive(Debug, Default)]
pub(crate) struct Coordinator {
    pub(super) state: Mutex<CoordinatorState>,
}

impl Coordinator {
    /// The coordinator's state, taken under the store-wide commit lock
    /// ([`Catalog::lock_commits`](crate::catalog::Catalog::lock_commits)),
    /// which serialises commits with producer epoch bumps and log-start moves.
    pub(crate) fn state<'a>(&'a self, _commits: &CommitGuard<'_>) -> parking_lot::MutexGuard<'a, CoordinatorState> {
        self.state.lock()
    }
}

/// An open transaction. Dropping it without `commit` aborts it (and
/// rewinds the consumer it was begun with, see
/// [`crate::Consumer::begin_transaction`]).
#[derive(Debug)]
pub struct Transaction {
    pipeline: Pipeline,
    producer_id: u64,
    epoch: u16,
    /// Each part's records, encoded once when staged, as the commit record
    /// and the partition's batch hold them.
    parts: BTreeMap<(String, u32), EncodedRecords>,
    offsets: Vec<OffsetCommit>,
    bytes: usize,
    started: Instant,
    timeout: Duration,
    /// The consumers whose positions commit with it (and rewind without it).
    consumers: Vec<crate::consumer::ConsumerBinding>,
    /// (group, topic, partition, offset) of records `fail_record` answered
    /// `Retry` for: no offset commit of the transaction may pass them.
    retries: Vec<(String, String, u32, u64)>,
    /// Set once `commit` succeeded: dropping it then rewinds nothing.
    committed: bool,
    /// Idempotent producers' batches it writes split ([`SequenceClaim`]).
    claims: Vec<SequenceClaim>,
    /// The append time the last staged part got (a log-append-time topic).
    last_log_append_time_ms: Option<i64>,
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.committed {
            for consumer in &self.consumers {
                consumer.rewind();
            }
        }
    }
}

/// What [`Transaction::fail_record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionFailOutcome {
    /// Below the attempt limit (the attempt is counted durably now): the
    /// record must be processed again, so this transaction must not commit
    /// the group's offset past it (`commit` refuses to): abort it, and the
    /// consumer it was begun with delivers the record again.
    Retry(crate::pipeline::dlq::Attempts),
    /// The dead letter is part of the transaction: it is in the DLQ once
    /// the transaction commits, and nowhere if it does not.
    DeadLettered(crate::pipeline::dlq::Attempts),
    /// The group dead-lettered this record before (a redelivery after a
    /// crash): nothing is added; the record is at `dlq_offset` of the DLQ.
    AlreadyDeadLettered {
        /// Its offset in the DLQ partition.
        dlq_offset: u64,
    },
}

/// Largest commit record: the largest record a topic may allow
/// (`record_bytes_max`), which `__transactions` allows.
const COMMIT_RECORD_BYTES_MAX: u32 = batch::BATCH_BYTES_MAX / 2;

/// Largest transaction (its records, encoded): the commit record holds
/// them with their batch headers, topic names and offset commits, within
/// [`COMMIT_RECORD_BYTES_MAX`]; a transaction whose framing does not fit the
/// 1 MiB left (thousands of parts) fails at commit, whole, with the record
/// limit's error.
pub const TRANSACTION_BYTES_MAX: usize = (COMMIT_RECORD_BYTES_MAX as usize) - 1024 * 1024;

impl Transaction {
    pub(crate) fn new(pipeline: Pipeline, producer_id: u64, epoch: u16, timeout: Duration) -> Transaction {
        Transaction {
            pipeline,
            producer_id,
            epoch,
            parts: BTreeMap::new(),
            offsets: Vec::new(),
            bytes: 0,
            started: Instant::now(),
            timeout,
            consumers: Vec::new(),
            retries: Vec::new(),
            committed: false,
            claims: Vec::new(),
            last_log_append_time_ms: None,
        }
    }

    /// Commit `consumer`'s positions with this transaction, and rewind them
    /// if it does not commit ([`crate::Consumer::begin_transaction`]).
    pub(crate) fn bind_consumer(&mut self, consumer: crate::consumer::ConsumerBinding) {
        self.consumers.push(consumer);
    }

    /// The producer instance the transaction writes as.
    pub fn producer(&self) -> crate::ProducerId {
        crate::ProducerId::new(self.producer_id, self.epoch)
    }

    fn add_bytes(&mut self, bytes: usize) -> Result<()> {
        self.bytes += bytes;
        if self.bytes > TRANSACTION_BYTES_MAX {
            return Err(Error::invalid(
                "transaction",
                format!("{} bytes; at most {TRANSACTION_BYTES_MAX} per transaction", self.bytes),
            ));
        }
        Ok(())
    }

    /// Add records for one partition (buffered until commit). Each record is
    /// checked against the partition's limits here (and again at commit), so
    /// that a committed part can always be applied; a part larger than the
    /// partition's batch limit is applied as several batches. Internal
    /// topics (`__*`) are not a transaction's output (`InternalName`).
    ///
    /// With a contract on the topic, each record is checked now: a `reject`
    /// verdict refuses this append (`ContractViolation`; nothing of it is
    /// staged, the transaction may go on), records with a `dlq` verdict are
    /// staged for the topic's DLQ instead (written if and when the
    /// transaction commits).
    pub fn append(&mut self, topic: &str, partition: u32, records: &[Record]) -> Result<()> {
        crate::names::refuse_internal_topic(topic)?;
        self.append_judged(topic, partition, records, "produce")
    }

    /// [`Transaction::append`] with `stage` in the provenance of the records
    /// the topic's contract sends to the DLQ (`replay` for a replay job's).
    pub fn append_judged(&mut self, topic: &str, partition: u32, records: &[Record], stage: &str) -> Result<()> {
        crate::names::refuse_internal_topic(topic)?;
        let routing =
            crate::pipeline::dlq::route::judge_request(self.pipeline.checks(), topic, partition, records, stage)?;
        if routing.letters.is_empty() {
            return self.append_internal(topic, partition, records);
        }
        let valid = routing.valid(records);
        let dlq = crate::pipeline::dlq::ensure_dlq_topic(&self.pipeline, topic)?;
        let letters: Vec<Record> = routing.letters.iter().map(|(_, r)| r.clone()).collect();
        // Both staged or neither: the DLQ part and the size of both are
        // checked before the topic's part is added.
        let p = self.pipeline.partition(&dlq, 0)?;
        for record in &letters {
            validate_for(&p, record)?;
        }
        let bytes: usize = valid.iter().chain(&letters).map(Record::encoded_len).sum();
        if self.bytes + bytes > TRANSACTION_BYTES_MAX {
            return Err(Error::invalid(
                "transaction",
                format!(
                    "{} bytes; at most {TRANSACTION_BYTES_MAX} per transaction",
                    self.bytes + bytes
                ),
            ));
        }
        if !valid.is_empty() {
            self.append_internal(topic, partition, &valid)?;
        }
        self.append_internal(&dlq, 0, &letters)
    }

    /// [`Transaction::append`] of records owned or borrowed from the
    /// caller's buffer ([`AppendRecord`]: the Kafka front's transactional
    /// Produce), encoded into the transaction's part from where they are:
    /// no owned [`Record`] is made. A topic with a contract judges owned
    /// records: borrowed ones are copied first, as
    /// [`Store::append_pending`](crate::Store::append_pending) does.
    pub fn append_records<R: AppendRecord>(&mut self, topic: &str, partition: u32, records: &[R]) -> Result<()> {
        crate::names::refuse_internal_topic(topic)?;
        if self.pipeline.checks().get(topic).is_some() {
            return self.append_judged(topic, partition, &R::owned(records), "produce");
        }
        self.stage(topic, partition, records)
    }

    /// [`Transaction::append`] to any topic, for the operations that own
    /// internal ones (the DLQ, redrive marks).
    pub(crate) fn append_internal(&mut self, topic: &str, partition: u32, records: &[Record]) -> Result<()> {
        self.stage(topic, partition, records)
    }

    /// Check `records` against their partition and encode them into its
    /// part (any kind of record: owned or borrowed).
    fn stage<R: AppendRecord>(&mut self, topic: &str, partition: u32, records: &[R]) -> Result<()> {
        if records.is_empty() {
            // As `Store::append`: a part with no record would be applied as
            // a batch of none.
            return Err(Error::invalid("records", "an append needs at least one record"));
        }
        let p = self.pipeline.partition(topic, partition)?;
        // Records that would pass the topic's quota as it stands are refused
        // here: the commit that applies staged records is never refused by it.
        let encoded: usize = records.iter().map(encoded_len).sum();
        p.topic_quota_check((HEADER_SIZE + encoded) as u64)?;
        let config = p.config();
        for record in records {
            let len = crate::log::record::validate_topic_record_of(record, config.record_bytes_max as usize, &p.topic)
                .map_err(|detail| Error::invalid("record", detail))?;
            fits_one_batch(&config, &p.topic, len)?;
        }
        // A log-append-time topic: the records get the time they are
        // staged, which their commit keeps (as Kafka stamps a transaction's
        // batch when it is appended, before the commit marker).
        let stamp = (config.timestamp_type == crate::config::TimestampType::LogAppend).then(crate::clock::now_ms);
        self.add_bytes(encoded)?;
        let part = self.parts.entry((topic.to_string(), partition)).or_default();
        part.reserve(encoded);
        match stamp {
            Some(ms) => {
                for record in records {
                    part.push_at(record, ms);
                }
            }
            None => {
                for record in records {
                    part.push(record);
                }
            }
        }
        self.last_log_append_time_ms = stamp;
        Ok(())
    }

    /// The append time the records of the last successful append got, on a
    /// log-append-time topic (`TimestampType::LogAppend`: stamped when
    /// staged, kept by the commit); `None` on a create-time topic.
    pub fn last_log_append_time_ms(&self) -> Option<i64> {
        self.last_log_append_time_ms
    }

    /// Claim, with the transaction, the sequences of an idempotent producer's
    /// batch whose valid records the transaction appends to
    /// `topic`/`partition` (`appended` of `record_count`) and whose others
    /// it sends to the DLQ: once committed, the partition remembers the batch
    /// (a retry is a duplicate; the next batch follows its last sequence).
    pub(crate) fn claim_sequence(
        &mut self,
        topic: &str,
        partition: u32,
        stamp: ProducerStamp,
        record_count: u32,
        appended: u32,
    ) {
        self.claims.push(SequenceClaim {
            topic: topic.to_string(),
            partition,
            producer_id: stamp.producer_id,
            epoch: stamp.epoch,
            base_sequence: stamp.base_sequence,
            record_count,
            appended,
        });
    }

    /// Commit a consumer offset (the next offset to read) with the
    /// transaction. Internal groups and topics (`__*`) are moved only by the
    /// operations that own them (`InternalName`); a topic's DLQ is the
    /// exception for topics (`check_position_commit`).
    pub fn commit_offset(
        &mut self,
        group: &str,
        topic: &str,
        partition: u32,
        offset: u64,
        metadata: &[u8],
    ) -> Result<()> {
        crate::consumer::offsets::check_position_commit(group, topic)?;
        self.add_offset_commit(group, topic, partition, offset, metadata, OffsetCommitMode::Set)
    }

    /// Commit a consumer offset with the transaction only if it moves the
    /// group forward: a committed offset at or past `offset` when the
    /// transaction is applied stays as it is (see `OffsetCommitMode`).
    pub fn advance_offset(&mut self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<()> {
        crate::consumer::offsets::check_position_commit(group, topic)?;
        self.add_offset_commit(group, topic, partition, offset, b"", OffsetCommitMode::AdvanceOnly)
    }

    /// Commit the progress of `millrace replay`'s job `job` with the
    /// transaction: the offset of its group `__replay.<job>` on the source
    /// partition it copies from (a user topic). The transaction must be the
    /// job's own, begun by its producer ([`Store::init_replay_producer`](crate::Store::init_replay_producer)),
    /// so that the progress moves only with the copies it stands for.
    /// `metadata` is the job's own (the generation of the copy).
    pub fn commit_replay_progress(
        &mut self,
        job: &str,
        topic: &str,
        partition: u32,
        offset: u64,
        metadata: &[u8],
    ) -> Result<()> {
        let group = crate::names::replay_group(job);
        crate::names::refuse_internal_topic(topic)?;
        let owner = self.pipeline.producers().producer_name(self.producer_id);
        if owner.as_deref() != Some(group.as_str()) {
            return Err(Error::InternalName {
                what: "group",
                name: group,
            });
        }
        self.add_offset_commit(&group, topic, partition, offset, metadata, OffsetCommitMode::Set)
    }

    /// [`Transaction::commit_offset`] of any group, for the operations that
    /// own internal ones (redrive progress).
    pub(crate) fn commit_offset_internal(
        &mut self,
        group: &str,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<()> {
        self.add_offset_commit(group, topic, partition, offset, b"", OffsetCommitMode::Set)
    }

    fn add_offset_commit(
        &mut self,
        group: &str,
        topic: &str,
        partition: u32,
        offset: u64,
        metadata: &[u8],
        mode: OffsetCommitMode,
    ) -> Result<()> {
        crate::consumer::offsets::validate_commit(group, metadata)?;
        self.pipeline
            .groups()
            .check_commit_within_log(topic, partition, offset, self.records_for(topic, partition))?;
        // The transaction's new groups count together (all are applied).
        let mut groups: Vec<&str> = self.offsets.iter().map(|c| c.group.as_str()).collect();
        groups.push(group);
        self.pipeline.groups().check_new_groups(&groups)?;
        self.add_bytes(group.len() + topic.len() + metadata.len() + 20)?;
        self.offsets
            .retain(|c| !(c.group == group && c.topic == topic && c.partition == partition));
        self.offsets.push(OffsetCommit {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
            offset,
            metadata: metadata.to_vec(),
            mode,
        });
        Ok(())
    }

    /// Dead-letter `consumed` (read by `group`) with the transaction: the
    /// DLQ record is built from the consumed record itself, so it carries
    /// its counts (a redriven record's `dlq.redrive_count`, the failures
    /// counted so far, at least 1) and provenance; it is written only if the
    /// transaction commits. Counts no attempt (see [`Transaction::fail_record`]).
    pub fn dead_letter(
        &mut self,
        group: &str,
        consumed: &crate::ConsumedRecord,
        failure: &crate::pipeline::dlq::Failure<'_>,
    ) -> Result<()> {
        // Only user topics have a DLQ.
        crate::names::refuse_internal_topic(&consumed.topic)?;
        let attempts = self
            .pipeline
            .attempts(group, &consumed.topic, consumed.partition, consumed.record.offset)?
            .unwrap_or_else(crate::pipeline::dlq::Attempts::first_now);
        self.stage_dead_letter(group, consumed, failure, attempts)
    }

    /// The transaction's half of dead-lettering: the DLQ record, buffered.
    pub(crate) fn stage_dead_letter(
        &mut self,
        group: &str,
        consumed: &crate::ConsumedRecord,
        failure: &crate::pipeline::dlq::Failure<'_>,
        attempts: crate::pipeline::dlq::Attempts,
    ) -> Result<()> {
        let letter = crate::pipeline::dlq::DeadLetter::from_consumed(group, consumed, failure, attempts);
        let topic = crate::pipeline::dlq::ensure_dlq_topic(&self.pipeline, &letter.source_topic)?;
        self.append_internal(&topic, 0, &[letter.to_record()])
    }

    /// Count a failed attempt at processing `consumed` (read by `group`),
    /// as [`Store::fail_record`](crate::Store::fail_record) does, but dead-letter inside this
    /// transaction: at `max_attempts` failures the DLQ record (with
    /// provenance and counts) is part of the transaction, written with its
    /// outputs and offset commits or not at all. The attempt itself is
    /// counted durably at once (a failure happened even if the transaction
    /// is lost). A record the group already dead-lettered is not added
    /// again. Below the limit the answer is `Retry`, and `commit` refuses
    /// to commit the group's offset past that record: abort and process it
    /// again. Rules: design/semantics.md, "Dead-letter queue".
    pub fn fail_record(
        &mut self,
        group: &str,
        consumed: &crate::ConsumedRecord,
        failure: &crate::pipeline::dlq::Failure<'_>,
        max_attempts: u32,
    ) -> Result<TransactionFailOutcome> {
        if max_attempts == 0 {
            return Err(Error::invalid("max_attempts", "must be at least 1"));
        }
        let (topic, partition, offset) = (consumed.topic.as_str(), consumed.partition, consumed.record.offset);
        crate::consumer::offsets::check_client_commit(group, topic)?;
        if let Some(dlq_offset) = self.pipeline.dead_lettered_at(group, topic, partition, offset)? {
            return Ok(TransactionFailOutcome::AlreadyDeadLettered { dlq_offset });
        }
        let attempts = self.pipeline.record_failure(group, topic, partition, offset)?;
        if attempts.count < max_attempts {
            self.retries
                .push((group.to_string(), topic.to_string(), partition, offset));
            return Ok(TransactionFailOutcome::Retry(attempts));
        }
        self.stage_dead_letter(group, consumed, failure, attempts)?;
        Ok(TransactionFailOutcome::DeadLettered(attempts))
    }

    /// Records this transaction appends to one partition so far.
    fn records_for(&self, topic: &str, partition: u32) -> u64 {
        self.parts
            .get(&(topic.to_string(), partition))
            .map_or(0, |records| records.len() as u64)
    }

    /// True if nothing was added.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty() && self.offsets.is_empty()
    }

    /// Discard everything. Nothing was written. The consumer it was begun
    /// with (if any) returns to its committed offsets.
    pub fn abort(self) {}

    /// Make everything visible atomically. On `Ok` the transaction is durable
    /// and applied. On `Err(Fenced | InvalidInput | timeout)` nothing was
    /// written. On an I/O error the store is poisoned; whether the commit
    /// point was reached is decided by recovery on reopen (all or nothing).
    ///
    /// A transaction begun by [`crate::Consumer::begin_transaction`] also
    /// commits the consumer's current positions; if it fails before its
    /// commit point, the consumer is rewound to its committed offsets.
    pub fn commit(self) -> Result<CommitInfo> {
        self.commit_with(false)
    }

    /// [`Transaction::commit`], answered at the commit point, as a Kafka
    /// broker answers EndTxn: on `Ok` the commit record is durable and its
    /// offset commits are applied, and the transaction will be applied whole
    /// (by recovery after a crash). Returns the transaction's sequence
    /// number. Its parts are written under their holds, synced, and become
    /// visible to read-committed readers all together, on a thread of their
    /// own after this returns; the next commit waits for that before writing
    /// its parts, so at most the last two commit records can be partly
    /// applied (design/durability.md, "Transactions"). A write or sync
    /// failing there poisons the store. A transaction holding sequence
    /// claims is applied as by `commit`, before this returns.
    pub fn commit_at_commit_point(self) -> Result<u32> {
        self.commit_with(true).map(|info| info.transaction_sequence)
    }

    fn commit_with(mut self, early: bool) -> Result<CommitInfo> {
        let consumers = self.consumers.clone();
        for consumer in &consumers {
            for (topic, partition, offset) in consumer.current() {
                self.add_offset_commit(&consumer.group, &topic, partition, offset, b"", OffsetCommitMode::Set)?;
            }
        }
        // A record answered `Retry` must be delivered again: no commit past it.
        for (group, topic, partition, offset) in &self.retries {
            let past = self
                .offsets
                .iter()
                .find(|c| c.group == *group && c.topic == *topic && c.partition == *partition && c.offset > *offset);
            if let Some(commit) = past {
                return Err(Error::invalid(
                    "transaction",
                    format!(
                        "it commits group {group:?} to offset {} of {topic}/{partition}, past offset {offset}, which failed and must be processed again (fail_record answered Retry): abort it and process the record again",
                        commit.offset
                    ),
                ));
            }
        }
        let info = self.commit_once(early)?;
        self.committed = true;
        Ok(info)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the commit protocol's numbered steps (design/durability.md), in order, under one lock"
    )]
    fn commit_once(&mut self, early: bool) -> Result<CommitInfo> {
        if self.started.elapsed() > self.timeout {
            return Err(Error::invalid(
                "transaction",
                format!("timed out after {:?}; it was aborted, begin a new one", self.timeout),
            ));
        }
        let store = self.pipeline.clone();
        let coordinator = store.coordinator();
        // Claims are registered under the commit lock (`register_claims`).
        let early = early && self.claims.is_empty();
        let commits = if early {
            store.catalog().lock_commits_overlapping()
        } else {
            store.lock_commits()
        };
        let mut state = coordinator.state(&commits);
        // Checked under the commit lock, which `init_producer` also takes to
        // bump an epoch: no commit of a fenced epoch can follow the bump
        // (and `Store::close` takes to close: none follows the close).
        store.check_writable()?;
        store.producers().check_producer_epoch(self.producer_id, self.epoch)?;
        if let Some((epoch, _)) = state.producers.get(&self.producer_id) {
            if *epoch > self.epoch {
                return Err(Error::Fenced {
                    producer_id: self.producer_id,
                    epoch: self.epoch,
                    current_epoch: *epoch,
                });
            }
        }
        let sequence = state
            .producers
            .get(&self.producer_id)
            .filter(|(epoch, _)| *epoch == self.epoch)
            .map_or(0, |(_, s)| s.wrapping_add(1));
        // As for the records below: the topic may have been deleted and
        // created again since `commit_offset`.
        for commit in &self.offsets {
            let ahead = self.records_for(&commit.topic, commit.partition);
            store
                .groups()
                .check_commit_within_log(&commit.topic, commit.partition, commit.offset, ahead)?;
        }
        // Its new groups, together, against `groups_max`, reserved until
        // applied: checked when staged, but other commits (direct ones,
        // another transaction's) may have added groups since. Past the commit
        // point the transaction is applied whole, so this is the last check.
        let _new_groups = store
            .groups()
            .reserve_new_groups(self.offsets.iter().map(|c| c.group.as_str()))?;
        // Strictly after every earlier offset commit (see offset_table.rs).
        let commit_time_ms = store.groups().offset_commit_time()?;
        let mut targets = Vec::with_capacity(self.parts.len());
        for ((topic, partition), records) in &mut self.parts {
            let p = store.partition(topic, *partition)?;
            // The target may have been deleted and created again with other
            // limits since `append`: check again before the commit point
            // (each record's form was checked when it was staged).
            fits_len(&p.config(), topic, records.largest())?;
            // A record staged without a timestamp gets the commit's time.
            records.stamp_untimed(commit_time_ms);
            // Final now: one CRC pass, from which every batch holding these
            // records derives its CRC (the commit record's and the partition's).
            records.seal_crc();
            let end_hint = p.info().log_end_offset;
            targets.push((p, end_hint));
        }
        let record = CommitRecord {
            producer_id: self.producer_id,
            epoch: self.epoch,
            sequence,
            commit_time_ms,
            parts: Vec::new(),
            offsets: self.offsets.clone(),
            claims: self.claims.clone(),
        };
        for commit in &self.offsets {
            store.groups().note_group_activity(&commit.group);
        }
        let log = ensure_transactions_topic(&store)?;
        let stamp = ProducerStamp {
            producer_id: self.producer_id,
            epoch: self.epoch,
            base_sequence: sequence,
        };
        // The commit record embeds its parts' batches as encoded: one with a
        // null needs the store's marker to allow it before it is written.
        if self.parts.values().any(EncodedRecords::holds_nulls) {
            store.catalog().shared.allow_nulls()?;
        }
        // The commit record, as the one record of its batch: each part's
        // staged bytes copied once behind a batch header (base offset 0).
        let staged: Vec<StagedPart<'_>> = self
            .parts
            .iter()
            .zip(&targets)
            .map(|(((topic, partition), records), (_, end_hint))| StagedPart {
                topic,
                partition: *partition,
                end_hint: *end_hint,
                records: records.all(),
            })
            .collect();
        let body = record.encode_as_record(&staged, commit_time_ms);
        fits_len(&log.config(), TRANSACTIONS_TOPIC, body.largest())?;
        // The commit point: one fdatasync'd batch.
        let at = log.append_encoded_deferred(body.all(), Some(stamp), FLAG_TRANSACTIONAL, |_| Ok(()))?;
        log.wait_durable(at.next_offset)?;
        if early {
            // The parts of the commit before (answered at its commit point)
            // were synced while this record was: both done, at most this
            // record can be partly applied when the next one is written.
            store.catalog().applying().wait_idle();
            store.check_writable()?;
        }
        state.producers.insert(self.producer_id, (self.epoch, sequence));
        // Past the commit point a write refused for lack of space (which
        // poisons nothing by itself) must still be applied: poisoned, the
        // store applies the commit record again at its next open.
        let poison_no_space = |e: &Error| {
            if matches!(e, Error::NoSpace { .. }) {
                store.catalog().shared.poison(e);
            }
        };
        let committed = if early {
            // The offset commits now (a client reading its group's offsets
            // after the answer sees them); the parts are written and synced
            // on the apply thread, after the answer.
            apply_offsets(&store, &record, false).inspect_err(poison_no_space)?;
            let parts = std::mem::take(&mut self.parts)
                .into_values()
                .zip(targets)
                .map(|(records, (partition, end_hint))| (partition, end_hint, records))
                .collect();
            write_after(&store, stamp, parts);
            // This record is not applied until its parts are durable.
            state.applied_upto = at.base_offset;
            Vec::new()
        } else {
            let targets = self
                .parts
                .values()
                .zip(targets)
                .map(|(records, (partition, end_hint))| PartTarget {
                    partition,
                    records,
                    end_hint,
                })
                .collect();
            let written = write(&store, &record, stamp, targets, false).inspect_err(poison_no_space)?;
            written.finish()?;
            // Still under the commit lock: the claims are durable in their
            // partitions before another commit record can follow this one.
            register_claims(&store, &record.claims, &written.committed)?;
            state.applied_upto = at.next_offset;
            written.committed
        };
        state.applied_since_trim += 1;
        if state.applied_since_trim >= TRIM_EVERY {
            state.applied_since_trim = 0;
            log.truncate_prefix(state.applied_upto)?;
        }
        Ok(CommitInfo {
            transaction_sequence: sequence,
            parts: committed,
        })
    }
}

/// A part of a commit answered at its commit point, owned by the apply
/// thread: its partition, that partition's log end at the commit (where
/// recovery looks for it) and its records.
type OwnedPart = (Arc<Partition>, u64, EncodedRecords);

/// Write the parts of a commit answered at its commit point under their
/// holds, sync them and release the holds, on a thread of its own (inline
/// if none can start); the commit lock's next holder waits for it. A
/// failure poisons the store and keeps the holds: the next open applies the
/// commit record again (it is durable, so the transaction commits whole).
fn write_after(store: &Pipeline, stamp: ProducerStamp, parts: Vec<OwnedPart>) {
    store.catalog().applying().start();
    let slot = Arc::new(Mutex::new(Some(parts)));
    let (pipeline, theirs) = (store.clone(), slot.clone());
    let spawned = std::thread::Builder::new()
        .name("millrace-txn-apply".into())
        .spawn(move || write_now(&pipeline, stamp, theirs.lock().take()));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no thread for a transaction's parts: applied inline");
        write_now(store, stamp, slot.lock().take());
    }
}

fn write_now(store: &Pipeline, stamp: ProducerStamp, parts: Option<Vec<OwnedPart>>) {
    let targets = parts.iter().flatten().map(|(partition, end_hint, records)| PartTarget {
        partition: partition.clone(),
        records,
        end_hint: *end_hint,
    });
    let written = write_parts(stamp, targets.collect(), false).and_then(|written| written.finish());
    if let Err(e) = written {
        tracing::error!(error = %e, "a committed transaction's parts could not be written or made durable: the store is poisoned, its next open applies the transaction");
        store.catalog().shared.poison(&e);
    }
    store.catalog().applying().finish();
}

/// Make each partition remember the batches claimed by a commit record
/// whose parts landed at `committed` (a claim with no records appended sits
/// at the partition's end), durably ([`Partition::claim_sequence`]).
pub(crate) fn register_claims(store: &Pipeline, claims: &[SequenceClaim], committed: &[CommittedPart]) -> Result<()> {
    for claim in claims {
        // Its topic deleted since (recovery): nothing to remember.
        let Ok(p) = store.partition(&claim.topic, claim.partition) else {
            continue;
        };
        let base_offset = committed
            .iter()
            .find(|part| part.topic == claim.topic && part.partition == claim.partition)
            .map_or_else(|| p.high_watermark(), |part| part.base_offset);
        let stamp = ProducerStamp {
            producer_id: claim.producer_id,
            epoch: claim.epoch,
            base_sequence: claim.base_sequence,
        };
        p.claim_sequence(stamp, claim.record_count, base_offset, claim.appended)?;
    }
    Ok(())
}

/// The transaction log, created on first use. Its record limit is the
/// largest a topic may have, so that every transaction within
/// [`TRANSACTION_BYTES_MAX`] can commit; a store whose log was created with
/// the default 1 MiB (before 2026-12-07) has it raised here.
fn ensure_transactions_topic(pipeline: &Pipeline) -> Result<Arc<Partition>> {
    let config = TopicConfig {
        durability: Some(Durability::Always),
        record_bytes_max: COMMIT_RECORD_BYTES_MAX,
        ..TopicConfig::default()
    };
    let log = pipeline.catalog().internal_log_or_create(TRANSACTIONS_TOPIC, config)?;
    if log.config().record_bytes_max < COMMIT_RECORD_BYTES_MAX {
        pipeline.catalog().alter_topic(TRANSACTIONS_TOPIC, false, None, |c| {
            c.record_bytes_max = COMMIT_RECORD_BYTES_MAX;
            Ok(())
        })?;
        return pipeline.catalog().partition(TRANSACTIONS_TOPIC, 0);
    }
    Ok(log)
}

/// A staged part as the commit record embeds it.
pub(crate) struct StagedPart<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: u32,
    pub(crate) end_hint: u64,
    pub(crate) records: crate::log::batch::EncodedSlice<'a>,
}

/// A record of `len` encoded bytes against a topic's limits: at most
/// `record_bytes_max`, and no larger with a batch header than one batch.
fn fits_len(config: &TopicConfig, topic: &str, len: usize) -> Result<()> {
    let record_bytes_max = config.record_bytes_max as usize;
    if len > record_bytes_max {
        return Err(Error::invalid(
            "record",
            format!(
                "record of {len} bytes is larger than the topic's limit of {record_bytes_max} bytes \
                 (record_bytes_max of topic {topic}); raise it with \
                 `millrace topic alter {topic} --record-bytes-max {len}`"
            ),
        ));
    }
    fits_one_batch(config, topic, len)
}

/// Check one record against everything its target partition enforces: the
/// record limit, and that it fits one batch of the partition by itself (so
/// that `split` can always make batches the partition accepts).
fn validate_for(partition: &Partition, record: &Record) -> Result<()> {
    fits(&partition.config(), &partition.topic, record)
}

/// [`validate_for`] against a topic's configuration (also `check`'s dry run).
pub(crate) fn fits(config: &TopicConfig, topic: &str, record: &Record) -> Result<()> {
    batch::validate_topic_record(record, config.record_bytes_max as usize, topic)
        .map_err(|detail| Error::invalid("record", detail))?;
    fits_one_batch(config, topic, record.encoded_len())
}

/// The encoded length of any kind of record (unchecked: the checks follow).
fn encoded_len<R: AppendRecord>(record: &R) -> usize {
    crate::log::record::RECORD_FIXED_SIZE
        + record.key().map_or(0, <[u8]>::len)
        + record.value().map_or(0, <[u8]>::len)
        + record
            .headers()
            .map(|(name, value)| 2 + name.len() + 4 + value.map_or(0, <[u8]>::len))
            .sum::<usize>()
}

/// A record of `len` encoded bytes fits one batch of the topic by itself.
fn fits_one_batch(config: &TopicConfig, topic: &str, len: usize) -> Result<()> {
    let alone = (HEADER_SIZE + len) as u64;
    let batch_bytes_max = config.batch_bytes_max();
    if alone > batch_bytes_max {
        return Err(Error::invalid(
            "record",
            format!(
                "{alone} bytes with its batch header; at most {batch_bytes_max} per batch in topic {topic:?} (its segment size)"
            ),
        ));
    }
    Ok(())
}

/// The records of a part as stored in a commit record, or why not.
pub(crate) fn decode_part(raw: &[u8]) -> std::result::Result<Vec<Record>, String> {
    let header = batch::verify(raw).map_err(|kind| format!("its batch is damaged: {kind:?}"))?;
    let records = batch::decode_records(raw, &header).map_err(|kind| format!("its records are damaged: {kind:?}"))?;
    Ok(records.iter().map(crate::log::batch::StoredRecord::to_record).collect())
}

#[cfg(test)]
mod tests {
    use super::record::{RECORD_VERSION, RECORD_VERSION_MODES};
    use super::*;

    #[test]
    fn commit_record_roundtrip_and_bounds() {
        let record = CommitRecord {
            producer_id: 7,
            epoch: 2,
            sequence: 9,
            commit_time_ms: 123,
            parts: vec![("t".into(), 1, 40, vec![1, 2, 3])],
            offsets: vec![OffsetCommit {
                group: "g".into(),
                topic: "t".into(),
                partition: 0,
                offset: 5,
                metadata: vec![],
                mode: OffsetCommitMode::Set,
            }],
            claims: vec![],
        };
        let bytes = record.encode();
        assert_eq!(
            bytes.first(),
            Some(&RECORD_VERSION),
            "no advance-only commit: version 1"
        );
        assert_eq!(CommitRecord::decode(&bytes), Some(record.clone()));
        for cut in 0..bytes.len() {
            assert_eq!(CommitRecord::decode(&bytes[..cut]), None);
        }
        let mut advancing = record;
        advancing.offsets.push(OffsetCommit {
            group: "g".into(),
            topic: "t".into(),
            partition: 1,
            offset: 8,
            metadata: vec![],
            mode: OffsetCommitMode::AdvanceOnly,
        });
        let bytes = advancing.encode();
        assert_eq!(bytes.first(), Some(&RECORD_VERSION_MODES));
        assert_eq!(CommitRecord::decode(&bytes), Some(advancing.clone()));
        for cut in 0..bytes.len() {
            assert_eq!(CommitRecord::decode(&bytes[..cut]), None);
        }
        let mut claiming = advancing;
        claiming.claims.push(SequenceClaim {
            topic: "t".into(),
            partition: 1,
            producer_id: 9,
            epoch: 3,
            base_sequence: 40,
            record_count: 5,
            appended: 3,
        });
        let bytes = claiming.encode();
        assert_eq!(bytes.first(), Some(&super::record::RECORD_VERSION_CLAIMS));
        assert_eq!(CommitRecord::decode(&bytes), Some(claiming));
        for cut in 0..bytes.len() {
            assert_eq!(CommitRecord::decode(&bytes[..cut]), None);
        }
    }
}
