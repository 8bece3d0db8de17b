//! Idempotent producers through the public API: the decision for every kind
//! of append (next, retry within and beyond the window, gap, old epoch,
//! unknown or expired id), fencing by `init_producer`, and producer state
//! across reopen — one test per row of the rebuild decision table in
//! `producer_snapshot.rs`.

use crate::common;

use millrace::{Durability, Error, Producer, ProducerStamp, Record, Store, StoreOptions, TopicConfig};
use std::path::Path;
use std::time::Duration;

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

fn records(n: usize, tag: &str) -> Vec<Record> {
    (0..n).map(|i| Record::new(format!("{tag}-{i}").into_bytes())).collect()
}

fn stamp(producer_id: u64, epoch: u16, base_sequence: u32) -> ProducerStamp {
    ProducerStamp {
        producer_id,
        epoch,
        base_sequence,
    }
}

fn values(store: &Store, topic: &str, partition: u32) -> Vec<String> {
    common::read_partition(store, topic, partition)
        .into_iter()
        .map(|r| String::from_utf8(r.value).unwrap())
        .collect()
}

fn open_with_topic(path: &Path, config: TopicConfig) -> Store {
    let store = Store::open(path, options()).unwrap();
    store.create_topic("t", config).unwrap();
    store
}

#[test]
fn next_retry_gap_and_fencing() {
    let dir = common::scratch_dir();
    let store = open_with_topic(dir.path(), TopicConfig::with_partitions(2));
    let first = store.init_producer("writer").unwrap();
    assert_eq!(first.epoch, 0);
    assert!(first.last_sequences.is_empty());
    let id = first.producer_id;

    let a = store
        .append_sequenced("t", 0, &records(3, "a"), stamp(id, 0, 0))
        .unwrap();
    assert_eq!((a.base_offset, a.next_offset, a.duplicate), (0, 3, false));
    let retry = store
        .append_sequenced("t", 0, &records(3, "a"), stamp(id, 0, 0))
        .unwrap();
    assert_eq!((retry.base_offset, retry.next_offset, retry.duplicate), (0, 3, true));
    assert!(matches!(
        store.append_sequenced("t", 0, &records(1, "x"), stamp(id, 0, 5)),
        Err(Error::OutOfOrderSequence { expected: 3, got: 5 })
    ));
    // Sequences are per partition.
    assert!(matches!(
        store.append_sequenced("t", 1, &records(1, "x"), stamp(id, 0, 3)),
        Err(Error::OutOfOrderSequence { expected: 0, got: 3 })
    ));
    store
        .append_sequenced("t", 0, &records(1, "b"), stamp(id, 0, 3))
        .unwrap();

    let second = store.init_producer("writer").unwrap();
    assert_eq!((second.producer_id, second.epoch), (id, 1));
    assert_eq!(second.last_sequences.get(&("t".to_string(), 0)), Some(&3));
    assert_eq!(second.next_sequence("t", 0), 4);
    assert_eq!(second.next_sequence("t", 1), 0);
    assert!(matches!(
        store.append_sequenced("t", 0, &records(1, "zombie"), stamp(id, 0, 4)),
        Err(Error::Fenced {
            epoch: 0,
            current_epoch: 1,
            ..
        })
    ));
    // The new instance's retry of a batch the old one wrote is a duplicate.
    let dup = store
        .append_sequenced("t", 0, &records(1, "b"), stamp(id, 1, 3))
        .unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.base_offset, 3);
    store
        .append_sequenced("t", 0, &records(1, "c"), stamp(id, 1, 4))
        .unwrap();
    assert!(matches!(
        store.append_sequenced("t", 0, &records(1, "x"), stamp(id, 2, 5)),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        store.append_sequenced("t", 0, &records(1, "x"), stamp(id + 100, 0, 0)),
        Err(Error::UnknownProducer { .. })
    ));
    assert_eq!(values(&store, "t", 0), ["a-0", "a-1", "a-2", "b-0", "c-0"]);
    // A different name is a different producer.
    let other = store.init_producer("other").unwrap();
    assert_ne!(other.producer_id, id);
    assert!(store.init_producer("").is_err());
}

#[test]
fn retry_beyond_the_window_is_out_of_order() {
    let dir = common::scratch_dir();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            producer_dedup_batches: 2,
            ..options()
        },
    )
    .unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let id = store.init_producer("p").unwrap().producer_id;
    for seq in 0..3 {
        store
            .append_sequenced("t", 0, &records(1, "v"), stamp(id, 0, seq))
            .unwrap();
    }
    assert!(
        store
            .append_sequenced("t", 0, &records(1, "v"), stamp(id, 0, 1))
            .unwrap()
            .duplicate
    );
    assert!(matches!(
        store.append_sequenced("t", 0, &records(1, "v"), stamp(id, 0, 0)),
        Err(Error::OutOfOrderSequence { expected: 3, got: 0 })
    ));
    // Same base sequence with a different record count is not the same batch.
    assert!(matches!(
        store.append_sequenced("t", 0, &records(2, "v"), stamp(id, 0, 2)),
        Err(Error::OutOfOrderSequence { expected: 3, got: 2 })
    ));
}

