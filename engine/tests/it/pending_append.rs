//! `Store::append_pending`: a batch written now and acknowledged by
//! `PendingAppend::wait` (how the server waits for `Always` fsyncs on its own
//! threads). Under `Always` nothing is visible before the wait, a producer's
//! retry before the wait is a duplicate that waits for the same fsync, and a
//! failed fsync fails the wait and poisons the store. An `Always` batch is
//! only encoded by the append: the group-commit leader writes every pending
//! batch in one write just before its fsync (or a roll does, before it seals),
//! and readers meanwhile stop at what is in the file.

use crate::common;

use std::sync::Arc;

use common::{read_partition, scratch_dir, FaultKind, FaultOp, FaultyStorage};
use millrace::{
    Durability, Error, PendingAppend, ProducerStamp, ReadOptions, Record, Store, StoreOptions, TopicConfig,
};

fn open(dir: &std::path::Path, durability: Durability, storage: &FaultyStorage) -> Store {
    let options = StoreOptions {
        durability,
        ..StoreOptions::default()
    };
    let store = Store::open_with_storage(dir, options, Arc::new(storage.clone())).unwrap();
    store.create_topic("t", TopicConfig::with_partitions(1)).unwrap();
    store
}

fn visible(store: &Store) -> u64 {
    store.offsets("t", 0).unwrap().1
}

/// Append one record without a producer and without waiting.
fn pending(store: &Store, value: &[u8]) -> PendingAppend {
    store
        .append_pending("t", 0, &[Record::new(value.to_vec())], None)
        .unwrap()
}

#[test]
fn always_append_is_invisible_until_its_wait_and_survives_reopen() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), Durability::Always, &storage);
    storage.count_only();
    let first = pending(&store, b"a");
    let second = store
        .append_pending("t", 0, &[Record::new(b"b".to_vec()), Record::new(b"c".to_vec())], None)
        .unwrap();
    assert!(first.needs_wait() && second.needs_wait());
    assert_eq!((first.base_offset, first.next_offset), (0, 1));
    assert_eq!((second.base_offset, second.next_offset), (1, 3));
    assert_eq!(visible(&store), 0, "written, not yet acknowledged: not visible");
    assert_eq!(storage.count(FaultOp::SyncData), 0, "no fsync before a wait");
    // One wait's fsync covers both batches (group commit).
    let acked = second.wait().unwrap();
    assert_eq!((acked.base_offset, acked.next_offset, acked.duplicate), (1, 3, false));
    assert_eq!(visible(&store), 3);
    let fsyncs = storage.count(FaultOp::SyncData);
    assert_eq!(fsyncs, 1, "one fsync for both");
    assert_eq!(first.wait().unwrap().next_offset, 1);
    assert_eq!(
        storage.count(FaultOp::SyncData),
        fsyncs,
        "already covered: no second fsync"
    );
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let values: Vec<Vec<u8>> = read_partition(&store, "t", 0).into_iter().map(|r| r.value).collect();
    assert_eq!(values, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
}

#[test]
fn producer_retry_before_the_wait_is_a_duplicate_acknowledged_by_the_same_fsync() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), Durability::Always, &storage);
    let session = store.init_producer("p").unwrap();
    let stamp = ProducerStamp {
        producer_id: session.producer_id,
        epoch: session.epoch,
        base_sequence: 0,
    };
    let batch = [Record::new(b"x".to_vec()), Record::new(b"y".to_vec())];
    let original = store.append_pending("t", 0, &batch, Some(stamp)).unwrap();
    let retry = store.append_pending("t", 0, &batch, Some(stamp)).unwrap();
    assert!(!original.duplicate);
    assert!(retry.duplicate, "same sequence again: a retry");
    assert_eq!(
        (retry.base_offset, retry.next_offset),
        (original.base_offset, original.next_offset)
    );
    assert!(
        retry.needs_wait(),
        "the original is not durable yet, so neither is the retry's answer"
    );
    assert_eq!(visible(&store), 0);
    let acked = retry.wait().unwrap();
    assert!(acked.duplicate);
    assert_eq!(visible(&store), 2, "waiting on the retry made the original durable");
    drop(original);
    // A gap in the sequence is refused before anything is written.
    let gap = ProducerStamp {
        base_sequence: 5,
        ..stamp
    };
    assert!(matches!(
        store.append_pending("t", 0, &batch, Some(gap)),
        Err(Error::OutOfOrderSequence { .. })
    ));
    assert_eq!(store.offsets("t", 0).unwrap().1, 2);
}

