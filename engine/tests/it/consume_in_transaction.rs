//! The consume-transform-produce stage as an embedder writes it, safe by
//! construction (issue 25 items 2, 4, 5), through the public API only:
//! - a transaction begun by `Consumer::begin_transaction` commits the
//!   consumer's positions, and an abort (or a drop, or a crash) rewinds the
//!   consumer, so the next poll delivers the same records again;
//! - dead-lettering inside a transaction (`Transaction::fail_record`) is part
//!   of it: poll 0..10, fail 5, crash before the commit, and after reopening
//!   0..10 are delivered again, and after the retry the DLQ holds 5 once;
//! - a `Retry` answer keeps the transaction from committing past the record;
//! - the stand-alone `Store::fail_record` never commits the group past
//!   records polled before the failed one, and a redelivered record it
//!   dead-lettered is not dead-lettered twice;
//! - a dead letter carries the redrive count of the record it came from, so
//!   the redrive cap stops a record that keeps failing.
use millrace::dlq::{header, FailOutcome, Failure, RedriveOptions};
use millrace::txn::TransactionFailOutcome;
use millrace::{
    ConsumedRecord, Consumer, ConsumerOptions, Error, ReadOptions, Record, Store, StoreOptions, TopicConfig,
};
use std::time::Duration;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

fn ten_records(store: &Store) {
    store.create_topic("in", TopicConfig::default()).unwrap();
    store.create_topic("out", TopicConfig::default()).unwrap();
    let records: Vec<Record> = (0..10u8).map(|i| Record::new(vec![i])).collect();
    store.append("in", 0, &records).unwrap();
}

fn consumer(store: &Store) -> Consumer {
    let mut consumer = Consumer::new(store, "g", ConsumerOptions::default()).unwrap();
    consumer.assign(&[("in", 0)]).unwrap();
    consumer
}

fn offsets(records: &[ConsumedRecord]) -> Vec<u64> {
    records.iter().map(|r| r.record.offset).collect()
}

fn values(store: &Store, topic: &str) -> Vec<Vec<u8>> {
    let Ok((start, _)) = store.offsets(topic, 0) else {
        return Vec::new();
    };
    let read = store.read(topic, 0, start, ReadOptions::default()).unwrap();
    read.records.into_iter().map(|r| r.value).collect()
}

const FAILURE: Failure<'static> = Failure {
    stage: "transform",
    error_class: "ParseError",
    error_message: "bad input",
};

#[test]
fn abort_and_drop_rewind_the_consumer_and_commit_commits_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    ten_records(&store);
    let producer = store.init_producer("stage").unwrap().id();
    let mut consumer = consumer(&store);

    let polled = consumer.poll(Duration::ZERO).unwrap();
    assert_eq!(offsets(&polled), (0..10).collect::<Vec<_>>());
    let mut txn = consumer.begin_transaction(producer).unwrap();
    txn.append("out", 0, &[Record::new(b"x".to_vec())]).unwrap();
    txn.abort();
    // The abort rewound the consumer: the same records come again, and a
    // plain commit now cannot skip them.
    assert_eq!(consumer.position("in", 0).unwrap(), 0);
    consumer.commit().unwrap();
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(0));
    let again = consumer.poll(Duration::ZERO).unwrap();
    assert_eq!(offsets(&again), (0..10).collect::<Vec<_>>());

    // Dropped without commit: the same.
    {
        let mut txn = consumer.begin_transaction(producer).unwrap();
        txn.append("out", 0, &[Record::new(b"y".to_vec())]).unwrap();
    }
    assert_eq!(
        offsets(&consumer.poll(Duration::ZERO).unwrap()),
        (0..10).collect::<Vec<_>>()
    );

    // Committed: the outputs and the consumer's position together.
    let mut txn = consumer.begin_transaction(producer).unwrap();
    txn.append("out", 0, &[Record::new(b"z".to_vec())]).unwrap();
    txn.commit().unwrap();
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(10));
    assert_eq!(consumer.position("in", 0).unwrap(), 10);
    assert_eq!(values(&store, "out"), vec![b"z".to_vec()]);
}

