//! Basic behaviour of the store on the real file system: append, read, reopen,
//! roll, time lookup, retention, quota, directory lock, poisoning.

use millrace::{Durability, Error, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::time::Duration;

fn options(durability: Durability) -> StoreOptions {
    StoreOptions {
        durability,
        background: false,
        ..StoreOptions::default()
    }
}

fn small_segments(partitions: u32) -> TopicConfig {
    TopicConfig {
        partitions,
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..TopicConfig::default()
    }
}

#[test]
fn append_read_reopen_across_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    {
        let store = Store::open(dir.path(), options(Durability::Always)).unwrap();
        store.create_topic("t", small_segments(2)).unwrap();
        for i in 0..500u32 {
            let record = Record::new(format!("value-{i}").into_bytes())
                .with_key(format!("k{i}").into_bytes())
                .with_header("h", i.to_le_bytes().to_vec())
                .with_timestamp(1_000 + i64::from(i));
            let info = store.append("t", 0, std::slice::from_ref(&record)).unwrap();
            assert_eq!(info.base_offset, u64::from(i));
            expected.push(record);
        }
        let desc = store.describe_topic("t").unwrap();
        assert!(
            desc.partitions[0].segments > 5,
            "segments rolled: {:?}",
            desc.partitions[0]
        );
        store.close().unwrap();
    }
    let store = Store::open(dir.path(), options(Durability::Always)).unwrap();
    let mut offset = 0;
    let mut seen = Vec::new();
    while offset < 500 {
        let r = store
            .read(
                "t",
                0,
                offset,
                ReadOptions {
                    max_bytes: 1000,
                    max_records: 37,
                },
            )
            .unwrap();
        assert!(!r.records.is_empty());
        assert!(r.records.len() <= 37);
        for rec in &r.records {
            assert_eq!(rec.offset, offset);
            offset += 1;
        }
        assert_eq!(r.next_offset, offset);
        seen.extend(r.records);
    }
    for (i, (got, want)) in seen.iter().zip(&expected).enumerate() {
        assert_eq!(got.value, want.value, "record {i}");
        assert_eq!(got.key, want.key);
        assert_eq!(got.headers, want.headers);
        assert_eq!(Some(got.timestamp_ms), want.timestamp_ms);
    }
    // Time index: first record with timestamp >= 1_250 is offset 250.
    assert_eq!(store.offset_for_time("t", 0, 1_250).unwrap(), Some(250));
    assert_eq!(store.offset_for_time("t", 0, 0).unwrap(), Some(0));
    assert_eq!(store.offset_for_time("t", 0, 10_000).unwrap(), None);
    // Appends continue densely after reopen.
    assert_eq!(
        store.append("t", 0, &[Record::new(b"x".to_vec())]).unwrap().base_offset,
        500
    );
    assert_eq!(store.offsets("t", 1).unwrap(), (0, 0));
    assert!(matches!(
        store.read("t", 0, 502, ReadOptions::default()),
        Err(Error::OffsetOutOfRange { requested: 502, .. })
    ));
}

