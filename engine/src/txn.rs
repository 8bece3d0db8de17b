//! Atomic outbox commits: records to any number of partitions, consumer-offset
//! commits and dead-letter records become visible together or not at all.
//!
//! Design (single node, no coordinator process; argued in design/durability.md,
//! "Transactions"): a transaction is buffered in memory until `commit()`. The
//! commit point is ONE batch appended, with fdatasync, to the internal
//! partition `__transactions/0`: the *commit record*, holding everything the
//! transaction writes. Only then is it applied: offset commits first, then one
//! transactional batch per target partition, each registered as a hold on the
//! partition's last stable offset before it is written, and all holds released
//! together once every part is written — so read-committed readers see all of
//! it at once. A crash after the commit point is repaired on open by applying
//! the last commit record again, skipping parts already present. Abort, a
//! crash before the commit point, a fenced epoch or a timeout: nothing was
//! written anywhere.

use crate::batch::{self, ProducerStamp, Record, FLAG_TRANSACTIONAL};
use crate::config::{Durability, TopicConfig};
use crate::error::{Error, Result};
use crate::internal_codec::{Decoder, Encoder};
use crate::partition::{Isolation, Partition, ReadOptions};
use crate::store::Store;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TRANSACTIONS_TOPIC: &str = "__transactions";
const RECORD_VERSION: u8 = 1;
/// Commit records applied since the log was last trimmed before we trim again.
const TRIM_EVERY: u64 = 64;

/// A consumer-offset commit carried by a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    pub group: String,
    pub topic: String,
    pub partition: u32,
    /// The next offset to read.
    pub offset: u64,
    pub metadata: Vec<u8>,
}

/// Where one part of a committed transaction landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedPart {
    pub topic: String,
    pub partition: u32,
    pub base_offset: u64,
    pub next_offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub transaction_sequence: u32,
    pub parts: Vec<CommittedPart>,
}

/// How the engine applies a transaction's offset commits (implemented by the
/// offset table). `commit_time_ms` is the transaction's commit time; recovery
/// re-applies a commit only if the table holds nothing at or after that time.
pub(crate) trait OffsetSink {
    fn committed_time_ms(&self, group: &str, topic: &str, partition: u32) -> Result<Option<i64>>;
    fn apply(&self, commit: &OffsetCommit, commit_time_ms: i64) -> Result<()>;
}

/// The commit record.
#[derive(Debug, Clone, PartialEq)]
struct CommitRecord {
    producer_id: u64,
    epoch: u16,
    sequence: u32,
    commit_time_ms: i64,
    /// (topic, partition, log end offset when committed, encoded batch of the records)
    parts: Vec<(String, u32, u64, Vec<u8>)>,
    offsets: Vec<OffsetCommit>,
}