#[test]
fn failed_fsync_fails_every_owed_wait_and_poisons() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), Durability::Always, &storage);
    store.append("t", 0, &[Record::new(b"acked".to_vec())]).unwrap();
    let a = pending(&store, b"a");
    let b = pending(&store, b"b");
    storage.arm(FaultOp::SyncData, 0, FaultKind::Eio);
    assert!(matches!(a.wait(), Err(Error::Io { .. })));
    assert!(store.is_poisoned());
    assert!(
        matches!(b.wait(), Err(Error::Poisoned)),
        "nothing is acknowledged after a failed fsync"
    );
    assert!(matches!(
        store.append_pending("t", 0, &[Record::new(b"c".to_vec())], None),
        Err(Error::Poisoned)
    ));
    assert_eq!(visible(&store), 1, "the unacknowledged batches never became visible");
    drop(store);
    // After reopen the acknowledged record is there; the unacknowledged ones
    // may or may not be (they were written), but whole or not at all.
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let values: Vec<Vec<u8>> = read_partition(&store, "t", 0).into_iter().map(|r| r.value).collect();
    assert_eq!(values[0], b"acked");
    assert!(values.len() <= 3);
    for (value, expected) in values.iter().skip(1).zip([&b"a"[..], b"b"]) {
        assert_eq!(value.as_slice(), expected);
    }
}

#[test]
fn os_mode_is_acknowledged_on_return() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), Durability::Os, &storage);
    let pending = pending(&store, b"a");
    assert!(!pending.needs_wait());
    assert_eq!(visible(&store), 1);
    let read = store.read("t", 0, 0, ReadOptions::default()).unwrap();
    assert_eq!(read.records[0].value, b"a");
    assert_eq!(pending.wait().unwrap().next_offset, 1);
}

fn values(store: &Store) -> Vec<Vec<u8>> {
    read_partition(store, "t", 0).into_iter().map(|r| r.value).collect()
}

#[test]
fn pending_batches_reach_the_file_in_one_write_just_before_the_fsync() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), Durability::Always, &storage);
    // The first append also writes the zeros kept ahead of the data.
    store.append("t", 0, &[Record::new(b"first".to_vec())]).unwrap();
    storage.count_only();
    let mut pending: Vec<_> = (0..3u8)
        .map(|i| {
            store
                .append_pending("t", 0, &[Record::new(vec![b'a' + i; 100])], None)
                .unwrap()
        })
        .collect();
    assert_eq!(storage.count(FaultOp::Write), 0, "appends only encode");
    let last = pending.pop().unwrap();
    assert_eq!(last.wait().unwrap().next_offset, 4);
    assert_eq!(storage.count(FaultOp::Write), 1, "one write for the three batches");
    assert_eq!(storage.count(FaultOp::SyncData), 1);
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(
        values(&store),
        vec![b"first".to_vec(), vec![b'a'; 100], vec![b'b'; 100], vec![b'c'; 100]]
    );
}

#[test]
fn reads_while_a_batch_is_pending_stop_at_the_watermark() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), Durability::Always, &storage);
    store
        .append("t", 0, &[Record::new(b"acked".to_vec()).with_timestamp(10)])
        .unwrap();
    let pending = store
        .append_pending("t", 0, &[Record::new(b"pending".to_vec()).with_timestamp(20)], None)
        .unwrap();
    // The pending batch has a place in the segment but is not in the file:
    // a reader that walked past the watermark would read zeros there.
    let read = store.read("t", 0, 0, ReadOptions::default()).unwrap();
    let got: Vec<&[u8]> = read.records.iter().map(|r| r.value.as_slice()).collect();
    assert_eq!(got, vec![&b"acked"[..]]);
    assert_eq!(store.offset_for_time("t", 0, 15).unwrap(), None);
    assert_eq!(store.offset_for_time("t", 0, 5).unwrap(), Some(0));
    pending.wait().unwrap();
    assert_eq!(values(&store), vec![b"acked".to_vec(), b"pending".to_vec()]);
    assert_eq!(store.offset_for_time("t", 0, 15).unwrap(), Some(1));
}

