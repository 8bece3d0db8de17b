//! Recovery at open (finish the last two commit records, rebuild epochs and
//! sequences) and forgetting applied commit records before a topic delete.

use super::apply::{apply, find_part, PartTarget};
use super::record::CommitRecord;
use super::*;
use crate::log::batch::EncodedRecords;

/// On open: rebuild epochs and sequences from the commit log, then make sure
/// the last two commit records are wholly applied, in order. A part that cannot be applied
/// (its target is gone, its batch is damaged, a record is over the target's
/// limits) is skipped and reported, and the rest of the store opens; I/O
/// errors still fail the open.
pub(crate) fn recover(store: &Pipeline) -> Result<()> {
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
    let mut prev: Option<(u64, CommitRecord, ProducerStamp)> = None;
    let mut last: Option<(u64, CommitRecord, ProducerStamp)> = None;
    let mut unapplied = Vec::new();
    let coordinator = store.coordinator();
    let commits = store.lock_commits();
    let mut state = coordinator.state(&commits);
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
            let Some(record) = CommitRecord::decode(&r.value) else {
                // A valid batch holding a record this version cannot read:
                // what it holds is unknown. Report it; if it was the last
                // one, there is nothing to apply.
                tracing::warn!(
                    offset = r.offset,
                    "transaction commit record in {TRANSACTIONS_TOPIC}/0 cannot be decoded; skipped"
                );
                unapplied.push(UnappliedPart {
                    commit_offset: r.offset,
                    producer_id: 0,
                    epoch: 0,
                    transaction_sequence: 0,
                    topic: String::new(),
                    partition: 0,
                    records: 0,
                    reason: "the commit record cannot be decoded".into(),
                });
                prev = last.take();
                continue;
            };
            let entry = state
                .producers
                .entry(record.producer_id)
                .or_insert((record.epoch, record.sequence));
            if record.epoch >= entry.0 {
                *entry = (record.epoch, record.sequence);
            }
            store.groups().offset_table().observe(record.commit_time_ms);
            store.producer_registry().epochs.note_id_in_log(record.producer_id);
            store.producer_registry().epochs.note_named_id(record.producer_id);
            let stamp = ProducerStamp {
                producer_id: record.producer_id,
                epoch: record.epoch,
                base_sequence: record.sequence,
            };
            prev = last.replace((r.offset, record, stamp));
        }
        if result.next_offset <= offset {
            break;
        }
        offset = result.next_offset;
    }
    state.applied_upto = end;
    drop(state);
    drop(commits);
    // A commit answered at its commit point lets the next commit record be
    // written before its parts are durable, never the one after: at most the
    // last two can be partly applied. Re-applied in order (idempotent).
    for (commit_offset, record, stamp) in prev.into_iter().chain(last) {
        reapply(store, commit_offset, &record, stamp, &mut unapplied)?;
    }
    for part in &unapplied {
        tracing::warn!(
            commit_offset = part.commit_offset,
            producer_id = part.producer_id,
            epoch = part.epoch,
            transaction_sequence = part.transaction_sequence,
            topic = %part.topic,
            partition = part.partition,
            records = part.records,
            reason = %part.reason,
            "a part of a committed transaction cannot be applied; skipped (see `millrace check`)"
        );
    }
    store
        .catalog()
        .shared
        .metrics
        .transaction_parts_unapplied
        .fetch_add(unapplied.len() as u64, Ordering::Relaxed);
    coordinator.state.lock().unapplied = unapplied;
    Ok(())
}

/// Apply one commit record again at open, skipping what of it is present;
/// a part that cannot be applied is added to `unapplied`.
fn reapply(
    store: &Pipeline,
    commit_offset: u64,
    record: &CommitRecord,
    stamp: ProducerStamp,
    unapplied: &mut Vec<UnappliedPart>,
) -> Result<()> {
    let mut decoded = Vec::with_capacity(record.parts.len());
    for (topic, partition, end_hint, raw) in &record.parts {
        let skipped = |records: u64, reason: String| UnappliedPart {
            commit_offset,
            producer_id: record.producer_id,
            epoch: record.epoch,
            transaction_sequence: record.sequence,
            topic: topic.clone(),
            partition: *partition,
            records,
            reason,
        };
        let records = match decode_part(raw) {
            Ok(records) => records,
            Err(reason) => {
                unapplied.push(skipped(0, reason));
                continue;
            }
        };
        let count = records.len() as u64;
        let target = match store.partition(topic, *partition) {
            Ok(target) => target,
            Err(e) => {
                unapplied.push(skipped(count, e.to_string()));
                continue;
            }
        };
        // A part written by an older version may hold records its target
        // refuses; written only in part, it would break the all-or-nothing
        // rule within the part, so it is skipped whole (unless present).
        let refused = records.iter().find_map(|r| validate_for(&target, r).err());
        if let Some(e) = refused {
            let present = find_part(&target, *end_hint, stamp, count)?;
            if present.records < count {
                unapplied.push(skipped(count, e.to_string()));
                continue;
            }
        }
        decoded.push((target, EncodedRecords::from_records(&records), *end_hint));
    }
    let targets = decoded
        .iter()
        .map(|(partition, records, end_hint)| PartTarget {
            partition: partition.clone(),
            records,
            end_hint: *end_hint,
        })
        .collect();
    // The offset table is read before anything is applied: if
    // `__offsets` holds a record that does not decode, the damage stays
    // there (every offset request answers it) and the record waits, as
    // the last one, for its repair, exactly as when `__offsets` failed
    // to open (below).
    let offsets_unreadable = if record.offsets.is_empty() {
        None
    } else {
        match store.groups().load_offset_table() {
            Ok(()) => None,
            Err(e @ (Error::Corruption { .. } | Error::Damaged { .. })) => Some(e),
            Err(e) => return Err(e),
        }
    };
    let applied = match offsets_unreadable {
        Some(e) => Err(Error::Damaged {
            scope: crate::error::DamagedScope::Topic {
                topic: crate::consumer::offsets::OFFSETS_TOPIC.to_string(),
            },
            source: Arc::new(e),
        }),
        None => apply(store, record, stamp, targets, true),
    };
    match applied {
        // `__offsets` failed to open: the rest of the store opens; the
        // record stays the last one, so the first open after the repair
        // applies it (no commit can follow before: a commit reads
        // `__offsets` first).
        Err(Error::Damaged { scope, source }) => {
            tracing::error!(%scope, error = %source, "the last committed transaction cannot be applied until this is repaired");
        }
        Ok(committed) => {
            // A crash after the commit point may have come before its
            // claims were durable: registered again (nothing if they are).
            super::register_claims(store, &record.claims, &committed)?;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Before a topic is deleted, under the commit lock: move `__transactions`'
/// log start past every commit record (`Catalog::forget_applied_commits`),
/// so that recovery never applies a part again into a topic created later
/// under the same name, nor reports the deleted topic's parts as unapplied.
pub(crate) fn forget_applied(store: &Pipeline, commits: &CommitGuard<'_>) -> Result<()> {
    if let Some(end) = store.catalog().forget_applied_commits(commits)? {
        let mut state = store.coordinator().state(commits);
        state.applied_upto = end;
        state.applied_since_trim = 0;
    }
    Ok(())
}