#[test]
fn options_out_of_range_are_rejected() {
    let dir = common::scratch_dir();
    for bad in [
        StoreOptions {
            producer_dedup_batches: 0,
            ..options()
        },
        StoreOptions {
            producer_dedup_batches: 1001,
            ..options()
        },
        StoreOptions {
            producer_idle_expiry: Duration::ZERO,
            ..options()
        },
    ] {
        assert!(matches!(Store::open(dir.path(), bad), Err(Error::InvalidInput { .. })));
    }
}

#[test]
fn idle_producer_expires_and_reinit_resumes_its_id_and_sequences() {
    let dir = common::scratch_dir();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            producer_idle_expiry: Duration::from_millis(1000),
            ..options()
        },
    )
    .unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let id = store.init_producer("p").unwrap().producer_id;
    store
        .append_sequenced("t", 0, &records(1, "v"), stamp(id, 0, 0))
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(matches!(
        store.append_sequenced("t", 0, &records(1, "v"), stamp(id, 0, 1)),
        Err(Error::UnknownProducer { producer_id }) if producer_id == id
    ));
    // Its batch is in the log: the name keeps its id and sequence.
    let again = store.init_producer("p").unwrap();
    assert_eq!((again.producer_id, again.epoch), (id, 1));
    assert_eq!(again.next_sequence("t", 0), 1);
    store
        .append_sequenced("t", 0, &records(1, "v"), stamp(id, 1, 1))
        .unwrap();
    // Activity keeps a producer alive: gaps under the expiry (with room for
    // a loaded machine's late wake-ups), longer than it in all.
    for seq in 2..7 {
        std::thread::sleep(Duration::from_millis(300));
        store
            .append_sequenced("t", 0, &records(1, "v"), stamp(id, 1, seq))
            .unwrap();
    }
}

/// Issue 25 item 3: after `producer_idle_expiry` (downtime counts), the
/// resume pattern (`Producer::init` with the same name, send from
/// `next_sequence`) must not start again at 0 while the name's batches are
/// in the log: that re-ingested everything without an error.
#[test]
fn expiry_never_restarts_a_named_producer_at_zero_while_its_batches_are_in_the_log() {
    let dir = common::scratch_dir();
    let expiring = StoreOptions {
        producer_idle_expiry: Duration::from_millis(100),
        background: true,
        maintenance_interval: Duration::from_millis(10),
        ..options()
    };
    let first_id = {
        let store = Store::open(dir.path(), expiring.clone()).unwrap();
        store.create_topic("t", TopicConfig::default()).unwrap();
        let mut producer = Producer::init(&store, "ingest").unwrap();
        for n in 0..31 {
            producer.send("t", 0, &records(1, &format!("r{n}"))).unwrap();
        }
        store.roll("t", 0).unwrap();
        producer.producer_id()
    };
    // Downtime longer than the expiry, then maintenance runs a while.
    std::thread::sleep(Duration::from_millis(300));
    let store = Store::open(dir.path(), expiring).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    store.roll("t", 0).unwrap();
    let mut producer = Producer::init(&store, "ingest").unwrap();
    assert_eq!(producer.producer_id(), first_id);
    assert_eq!(
        producer.next_sequence("t", 0),
        31,
        "resumes after the 31 batches in the log"
    );
    // A resend of the last batch is recognised, not appended again.
    let resend = store
        .append_sequenced("t", 0, &records(1, "r30"), stamp(first_id, producer.epoch(), 30))
        .unwrap();
    assert!(resend.duplicate);
    producer.send("t", 0, &records(1, "r31")).unwrap();
    assert_eq!(values(&store, "t", 0).len(), 32);
}

/// Write a history with and without rolls; returns (id, last sequence).
fn write_history(store: &Store, roll_after: Option<u32>) -> (u64, u32) {
    let id = store.init_producer("p").unwrap().producer_id;
    let mut seq = 0;
    for i in 0..10u32 {
        store
            .append_sequenced("t", 0, &records(2, &format!("b{i}")), stamp(id, 0, seq))
            .unwrap();
        seq += 2;
        if roll_after == Some(i) {
            store.roll("t", 0).unwrap();
        }
    }
    (id, seq - 1)
}

fn snapshot_files(dir: &Path) -> Vec<String> {
    let pdir = common::partition_dir(dir, "t", 0);
    let mut names: Vec<String> = std::fs::read_dir(pdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".producers"))
        .collect();
    names.sort();
    names
}