#[test]
fn a_roll_writes_the_pending_batches_before_it_seals() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), Durability::Always, &storage);
    let a = pending(&store, b"a");
    store.roll("t", 0).unwrap();
    // The roll's own fsync made it durable: the wait needs no other.
    storage.count_only();
    assert_eq!(a.wait().unwrap().next_offset, 1);
    assert_eq!(storage.count(FaultOp::SyncData), 0);
    store.append("t", 0, &[Record::new(b"b".to_vec())]).unwrap();
    assert_eq!(values(&store), vec![b"a".to_vec(), b"b".to_vec()]);
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(values(&store), vec![b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn a_failed_group_write_fails_every_owed_wait_and_poisons() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), Durability::Always, &storage);
    store.append("t", 0, &[Record::new(b"acked".to_vec())]).unwrap();
    let a = pending(&store, b"a");
    let b = pending(&store, b"b");
    storage.arm(FaultOp::Write, 0, FaultKind::Eio);
    assert!(matches!(b.wait(), Err(Error::Io { .. })));
    // No segment is fsync'd after the failed write (the only fsync allowed is
    // the poison record's own, `<data>/poisoned`, design/durability.md).
    let segment_syncs: Vec<_> = storage
        .synced_files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert!(
        segment_syncs.is_empty(),
        "no segment fsync after the failed write: {segment_syncs:?}"
    );
    assert!(store.is_poisoned());
    assert!(matches!(a.wait(), Err(Error::Poisoned)));
    assert_eq!(visible(&store), 1);
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(values(&store), vec![b"acked".to_vec()], "nothing of the failed write");
}

/// Eight `Always` appenders (small batches, written by the group-commit
/// leader, and every fifth one large, written by its appender after the
/// pending ones), two readers walking up to the watermark the whole time, and
/// segments small enough to roll every few hundred appends: no read fails,
/// every record is found where its append said, once, and the same after a
/// reopen.
#[test]
fn concurrent_appends_reads_and_rolls_agree() {
    const APPENDERS: u64 = 8;
    const APPENDS: u64 = 150;
    let dir = scratch_dir();
    let options = StoreOptions {
        durability: Durability::Always,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), options).unwrap();
    let config = TopicConfig {
        segment_bytes: 512 * 1024,
        ..TopicConfig::with_partitions(1)
    };
    store.create_topic("t", config).unwrap();
    let value = |appender: u64, i: u64, j: u64| -> Vec<u8> {
        let mut v = format!("{appender}:{i}:{j}:").into_bytes();
        let len = if i % 5 == 4 { 700 } else { 40 };
        v.resize(len, b'a' + (i % 26) as u8);
        v
    };
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, done) = (store.clone(), done.clone());
            std::thread::spawn(move || {
                let mut passes = 0u64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) || passes == 0 {
                    let mut offset = 0;
                    loop {
                        let read = store
                            .read("t", 0, offset, ReadOptions::default())
                            .unwrap_or_else(|e| panic!("read at {offset}: {e}"));
                        for (k, r) in read.records.iter().enumerate() {
                            assert_eq!(r.offset, offset + k as u64, "dense offsets");
                        }
                        if read.records.is_empty() {
                            break;
                        }
                        offset = read.next_offset;
                    }
                    passes += 1;
                }
                passes
            })
        })
        .collect();
    let appenders: Vec<_> = (0..APPENDERS)
        .map(|a| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..APPENDS {
                    // Every fifth batch is ~70 KiB: above the deferral limit.
                    let count = if i % 5 == 4 { 100 } else { 1 + i % 3 };
                    let batch: Vec<Record> = (0..count).map(|j| Record::new(value(a, i, j))).collect();
                    let info = store.append("t", 0, &batch).unwrap();
                    assert_eq!(info.next_offset - info.base_offset, count);
                    acked.push((i, info.base_offset, count));
                }
                acked
            })
        })
        .collect();
    // Per appender: (append number, base offset, record count) of each append.
    type Acked = Vec<(u64, u64, u64)>;
    let acked: Vec<(u64, Acked)> = appenders
        .into_iter()
        .enumerate()
        .map(|(a, h)| (a as u64, h.join().unwrap()))
        .collect();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    let check = |store: &Store| {
        let records = read_partition(store, "t", 0);
        let total: u64 = acked.iter().flat_map(|(_, v)| v.iter().map(|(_, _, c)| c)).sum();
        assert_eq!(records.len() as u64, total, "every acknowledged record, once");
        for (a, batches) in &acked {
            for &(i, base, count) in batches {
                for j in 0..count {
                    let r = &records[(base + j) as usize];
                    assert_eq!(r.offset, base + j);
                    assert_eq!(r.value, value(*a, i, j), "appender {a} append {i} record {j}");
                }
            }
        }
        assert!(common::segment_bases(dir.path(), "t", 0).len() > 3, "segments rolled");
    };
    check(&store);
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    check(&store);
}
