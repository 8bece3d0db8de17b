//! The feature handles (`store.consumer_groups()`, `store.transactions()`,
//! `store.dlq(topic)`), through the public API only: each is the same
//! feature as `Store`'s forwards (what one writes, the other reads, after a
//! reopen too); a handle keeps the store open after the last `Store` clone is
//! dropped, and `Store::close` closes it like every other handle.
use millrace::dlq::{DlqFilter, FailOutcome, Failure, RedriveOptions};
use millrace::{Consumer, ConsumerOptions, Error, Producer, Record, Store, StoreOptions, TopicConfig};

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

#[test]
fn handles_and_forwards_are_one_feature() {
    let dir = crate::common::scratch_dir();
    let path = dir.path().join("data");
    let store = Store::open(&path, options()).unwrap();
    store.create_topic("in", TopicConfig::default()).unwrap();
    store.create_topic("out", TopicConfig::default()).unwrap();
    let records: Vec<Record> = (0..4u8).map(|i| Record::new(vec![i])).collect();
    store.append("in", 0, &records).unwrap();

    // Offsets committed through the handle are the store's, and back.
    let groups = store.consumer_groups();
    groups.commit_offset("g", "in", 0, 2, b"m").unwrap();
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(2));
    store.commit_offset("h", "in", 0, 3, b"").unwrap();
    assert_eq!(groups.groups().unwrap(), vec!["g".to_string(), "h".to_string()]);
    assert_eq!(groups.consumer_lag("g").unwrap()[0].lag, 2);
    assert!(
        matches!(
            groups.commit_offset("g", "in", 0, 5, b""),
            Err(Error::InvalidInput { .. })
        ),
        "a commit past the high watermark is refused through the handle as through the store"
    );

    // A transaction begun on the handle commits output and offsets together.
    let producer = Producer::init(&store, "stage").unwrap();
    let mut txn = store.transactions().begin(producer.id()).unwrap();
    txn.append("out", 0, &[Record::new("x")]).unwrap();
    txn.commit_offset("g", "in", 0, 4, b"").unwrap();
    txn.commit().unwrap();
    assert_eq!(store.offsets("out", 0).unwrap(), (0, 1));
    assert_eq!(groups.committed_offset("g", "in", 0).unwrap(), Some(4));
    assert!(store.transactions().unapplied_parts().is_empty());

    // A record failed through the DLQ handle is in the store's DLQ.
    let dlq = store.dlq("in");
    assert_eq!(dlq.topic(), "in");
    let record = store
        .read("in", 0, 1, millrace::ReadOptions::default())
        .unwrap()
        .records[0]
        .clone();
    let failure = Failure::new("transform", "Bad", "no");
    let outcome = dlq.fail_record(producer.id(), "k", 0, &record, &failure, 1).unwrap();
    let FailOutcome::DeadLettered { dlq_offset, attempts } = outcome else {
        panic!("one attempt allowed: dead-lettered, got {outcome:?}");
    };
    assert_eq!((dlq_offset, attempts.count), (0, 1));
    assert_eq!(store.dlq_stats("in").unwrap().depth, 1);
    assert_eq!(
        dlq.attempts("k", 0, 1).unwrap(),
        store.attempts("k", "in", 0, 1).unwrap()
    );
    let listed = store.dlq_list("in", &DlqFilter::default()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(dlq.get(0).unwrap().map(|e| e.letter.source_offset), Some(1));
    let report = dlq.redrive(&RedriveOptions::default()).unwrap();
    assert_eq!(report.redriven.len(), 1);
    assert_eq!(store.offsets("in", 0).unwrap(), (0, 5), "the redriven copy");
    assert!(store
        .dlq_redrive("in", &RedriveOptions::default())
        .unwrap()
        .redriven
        .is_empty());
    store.close().unwrap();

    // After a reopen, the handles read what was written through them.
    let store = Store::open(&path, options()).unwrap();
    assert_eq!(store.consumer_groups().committed_offset("g", "in", 0).unwrap(), Some(4));
    assert_eq!(store.dlq("in").stats().unwrap().depth, 0, "redriven");
    store.close().unwrap();
}

#[test]
fn a_handle_keeps_the_store_open_and_close_closes_it() {
    let dir = crate::common::scratch_dir();
    let path = dir.path().join("data");
    let store = Store::open(&path, options()).unwrap();
    store.create_topic("in", TopicConfig::default()).unwrap();
    store.append("in", 0, &[Record::new("a")]).unwrap();
    let groups = store.consumer_groups();
    let transactions = store.transactions();
    let mut consumer = Consumer::new(&store, "g", ConsumerOptions::default()).unwrap();
    consumer.assign(&[("in", 0)]).unwrap();
    drop(store);
    // No `Store` left: the handles still hold it open (and its lock).
    groups.commit_offset("g", "in", 0, 1, b"").unwrap();
    assert_eq!(consumer.committed("in", 0).unwrap(), Some(1));
    assert!(matches!(Store::open(&path, options()), Err(Error::Locked { .. })));
    drop((groups, transactions, consumer));
    // The last handle gone, the store is closed: it opens again.
    let store = Store::open(&path, options()).unwrap();
    let groups = store.consumer_groups();
    let dlq = store.dlq("in");
    let producer = Producer::init(&store, "p").unwrap();
    let transactions = store.transactions();
    store.clone().close().unwrap();
    assert!(matches!(groups.commit_offset("g", "in", 0, 1, b""), Err(Error::Closed)));
    assert!(matches!(dlq.stats(), Err(Error::Closed)));
    assert!(matches!(transactions.begin(producer.id()), Err(Error::Closed)));
    let mut consumer = Consumer::new(&store, "g", ConsumerOptions::default()).unwrap();
    assert!(matches!(consumer.assign(&[("in", 0)]), Err(Error::Closed)));
}