#[test]
fn a_failed_commit_rewinds_the_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    ten_records(&store);
    let old = store.init_producer("stage").unwrap().id();
    let mut consumer = consumer(&store);
    consumer.poll(Duration::ZERO).unwrap();
    let txn = consumer.begin_transaction(old).unwrap();
    // A new instance fences this one: the commit fails, nothing is written,
    // and the records come again.
    store.init_producer("stage").unwrap();
    assert!(matches!(txn.commit(), Err(Error::Fenced { .. })));
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), None);
    assert_eq!(
        offsets(&consumer.poll(Duration::ZERO).unwrap()),
        (0..10).collect::<Vec<_>>()
    );
}

#[test]
fn dead_lettering_in_a_transaction_is_part_of_it_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), options()).unwrap();
        ten_records(&store);
        let producer = store.init_producer("stage").unwrap().id();
        let mut consumer = consumer(&store);
        let polled = consumer.poll(Duration::ZERO).unwrap();
        assert_eq!(polled.len(), 10);
        let mut txn = consumer.begin_transaction(producer).unwrap();
        for record in &polled {
            if record.record.offset == 5 {
                let outcome = txn.fail_record("g", record, &FAILURE, 1).unwrap();
                assert!(matches!(outcome, TransactionFailOutcome::DeadLettered(a) if a.count == 1));
            } else {
                txn.append("out", 0, &[Record::new(record.record.value.clone())])
                    .unwrap();
            }
        }
        // Nothing of it is written before the commit.
        assert_eq!(store.committed_offset("g", "in", 0).unwrap(), None);
        assert!(values(&store, "__dlq.in").is_empty());
        // Crash before the commit: the transaction is lost with the process
        // (it lives in memory only: dropping it is what a crash does to it).
        drop(txn);
    }
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), None);
    assert!(
        values(&store, "__dlq.in").is_empty(),
        "the dead letter went with the transaction"
    );
    let producer = store.init_producer("stage").unwrap().id();
    let mut consumer = consumer(&store);
    let polled = consumer.poll(Duration::ZERO).unwrap();
    assert_eq!(offsets(&polled), (0..10).collect::<Vec<_>>(), "0..10 delivered again");
    let mut txn = consumer.begin_transaction(producer).unwrap();
    for record in &polled {
        if record.record.offset == 5 {
            // The attempt before the crash was counted.
            let outcome = txn.fail_record("g", record, &FAILURE, 1).unwrap();
            assert!(matches!(outcome, TransactionFailOutcome::DeadLettered(a) if a.count == 2));
        } else {
            txn.append("out", 0, &[Record::new(record.record.value.clone())])
                .unwrap();
        }
    }
    txn.commit().unwrap();
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(10));
    let expected: Vec<Vec<u8>> = (0..10u8).filter(|i| *i != 5).map(|i| vec![i]).collect();
    assert_eq!(values(&store, "out"), expected);
    let dlq = store.dlq_list("in", &Default::default()).unwrap();
    assert_eq!(dlq.len(), 1, "5 is in the DLQ once: {dlq:?}");
    let letter = &dlq[0].letter;
    assert_eq!(
        (letter.source_offset, letter.group.as_str(), letter.attempts),
        (5, "g", 2)
    );
    assert_eq!(
        (letter.stage.as_str(), letter.error_class.as_str()),
        ("transform", "ParseError")
    );
    assert_eq!(letter.record.value, vec![5u8]);
}

#[test]
fn a_retry_answer_keeps_the_transaction_from_committing_past_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    ten_records(&store);
    let producer = store.init_producer("stage").unwrap().id();
    let mut consumer = consumer(&store);
    let polled = consumer.poll(Duration::ZERO).unwrap();
    let mut txn = consumer.begin_transaction(producer).unwrap();
    let outcome = txn.fail_record("g", &polled[5], &FAILURE, 3).unwrap();
    assert!(matches!(outcome, TransactionFailOutcome::Retry(a) if a.count == 1));
    assert!(matches!(txn.commit(), Err(Error::InvalidInput { .. })));
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), None);
    // The consumer was rewound: 5 comes again, with everything after it.
    assert_eq!(
        offsets(&consumer.poll(Duration::ZERO).unwrap()),
        (0..10).collect::<Vec<_>>()
    );
}

