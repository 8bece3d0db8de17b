//! Group-commit waiters that spin before they sleep
//! (`StoreOptions::group_commit_spin`): with sixteen `Always` appenders the
//! waiters spin and see their fsync's hand-off while spinning, every
//! acknowledged record is read back once with its bytes, and offsets stay
//! dense; with the option at zero nobody spins; past the bound the store
//! refuses to open.

use millrace::{Durability, Error, ReadOptions, Record, Store, StoreOptions, TopicConfig, GROUP_COMMIT_SPIN_MAX};
use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::Duration;

const APPENDERS: usize = 16;
const APPENDS: usize = 250;

fn options(spin: Duration) -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        group_commit_spin: spin,
        ..StoreOptions::default()
    }
}

/// Sixteen threads append `APPENDS` single records each and wait for every
/// acknowledgement; returns acknowledged offset → value.
fn sixteen_appenders(store: &Store) -> BTreeMap<u64, Vec<u8>> {
    let barrier = Arc::new(Barrier::new(APPENDERS));
    let threads: Vec<_> = (0..APPENDERS)
        .map(|thread| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut acked = Vec::with_capacity(APPENDS);
                for n in 0..APPENDS {
                    let value = format!("thread {thread} append {n} {}", "x".repeat(64)).into_bytes();
                    let info = store.append("t", 0, &[Record::new(value.clone())]).unwrap();
                    assert_eq!(info.next_offset, info.base_offset + 1);
                    acked.push((info.base_offset, value));
                }
                acked
            })
        })
        .collect();
    let mut acked = BTreeMap::new();
    for thread in threads {
        for (offset, value) in thread.join().unwrap() {
            assert!(
                acked.insert(offset, value).is_none(),
                "offset {offset} acknowledged twice"
            );
        }
    }
    acked
}

/// Every acknowledged record, once, at its offset, with its bytes; nothing else.
fn assert_read_back(store: &Store, acked: &BTreeMap<u64, Vec<u8>>) {
    let mut offset = 0;
    let mut seen = 0;
    while offset < (APPENDERS * APPENDS) as u64 {
        let result = store.read("t", 0, offset, ReadOptions::default()).unwrap();
        assert!(!result.records.is_empty(), "nothing at {offset}");
        for record in &result.records {
            assert_eq!(record.offset, offset, "offsets are dense");
            assert_eq!(acked.get(&offset), Some(&record.value), "record at {offset}");
            offset += 1;
            seen += 1;
        }
    }
    assert_eq!(seen, acked.len());
    assert_eq!(store.describe_topic("t").unwrap().partitions[0].high_watermark, offset);
}

#[test]
fn sixteen_appenders_spin_see_their_handoff_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The widest bound, so that a slow CI disk still lets waiters spin.
    let store = Store::open(dir.path(), options(GROUP_COMMIT_SPIN_MAX)).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let acked = sixteen_appenders(&store);
    assert_eq!(acked.len(), APPENDERS * APPENDS);
    let metrics = store.metrics();
    assert!(metrics.group_commit_spins > 0, "nobody spun: {metrics:?}");
    assert!(
        metrics.group_commit_spin_handoffs > 0,
        "no spin saw its hand-off: {metrics:?}"
    );
    assert!(metrics.group_commit_spin_handoffs <= metrics.group_commit_spins);
    assert_read_back(&store, &acked);
    store.close().unwrap();
    let store = Store::open(dir.path(), options(Duration::ZERO)).unwrap();
    assert_read_back(&store, &acked);
}

#[test]
fn zero_spin_sleeps_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options(Duration::ZERO)).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let acked = sixteen_appenders(&store);
    let metrics = store.metrics();
    assert_eq!(metrics.group_commit_spins, 0, "{metrics:?}");
    assert!(metrics.fsyncs > 0);
    assert_read_back(&store, &acked);
}

#[test]
fn a_spin_bound_past_the_maximum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path(), options(GROUP_COMMIT_SPIN_MAX + Duration::from_micros(1))).unwrap_err();
    match err {
        Error::InvalidInput { what, detail } => {
            assert_eq!(what, "group_commit_spin");
            assert!(detail.contains("at most"), "{detail}");
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    // Nothing was created or locked: a valid open goes ahead.
    let store = Store::open(dir.path(), options(GROUP_COMMIT_SPIN_MAX)).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
}