fn snapshot_path(dir: &Path, offset: u64) -> std::path::PathBuf {
    common::partition_dir(dir, "t", 0).join(format!("{offset:020}.producers"))
}

/// Leave exactly one producer snapshot, `only` (offset and bytes saved while
/// the store was open), or none, so that each test drives exactly one row of
/// the rebuild table whatever other snapshots (e.g. at close) the store wrote.
fn keep_only_snapshot(dir: &Path, only: Option<(u64, &[u8])>) {
    for name in snapshot_files(dir) {
        std::fs::remove_file(common::partition_dir(dir, "t", 0).join(name)).unwrap();
    }
    if let Some((offset, bytes)) = only {
        std::fs::write(snapshot_path(dir, offset), bytes).unwrap();
    }
    let expected: Vec<String> = only.map(|(o, _)| format!("{o:020}.producers")).into_iter().collect();
    assert_eq!(snapshot_files(dir), expected);
}

/// History with a roll after the 4th batch (offset 8); returns (id, last
/// sequence, the roll's snapshot bytes).
fn write_history_with_roll(dir: &Path) -> (u64, u32, Vec<u8>) {
    let store = open_with_topic(dir, TopicConfig::default());
    let (id, last) = write_history(&store, Some(3));
    let snapshot = std::fs::read(snapshot_path(dir, 8)).unwrap();
    // Retention cannot take the state with it: delete everything before the roll.
    store.truncate_prefix("t", 0, 8).unwrap();
    (id, last, snapshot)
}

fn check_resumes(store: &Store, id: u64, last: u32) {
    let session = store.init_producer("p").unwrap();
    assert_eq!(session.producer_id, id);
    assert_eq!(session.epoch, 1);
    assert_eq!(session.last_sequences.get(&("t".to_string(), 0)), Some(&last));
    // The last batches (window 5) are still recognised as duplicates.
    let dup = store
        .append_sequenced("t", 0, &records(2, "b9"), stamp(id, 1, last - 1))
        .unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.base_offset, 18);
    let next = store
        .append_sequenced("t", 0, &records(1, "next"), stamp(id, 1, last + 1))
        .unwrap();
    assert_eq!((next.base_offset, next.duplicate), (20, false));
}

#[test]
fn rebuild_without_snapshot_replays_the_log() {
    let dir = common::scratch_dir();
    let (id, last) = {
        let store = open_with_topic(dir.path(), TopicConfig::default());
        write_history(&store, None)
    };
    keep_only_snapshot(dir.path(), None);
    let store = Store::open(dir.path(), options()).unwrap();
    check_resumes(&store, id, last);
}

#[test]
fn rebuild_from_snapshot_and_the_batches_after_it() {
    let dir = common::scratch_dir();
    let (id, last, snapshot) = write_history_with_roll(dir.path());
    keep_only_snapshot(dir.path(), Some((8, &snapshot)));
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.offsets("t", 0).unwrap(), (8, 20));
    check_resumes(&store, id, last);
    // A second roll writes the newest snapshot; one older one is kept as a fall-back.
    store.roll("t", 0).unwrap();
    let files = snapshot_files(dir.path());
    assert_eq!(files.last(), Some(&format!("{:020}.producers", 21)));
    assert!(files.len() <= 2, "{files:?}");
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    let session = store.init_producer("p").unwrap();
    assert_eq!(session.last_sequences.get(&("t".to_string(), 0)), Some(&(last + 1)));
}

/// A damaged snapshot is derived data: it is ignored (with a warning) and the
/// state rebuilt from the log, instead of stopping the partition (issue 18).
#[test]
fn rebuild_ignores_a_damaged_snapshot() {
    let dir = common::scratch_dir();
    let (id, last, snapshot) = write_history_with_roll(dir.path());
    keep_only_snapshot(dir.path(), Some((8, &snapshot)));
    let path = snapshot_path(dir.path(), 8);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[12] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.offsets("t", 0).unwrap(), (8, 20));
    check_resumes(&store, id, last);
}

/// A snapshot past the log end (the log lost its tail, e.g. a torn or
/// operator-truncated tail) is deleted at open; the state comes from the
/// newest snapshot left, or from replaying the log.
#[test]
fn rebuild_drops_snapshots_past_the_log_end() {
    for fallback in [true, false] {
        let dir = common::scratch_dir();
        let (id, last, snapshot) = write_history_with_roll(dir.path());
        keep_only_snapshot(dir.path(), fallback.then_some((8, snapshot.as_slice())));
        // A snapshot of a longer log than the one on disk.
        std::fs::write(snapshot_path(dir.path(), 999), &snapshot).unwrap();
        let store = Store::open(dir.path(), options()).unwrap();
        assert!(!snapshot_path(dir.path(), 999).exists(), "fallback {fallback}");
        check_resumes(&store, id, last);
    }
}

