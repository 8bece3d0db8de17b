//! `check`'s dry run of transaction recovery (design/durability.md,
//! "Transactions"): every commit record still in `__transactions/0` must
//! decode, and the parts of the last two (the only ones that can be partly
//! applied, since commits answered at their commit point) must each be
//! present in its partition or be appliable there.
//! What open would skip is reported as corruption, naming the transaction
//! and what the part holds; what open would apply is reported as recoverable.
//! [`forget_transactions`] is `repair`'s fix for the former.

use super::*;
use crate::io::checked::IoContext;
use crate::log::batch::ProducerStamp;
use crate::pipeline::txn::{self, CommitRecord, TRANSACTIONS_TOPIC};

/// The last commit record found, and where.
struct Last {
    offset: u64,
    path: PathBuf,
    position: u64,
    record: CommitRecord,
}

fn transactions_dir(path: &Path) -> PathBuf {
    path.join(TOPICS_DIR).join(TRANSACTIONS_TOPIC).join("00000")
}

pub(super) fn check_transactions(storage: &dyn Storage, path: &Path, report: &mut CheckReport) -> Result<()> {
    let dir = transactions_dir(path);
    if !is_dir(storage, &dir)? {
        return Ok(());
    }
    let start = read_start_offset(storage, &dir);
    let mut prev: Option<Last> = None;
    let mut last: Option<Last> = None;
    for (base, log) in segments(storage, &dir)? {
        let mut visit = |position: u64, _: &BatchHeader, records: Vec<StoredRecord>| {
            for r in records.into_iter().filter(|r| r.offset >= start) {
                match CommitRecord::decode(&r.value) {
                    Some(record) => {
                        prev = last.replace(Last {
                            offset: r.offset,
                            path: log.clone(),
                            position,
                            record,
                        });
                    }
                    None => {
                        report.problems.push(Problem {
                            path: log.clone(),
                            position,
                            kind: CorruptionKind::UnappliableTransaction,
                            severity: Severity::Corruption,
                            detail: format!(
                                "transaction commit record at offset {} cannot be decoded: open skips it, and what it held is unknown",
                                r.offset
                            ),
                        });
                        prev = last.take();
                    }
                }
            }
            true
        };
        let scan = scan_log(storage, &log, base, true, &mut |_| {}, &mut visit)?;
        // An invalid batch is reported by the partition check; nothing after
        // it can be read.
        if scan.invalid.is_some() {
            break;
        }
    }
    for record in prev.iter().chain(&last) {
        dry_run(storage, path, record, report)?;
    }
    Ok(())
}

/// The offset commits of the last two decodable commit records still in
/// `__transactions/0`, in order, with their commit times (open re-applies
/// them when `__offsets` holds an older commit of the same position,
/// design/durability.md "Transactions"), or none. Reads only.
pub(super) fn last_records_offset_commits(
    storage: &dyn Storage,
    path: &Path,
) -> Result<Vec<(i64, Vec<crate::pipeline::txn::OffsetCommit>)>> {
    let dir = transactions_dir(path);
    if !is_dir(storage, &dir)? {
        return Ok(Vec::new());
    }
    let start = read_start_offset(storage, &dir);
    let mut prev: Option<CommitRecord> = None;
    let mut last: Option<CommitRecord> = None;
    for (base, log) in segments(storage, &dir)? {
        let scan = scan_log(storage, &log, base, true, &mut |_| {}, &mut |_, _, records| {
            for r in records.into_iter().filter(|r| r.offset >= start) {
                prev = std::mem::replace(&mut last, CommitRecord::decode(&r.value));
            }
            true
        })?;
        if scan.invalid.is_some() {
            break;
        }
    }
    Ok(prev
        .iter()
        .chain(&last)
        .map(|record| {
            let (time_ms, commits) = record.offset_commits();
            (time_ms, commits.to_vec())
        })
        .collect())
}

