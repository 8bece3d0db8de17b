//! A transaction never becomes durable in a form that cannot be applied, and
//! one that is on disk anyway never stops the store from opening: a part
//! larger than its target's batch limit commits and is applied as several
//! batches (also across a crash in the middle of them), a record its target
//! can never hold is refused before the commit point, and a hand-crafted
//! commit record (format.md, "Transaction commit record") whose parts name a
//! missing topic or hold a record over the target's limit is skipped part by
//! part, reported, and the rest of it and of the store is applied and opens.
use millrace::batch::{self, ProducerStamp};
use millrace::inspect::Severity;
use millrace::{Error, Isolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::path::Path;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

fn small_segments() -> TopicConfig {
    TopicConfig {
        segment_bytes: 16 * 1024,
        ..TopicConfig::default()
    }
}

fn values(store: &Store, topic: &str) -> Vec<Vec<u8>> {
    let (start, _) = store.offsets(topic, 0).unwrap();
    let read = store
        .read_with(
            topic,
            0,
            start,
            ReadOptions {
                max_bytes: usize::MAX,
                max_records: 100_000,
            },
            Isolation::ReadCommitted,
        )
        .unwrap();
    read.records.into_iter().map(|r| r.value).collect()
}

fn thousand() -> Vec<Record> {
    (0..1000)
        .map(|i| Record::new(format!("value-{i:05}-pppppppppppppppppppppppppppppp").into_bytes()))
        .collect()
}

#[test]
fn part_larger_than_the_target_batch_limit_is_applied_as_several_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("b", small_segments()).unwrap();
    let producer = store.init_producer("replay").unwrap();
    let records = thousand();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("b", 0, &records).unwrap();
    txn.commit_offset("g", "b", 0, 7, b"").unwrap();
    let info = txn.commit().unwrap();
    assert_eq!((info.parts[0].base_offset, info.parts[0].next_offset), (0, 1000));
    let expected: Vec<Vec<u8>> = records.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values(&store, "b"), expected);
    assert!(store.describe_topic("b").unwrap().partitions[0].segments > 1);
    drop(store);
    // Recovery recognises every batch of the part: nothing is written twice.
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(values(&store, "b"), expected);
    assert_eq!(store.committed_offset("g", "b", 0).unwrap(), Some(7));
    assert!(store.unapplied_transaction_parts().is_empty());
}

#[test]
fn record_that_can_never_fit_its_target_is_refused_before_the_commit_point() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("b", small_segments()).unwrap();
    let producer = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    // Under the record limit (1 MiB) but larger than one 16 KiB segment.
    let huge = Record::new(vec![b'x'; 20 * 1024]);
    let refused = txn.append("b", 0, &[huge]);
    assert!(matches!(refused, Err(Error::InvalidInput { .. })), "{refused:?}");
    txn.append("b", 0, &[Record::new(b"fits".to_vec())]).unwrap();
    txn.commit().unwrap();
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(values(&store, "b"), vec![b"fits".to_vec()]);
}

