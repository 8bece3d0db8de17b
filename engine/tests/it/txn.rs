//! Atomic outbox commits and the DLQ: all-or-nothing visibility across
//! partitions, offsets and DLQ records (including after a failed fsync at each
//! step, through a fault-injecting storage), read-committed isolation, fencing,
//! DLQ provenance, attempt counting across restarts, and idempotent redrive
//! with its loop cap.
use millrace::dlq::{header, DlqFilter, FailOutcome, RedriveOptions};
use millrace::storage::{FsStorage, OpenMode, Storage, StorageFile};
use millrace::{Error, Isolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::any::Any;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

fn all(store: &Store, topic: &str, partition: u32, isolation: Isolation) -> Vec<Vec<u8>> {
    let r = store
        .read_with(
            topic,
            partition,
            store.offsets(topic, partition).unwrap().0,
            ReadOptions {
                max_bytes: usize::MAX,
                max_records: 100_000,
            },
            isolation,
        )
        .unwrap();
    r.records.into_iter().map(|r| r.value).collect()
}

#[test]
fn commit_is_atomic_and_abort_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("in", TopicConfig::default()).unwrap();
    // The input the offsets below were "consumed" from: a committed offset is at most the log end.
    store
        .append("in", 0, &[Record::new(b"i0".to_vec()), Record::new(b"i1".to_vec())])
        .unwrap();
    store.create_topic("out", TopicConfig::with_partitions(2)).unwrap();
    let producer = store.init_producer("stage-1").unwrap();

    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("out", 0, &[Record::new(b"a0".to_vec())]).unwrap();
    txn.append("out", 1, &[Record::new(b"a1".to_vec())]).unwrap();
    txn.commit_offset("g", "in", 0, 1, b"meta").unwrap();
    // Nothing is visible before commit.
    assert!(all(&store, "out", 0, Isolation::ReadUncommitted).is_empty());
    let info = txn.commit().unwrap();
    assert_eq!(info.parts.len(), 2);
    assert_eq!(all(&store, "out", 0, Isolation::ReadCommitted), vec![b"a0".to_vec()]);
    assert_eq!(all(&store, "out", 1, Isolation::ReadCommitted), vec![b"a1".to_vec()]);
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(1));

    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("out", 0, &[Record::new(b"b0".to_vec())]).unwrap();
    txn.commit_offset("g", "in", 0, 2, b"").unwrap();
    txn.abort();
    assert_eq!(all(&store, "out", 0, Isolation::ReadUncommitted), vec![b"a0".to_vec()]);
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(1));

    // Non-transactional appends interleave.
    store.append("out", 0, &[Record::new(b"plain".to_vec())]).unwrap();
    assert_eq!(
        all(&store, "out", 0, Isolation::ReadCommitted),
        vec![b"a0".to_vec(), b"plain".to_vec()]
    );
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(
        all(&store, "out", 0, Isolation::ReadCommitted),
        vec![b"a0".to_vec(), b"plain".to_vec()]
    );
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(1));
}

#[test]
fn fenced_epoch_cannot_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("out", TopicConfig::default()).unwrap();
    let old = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(old.id()).unwrap();
    txn.append("out", 0, &[Record::new(b"zombie".to_vec())]).unwrap();
    let new = store.init_producer("p").unwrap();
    assert!(new.epoch > old.epoch);
    assert!(matches!(txn.commit(), Err(Error::Fenced { .. })));
    assert!(all(&store, "out", 0, Isolation::ReadUncommitted).is_empty());
    assert!(matches!(store.begin_transaction(old.id()), Err(Error::Fenced { .. })));
}

/// Fails the Nth sync_data (counting from when armed) with EIO.
#[derive(Debug)]
struct FailingSync {
    inner: FsStorage,
    countdown: Arc<AtomicI64>,
}

#[derive(Debug)]
struct FailingFile {
    inner: Arc<dyn StorageFile>,
    countdown: Arc<AtomicI64>,
}

impl StorageFile for FailingFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize> {
        self.inner.read_at(buf, position)
    }
    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        self.inner.write_all_at(buf, position)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.countdown.fetch_sub(1, Ordering::SeqCst) == 1 {
            return Err(io::Error::from_raw_os_error(libc_eio()));
        }
        self.inner.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
}

fn libc_eio() -> i32 {
    5
}