/// What open would do with each part of one of the last two commit records.
fn dry_run(storage: &dyn Storage, path: &Path, last: &Last, report: &mut CheckReport) -> Result<()> {
    let record = &last.record;
    let stamp = ProducerStamp {
        producer_id: record.producer_id,
        epoch: record.epoch,
        base_sequence: record.sequence,
    };
    let name = format!(
        "transaction commit record at offset {} (producer {}, epoch {}, transaction {})",
        last.offset, record.producer_id, record.epoch, record.sequence
    );
    let mut pending_parts = 0u64;
    let mut pending_records = 0u64;
    for (topic, partition, end_hint, raw) in &record.parts {
        let mut skipped = |what: String| {
            report.problems.push(Problem {
                path: last.path.clone(),
                position: last.position,
                kind: CorruptionKind::UnappliableTransaction,
                severity: Severity::Corruption,
                detail: format!("{name}: its part for {topic:?} partition {partition} {what}; open skips this part"),
            });
        };
        let records = match txn::decode_part(raw) {
            Ok(records) => records,
            Err(reason) => {
                skipped(format!("cannot be read ({reason})"));
                continue;
            }
        };
        let count = records.len() as u64;
        let topic_dir = path.join(TOPICS_DIR).join(topic);
        let meta_path = topic_dir.join(TOPIC_META);
        let config = match read_small(storage, &meta_path).and_then(|bytes| TopicConfig::decode(&bytes, &meta_path)) {
            Ok(config) => config,
            Err(_) if !is_dir(storage, &topic_dir)? => {
                skipped(format!("holds {count} records but the topic does not exist"));
                continue;
            }
            // Reported by the topic check.
            Err(_) => continue,
        };
        let partition_dir = topic_dir.join(partition_dir_name(*partition));
        if *partition >= config.partitions || !is_dir(storage, &partition_dir)? {
            skipped(format!(
                "holds {count} records but the topic has {} partitions",
                config.partitions
            ));
            continue;
        }
        if present(storage, &partition_dir, *end_hint, stamp, count)? {
            continue;
        }
        if let Some(e) = records.iter().find_map(|r| txn::fits(&config, topic, r).err()) {
            skipped(format!("holds {count} records that the partition cannot take ({e})"));
            continue;
        }
        pending_parts += 1;
        pending_records += count;
    }
    if pending_parts > 0 {
        report.problems.push(Problem {
            path: last.path.clone(),
            position: last.position,
            kind: CorruptionKind::BadRecord,
            severity: Severity::Recoverable,
            detail: format!(
                "{name} is not wholly applied: the next open applies {pending_records} records to {pending_parts} partitions"
            ),
        });
    }
    Ok(())
}

