//! Applying a commit record: offsets first, then each part as transactional
//! batches under a hold on the partition's last stable offset, all holds
//! released together; at recovery, what of a part is already in its
//! partition is found by its producer stamp and not written again.

use super::record::CommitRecord;
use super::CommittedPart;
use crate::error::Result;
use crate::log::batch::{EncodedRecords, ProducerStamp, FLAG_TRANSACTIONAL};
use crate::log::partition::{Partition, ReadOptions};
use crate::pipeline::context::Pipeline;
use std::sync::Arc;

/// One part to apply: its partition, its records, and the partition's log
/// end when the transaction committed (where recovery looks for it).
pub(super) struct PartTarget<'a> {
    pub(super) partition: Arc<Partition>,
    /// Its records, encoded when staged (or, at recovery, from the commit
    /// record's batch).
    pub(super) records: &'a EncodedRecords,
    pub(super) end_hint: u64,
}

/// Apply a commit record: offsets first, then each part under a hold, then
/// release all holds. When `recovering`, records of a part already in its
/// partition (found by their producer stamp after the recorded log end) are
/// not written again.
pub(super) fn apply(
    pipeline: &Pipeline,
    record: &CommitRecord,
    stamp: ProducerStamp,
    targets: Vec<PartTarget<'_>>,
    recovering: bool,
) -> Result<Vec<CommittedPart>> {
    let written = write(pipeline, record, stamp, targets, recovering)?;
    written.finish()?;
    Ok(written.committed)
}

/// A commit record's offsets applied and its parts written, each under a
/// hold: what is left is to make the parts durable and release the holds
/// ([`Written::finish`]).
pub(super) struct Written {
    /// Where each part landed.
    pub(super) committed: Vec<CommittedPart>,
    /// Each part's partition and the offset its fsync must cover.
    owed: Vec<(Arc<Partition>, u64)>,
    /// The holds on the parts' partitions' last stable offsets.
    held: Vec<(Arc<Partition>, u64)>,
}

impl Written {
    /// Wait until every part is durable, then release every hold together.
    /// On a failure the holds stay (read-committed readers never see a part
    /// alone; the store is poisoned and reopening applies the record again).
    pub(super) fn finish(&self) -> Result<()> {
        sync_parts(&self.owed)?;
        for (partition, offset) in &self.held {
            partition.release(*offset);
        }
        Ok(())
    }
}

/// The first half of [`apply`]: offsets applied, every part written (not
/// synced) under a hold.
pub(super) fn write(
    pipeline: &Pipeline,
    record: &CommitRecord,
    stamp: ProducerStamp,
    targets: Vec<PartTarget<'_>>,
    recovering: bool,
) -> Result<Written> {
    apply_offsets(pipeline, record, recovering)?;
    write_parts(stamp, targets, recovering)
}

/// A commit record's offset commits, applied (when `recovering`, only those
/// no later commit superseded).
pub(super) fn apply_offsets(pipeline: &Pipeline, record: &CommitRecord, recovering: bool) -> Result<()> {
    let groups = pipeline.groups();
    for commit in &record.offsets {
        // Commit times are unique (the commit clock): an entry at the
        // transaction's time is this transaction's, a later one supersedes it.
        let newer = recovering
            && groups
                .committed_time_ms(&commit.group, &commit.topic, commit.partition)?
                .is_some_and(|t| t >= record.commit_time_ms);
        if !newer {
            groups.apply_commit(commit, record.commit_time_ms)?;
        }
    }
    Ok(())
}