/// A commit record as format.md lays it out, with one offset commit.
fn commit_record(producer_id: u64, commit_time_ms: i64, parts: &[(&str, u32, u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(&producer_id.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&commit_time_ms.to_le_bytes());
    let str = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    out.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    for (topic, partition, end, batch) in parts {
        str(&mut out, topic);
        out.extend_from_slice(&partition.to_le_bytes());
        out.extend_from_slice(&end.to_le_bytes());
        out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
        out.extend_from_slice(batch);
    }
    out.extend_from_slice(&1u32.to_le_bytes());
    str(&mut out, "g");
    str(&mut out, "ok");
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&3u64.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn encoded(records: &[Record], producer_id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let stamp = ProducerStamp {
        producer_id,
        epoch: 0,
        base_sequence: 0,
    };
    batch::encode(&mut out, 0, records, 1, Some(stamp), 0, 0);
    out
}

fn craft_unappliable_store(path: &Path) {
    let store = Store::open(path, options()).unwrap();
    store.create_topic("ok", TopicConfig::default()).unwrap();
    store.create_topic("big", small_segments()).unwrap();
    store
        .create_topic(
            "tight",
            TopicConfig {
                record_bytes_max: 64,
                ..TopicConfig::default()
            },
        )
        .unwrap();
    store.append("ok", 0, &[Record::new(b"before".to_vec())]).unwrap();
    // A real transaction creates `__transactions`.
    let producer = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("ok", 0, &[Record::new(b"committed".to_vec())]).unwrap();
    txn.commit().unwrap();
    // What an older version (or a hostile client, before the fix) left:
    // the last commit record, never applied, whose parts are a missing
    // topic, a record over its target's record limit, a part larger than
    // its target's batch limit, and a plain part.
    let id = 9_999;
    let record = commit_record(
        id,
        i64::MAX / 2,
        &[
            ("gone", 0, 0, encoded(&[Record::new(b"lost".to_vec())], id)),
            ("tight", 0, 0, encoded(&[Record::new(vec![b'x'; 200])], id)),
            ("big", 0, 0, encoded(&thousand(), id)),
            ("ok", 0, 2, encoded(&[Record::new(b"after".to_vec())], id)),
        ],
    );
    store
        .append_to_internal_topic("__transactions", 0, &[Record::new(record)])
        .unwrap();
    drop(store);
}

#[test]
fn commit_record_that_cannot_be_applied_is_skipped_and_reported_and_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    craft_unappliable_store(dir.path());
    let store = Store::open(dir.path(), options()).unwrap();
    let unapplied = store.unapplied_transaction_parts();
    let named: Vec<(&str, u64)> = unapplied.iter().map(|p| (p.topic.as_str(), p.records)).collect();
    assert_eq!(named, vec![("gone", 1), ("tight", 1)], "{unapplied:?}");
    assert!(unapplied.iter().all(|p| p.producer_id == 9_999 && !p.reason.is_empty()));
    assert_eq!(store.metrics().transaction_parts_unapplied, 2);
    // Everything else of the transaction is applied, once.
    assert_eq!(
        values(&store, "ok"),
        vec![b"before".to_vec(), b"committed".to_vec(), b"after".to_vec()]
    );
    assert_eq!(values(&store, "big").len(), 1000);
    assert!(values(&store, "tight").is_empty());
    assert_eq!(store.committed_offset("g", "ok", 0).unwrap(), Some(3));
    // The store works: new appends and transactions.
    store.append("ok", 0, &[Record::new(b"new".to_vec())]).unwrap();
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(values(&store, "big").len(), 1000);
    assert_eq!(values(&store, "ok").len(), 4);
}

#[test]
fn check_reports_a_commit_record_that_cannot_be_applied() {
    let dir = tempfile::tempdir().unwrap();
    craft_unappliable_store(dir.path());
    let report = millrace::inspect::check_dir(dir.path()).unwrap();
    assert!(report.corruption_found(), "{:?}", report.problems);
    let details: Vec<&str> = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Corruption)
        .map(|p| p.detail.as_str())
        .collect();
    assert!(details.iter().any(|d| d.contains("\"gone\"")), "{details:?}");
    assert!(details.iter().any(|d| d.contains("\"tight\"")), "{details:?}");
    // The part that only needs splitting is not a problem.
    assert!(!details.iter().any(|d| d.contains("\"big\"")), "{details:?}");
}

#[test]
fn a_deleted_target_is_neither_reported_nor_applied_again_into_its_successor() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("x", TopicConfig::default()).unwrap();
    store.create_topic("y", TopicConfig::default()).unwrap();
    let producer = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("x", 0, &[Record::new(b"old x".to_vec())]).unwrap();
    txn.commit().unwrap();
    store.delete_topic("x").unwrap();
    drop(store);
    // Deleted: nothing to apply and nothing to report.
    let report = millrace::inspect::check_dir(dir.path()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let store = Store::open(dir.path(), options()).unwrap();
    assert!(store.unapplied_transaction_parts().is_empty());
    // Created again: the old transaction's part never lands in it.
    store.create_topic("x", TopicConfig::default()).unwrap();
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    assert!(values(&store, "x").is_empty());
    // Transactions still work after the trim, and survive a reopen once.
    let producer = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("y", 0, &[Record::new(b"y".to_vec())]).unwrap();
    txn.commit().unwrap();
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(values(&store, "y"), vec![b"y".to_vec()]);
}

/// A transaction of several MiB (well over the 1 MiB default record limit,
/// which its commit record, holding every part, exceeds) commits; so does
/// one in a store whose transaction log was created with that default
/// (before 2026-12-07): the log's limit is raised at the next commit.
#[test]
fn a_transaction_of_several_mebibytes_commits_also_in_a_store_with_the_old_log_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("big", TopicConfig::default()).unwrap();
    let producer = store.init_producer("p").unwrap();
    let record = |i: u8| Record::new(vec![i; 900 * 1024]);
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("big", 0, &[record(1), record(2), record(3)]).unwrap();
    txn.commit().unwrap();
    assert_eq!(values(&store, "big").len(), 3);
    store.close().unwrap();
    // The log as an older store created it: the default record limit.
    let meta = dir.path().join("topics/__transactions/topic.meta");
    let old = TopicConfig {
        durability: Some(millrace::Durability::Always),
        ..TopicConfig::default()
    };
    std::fs::write(&meta, old.encode()).unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let producer = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("big", 0, &[record(4), record(5), record(6)]).unwrap();
    txn.commit().unwrap();
    let got = values(&store, "big");
    assert_eq!(got.len(), 6);
    assert!(got
        .iter()
        .zip(1u8..)
        .all(|(v, i)| v.len() == 900 * 1024 && v.iter().all(|b| *b == i)));
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(values(&store, "big").len(), 6);
    assert!(store.unapplied_transaction_parts().is_empty());
}
