//! A full device before any byte of a batch reached the file does not poison
//! the store. An `Always` partition writes zeros ahead of its data before the
//! batch (design/durability.md, "Preallocated tail"); when that write fails
//! with ENOSPC (nothing written, or a prefix of the zeros), the append returns
//! `Error::NoSpace`, nothing of the batch exists, the store stays writable,
//! the next append (space freed: the simulated disk fails only the Nth write)
//! takes the next offset, and after a power cut every acknowledged record is
//! there once and the refused batch is not. Proven on `SimStorage`'s fault
//! plan, at the write found by a fault-free run of the same seed. A full
//! device on the batch's own bytes still poisons, and the store then names
//! the cause (operation, file, error kind, time, advice) in
//! `Store::poison_cause` and `MetricsSnapshot::poisoned`.

use millrace::testing::sim::{FaultPlan, SimStorage};
use millrace::{Durability, Error, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::sync::Arc;

const DATA: &str = "/data";
const SEED: u64 = 18;

fn open(storage: &SimStorage, durability: Durability) -> Store {
    let options = StoreOptions {
        durability,
        background: false,
        ..StoreOptions::default()
    };
    Store::open_with_storage(DATA, options, Arc::new(storage.clone())).unwrap()
}

/// Small segments: the first append of an `Always` partition's segment
/// writes zeros ahead of its batch up to the segment's end.
fn config() -> TopicConfig {
    TopicConfig {
        segment_bytes: 16 * 1024,
        ..TopicConfig::with_partitions(1)
    }
}

fn batch(tag: u8) -> Vec<Record> {
    (0..3).map(|i| Record::new(vec![tag.wrapping_add(i); 200])).collect()
}

fn values(store: &Store) -> Vec<Vec<u8>> {
    let read = store.read("t", 0, 0, ReadOptions::default()).unwrap();
    read.records.into_iter().map(|r| r.value).collect()
}

/// Open, create the topic, append `before` acknowledged batches (then, for
/// `Always`, roll: the zeros are written once per segment, by its first
/// append); returns the store and the number of writes made so far (under
/// `Always` the next append's first write is the zeros ahead of its batch).
fn prepare(storage: &SimStorage, durability: Durability, before: u8) -> (Store, u64) {
    let store = open(storage, durability);
    store.create_topic("t", config()).unwrap();
    for tag in 0..before {
        store.append("t", 0, &batch(tag * 10)).unwrap();
    }
    if durability == Durability::Always {
        store.roll("t", 0).unwrap();
    }
    (store, storage.writes())
}

fn refused_then_resumed(plan: impl Fn(u64) -> FaultPlan) {
    // Which write the fourth append starts with: a fault-free run of the seed.
    let (_, write) = prepare(&SimStorage::new(SEED, FaultPlan::none()), Durability::Always, 3);

    let storage = SimStorage::new(SEED, plan(write));
    let (store, before) = prepare(&storage, Durability::Always, 3);
    assert_eq!(before, write, "the same seed makes the same writes");
    let acknowledged: Vec<Vec<u8>> = (0..3u8).flat_map(|t| batch(t * 10)).map(|r| r.value).collect();

    let refused = store.append("t", 0, &batch(100));
    match refused {
        Err(Error::NoSpace { path, requested_bytes }) => {
            assert!(path.extension().is_some_and(|e| e == "log"), "{path:?}");
            assert!(requested_bytes > 0);
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert!(!store.is_poisoned(), "nothing of the batch was written: not poisoned");
    assert_eq!(store.poison_cause(), None);
    let metrics = store.metrics();
    assert_eq!(metrics.no_space_rejections, 1);
    assert_eq!(metrics.poisoned, None);
    assert_eq!(values(&store), acknowledged, "nothing of the refused batch is visible");

    // Space is back (the simulated disk failed that one write): appends resume
    // at the next offset, as if the refused batch had never been sent.
    let info = store.append("t", 0, &batch(200)).unwrap();
    assert_eq!(info.base_offset, 9, "the refused batch took no offsets");
    let mut expected = acknowledged.clone();
    expected.extend(batch(200).into_iter().map(|r| r.value));
    assert_eq!(values(&store), expected);
    // And a roll past the refused zeros seals a segment that ends at its last batch.
    store.roll("t", 0).unwrap();
    let info = store.append("t", 0, &batch(150)).unwrap();
    assert_eq!(info.base_offset, 12);
    expected.extend(batch(150).into_iter().map(|r| r.value));

    // Power cut without a clean close: every acknowledged record survives once.
    let after = storage.power_cut();
    drop(store);
    let store = open(&after, Durability::Always);
    assert_eq!(values(&store), expected, "acknowledged records after the power cut");
    assert_eq!(store.append("t", 0, &batch(50)).unwrap().base_offset, 15);
    store.close().unwrap();
}

#[test]
fn enospc_on_the_zeros_ahead_of_a_batch_refuses_it_without_poisoning() {
    refused_then_resumed(|write| FaultPlan::none().enospc_at_write(write));
}

#[test]
fn a_short_write_of_the_zeros_refuses_the_batch_without_poisoning() {
    refused_then_resumed(|write| FaultPlan::none().short_write_at(write));
}

#[test]
fn enospc_on_a_batch_poisons_and_the_store_names_the_cause() {
    // `Os` writes the batch itself at once (no zeros ahead): its bytes may be
    // partly in the file, so this poisons.
    let (_, write) = prepare(&SimStorage::new(SEED, FaultPlan::none()), Durability::Os, 2);
    let storage = SimStorage::new(SEED, FaultPlan::none().enospc_at_write(write));
    let (store, _) = prepare(&storage, Durability::Os, 2);
    let error = store.append("t", 0, &batch(100)).unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    assert!(store.is_poisoned());
    let cause = store.poison_cause().unwrap();
    assert_eq!(cause.op, "append");
    assert!(
        cause.path.ends_with("topics/t/00000/00000000000000000000.log"),
        "{cause:?}"
    );
    assert_eq!(cause.kind, std::io::ErrorKind::StorageFull);
    assert!(cause.error.contains("No space left on device"), "{cause:?}");
    assert!(cause.at_unix_ms > 0);
    assert!(cause.advice().contains("free space"), "{}", cause.advice());
    assert_eq!(store.metrics().poisoned, Some(cause.clone()));
    assert!(matches!(store.append("t", 0, &batch(1)), Err(Error::Poisoned)));
    // Later failures do not replace the first cause.
    assert_eq!(store.poison_cause(), Some(cause));
    // Reopened (same boot), the store is writable again and has no cause.
    let restarted = storage.restart();
    drop(store);
    let store = open(&restarted, Durability::Os);
    assert!(!store.is_poisoned());
    assert_eq!(store.metrics().poisoned, None);
    assert_eq!(values(&store).len(), 6);
    store.append("t", 0, &batch(1)).unwrap();
}