impl Storage for FailingSync {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        Ok(Arc::new(FailingFile {
            inner: self.inner.open(path, mode)?,
            countdown: self.countdown.clone(),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn lock_dir(&self, path: &Path) -> io::Result<Result<Box<dyn Any + Send + Sync>, Option<u32>>> {
        self.inner.lock_dir(path)
    }
}

#[test]
fn failed_fsync_at_each_commit_step_is_all_or_nothing() {
    let mut failed_commits = 0;
    for step in 1..=8 {
        let dir = tempfile::tempdir().unwrap();
        let countdown = Arc::new(AtomicI64::new(i64::MAX));
        let storage = Arc::new(FailingSync {
            inner: FsStorage,
            countdown: countdown.clone(),
        });
        let store = Store::open_with_storage(dir.path(), options(), storage).unwrap();
        store.create_topic("in", TopicConfig::default()).unwrap();
        store
            .append("in", 0, &[Record::new(b"i0".to_vec()), Record::new(b"i1".to_vec())])
            .unwrap();
        store.create_topic("out", TopicConfig::with_partitions(2)).unwrap();
        let producer = store.init_producer("p").unwrap();
        // Warm up: internal topics exist, so the armed failure lands inside commit.
        let mut txn = store.begin_transaction(producer.id()).unwrap();
        txn.append("out", 0, &[Record::new(b"warm".to_vec())]).unwrap();
        txn.commit_offset("g", "in", 0, 1, b"").unwrap();
        txn.commit().unwrap();

        countdown.store(step, Ordering::SeqCst);
        let mut txn = store.begin_transaction(producer.id()).unwrap();
        txn.append("out", 0, &[Record::new(b"x0".to_vec())]).unwrap();
        txn.append("out", 1, &[Record::new(b"x1".to_vec())]).unwrap();
        txn.commit_offset("g", "in", 0, 2, b"").unwrap();
        let result = txn.commit();
        if result.is_err() {
            failed_commits += 1;
            assert!(store.is_poisoned(), "step {step}: a failed fsync must poison");
            assert!(matches!(
                store.append("out", 0, &[Record::new(b"y".to_vec())]),
                Err(Error::Poisoned)
            ));
            // Read-committed readers never see a part alone.
            let visible0 = all(&store, "out", 0, Isolation::ReadCommitted);
            let visible1 = all(&store, "out", 1, Isolation::ReadCommitted);
            assert!(
                !visible0.contains(&b"x0".to_vec()) || visible1.contains(&b"x1".to_vec()),
                "step {step}"
            );
        }
        drop(store);
        let store = Store::open(dir.path(), options()).unwrap();
        let out0 = all(&store, "out", 0, Isolation::ReadCommitted);
        let out1 = all(&store, "out", 1, Isolation::ReadCommitted);
        let committed = store.committed_offset("g", "in", 0).unwrap();
        let applied = out0.contains(&b"x0".to_vec());
        assert_eq!(
            applied,
            out1.contains(&b"x1".to_vec()),
            "step {step}: partial transaction {out0:?} {out1:?}"
        );
        assert_eq!(
            committed,
            Some(if applied { 2 } else { 1 }),
            "step {step}: offsets move with the records"
        );
        assert_eq!(
            out0.iter().filter(|v| v.as_slice() == b"x0").count(),
            usize::from(applied),
            "step {step}: no duplicates"
        );
        if result.is_ok() {
            assert!(applied, "step {step}: acknowledged commit lost");
        }
    }
    // Commit point, offsets and both parts each fsync: the first steps fail.
    assert!(failed_commits >= 3, "only {failed_commits} steps hit a failure");
}

#[test]
fn dlq_provenance_attempts_across_restart_and_idempotent_redrive() {
    let dir = tempfile::tempdir().unwrap();
    let original = Record::new(b"bad-payload".to_vec())
        .with_key(b"k".to_vec())
        .with_header("trace", b"t1".to_vec())
        .with_timestamp(1234);
    {
        let store = Store::open(dir.path(), options()).unwrap();
        store.create_topic("in", TopicConfig::default()).unwrap();
        store
            .append("in", 0, &[Record::new(b"ok".to_vec()), original.clone()])
            .unwrap();
        let producer = store.init_producer("worker").unwrap();
        let rec = store
            .read("in", 0, 1, ReadOptions::default())
            .unwrap()
            .records
            .remove(0);
        let outcome = store
            .fail_record(
                producer.id(),
                "g",
                "in",
                0,
                &rec,
                "transform",
                "ParseError",
                "bad json",
                3,
            )
            .unwrap();
        assert!(matches!(outcome, FailOutcome::Retry(a) if a.count == 1));
    }
    // Attempts survive a restart.
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.attempts("g", "in", 0, 1).unwrap().map(|a| a.count), Some(1));
    let producer = store.init_producer("worker").unwrap();
    let rec = store
        .read("in", 0, 1, ReadOptions::default())
        .unwrap()
        .records
        .remove(0);
    let p = producer.id();
    assert!(
        matches!(store.fail_record(p, "g", "in", 0, &rec, "transform", "ParseError", "bad json", 3).unwrap(), FailOutcome::Retry(a) if a.count == 2)
    );
    // The group finished record 0: record 1 is its next one, so dead-lettering
    // it also commits past it.
    store.commit_offset("g", "in", 0, 1, b"").unwrap();
    let outcome = store
        .fail_record(p, "g", "in", 0, &rec, "transform", "ParseError", "bad json", 3)
        .unwrap();
    let FailOutcome::DeadLettered { dlq_offset, attempts } = outcome else {
        panic!("expected dead-lettered, got {outcome:?}")
    };
    assert_eq!(attempts.count, 3);
    // Offset committed past it in the same step.
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(2));
    let entry = store.dlq_get("in", dlq_offset).unwrap().expect("dlq entry");
    let letter = &entry.letter;
    assert_eq!(
        (
            letter.source_topic.as_str(),
            letter.source_partition,
            letter.source_offset
        ),
        ("in", 0, 1)
    );
    assert_eq!((letter.group.as_str(), letter.stage.as_str()), ("g", "transform"));
    assert_eq!(
        (letter.error_class.as_str(), letter.error_message.as_str()),
        ("ParseError", "bad json")
    );
    assert_eq!(letter.attempts, 3);
    assert!(letter.first_failure_ms <= letter.last_failure_ms);
    assert_eq!(letter.record.value, original.value);
    assert_eq!(letter.record.key, original.key);
    assert_eq!(letter.record.timestamp_ms, Some(1234));
    assert_eq!(letter.record.header("trace"), Some(&b"t1"[..]));
    let stats = store.dlq_stats("in").unwrap();
    assert_eq!(stats.depth, 1);
    assert!(stats.oldest_age_ms.is_some());
    assert_eq!(
        store
            .dlq_list(
                "in",
                &DlqFilter {
                    error_contains: Some("Parse".into()),
                    ..DlqFilter::default()
                }
            )
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .dlq_list(
            "in",
            &DlqFilter {
                error_contains: Some("Timeout".into()),
                ..DlqFilter::default()
            }
        )
        .unwrap()
        .is_empty());
    assert!(store
        .dlq_list(
            "in",
            &DlqFilter {
                source_partition: Some(3),
                ..DlqFilter::default()
            }
        )
        .unwrap()
        .is_empty());

    // Dry run plans without writing.
    let plan = store
        .dlq_redrive(
            "in",
            &RedriveOptions {
                dry_run: true,
                ..RedriveOptions::default()
            },
        )
        .unwrap();
    assert_eq!(plan.redriven.len(), 1);
    assert_eq!(all(&store, "in", 0, Isolation::ReadCommitted).len(), 2);
    // Redrive twice: one copy.
    let first = store.dlq_redrive("in", &RedriveOptions::default()).unwrap();
    assert_eq!(first.redriven.len(), 1);
    let second = store.dlq_redrive("in", &RedriveOptions::default()).unwrap();
    assert!(
        second.redriven.is_empty(),
        "second redrive must not duplicate: {second:?}"
    );
    let values = all(&store, "in", 0, Isolation::ReadCommitted);
    assert_eq!(
        values.iter().filter(|v| v.as_slice() == b"bad-payload").count(),
        2,
        "original + one redriven copy"
    );
    drop(store);
    // And after a restart, still no duplicate.
    let store = Store::open(dir.path(), options()).unwrap();
    assert!(store
        .dlq_redrive("in", &RedriveOptions::default())
        .unwrap()
        .redriven
        .is_empty());
    let redriven = store
        .read("in", 0, 2, ReadOptions::default())
        .unwrap()
        .records
        .remove(0);
    assert_eq!(redriven.header(header::REDRIVE_COUNT), Some(&b"1"[..]));
    assert!(
        redriven.header(header::SOURCE_TOPIC).is_none(),
        "provenance is stripped on redrive"
    );

    // Loop cap: a record redriven K times stays in the DLQ.
    let producer = store.init_producer("worker").unwrap();
    let p = producer.id();
    let outcome = store
        .fail_record(p, "g2", "in", 0, &redriven, "transform", "ParseError", "again", 1)
        .unwrap();
    assert!(matches!(outcome, FailOutcome::DeadLettered { .. }));
    let capped = store
        .dlq_redrive(
            "in",
            &RedriveOptions {
                redrive_cap: 1,
                ..RedriveOptions::default()
            },
        )
        .unwrap();
    assert!(capped.redriven.is_empty());
    assert_eq!(capped.capped.len(), 1);
    // Purge.
    let stats = store.dlq_stats("in").unwrap();
    store.dlq_purge("in", stats.end_offset).unwrap();
    assert_eq!(store.dlq_stats("in").unwrap().depth, 0);
}

#[test]
fn invalid_records_route_to_dlq_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let routed = TopicConfig {
        record_bytes_max: 100,
        route_invalid_to_dlq: true,
        ..TopicConfig::default()
    };
    store.create_topic("r", routed).unwrap();
    store
        .create_topic(
            "strict",
            TopicConfig {
                record_bytes_max: 100,
                ..TopicConfig::default()
            },
        )
        .unwrap();
    let big = Record::new(vec![9u8; 500]).with_key(b"big".to_vec());
    let result = store
        .append_routed("r", 0, &[Record::new(b"small".to_vec()), big.clone()])
        .unwrap();
    assert_eq!(result.appended.map(|a| (a.base_offset, a.next_offset)), Some((0, 1)));
    assert_eq!(result.dead_lettered.len(), 1);
    assert_eq!(result.dead_lettered[0].0, 1);
    let entry = store
        .dlq_get("r", result.dead_lettered[0].1)
        .unwrap()
        .expect("routed record");
    assert_eq!(entry.letter.stage, "produce");
    assert_eq!(entry.letter.error_class, "InvalidRecord");
    assert!(
        entry.letter.error_message.contains("larger than the topic's limit"),
        "{}",
        entry.letter.error_message
    );
    assert_eq!(entry.letter.record.value, big.value);
    assert_eq!(entry.letter.record.key, big.key);
    // Without the rule the producer gets the error and nothing is written.
    assert!(matches!(
        store.append_routed("strict", 0, &[big]),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(store.offsets("strict", 0).unwrap(), (0, 0));
    // Survives reopen (the flag is in topic.meta).
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    assert!(store.describe_topic("r").unwrap().config.route_invalid_to_dlq);
}

#[test]
fn transaction_past_its_timeout_cannot_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            transaction_timeout: std::time::Duration::from_millis(20),
            ..options()
        },
    )
    .unwrap();
    store.create_topic("out", TopicConfig::default()).unwrap();
    let producer = store.init_producer("slow").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("out", 0, &[Record::new(b"late".to_vec())]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(matches!(
        txn.commit(),
        Err(Error::InvalidInput {
            what: "transaction",
            ..
        })
    ));
    assert!(all(&store, "out", 0, Isolation::ReadUncommitted).is_empty());
}