#[test]
fn second_open_is_refused_with_pid() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::open(dir.path(), options(Durability::Os)).unwrap();
    match Store::open(dir.path(), options(Durability::Os)) {
        Err(Error::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn retention_by_size_and_time_and_quota() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            quota_bytes: Some(40_000),
            ..options(Durability::Os)
        },
    )
    .unwrap();
    let config = TopicConfig {
        retention_bytes: Some(10_000),
        ..small_segments(1)
    };
    store.create_topic("t", config).unwrap();
    let value = vec![7u8; 500];
    let mut appended = 0u64;
    loop {
        match store.append("t", 0, &[Record::new(value.clone())]) {
            Ok(_) => appended += 1,
            Err(Error::QuotaExceeded { quota_bytes, .. }) => {
                assert_eq!(quota_bytes, 40_000);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(store.used_bytes() <= 40_000);
    assert!(!store.is_poisoned(), "quota must not poison");
    let deleted = store.enforce_retention().unwrap();
    assert!(deleted > 0);
    let (start, end) = store.offsets("t", 0).unwrap();
    assert!(start > 0 && end == appended);
    assert!(store.describe_topic("t").unwrap().partitions[0].bytes <= 10_000 + 4096);
    // Space was freed: appends resume.
    store.append("t", 0, &[Record::new(value.clone())]).unwrap();
    assert!(matches!(
        store.read("t", 0, 0, ReadOptions::default()),
        Err(Error::OffsetOutOfRange { .. })
    ));

    // Time retention: records stamped long ago go once sealed.
    store
        .create_topic(
            "old",
            TopicConfig {
                retention_ms: Some(1000),
                ..small_segments(1)
            },
        )
        .unwrap();
    for _ in 0..30 {
        store
            .append("old", 0, &[Record::new(value.clone()).with_timestamp(1)])
            .unwrap();
    }
    store.enforce_retention().unwrap();
    let (start, end) = store.offsets("old", 0).unwrap();
    assert!(start > 0 && start < end, "start {start} end {end}");
}

#[test]
fn wait_for_wakes_on_append_and_interval_makes_visible_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            background: true,
            ..options(Durability::Always)
        },
    )
    .unwrap();
    store
        .create_topic(
            "i",
            TopicConfig {
                durability: Some(Durability::Interval { ms: 5 }),
                ..TopicConfig::default()
            },
        )
        .unwrap();
    let writer = store.clone();
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        writer.append("i", 0, &[Record::new(b"a".to_vec())]).unwrap();
    });
    assert!(store.wait_for("i", 0, 0, Duration::from_secs(10)).unwrap());
    handle.join().unwrap();
    assert_eq!(store.read("i", 0, 0, ReadOptions::default()).unwrap().records.len(), 1);
    assert!(!store.wait_for("i", 0, 1, Duration::from_millis(20)).unwrap());
}

#[test]
fn bad_input_is_rejected_not_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options(Durability::Os)).unwrap();
    assert!(matches!(
        store.create_topic("../x", TopicConfig::default()),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        store.create_topic(
            "t",
            TopicConfig {
                partitions: 0,
                ..TopicConfig::default()
            }
        ),
        Err(Error::InvalidInput { .. })
    ));
    store
        .create_topic(
            "t",
            TopicConfig {
                record_bytes_max: 100,
                ..TopicConfig::default()
            },
        )
        .unwrap();
    assert!(matches!(
        store.create_topic("t", TopicConfig::default()),
        Err(Error::TopicExists(_))
    ));
    assert!(matches!(
        store.append("t", 0, &[Record::new(vec![0; 200])]),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(store.append("t", 0, &[]), Err(Error::InvalidInput { .. })));
    assert!(matches!(
        store.append("t", 5, &[Record::new(vec![1])]),
        Err(Error::PartitionNotFound { .. })
    ));
    assert!(matches!(
        store.append("nope", 0, &[Record::new(vec![1])]),
        Err(Error::TopicNotFound(_))
    ));
    store.delete_topic("t").unwrap();
    assert!(store.list_topics().is_empty());
    drop(store);
    let store = Store::open(dir.path(), options(Durability::Os)).unwrap();
    assert!(store.list_topics().is_empty());
}

#[test]
fn concurrent_always_appenders_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options(Durability::Always)).unwrap();
    store.create_topic("g", TopicConfig::default()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    store
                        .append("g", 0, &[Record::new(format!("{t}-{i}").into_bytes())])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let m = store.metrics();
    assert_eq!(m.append_batches, 400);
    assert!(
        m.fsyncs < 400,
        "group commit should share fsyncs: {} fsyncs for 400 appends",
        m.fsyncs
    );
    let r = store
        .read(
            "g",
            0,
            0,
            ReadOptions {
                max_bytes: usize::MAX,
                max_records: 1000,
            },
        )
        .unwrap();
    assert_eq!(r.records.len(), 400);
}

#[test]
fn scan_visits_the_same_records_as_read_without_copying() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options(Durability::Always)).unwrap();
    store.create_topic("s", small_segments(1)).unwrap();
    for i in 0..300u32 {
        let record = Record::new(format!("v{i}").into_bytes())
            .with_key(vec![i as u8])
            .with_header("n", i.to_le_bytes().to_vec())
            .with_timestamp(i64::from(i));
        store.append("s", 0, &[record]).unwrap();
    }
    let options = ReadOptions {
        max_bytes: 700,
        max_records: 50,
    };
    let mut offset = 10;
    while offset < 300 {
        let read = store.read("s", 0, offset, options).unwrap();
        let mut seen = Vec::new();
        let next = store
            .scan("s", 0, offset, options, millrace::Isolation::ReadCommitted, |view| {
                seen.push(view.to_owned())
            })
            .unwrap();
        assert_eq!(seen, read.records, "from {offset}");
        assert_eq!(next, read.next_offset);
        let first = &seen[0];
        assert_eq!(first.header("n"), Some(&(first.offset as u32).to_le_bytes()[..]));
        offset = next;
    }
}

