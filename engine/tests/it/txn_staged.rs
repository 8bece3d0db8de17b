//! A transaction's records are encoded once when staged and written as
//! staged (design/durability.md, "Transactions"): what comes back, live and
//! after a reopen, is every field as appended (keys, headers, nulls, the
//! producer's timestamps), records staged without a timestamp get the
//! commit's time, and a part spread over several appends of the
//! transaction stays in order.
use millrace::{Durability, Isolation, ReadOptions, Record, Store, StoreOptions, StoredRecord, TopicConfig};

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

fn committed(store: &Store, topic: &str, partition: u32) -> Vec<StoredRecord> {
    store
        .read_with(
            topic,
            partition,
            0,
            ReadOptions {
                max_bytes: usize::MAX,
                max_records: 100_000,
            },
            Isolation::ReadCommitted,
        )
        .unwrap()
        .records
}

/// The records of one append: every form a record can take.
fn records(round: u8) -> Vec<Record> {
    vec![
        Record {
            key: Some(vec![b'k', round]),
            value: vec![round; 1000],
            headers: vec![("h".into(), vec![round]), ("empty".into(), Vec::new())],
            timestamp_ms: Some(1_600_000_000_000 + i64::from(round)),
            ..Record::default()
        },
        // No timestamp: the commit's time.
        Record::new(vec![round, 1]),
        Record::tombstone().with_null_header("gone"),
    ]
}

fn assert_as_appended(read: &[StoredRecord], appended: &[Record], committed_between: (i64, i64)) {
    assert_eq!(read.len(), appended.len());
    for (read, appended) in read.iter().zip(appended) {
        assert_eq!(read.key, appended.key);
        assert_eq!(read.value, appended.value);
        assert_eq!(read.headers, appended.headers);
        assert_eq!(read.nulls, appended.nulls);
        match appended.timestamp_ms {
            Some(ms) => assert_eq!(read.timestamp_ms, ms),
            None => assert!(
                (committed_between.0..=committed_between.1).contains(&read.timestamp_ms),
                "{} not within the commit's {committed_between:?}",
                read.timestamp_ms
            ),
        }
    }
}

#[test]
fn staged_records_come_back_as_appended_live_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let always = TopicConfig {
        durability: Some(Durability::Always),
        ..TopicConfig::with_partitions(2)
    };
    store.create_topic("out", always).unwrap();
    store.create_topic("progress", TopicConfig::default()).unwrap();
    let producer = store.init_producer("staged").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    let mut expected = Vec::new();
    for round in 0..3u8 {
        // One part fed by several appends, another partition between them.
        txn.append("out", 0, &records(round)).unwrap();
        expected.extend(records(round));
        txn.append("out", 1, &records(10 + round)).unwrap();
    }
    txn.append("progress", 0, &[Record::new(b"next=9".to_vec())]).unwrap();
    let before = now_ms();
    let info = txn.commit().unwrap();
    let after = now_ms();
    assert_eq!(info.parts.len(), 3);
    let others: Vec<Record> = (0..3u8).flat_map(|round| records(10 + round)).collect();
    assert_as_appended(&committed(&store, "out", 0), &expected, (before, after));
    assert_as_appended(&committed(&store, "out", 1), &others, (before, after));
    let progress = committed(&store, "progress", 0);
    assert_eq!(progress.len(), 1);
    let untimed: Vec<i64> = committed(&store, "out", 0)
        .iter()
        .zip(&expected)
        .filter(|(_, appended)| appended.timestamp_ms.is_none())
        .map(|(read, _)| read.timestamp_ms)
        .collect();
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    let reread = committed(&store, "out", 0);
    assert_as_appended(&reread, &expected, (before, after));
    let reread_untimed: Vec<i64> = reread
        .iter()
        .zip(&expected)
        .filter(|(_, appended)| appended.timestamp_ms.is_none())
        .map(|(read, _)| read.timestamp_ms)
        .collect();
    assert_eq!(untimed, reread_untimed, "the commit's time is on disk, not the read's");
    assert_as_appended(&committed(&store, "out", 1), &others, (before, after));
    assert_eq!(store.unapplied_transaction_parts().len(), 0);
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}
