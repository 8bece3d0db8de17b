//! Every failed write or fsync of a live partition's files poisons the store
//! (design/durability.md, "Poisoning"), by construction (engine/src/io/checked.rs):
//! also the two a clean close makes (the cut of the preallocated zeros and
//! its fsync), which before the checked files returned their error without
//! poisoning, so the next run did not say that an fsync had failed. A
//! failure during recovery at open, before the partition is live, poisons
//! nothing: the open fails and says why.
use crate::common;

use common::{scratch_dir, FaultKind, FaultOp, FaultyStorage};
use millrace::{Durability, Error, Record, Store, StoreOptions, TopicConfig};
use std::path::Path;
use std::sync::Arc;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

/// An `Always` store with one appended record (so the active segment has
/// zeros written ahead of it), closed with `fault` armed; returns close's result.
fn close_failing(dir: &Path, op: FaultOp, nth: u64) -> (millrace::Result<()>, FaultyStorage) {
    let storage = FaultyStorage::default();
    let store = Store::open_with_storage(dir, options(), Arc::new(storage.clone())).unwrap();
    let config = TopicConfig {
        durability: Some(Durability::Always),
        ..TopicConfig::with_partitions(1)
    };
    store.create_topic("t", config).unwrap();
    store.append("t", 0, &[Record::new("x")]).unwrap();
    assert!(!store.is_poisoned());
    storage.arm(op, nth, FaultKind::Eio);
    let result = store.close();
    (result, storage)
}

fn assert_recorded(dir: &Path, op: &str) {
    assert!(
        dir.join("poisoned").is_file(),
        "the failure at close is recorded as a poisoning"
    );
    let store = Store::open_read_only(dir, options()).unwrap();
    let earlier = store.earlier_poison().expect("the next open shows it");
    assert_eq!(earlier.op, op, "{earlier:?}");
    assert!(earlier.path.ends_with("00000000000000000000.log"), "{earlier:?}");
    store.close().unwrap();
    // The log itself is intact: a writable open reads the record.
    let store = Store::open(dir, options()).unwrap();
    assert_eq!(store.offsets("t", 0).unwrap(), (0, 1));
    store.close().unwrap();
}

#[test]
fn a_failed_cut_of_the_zeros_at_close_poisons_the_store() {
    let dir = scratch_dir();
    let (result, storage) = close_failing(dir.path(), FaultOp::SetLen, 0);
    let fired = storage.fired().expect("close cut the preallocated zeros");
    assert!(fired.path.extension().is_some_and(|e| e == "log"), "{fired:?}");
    assert!(
        matches!(result, Err(Error::Io { op: "trim segment", .. })),
        "{result:?}"
    );
    assert_recorded(dir.path(), "trim segment");
}

#[test]
fn a_failed_fsync_of_the_segment_at_close_poisons_the_store() {
    let dir = scratch_dir();
    // Close fsyncs the producer snapshot's temporary file, then the segment.
    let (result, storage) = close_failing(dir.path(), FaultOp::SyncData, 1);
    let fired = storage.fired().expect("close fsynced the segment");
    assert!(fired.path.extension().is_some_and(|e| e == "log"), "{fired:?}");
    assert!(
        matches!(
            result,
            Err(Error::Io {
                op: "fsync segment",
                ..
            })
        ),
        "{result:?}"
    );
    assert_recorded(dir.path(), "fsync segment");
}

#[test]
fn a_failed_write_during_recovery_at_open_poisons_nothing() {
    let dir = scratch_dir();
    {
        let store = Store::open(dir.path(), options()).unwrap();
        store.create_topic("t", TopicConfig::with_partitions(1)).unwrap();
        store.append("t", 0, &[Record::new("x")]).unwrap();
        store.close().unwrap();
    }
    // A torn tail: bytes after the last batch that are no batch.
    let log = dir.path().join("topics/t/00000/00000000000000000000.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(&[0xAB; 100]);
    std::fs::write(&log, &bytes).unwrap();
    let storage = FaultyStorage::default();
    storage.arm(FaultOp::SetLen, 0, FaultKind::Eio);
    let opened = Store::open_with_storage(dir.path(), options(), Arc::new(storage.clone()));
    let fired = storage.fired().expect("recovery cut the torn tail");
    assert!(fired.path.extension().is_some_and(|e| e == "log"), "{fired:?}");
    if let Ok(store) = opened {
        assert!(!store.is_poisoned(), "recovery is not a live partition's write");
        store.close().unwrap();
    }
    assert!(!dir.path().join("poisoned").exists(), "nothing recorded as a poisoning");
}
