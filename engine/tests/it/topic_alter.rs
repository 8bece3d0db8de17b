//! `Store::alter_topic` (issue 23): the change applies to the open store at
//! once (no reopen), whole or not at all, and durably; a power cut at any
//! storage call of an alter leaves the topic with its old configuration or
//! its new one, never a mix, and the store opens; `check` finds nothing.
use crate::common;

use millrace::testing::sim::{FaultPlan, SimStorage};
use millrace::{Durability, Error, Record, Store, StoreOptions, TopicConfig};
use std::sync::Arc;

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

fn change(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn small() -> TopicConfig {
    TopicConfig {
        record_bytes_max: 100,
        retention_ms: Some(1000),
        ..TopicConfig::default()
    }
}

#[test]
fn an_alter_applies_live_whole_and_durably() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", small()).unwrap();
    let big = [Record::new(vec![7u8; 500])];
    let refused = store.append("t", 0, &big).unwrap_err().to_string();
    assert!(
        refused.contains("millrace topic alter t --record-bytes-max"),
        "{refused}"
    );
    // A dry run validates and changes nothing.
    let (old, new) = store
        .alter_topic("t", &change(&[("record_bytes_max", "1000")]), true)
        .unwrap();
    assert_eq!((old.record_bytes_max, new.record_bytes_max), (100, 1000));
    assert!(store.append("t", 0, &big).is_err());
    // One bad key refuses the whole change.
    let bad = change(&[("retention_ms", "none"), ("segment_bytes", "10")]);
    assert!(matches!(
        store.alter_topic("t", &bad, false),
        Err(Error::InvalidInput { .. })
    ));
    let unknown = change(&[("colour", "blue")]);
    assert!(store.alter_topic("t", &unknown, false).is_err());
    assert_eq!(store.describe_topic("t").unwrap().config, small());
    // Applied: the open partition takes records up to the new limit now.
    let (_, new) = store
        .alter_topic(
            "t",
            &change(&[("record_bytes_max", "1000"), ("retention_ms", "none")]),
            false,
        )
        .unwrap();
    store.append("t", 0, &big).unwrap();
    assert_eq!(store.describe_topic("t").unwrap().config, new);
    // The partition count and the store's own topics are not altered.
    assert!(store
        .alter_topic("__offsets", &change(&[("retention_ms", "1")]), false)
        .is_err());
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.describe_topic("t").unwrap().config, new);
    store.close().unwrap();
}

#[test]
fn durability_altered_applies_at_once_and_after_reopen() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    store.alter_topic("t", &change(&[("durability", "os")]), false).unwrap();
    let described = store.describe_topic("t").unwrap();
    assert_eq!(described.config.durability, Some(Durability::Os));
    assert_eq!(described.durability, Durability::Os, "in effect at once");
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.describe_topic("t").unwrap().durability, Durability::Os);
    store.close().unwrap();
}

const DATA: &str = "/data";

/// Create the topic and close (durable), then reopen and alter it.
fn workload(storage: &SimStorage) -> millrace::Result<()> {
    let store = Store::open_with_storage(DATA, options(), Arc::new(storage.clone()))?;
    store.alter_topic(
        "t",
        &change(&[
            ("record_bytes_max", "5000"),
            ("retention_ms", "none"),
            ("segment_bytes", "8192"),
            ("durability", "os"),
        ]),
        false,
    )?;
    store.close()
}

#[test]
fn a_power_cut_during_an_alter_leaves_the_old_or_the_new_config() {
    let setup = |storage: &SimStorage| {
        let store = Store::open_with_storage(DATA, options(), Arc::new(storage.clone())).unwrap();
        store.create_topic("t", small()).unwrap();
        store.close().unwrap();
    };
    let fresh = SimStorage::new(0, FaultPlan::none());
    setup(&fresh);
    let counting = fresh.power_cut();
    workload(&counting).unwrap();
    let calls = counting.calls();
    let store = Store::open_with_storage(DATA, options(), Arc::new(counting.restart())).unwrap();
    let new = store.describe_topic("t").unwrap().config;
    store.close().unwrap();
    assert_ne!(new, small());
    let (mut saw_old, mut saw_new) = (false, false);
    for crash_at in 0..=calls {
        for seed in 0..3 {
            let fresh = SimStorage::new(seed, FaultPlan::none());
            setup(&fresh);
            let storage = fresh.power_cut_with_plan(FaultPlan::none().crash_at_call(crash_at));
            let _ = workload(&storage);
            let image = storage.power_cut();
            let what = format!("crash at call {crash_at} of {calls}, seed {seed}");
            let store =
                Store::open_with_storage(DATA, options(), Arc::new(image)).unwrap_or_else(|e| panic!("{what}: {e}"));
            let config = store
                .describe_topic("t")
                .unwrap_or_else(|e| panic!("{what}: {e}"))
                .config;
            assert!(config == small() || config == new, "{what}: a mix: {config:?}");
            saw_old |= config == small();
            saw_new |= config == new;
            assert!(store.damaged().is_empty(), "{what}");
            store.close().unwrap();
        }
    }
    assert!(saw_old && saw_new, "old {saw_old} new {saw_new}");
}