/// Every part of a commit record written (not synced) under a hold on its
/// partition's last stable offset; when `recovering`, what of a part is
/// already there is not written again.
pub(super) fn write_parts(stamp: ProducerStamp, targets: Vec<PartTarget<'_>>, recovering: bool) -> Result<Written> {
    let mut held: Vec<(Arc<Partition>, u64)> = Vec::with_capacity(targets.len());
    let mut committed = Vec::with_capacity(targets.len());
    // Each part's partition and the offset its fsync must cover.
    let mut owed: Vec<(Arc<Partition>, u64)> = Vec::with_capacity(targets.len());
    let mut result = Ok(());
    for target in targets {
        let partition = &target.partition;
        let mut skip = 0;
        let mut first: Option<u64> = None;
        if recovering {
            let count = target.records.len() as u64;
            let present = find_part(partition, target.end_hint, stamp, count)?;
            if let Some((base, _)) = present.span {
                first = Some(base);
            }
            skip = usize::try_from(present.records.min(count)).unwrap_or(usize::MAX);
            if skip >= target.records.len() {
                let (base, next) = present.span.unwrap_or((target.end_hint, target.end_hint));
                committed.push(CommittedPart {
                    topic: partition.topic.clone(),
                    partition: partition.id,
                    base_offset: base,
                    next_offset: next,
                });
                continue;
            }
        }
        let mut next_offset = 0;
        // Written without waiting for each fsync: every part's partition is
        // synced once below, all parts written first.
        for (i, batch) in target
            .records
            .batches(skip, partition.config().batch_bytes_max())
            .into_iter()
            .enumerate()
        {
            // The first batch is held (the others come after it, so the
            // hold covers them too).
            let mut hold_at = None;
            let hold = i == 0;
            let appended = partition.append_encoded_deferred(batch, Some(stamp), FLAG_TRANSACTIONAL, |offset| {
                if hold {
                    partition.hold(offset);
                    hold_at = Some(offset);
                }
                Ok(())
            });
            if let Some(offset) = hold_at {
                held.push((partition.clone(), offset));
            }
            match appended {
                Ok(info) => {
                    first.get_or_insert(info.base_offset);
                    next_offset = info.next_offset;
                }
                Err(e) => {
                    // The store is poisoned (or the batch was refused): keep
                    // the holds so read-committed readers never see a part
                    // alone; reopening applies the commit record again.
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_err() {
            break;
        }
        owed.push((partition.clone(), next_offset));
        committed.push(CommittedPart {
            topic: partition.topic.clone(),
            partition: partition.id,
            base_offset: first.unwrap_or(next_offset),
            next_offset,
        });
    }
    result?;
    Ok(Written { committed, owed, held })
}

/// Wait until every part is durable under its partition's durability mode
/// (`Always`: an fdatasync). The parts' partitions are synced at the same
/// time, one thread each past the first, so a commit waits about one
/// fdatasync for all its parts rather than one after another.
fn sync_parts(owed: &[(Arc<Partition>, u64)]) -> Result<()> {
    let syncing: Vec<&(Arc<Partition>, u64)> = owed.iter().filter(|(p, offset)| p.owes_sync(*offset)).collect();
    let Some((first, rest)) = syncing.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        return first.0.wait_durable(first.1);
    }
    std::thread::scope(|scope| {
        let others: Vec<_> = rest
            .iter()
            .map(|(partition, offset)| scope.spawn(move || partition.wait_durable(*offset)))
            .collect();
        let mut result = first.0.wait_durable(first.1);
        for other in others {
            // A panic there is this thread's, as if the sync had run here.
            let joined = other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            result = result.and(joined);
        }
        result
    })
}

/// What of a part is already in its partition.
pub(super) struct Present {
    /// Records found (all of the part when the log start moved past it).
    pub(super) records: u64,
    /// First base offset and last next offset of the batches found.
    pub(super) span: Option<(u64, u64)>,
}

/// Count the records of the transactional batches stamped `stamp` at or
/// after `from` (the partition's log end when the transaction committed),
/// stopping once `wanted` are found. A part applied as several batches
/// (`split`) was written in order, so a crash leaves a prefix of it.
///
/// If the log start has moved past `from`, the part is taken as applied: the
/// start only moves under the commit lock (`Store::truncate_prefix`,
/// retention), so it moved after this commit's apply finished — the commit
/// record cannot have been left half-applied before it.
pub(super) fn find_part(partition: &Partition, from: u64, stamp: ProducerStamp, wanted: u64) -> Result<Present> {
    let start = partition.start_offset();
    if from < start {
        return Ok(Present {
            records: wanted,
            span: Some((start, start)),
        });
    }
    let mut offset = from;
    let end = partition.high_watermark();
    let mut present = Present { records: 0, span: None };
    while offset < end && present.records < wanted {
        let options = ReadOptions {
            max_bytes: 4 * 1024 * 1024,
            max_records: 100_000,
        };
        let next = partition.visit_records(offset, options, None, |header, _| {
            if header.is_transactional() && header.producer == Some(stamp) && present.records < wanted {
                present.records += 1;
                let base = present.span.map_or(header.base_offset, |(base, _)| base);
                present.span = Some((base, header.next_offset()));
            }
        })?;
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(present)
}