#[test]
fn stand_alone_fail_record_never_commits_past_unfinished_records_nor_dead_letters_twice() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), options()).unwrap();
        ten_records(&store);
        let producer = store.init_producer("stage").unwrap().id();
        let mut consumer = consumer(&store);
        let polled = consumer.poll(Duration::ZERO).unwrap();
        // 0..5 are still being processed when 5 fails for good.
        let outcome = store
            .fail_record(producer, "g", "in", 0, &polled[5].record, "transform", "E", "bad", 1)
            .unwrap();
        assert!(matches!(outcome, FailOutcome::DeadLettered { .. }));
        assert_eq!(
            store.committed_offset("g", "in", 0).unwrap(),
            None,
            "fail_record committed past records 0..5 its caller had not finished"
        );
        // Crash before the caller's own commit.
    }
    let store = Store::open(dir.path(), options()).unwrap();
    let producer = store.init_producer("stage").unwrap().id();
    let mut consumer = consumer(&store);
    let polled = consumer.poll(Duration::ZERO).unwrap();
    assert_eq!(offsets(&polled), (0..10).collect::<Vec<_>>());
    let outcome = store
        .fail_record(producer, "g", "in", 0, &polled[5].record, "transform", "E", "bad", 1)
        .unwrap();
    let FailOutcome::DeadLettered { dlq_offset, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(dlq_offset, 0, "the dead letter it has");
    assert_eq!(store.dlq_list("in", &Default::default()).unwrap().len(), 1);
    consumer.commit().unwrap();
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(10));

    // The group's next record: the offset moves past it with the dead letter.
    store.append("in", 0, &[Record::new(vec![10u8])]).unwrap();
    let next = consumer.poll(Duration::ZERO).unwrap();
    store
        .fail_record(producer, "g", "in", 0, &next[0].record, "transform", "E", "bad", 1)
        .unwrap();
    assert_eq!(store.committed_offset("g", "in", 0).unwrap(), Some(11));
}

#[test]
fn a_dead_letter_carries_the_redrive_count_so_the_cap_stops_a_record_that_keeps_failing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("in", TopicConfig::default()).unwrap();
    store.append("in", 0, &[Record::new(b"poison".to_vec())]).unwrap();
    let producer = store.init_producer("stage").unwrap().id();
    let mut consumer = consumer(&store);
    let cap = RedriveOptions {
        redrive_cap: 2,
        ..RedriveOptions::default()
    };
    let mut redriven = 0;
    for round in 0..10 {
        // The stage fails the record it consumed, inside its transaction.
        let polled = consumer.poll(Duration::ZERO).unwrap();
        assert_eq!(polled.len(), 1, "round {round}");
        let mut txn = consumer.begin_transaction(producer).unwrap();
        txn.dead_letter("g", &polled[0], &FAILURE).unwrap();
        txn.commit().unwrap();
        let report = store.dlq_redrive("in", &cap).unwrap();
        if report.redriven.is_empty() {
            assert_eq!(report.capped.len(), 1);
            break;
        }
        redriven += 1;
    }
    assert_eq!(redriven, 2, "the cap stopped the record after 2 redrives");
    let dlq = store.dlq_list("in", &Default::default()).unwrap();
    assert_eq!(dlq.len(), 3);
    let counts: Vec<u32> = dlq.iter().map(|e| e.letter.redrive_count).collect();
    assert_eq!(counts, vec![0, 1, 2]);
    let last = store.dlq_get("in", dlq[2].dlq_offset).unwrap().unwrap();
    assert_eq!(
        last.letter.record.header(header::REDRIVE_COUNT),
        None,
        "dlq.* headers live in the letter only"
    );
}