/// Whether the partition holds all `wanted` records of the transactional
/// batches stamped `stamp` at or after `from` (as `txn::find_part` decides,
/// including a log start moved past `from`).
fn present(storage: &dyn Storage, dir: &Path, from: u64, stamp: ProducerStamp, wanted: u64) -> Result<bool> {
    if from < read_start_offset(storage, dir) {
        return Ok(true);
    }
    let segments = segments(storage, dir)?;
    let mut found = 0u64;
    for (i, (base, log)) in segments.iter().enumerate() {
        // Only segments that can hold offsets at or after `from`.
        if segments.get(i + 1).is_some_and(|(next, _)| *next <= from) {
            continue;
        }
        scan_log(storage, log, *base, false, &mut |_| {}, &mut |_, header, _| {
            if header.base_offset >= from && header.is_transactional() && header.producer == Some(stamp) {
                found += u64::from(header.record_count);
            }
            found < wanted
        })?;
        if found >= wanted {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(super) fn segments(storage: &dyn Storage, dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut segments: Vec<(u64, PathBuf)> = list_names(storage, dir)?
        .iter()
        .filter_map(|n| parse_log_name(n).map(|base| (base, dir.join(n))))
        .collect();
    segments.sort_unstable_by_key(|(base, _)| *base);
    Ok(segments)
}

/// The partition's persisted log start (0 if none or unreadable: the
/// start-offset check reports a bad file).
pub(super) fn read_start_offset(storage: &dyn Storage, dir: &Path) -> u64 {
    read_small(storage, &dir.join(START_OFFSET_FILE))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// `repair`'s fix for a commit record that cannot be applied: copy the
/// `__transactions` partition's files into `backup_dir`, then move its log
/// start past every record (`start.offset`), so that open no longer tries
/// the record and `check` no longer reports it. The store is opened (and
/// closed) first, which applies every part that can be applied: only the
/// parts that cannot are taken out of service (they stay in the backup).
/// Refuses when `check` finds no such record.
pub fn forget_transactions(data_dir: &Path, backup_dir: &Path) -> Result<RepairOutcome> {
    forget_transactions_on(&(Arc::new(FsStorage) as Arc<dyn Storage>), data_dir, backup_dir, None)
}

/// Every file under `dir` but the lock, the repair backups and their audit
/// log (what the open before a forget may add to).
fn store_files(storage: &dyn Storage, dir: &Path, top: bool, files: &mut Vec<PathBuf>) -> Result<()> {
    for name in list_names(storage, dir)? {
        if top && (name == "LOCK" || name.starts_with("repair-backup-") || name == super::manifest::AUDIT_FILE) {
            continue;
        }
        let path = dir.join(&name);
        if is_dir(storage, &path)? {
            store_files(storage, &path, false, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// [`forget_transactions`] through `storage`. The order: every file of the
/// partition is copied into the backup and fsync'd, the backup directory
/// made durable, and only then is `start.offset` replaced (`write_atomic`).
/// With a `journal`, the files the open created (a new `cluster.id`, ...)
/// are recorded as created, and `start.offset` as copied (or created) before
/// it is replaced, so that `restore` puts the store back as it was.
pub(super) fn forget_transactions_on(
    storage: &Arc<dyn Storage>,
    data_dir: &Path,
    backup_dir: &Path,
    journal: Option<&super::manifest::Journal>,
) -> Result<RepairOutcome> {
    require_store(storage.as_ref(), data_dir)?;
    let mut existed = Vec::new();
    if journal.is_some() {
        store_files(storage.as_ref(), data_dir, true, &mut existed)?;
    }
    let existed: std::collections::HashSet<PathBuf> = existed.into_iter().collect();
    let options = crate::StoreOptions {
        background: false,
        ..crate::StoreOptions::default()
    };
    crate::Store::open_with_storage(data_dir, options, storage.clone())?.close()?;
    let storage = storage.as_ref();
    let _lock = lock(storage, data_dir)?;
    if let Some(journal) = journal {
        // Recorded after the fact: a crash before these lines leaves only
        // what any open of the store creates.
        let mut now = Vec::new();
        store_files(storage, data_dir, true, &mut now)?;
        for created in now.iter().filter(|p| !existed.contains(*p)) {
            journal.creating(created)?;
        }
    }
    let mut report = CheckReport::default();
    check_transactions(storage, data_dir, &mut report)?;
    let first = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Corruption)
        .map(|p| p.position)
        .min();
    if first.is_none() {
        return Err(Error::invalid(
            "repair",
            "no transaction commit record that cannot be applied: nothing to forget",
        ));
    }
    let dir = transactions_dir(data_dir);
    let segments = segments(storage, &dir)?;
    let mut end = read_start_offset(storage, &dir);
    let mut files = Vec::new();
    for (base, log) in &segments {
        let scan = scan_log(storage, log, *base, false, &mut |_| {}, &mut |_, _, _| true)?;
        end = end.max(scan.next_offset);
        files.push(log.clone());
        let index = dir.join(index_name(*base));
        if storage.exists(&index) {
            files.push(index);
        }
    }
    let start_path = dir.join(START_OFFSET_FILE);
    if storage.exists(&start_path) {
        files.push(start_path.clone());
    }
    let backup = backup_dir.join(TRANSACTIONS_TOPIC).join("00000");
    create_dir_durable(storage, &backup)?;
    let mut copied = Vec::new();
    for file in &files {
        let to = backup.join(file.file_name().unwrap_or_default());
        copy_synced(storage, file, &to)?;
        copied.push(file.clone());
    }
    sync_dir(storage, &backup)?;
    if storage.exists(&start_path) {
        super::manifest::note(journal, |j| j.copied(&start_path, &backup.join(START_OFFSET_FILE)))?;
    } else {
        super::manifest::note(journal, |j| j.creating(&start_path))?;
    }
    let previous_start = read_start_offset(storage, &dir);
    crate::io::write_atomic(storage, &start_path, format!("{end}\n").as_bytes())
        .at("write start offset", &start_path)?;
    Ok(RepairOutcome {
        copied,
        offsets_dropped: Some((previous_start, end)),
        records_dropped: end.saturating_sub(previous_start),
        ..RepairOutcome::new(&backup)
    })
}