/// Timestamps of every record of `topic` partition 0.
fn timestamps(store: &Store, topic: &str) -> Vec<i64> {
    let options = millrace::ReadOptions {
        max_bytes: 1 << 20,
        max_records: 1000,
    };
    let read = store.read(topic, 0, 0, options).unwrap();
    read.records.iter().map(|r| r.timestamp_ms).collect()
}

/// A log-append-time topic (Kafka's `message.timestamp.type=LogAppendTime`)
/// stamps every record with its append time, whatever the producer gave; a
/// create-time topic keeps the producer's. An alter applies to the next
/// append (records already written keep theirs); the setting survives a
/// reopen, and a topic that never set it writes no `timestamp_type` line.
#[test]
fn a_log_append_time_topic_stamps_records_with_the_append_time() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    let log_append = TopicConfig {
        timestamp_type: millrace::TimestampType::LogAppend,
        ..TopicConfig::default()
    };
    store.create_topic("appended", log_append).unwrap();
    store.create_topic("created", TopicConfig::default()).unwrap();
    let old = [
        Record::new(b"a".to_vec()).with_timestamp(1_000),
        Record::new(b"b".to_vec()).with_timestamp(2_000),
        Record::new(b"c".to_vec()),
    ];
    let before = millrace::clock::now_ms();
    let appended = store.append("appended", 0, &old).unwrap();
    let created = store.append("created", 0, &old).unwrap();
    let after = millrace::clock::now_ms();
    let stamped = timestamps(&store, "appended");
    assert_eq!(stamped.len(), 3);
    assert_eq!(appended.log_append_time_ms, Some(stamped[0]));
    assert_eq!(created.log_append_time_ms, None);
    assert!(
        stamped.iter().all(|t| *t == stamped[0]),
        "one append time per batch: {stamped:?}"
    );
    assert!(
        (before..=after).contains(&stamped[0]),
        "{before} <= {stamped:?} <= {after}"
    );
    let kept = timestamps(&store, "created");
    assert_eq!(&kept[..2], &[1_000, 2_000]);
    assert!((before..=after).contains(&kept[2]));
    let meta = |topic: &str| std::fs::read_to_string(dir.path().join("topics").join(topic).join("topic.meta")).unwrap();
    assert!(meta("appended").contains("timestamp_type=log-append\n"));
    assert!(!meta("created").contains("timestamp_type"));
    // Altered: the next append is stamped, the records before keep theirs.
    store
        .alter_topic("created", &change(&[("timestamp_type", "log-append")]), false)
        .unwrap();
    store.append("created", 0, &old[..1]).unwrap();
    let kept = timestamps(&store, "created");
    assert_eq!(&kept[..2], &[1_000, 2_000]);
    assert!(kept[3] >= before, "{kept:?}");
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    for topic in ["appended", "created"] {
        assert_eq!(store.timestamp_type(topic).unwrap(), millrace::TimestampType::LogAppend);
    }
    store.append("appended", 0, &old[..1]).unwrap();
    assert!(timestamps(&store, "appended")[3] >= after);
    store.close().unwrap();
}

/// A transaction's records on a log-append-time topic get the time they are
/// staged (`Transaction::last_log_append_time_ms`, what the Kafka front
/// answers a transactional Produce), and their commit keeps it, also for a
/// second append staged later in the same transaction.
#[test]
fn a_transactions_records_keep_the_append_time_they_were_staged_with() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    let log_append = TopicConfig {
        timestamp_type: millrace::TimestampType::LogAppend,
        ..TopicConfig::default()
    };
    store.create_topic("appended", log_append).unwrap();
    store.create_topic("created", TopicConfig::default()).unwrap();
    let producer = store.init_producer("stage").unwrap();
    let before = millrace::clock::now_ms();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    let old = [Record::new(b"a".to_vec()).with_timestamp(1_000)];
    txn.append("appended", 0, &old).unwrap();
    let first = txn.last_log_append_time_ms().unwrap();
    txn.append("created", 0, &old).unwrap();
    assert_eq!(txn.last_log_append_time_ms(), None, "a create-time topic");
    // Later than the first: each staged batch keeps its own time.
    while millrace::clock::now_ms() == first {
        std::thread::yield_now();
    }
    txn.append("appended", 0, &old).unwrap();
    let second = txn.last_log_append_time_ms().unwrap();
    txn.commit().unwrap();
    let after = millrace::clock::now_ms();
    assert!(
        before <= first && first < second && second <= after,
        "{before} {first} {second} {after}"
    );
    assert_eq!(timestamps(&store, "appended"), [first, second]);
    assert_eq!(timestamps(&store, "created"), [1_000]);
    // After a reopen (the commit record replayed or not) the times stay.
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(timestamps(&store, "appended"), [first, second]);
    store.close().unwrap();
}