#[test]
fn clean_close_snapshots_producers_so_open_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), options(Durability::Always)).unwrap();
        store.create_topic("p", TopicConfig::default()).unwrap();
        for i in 0..50u32 {
            store.append("p", 0, &[Record::new(i.to_le_bytes().to_vec())]).unwrap();
        }
        store.close().unwrap();
    }
    let partition_dir = dir.path().join("topics/p/00000");
    let snapshots: Vec<String> = std::fs::read_dir(&partition_dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".producers"))
        .collect();
    assert_eq!(
        snapshots,
        vec![format!("{:020}.producers", 50)],
        "snapshot at the log end after close"
    );
    let store = Store::open(dir.path(), options(Durability::Always)).unwrap();
    assert_eq!(store.offsets("p", 0).unwrap(), (0, 50));
}

/// A topic's `quota_bytes` counts every partition of the topic together,
/// refuses a batch that would pass it with `QuotaExceeded` naming the topic
/// (nothing written, the store's count unchanged), gives bytes back when
/// retention deletes, and leaves other topics alone. A transaction's
/// records are refused when staged on a topic at its quota; one staged
/// before it filled commits whole.
#[test]
fn topic_quota_spans_partitions_and_retention_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options(Durability::Os)).unwrap();
    let config = TopicConfig {
        quota_bytes: Some(20_000),
        retention_bytes: Some(8_000),
        ..small_segments(2)
    };
    store.create_topic("t", config).unwrap();
    store.create_topic("free", small_segments(1)).unwrap();
    let producer = store.init_producer("p").unwrap();
    let mut staged = store.begin_transaction(producer.id()).unwrap();
    staged.append("t", 0, &[Record::new(vec![1u8; 500])]).unwrap();
    let value = vec![7u8; 500];
    let mut appended = [0u64; 2];
    let refused = loop {
        let p = (appended[0] + appended[1]) % 2;
        match store.append("t", p as u32, &[Record::new(value.clone())]) {
            Ok(_) => appended[p as usize] += 1,
            Err(e) => break e,
        }
    };
    match &refused {
        Error::QuotaExceeded {
            quota_bytes,
            used_bytes,
            topic,
            ..
        } => {
            assert_eq!(*quota_bytes, 20_000);
            assert_eq!(topic.as_deref(), Some("t"));
            assert!(*used_bytes <= 20_000);
        }
        other => panic!("expected the topic's QuotaExceeded, got {other:?}"),
    }
    assert!(
        refused.to_string().contains("millrace topic alter t --quota-bytes"),
        "{refused}"
    );
    assert!(
        appended[0] > 0 && appended[1] > 0,
        "both partitions counted: {appended:?}"
    );
    let bytes = |topic: &str| -> u64 {
        store
            .describe_topic(topic)
            .unwrap()
            .partitions
            .iter()
            .map(|p| p.bytes)
            .sum()
    };
    let used = bytes("t");
    assert!(used <= 20_000 && used > 19_000, "{used}");
    assert_eq!(
        store.offsets("t", 0).unwrap().1 + store.offsets("t", 1).unwrap().1,
        appended[0] + appended[1]
    );
    // The store's own count keeps nothing of a refused batch.
    let store_used = store.used_bytes();
    assert!(store.append("t", 1, &[Record::new(value.clone())]).is_err());
    assert_eq!(store.used_bytes(), store_used);
    // Another topic takes records.
    store.append("free", 0, &[Record::new(value.clone())]).unwrap();
    // A transaction's new records are refused while the topic is full...
    let other = store.init_producer("p2").unwrap();
    let mut late = store.begin_transaction(other.id()).unwrap();
    assert!(matches!(
        late.append("t", 1, &[Record::new(value.clone())]),
        Err(Error::QuotaExceeded { .. })
    ));
    late.abort();
    // ...but one staged before commits whole (a commit is never half applied).
    staged.commit().unwrap();
    // Retention deletes down to 8,000 bytes per partition and frees the quota.
    assert!(store.enforce_retention().unwrap() > 0);
    assert!(bytes("t") < used);
    store.append("t", 0, &[Record::new(value)]).unwrap();
}
