//! A topic deleted and created again under the same name is a new
//! incarnation: nothing of the old one's DLQ bookkeeping (redrive marks in
//! `__redriven`, failure counts in `__attempts`, the in-memory index of what
//! the DLQ holds) may hide, skip or pre-count a record of the new one. Proven
//! through the public API in one process, across a reopen, and with a failed
//! fsync at every step of the delete (each a crash point: the store is
//! reopened on the real file system and the topic deleted and created again).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failure"
)]

mod common;

use common::{scratch_dir, FaultKind, FaultOp, FaultyStorage};
use millrace::dlq::{FailOutcome, RedriveOptions};
use millrace::{ProducerId, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::sync::Arc;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

/// Dead-letter the record at offset 0 of `a` for group `g` (after
/// `max_attempts` failures) and return its DLQ offset.
fn dead_letter_first(store: &Store, producer: ProducerId, max_attempts: u32) -> u64 {
    let record = store.read("a", 0, 0, ReadOptions::default()).unwrap().records[0].clone();
    for attempt in 1..max_attempts {
        let outcome = store
            .fail_record(producer, "g", "a", 0, &record, "s", "E", "bad", max_attempts)
            .unwrap();
        match outcome {
            FailOutcome::Retry(attempts) => assert_eq!(attempts.count, attempt, "counted from the new incarnation"),
            other => panic!("attempt {attempt} of {max_attempts}: {other:?}"),
        }
    }
    match store
        .fail_record(producer, "g", "a", 0, &record, "s", "E", "bad", max_attempts)
        .unwrap()
    {
        FailOutcome::DeadLettered { dlq_offset, attempts } => {
            assert_eq!(attempts.count, max_attempts, "counted from the new incarnation");
            dlq_offset
        }
        other => panic!("not dead-lettered: {other:?}"),
    }
}

/// Topic `a` with one record, dead-lettered and redriven.
fn redriven_incarnation(store: &Store, producer: ProducerId) {
    store.create_topic("a", TopicConfig::with_partitions(1)).unwrap();
    store.append("a", 0, &[Record::new("old")]).unwrap();
    assert_eq!(dead_letter_first(store, producer, 1), 0);
    let report = store.dlq_redrive("a", &RedriveOptions::default()).unwrap();
    assert_eq!(report.redriven.len(), 1);
    assert_eq!(store.dlq_stats("a").unwrap().depth, 0);
}

/// Topic `a` exists anew: its first dead letter is visible and redriven.
fn new_incarnation_sees_its_dead_letter(store: &Store, producer: ProducerId, max_attempts: u32, context: &str) {
    store.append("a", 0, &[Record::new("new")]).unwrap();
    let dlq_offset = dead_letter_first(store, producer, max_attempts);
    assert_eq!(dlq_offset, 0, "{context}: the new DLQ starts at 0");
    let stats = store.dlq_stats("a").unwrap();
    assert_eq!(stats.depth, 1, "{context}: the new dead letter counts: {stats:?}");
    let listed = store.dlq_list("a", &Default::default()).unwrap();
    assert_eq!(listed.len(), 1, "{context}");
    assert!(
        listed[0].redriven.is_none(),
        "{context}: not marked redriven: {listed:?}"
    );
    assert_eq!(listed[0].letter.record.value.as_slice(), b"new", "{context}");
    let report = store.dlq_redrive("a", &RedriveOptions::default()).unwrap();
    assert_eq!(
        report.redriven.len(),
        1,
        "{context}: the new dead letter is redriven: {report:?}"
    );
    assert_eq!(store.dlq_stats("a").unwrap().depth, 0, "{context}");
}

#[test]
fn recreated_topic_dlq_is_not_marked_redriven() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    let producer = store.init_producer("p").unwrap().id();
    redriven_incarnation(&store, producer);
    store.delete_topic("a").unwrap();
    store.create_topic("a", TopicConfig::with_partitions(1)).unwrap();
    new_incarnation_sees_its_dead_letter(&store, producer, 1, "same process");
}

#[test]
fn recreated_topic_counts_its_own_attempts() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    let producer = store.init_producer("p").unwrap().id();
    redriven_incarnation(&store, producer);
    store.delete_topic("a").unwrap();
    store.create_topic("a", TopicConfig::with_partitions(1)).unwrap();
    // Two attempts: the old incarnation's count and DLQ index must not make
    // the first one a dead letter, nor name the old DLQ record.
    new_incarnation_sees_its_dead_letter(&store, producer, 2, "same process, two attempts");
}

#[test]
fn recreated_topic_after_reopen_sees_its_dead_letter() {
    let dir = scratch_dir();
    {
        let store = Store::open(dir.path(), options()).unwrap();
        let producer = store.init_producer("p").unwrap().id();
        redriven_incarnation(&store, producer);
        store.delete_topic("a").unwrap();
    }
    let store = Store::open(dir.path(), options()).unwrap();
    let producer = store.init_producer("p").unwrap().id();
    store.create_topic("a", TopicConfig::with_partitions(1)).unwrap();
    new_incarnation_sees_its_dead_letter(&store, producer, 2, "reopened");
}

/// A failed fsync at each step of `delete_topic` (the process stops there:
/// the store is dropped and reopened on the real file system, as after a
/// crash). Whatever the step, a topic created under the name afterwards sees
/// its own dead letters only.
#[test]
fn delete_interrupted_at_every_fsync_never_hides_a_new_dead_letter() {
    for op in [FaultOp::SyncData, FaultOp::SyncDir] {
        let counting = FaultyStorage::default();
        let steps = {
            let dir = scratch_dir();
            let store = Store::open_with_storage(dir.path(), options(), Arc::new(counting.clone())).unwrap();
            let producer = store.init_producer("p").unwrap().id();
            redriven_incarnation(&store, producer);
            counting.count_only();
            store.delete_topic("a").unwrap();
            counting.count(op)
        };
        assert!(steps >= 2, "{op:?}: {steps}");
        for step in 0..steps {
            let context = format!("{op:?} {step} of {steps}");
            let dir = scratch_dir();
            let storage = FaultyStorage::default();
            {
                let store = Store::open_with_storage(dir.path(), options(), Arc::new(storage.clone())).unwrap();
                let producer = store.init_producer("p").unwrap().id();
                redriven_incarnation(&store, producer);
                storage.arm(op, step, FaultKind::Eio);
                let result = store.delete_topic("a");
                assert!(storage.fired().is_some(), "{context}: the fault did not fire");
                assert!(result.is_err(), "{context}: a failed fsync must fail the delete");
            }
            let store = Store::open(dir.path(), options()).unwrap();
            let producer = store.init_producer("p").unwrap().id();
            if store.list_topics().contains(&"a".to_string()) {
                store.delete_topic("a").unwrap();
            }
            store.create_topic("a", TopicConfig::with_partitions(1)).unwrap();
            new_incarnation_sees_its_dead_letter(&store, producer, 2, &context);
        }
    }
}
