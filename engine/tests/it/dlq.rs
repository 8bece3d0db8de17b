//! The DLQ's promises that the server and the CLI cannot reach on their own:
//! `fail_record` never moves a group's committed offset backwards, also when
//! an fsync fails at any step of its transaction and recovery re-applies the
//! commit record on reopen (each step failed in turn through a fault-injecting
//! storage, then the store reopened on the real file system and checked).
use crate::common;

use common::{scratch_dir, FaultKind, FaultOp, FaultyStorage};
use millrace::dlq::{DlqFilter, FailOutcome};
use millrace::{ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::sync::Arc;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

/// Topic `in` with 120 records, group `g` committed at 100 with metadata `m`,
/// and every internal topic the DLQ path uses already created.
fn prepare(store: &Store) -> millrace::ProducerId {
    store.create_topic("in", TopicConfig::default()).unwrap();
    let records: Vec<Record> = (0..120u8).map(|i| Record::new(vec![i])).collect();
    store.append("in", 0, &records).unwrap();
    let session = store.init_producer("stage").unwrap();
    let producer = session.id();
    // Warm-up failure of another group: creates __attempts, __transactions, __dlq.in.
    let first = store.read("in", 0, 0, ReadOptions::default()).unwrap().records[0].clone();
    let outcome = store
        .fail_record(producer, "warm", "in", 0, &first, "transform", "E", "warm-up", 1)
        .unwrap();
    assert!(matches!(outcome, FailOutcome::DeadLettered { .. }));
    store.commit_offset("g", "in", 0, 100, b"m").unwrap();
    producer
}

fn dead_letters_of_six(store: &Store) -> usize {
    store
        .dlq_list("in", &DlqFilter::default())
        .unwrap()
        .iter()
        .filter(|e| e.letter.group == "g" && e.letter.source_offset == 6)
        .count()
}

#[test]
fn fail_record_keeps_a_later_commit_at_every_failed_fsync() {
    // Count the fsyncs of one dead-lettering fail_record.
    let counting = FaultyStorage::default();
    let steps = {
        let dir = scratch_dir();
        let store = Store::open_with_storage(dir.path(), options(), Arc::new(counting.clone())).unwrap();
        let producer = prepare(&store);
        let six = store.read("in", 0, 6, ReadOptions::default()).unwrap().records[0].clone();
        counting.count_only();
        store
            .fail_record(producer, "g", "in", 0, &six, "transform", "E", "late", 1)
            .unwrap();
        assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(100));
        counting.count(FaultOp::SyncData)
    };
    assert!(steps >= 2, "attempt count and commit point each fsync: {steps}");
    for step in 0..steps {
        let dir = scratch_dir();
        let storage = FaultyStorage::default();
        let store = Store::open_with_storage(dir.path(), options(), Arc::new(storage.clone())).unwrap();
        let producer = prepare(&store);
        let six = store.read("in", 0, 6, ReadOptions::default()).unwrap().records[0].clone();
        storage.arm(FaultOp::SyncData, step, FaultKind::Eio);
        let result = store.fail_record(producer, "g", "in", 0, &six, "transform", "E", "late", 1);
        assert!(storage.fired().is_some(), "step {step}: the fault did not fire");
        assert!(result.is_err(), "step {step}: a failed fsync must fail the call");
        drop(store);
        let store = Store::open(dir.path(), options()).unwrap();
        let committed = store.committed("g", "in", 0).unwrap().unwrap();
        assert_eq!(
            (committed.offset, committed.metadata.as_slice()),
            (100, &b"m"[..]),
            "step {step}: the committed offset moved"
        );
        assert!(dead_letters_of_six(&store) <= 1, "step {step}: dead-lettered twice");
    }
}