/// Fencing race: a transaction of the old epoch commits concurrently with
/// `init_producer` of a new instance. Whatever the interleaving, if the old
/// commit succeeded, the new instance (reading right after its init returned)
/// already sees its offset commit; otherwise it failed with `Fenced`.
#[test]
fn commit_racing_init_producer_is_fenced_or_visible_to_the_new_instance() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            durability: millrace::Durability::Os,
            ..options()
        },
    )
    .unwrap();
    store.create_topic("in", TopicConfig::default()).unwrap();
    // The input the offsets below were "consumed" from: a committed offset is at most the log end.
    let input: Vec<Record> = (0..60u8).map(|i| Record::new(vec![i])).collect();
    store.append("in", 0, &input).unwrap();
    store.create_topic("out", TopicConfig::default()).unwrap();
    let mut outcomes = [0u32; 2];
    for round in 1..=60u64 {
        let old = store.init_producer("racer").unwrap();
        let mut txn = store.begin_transaction(old.id()).unwrap();
        txn.append("out", 0, &[Record::new(round.to_le_bytes().to_vec())])
            .unwrap();
        txn.commit_offset("g", "in", 0, round, b"").unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let (s2, b2) = (store.clone(), barrier.clone());
        let new_instance = std::thread::spawn(move || {
            b2.wait();
            s2.init_producer("racer").unwrap();
            s2.committed_offset("g", "in", 0).unwrap()
        });
        barrier.wait();
        let result = txn.commit();
        let seen_by_new = new_instance.join().unwrap();
        match result {
            Ok(_) => {
                outcomes[0] += 1;
                assert_eq!(
                    seen_by_new,
                    Some(round),
                    "round {round}: a zombie commit landed after the new epoch began"
                );
            }
            Err(Error::Fenced { .. }) => outcomes[1] += 1,
            Err(e) => panic!("round {round}: {e}"),
        }
    }
    eprintln!("committed {} / fenced {}", outcomes[0], outcomes[1]);
}