impl CommitRecord {
    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(RECORD_VERSION)
            .u64(self.producer_id)
            .u16(self.epoch)
            .u32(self.sequence)
            .i64(self.commit_time_ms);
        e.u32(self.parts.len() as u32);
        for (topic, partition, end, batch) in &self.parts {
            e.short_str(topic).u32(*partition).u64(*end).long_bytes(batch);
        }
        e.u32(self.offsets.len() as u32);
        for c in &self.offsets {
            e.short_str(&c.group)
                .short_str(&c.topic)
                .u32(c.partition)
                .u64(c.offset)
                .long_bytes(&c.metadata);
        }
        e.seal_with_crc()
    }

    fn decode(bytes: &[u8]) -> Option<CommitRecord> {
        let mut d = Decoder::with_crc(bytes)?;
        if d.u8()? != RECORD_VERSION {
            return None;
        }
        let producer_id = d.u64()?;
        let epoch = d.u16()?;
        let sequence = d.u32()?;
        let commit_time_ms = d.i64()?;
        let count = d.u32()? as usize;
        // Each part takes at least 18 bytes: bound the allocation by what is left.
        let mut parts = Vec::with_capacity(count.min(d.remaining() / 18));
        for _ in 0..count {
            parts.push((d.short_str()?, d.u32()?, d.u64()?, d.long_bytes()?));
        }
        let count = d.u32()? as usize;
        let mut offsets = Vec::with_capacity(count.min(d.remaining() / 20));
        for _ in 0..count {
            offsets.push(OffsetCommit {
                group: d.short_str()?,
                topic: d.short_str()?,
                partition: d.u32()?,
                offset: d.u64()?,
                metadata: d.long_bytes()?,
            });
        }
        d.is_empty().then_some(CommitRecord {
            producer_id,
            epoch,
            sequence,
            commit_time_ms,
            parts,
            offsets,
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct CoordinatorState {
    /// Highest epoch seen per producer id, and its last transaction sequence.
    producers: HashMap<u64, (u16, u32)>,
    applied_since_trim: u64,
    /// Offset just past the last fully applied commit record.
    applied_upto: u64,
    /// Set by recovery when the last commit record could not be applied
    /// because a target failed to open (`Error::Damaged`): it stays pending
    /// (the next open applies it), so no later commit may follow it.
    unapplied: Option<(crate::error::DamagedScope, std::sync::Arc<Error>)>,
}

/// Serialises commits (so at most the last commit record can be partly
/// applied after a crash) and tracks epochs and sequences.
#[derive(Debug, Default)]
pub(crate) struct Coordinator {
    state: Mutex<CoordinatorState>,
}

impl Coordinator {
    /// Held while a producer's epoch is bumped (see `Store::init_producer`).
    pub(crate) fn lock_commits(&self) -> parking_lot::MutexGuard<'_, CoordinatorState> {
        self.state.lock()
    }
}

/// An open transaction. Dropping it without `commit` aborts it.
#[derive(Debug)]
pub struct Transaction {
    store: Store,
    producer_id: u64,
    epoch: u16,
    parts: BTreeMap<(String, u32), Vec<Record>>,
    offsets: Vec<OffsetCommit>,
    bytes: usize,
    started: Instant,
    timeout: Duration,
}

/// Largest transaction (all parts, encoded), so the commit record fits one batch.
pub const TRANSACTION_BYTES_MAX: usize = (batch::BATCH_BYTES_MAX as usize) / 2;

impl Transaction {
    pub(crate) fn new(store: Store, producer_id: u64, epoch: u16, timeout: Duration) -> Transaction {
        Transaction {
            store,
            producer_id,
            epoch,
            parts: BTreeMap::new(),
            offsets: Vec::new(),
            bytes: 0,
            started: Instant::now(),
            timeout,
        }
    }

    pub fn producer(&self) -> (u64, u16) {
        (self.producer_id, self.epoch)
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

    /// Add records for one partition (buffered until commit).
    pub fn append(&mut self, topic: &str, partition: u32, records: &[Record]) -> Result<()> {
        let p = self.store.partition(topic, partition)?;
        for record in records {
            batch::validate_record(record, p.config().record_bytes_max as usize)
                .map_err(|detail| Error::invalid("record", detail))?;
        }
        self.add_bytes(records.iter().map(Record::encoded_len).sum())?;
        self.parts
            .entry((topic.to_string(), partition))
            .or_default()
            .extend_from_slice(records);
        Ok(())
    }

    /// Commit a consumer offset (the next offset to read) with the transaction.
    pub fn commit_offset(
        &mut self,
        group: &str,
        topic: &str,
        partition: u32,
        offset: u64,
        metadata: &[u8],
    ) -> Result<()> {
        crate::offset_table::validate_commit(group, metadata)?;
        self.store.partition(topic, partition)?;
        self.add_bytes(group.len() + topic.len() + metadata.len() + 20)?;
        self.offsets
            .retain(|c| !(c.group == group && c.topic == topic && c.partition == partition));
        self.offsets.push(OffsetCommit {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
            offset,
            metadata: metadata.to_vec(),
        });
        Ok(())
    }

    /// Write a dead-letter record with the transaction (see `dlq`).
    pub fn dead_letter(&mut self, letter: &crate::dlq::DeadLetter) -> Result<()> {
        let topic = crate::dlq::ensure_dlq_topic(&self.store, &letter.source_topic)?;
        let record = letter.to_record();
        self.append(&topic, 0, &[record])
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty() && self.offsets.is_empty()
    }

    /// Discard everything. Nothing was written.
    pub fn abort(self) {}

    /// Make everything visible atomically. On `Ok` the transaction is durable
    /// and applied. On `Err(Fenced | InvalidInput | timeout)` nothing was
    /// written. On an I/O error the store is poisoned; whether the commit
    /// point was reached is decided by recovery on reopen (all or nothing).
    pub fn commit(self) -> Result<CommitInfo> {
        if self.started.elapsed() > self.timeout {
            return Err(Error::invalid(
                "transaction",
                format!("timed out after {:?}; it was aborted, begin a new one", self.timeout),
            ));
        }
        let store = self.store.clone();
        let coordinator = store.coordinator();
        let mut state = coordinator.state.lock();
        if let Some((scope, source)) = &state.unapplied {
            return Err(Error::Damaged {
                scope: scope.clone(),
                source: source.clone(),
            });
        }
        // Checked under the commit lock, which `init_producer` also takes to
        // bump an epoch: no commit of a fenced epoch can follow the bump.
        store.check_producer_epoch(self.producer_id, self.epoch)?;
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
        // Strictly after every earlier offset commit (see offset_table.rs).
        let commit_time_ms = store.offset_commit_time()?;
        let mut parts = Vec::with_capacity(self.parts.len());
        let mut targets = Vec::with_capacity(self.parts.len());
        for ((topic, partition), records) in &self.parts {
            let p = store.partition(topic, *partition)?;
            let mut encoded = Vec::new();
            batch::encode(&mut encoded, 0, records, commit_time_ms, None, 0, 0);
            parts.push((topic.clone(), *partition, p.info().log_end_offset, encoded));
            targets.push((p, records));
        }
        let record = CommitRecord {
            producer_id: self.producer_id,
            epoch: self.epoch,
            sequence,
            commit_time_ms,
            parts,
            offsets: self.offsets.clone(),
        };
        for commit in &self.offsets {
            store.note_group_activity(&commit.group);
        }
        let log = ensure_transactions_topic(&store)?;
        let stamp = ProducerStamp {
            producer_id: self.producer_id,
            epoch: self.epoch,
            base_sequence: sequence,
        };
        // The commit point: one fdatasync'd batch.
        let at = log.append(&[Record::new(record.encode())], Some(stamp), FLAG_TRANSACTIONAL)?;
        state.producers.insert(self.producer_id, (self.epoch, sequence));
        let committed = apply(&store, &record, stamp, targets, false)?;
        state.applied_upto = at.next_offset;
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

fn ensure_transactions_topic(store: &Store) -> Result<Arc<Partition>> {
    match store.partition(TRANSACTIONS_TOPIC, 0) {
        Err(Error::TopicNotFound(_)) => {
            let config = TopicConfig {
                durability: Some(Durability::Always),
                ..TopicConfig::default()
            };
            match store.create_topic_inner(TRANSACTIONS_TOPIC, config, true) {
                Ok(()) | Err(Error::TopicExists(_)) => store.partition(TRANSACTIONS_TOPIC, 0),
                Err(e) => Err(e),
            }
        }
        other => other,
    }
}

/// Apply a commit record: offsets first, then each part under a hold, then
/// release all holds. With `skip_present`, parts already in their partition
/// (found by their producer stamp after the recorded log end) are skipped.
fn apply(
    store: &Store,
    record: &CommitRecord,
    stamp: ProducerStamp,
    targets: Vec<(Arc<Partition>, &Vec<Record>)>,
    recovering: bool,
) -> Result<Vec<CommittedPart>> {
    let sink = store.offset_sink();
    for commit in &record.offsets {
        // Commit times are unique (the commit clock): an entry at the
        // transaction's time is this transaction's, a later one supersedes it.
        let newer = recovering
            && sink
                .committed_time_ms(&commit.group, &commit.topic, commit.partition)?
                .is_some_and(|t| t >= record.commit_time_ms);
        if !newer {
            sink.apply(commit, record.commit_time_ms)?;
        }
    }
    let mut held: Vec<(Arc<Partition>, u64)> = Vec::with_capacity(targets.len());
    let mut committed = Vec::with_capacity(targets.len());
    let mut result = Ok(());
    for ((partition, records), (_, _, end_hint, _)) in targets.into_iter().zip(&record.parts) {
        if recovering {
            if let Some((base, next)) = find_part(&partition, *end_hint, stamp)? {
                committed.push(CommittedPart {
                    topic: partition.topic.clone(),
                    partition: partition.id,
                    base_offset: base,
                    next_offset: next,
                });
                continue;
            }
        }
        let mut hold_at = None;
        let appended = partition.append_checked(records, Some(stamp), FLAG_TRANSACTIONAL, |offset| {
            partition.hold(offset);
            hold_at = Some(offset);
            Ok(())
        });
        if let Some(offset) = hold_at {
            held.push((partition.clone(), offset));
        }
        match appended {
            Ok(info) => committed.push(CommittedPart {
                topic: partition.topic.clone(),
                partition: partition.id,
                base_offset: info.base_offset,
                next_offset: info.next_offset,
            }),
            Err(e) => {
                // The store is poisoned (or the batch was refused): keep the
                // holds so read-committed readers never see a part alone;
                // reopening applies the commit record again.
                result = Err(e);
                break;
            }
        }
    }
    result?;
    for (partition, offset) in held {
        partition.release(offset);
    }
    Ok(committed)
}

/// Look for the transactional batch with `stamp` at or after `from` (the
/// partition's log end when the transaction committed).
///
/// If the log start has moved past `from`, the part is taken as applied: the
/// start only moves under the commit lock (`Store::truncate_prefix`,
/// retention), so it moved after this commit's apply finished — the commit
/// record cannot have been left half-applied before it.
fn find_part(partition: &Partition, from: u64, stamp: ProducerStamp) -> Result<Option<(u64, u64)>> {
    let start = partition.start_offset();
    if from < start {
        return Ok(Some((start, start)));
    }
    let mut offset = from;
    let end = partition.high_watermark();
    let mut found = None;
    while offset < end && found.is_none() {
        let options = ReadOptions {
            max_bytes: 4 * 1024 * 1024,
            max_records: 100_000,
        };
        let next = partition.visit_records(offset, options, None, |header, _| {
            if found.is_none() && header.is_transactional() && header.producer == Some(stamp) {
                found = Some((header.base_offset, header.next_offset()));
            }
        })?;
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(found)
}

/// On open: rebuild epochs and sequences from the commit log, then make sure
/// the last commit record is wholly applied.
pub(crate) fn recover(store: &Store) -> Result<()> {
    let log = match store.internal_log(TRANSACTIONS_TOPIC) {
        Ok(Some(log)) => log,
        Ok(None) => return Ok(()),
        Err(e) => {
            // Commits fail while it is damaged (they append to it); a pending
            // record is applied by the first open after the repair.
            tracing::error!(error = %e, "the transaction log failed to open: pending transactions wait for its repair");
            return Ok(());
        }
    };
    let mut offset = log.start_offset();
    let end = log.high_watermark();
    let mut last: Option<(CommitRecord, ProducerStamp)> = None;
    let coordinator = store.coordinator();
    let mut state = coordinator.state.lock();
    while offset < end {
        let result = log.read(
            offset,
            ReadOptions {
                max_bytes: 16 * 1024 * 1024,
                max_records: 1024,
            },
            Isolation::ReadUncommitted,
        )?;
        for r in &result.records {
            let record = CommitRecord::decode(&r.value)
                .ok_or_else(|| Error::corruption(&log.dir, r.offset, crate::error::CorruptionKind::BadRecord))?;
            let entry = state
                .producers
                .entry(record.producer_id)
                .or_insert((record.epoch, record.sequence));
            if record.epoch >= entry.0 {
                *entry = (record.epoch, record.sequence);
            }
            store.offset_table().observe(record.commit_time_ms);
            store
                .shared()
                .producers
                .epochs
                .raise_next_id(record.producer_id.saturating_add(1));
            let stamp = ProducerStamp {
                producer_id: record.producer_id,
                epoch: record.epoch,
                base_sequence: record.sequence,
            };
            last = Some((record, stamp));
        }
        if result.next_offset <= offset {
            break;
        }
        offset = result.next_offset;
    }
    state.applied_upto = end;
    drop(state);
    if let Some((record, stamp)) = last {
        let applied = (|| {
            let mut decoded = Vec::with_capacity(record.parts.len());
            for (topic, partition, _, raw) in &record.parts {
                let header = batch::verify(raw).map_err(|kind| Error::corruption(&log.dir, 0, kind))?;
                let records: Vec<Record> = batch::decode_records(raw, &header)
                    .map_err(|kind| Error::corruption(&log.dir, 0, kind))?
                    .iter()
                    .map(crate::batch::StoredRecord::to_record)
                    .collect();
                decoded.push((store.partition(topic, *partition)?, records));
            }
            let targets = decoded.iter().map(|(p, r)| (p.clone(), r)).collect();
            apply(store, &record, stamp, targets, true)
        })();
        match applied {
            // A target (a partition, `__offsets`) failed to open: the rest of
            // the store opens; the record stays the last one, so the first
            // open after the repair applies it, and no commit may follow it.
            Err(Error::Damaged { scope, source }) => {
                tracing::error!(%scope, error = %source, "the last committed transaction cannot be applied until its target is repaired; transactions are refused until then");
                store.coordinator().state.lock().unapplied = Some((scope, source));
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
            }],
        };
        let bytes = record.encode();
        assert_eq!(CommitRecord::decode(&bytes), Some(record));
        for cut in 0..bytes.len() {
            assert_eq!(CommitRecord::decode(&bytes[..cut]), None);
        }
    }
}