#[test]
fn producer_handle_resumes_after_restart() {
    let dir = common::scratch_dir();
    {
        let store = open_with_topic(dir.path(), TopicConfig::with_partitions(2));
        let mut producer = Producer::init(&store, "handle").unwrap();
        for i in 0..4 {
            producer.send("t", i % 2, &records(1, &format!("r{i}"))).unwrap();
        }
        assert_eq!(producer.next_sequence("t", 0), 2);
    }
    let store = Store::open(dir.path(), options()).unwrap();
    let mut producer = Producer::init(&store, "handle").unwrap();
    assert_eq!(producer.epoch(), 1);
    assert_eq!(producer.next_sequence("t", 0), 2);
    assert_eq!(producer.next_sequence("t", 1), 2);
    producer.send("t", 0, &records(1, "r4")).unwrap();
    assert_eq!(values(&store, "t", 0), ["r0-0", "r2-0", "r4-0"]);
}

/// `Interval` mode: an acknowledged batch may be lost in a power cut, but
/// `init_producer` then reports the last sequence that survived, so resuming
/// from it re-sends exactly the lost tail: each sequence once in the log.
/// Several seeds, so the simulated cut both keeps and drops unsynced batches.
#[test]
fn power_cut_in_interval_mode_resumes_from_the_surviving_sequence() {
    use millrace::testing::sim::{FaultPlan, SimStorage};
    use std::sync::Arc;
    let mut resumed_at = std::collections::BTreeSet::new();
    for seed in 0..16 {
        let storage = SimStorage::new(seed, FaultPlan::none());
        storage.create_dir_all_durable(Path::new("/interval")).unwrap();
        let options = StoreOptions {
            durability: Durability::Interval { ms: 3_600_000 },
            ..options()
        };
        let store = Store::open_with_storage("/interval", options.clone(), Arc::new(storage.clone())).unwrap();
        store.create_topic("t", TopicConfig::default()).unwrap();
        let mut producer = Producer::init(&store, "p").unwrap();
        for i in 0..3 {
            producer.send("t", 0, &records(1, &format!("s{i}"))).unwrap();
        }
        store.flush().unwrap();
        for i in 3..6 {
            producer.send("t", 0, &records(1, &format!("s{i}"))).unwrap();
        }
        let survivor = storage.power_cut();
        drop(store);
        let store = Store::open_with_storage("/interval", options, Arc::new(survivor)).unwrap();
        let mut producer = Producer::init(&store, "p").unwrap();
        let next = producer.next_sequence("t", 0);
        assert!((3..=6).contains(&next), "seed {seed}: resumed at {next}");
        resumed_at.insert(next);
        for i in next..6 {
            producer.send("t", 0, &records(1, &format!("s{i}"))).unwrap();
        }
        store.flush().unwrap();
        let expected: Vec<String> = (0..6).map(|i| format!("s{i}-0")).collect();
        assert_eq!(values(&store, "t", 0), expected, "seed {seed}");
    }
    assert!(
        resumed_at.len() > 1,
        "the cut kept or dropped the same tail every time: {resumed_at:?}"
    );
}

/// A lost producer registry (deleted, damaged, or an older copy) is not
/// worth the store: it opens, every producer must init again, and a new id
/// never repeats one the partitions remember (issue 18): a repeated id with
/// epoch 0 would inherit the old producer's sequences and dedup window.
#[test]
fn a_lost_registry_opens_and_never_reuses_a_producer_id() {
    for damage in ["delete", "flip", "stale"] {
        let dir = common::scratch_dir();
        let registry = dir.path().join("producers.registry");
        let (old_id, stale) = {
            let store = open_with_topic(dir.path(), TopicConfig::default());
            let stale = std::fs::read(&registry).ok();
            let mut producer = Producer::init(&store, "p").unwrap();
            producer.send("t", 0, &records(2, "p")).unwrap();
            let id = store.init_producer("p").unwrap().producer_id;
            (id, stale)
        };
        match damage {
            "delete" => std::fs::remove_file(&registry).unwrap(),
            "flip" => {
                let mut bytes = std::fs::read(&registry).unwrap();
                bytes[8] ^= 0x20;
                std::fs::write(&registry, bytes).unwrap();
            }
            _ => match &stale {
                Some(bytes) => std::fs::write(&registry, bytes).unwrap(),
                None => std::fs::remove_file(&registry).unwrap(),
            },
        }
        let store = Store::open(dir.path(), options()).unwrap();
        let fresh = store.init_producer("q").unwrap();
        assert_ne!(fresh.producer_id, old_id, "{damage}: id reused");
        assert_eq!(values(&store, "t", 0), vec!["p-0", "p-1"], "{damage}");
    }
}
