//! Internal topics through the embedded API: no public write path takes a
//! `__*` topic or group (`InternalName`), and what the one explicitly
//! internal path (`Store::append_to_internal_topic`) can leave in each
//! internal topic, garbage or a replayed genuine record, stays confined: the
//! store reopens, and user topics serve.

use crate::common;

use millrace::{Error, ReadOptions, Record, Store, StoreOptions, TopicConfig};

const INTERNAL_TOPICS: [&str; 6] = [
    "__offsets",
    "__transactions",
    "__attempts",
    "__dlq.in",
    "__offset_resets",
    "__redriven",
];

fn options() -> StoreOptions {
    StoreOptions {
        durability: millrace::Durability::Os,
        ..StoreOptions::default()
    }
}

/// A store whose every internal topic holds what its owner wrote.
fn populated(dir: &std::path::Path) -> Store {
    let store = Store::open(dir, options()).unwrap();
    store.create_topic("in", TopicConfig::with_partitions(1)).unwrap();
    let values: Vec<Record> = (0..10u8).map(|i| Record::new(vec![i])).collect();
    store.append("in", 0, &values).unwrap();
    store.commit_offset("g", "in", 0, 5, b"").unwrap();
    let producer = store.init_producer("stage").unwrap();
    let read = store.read("in", 0, 2, ReadOptions::default()).unwrap();
    store
        .fail_record(producer.id(), "g", "in", 0, &read.records[0], "s", "e", "m", 1)
        .unwrap();
    store.commit_offset("r", "in", 0, 7, b"").unwrap();
    store
        .reset_offsets(&millrace::ResetRequest {
            group: "r".into(),
            scopes: vec![millrace::ResetScope::Topic("in".into())],
            target: millrace::ResetTarget::Offset(4),
            dry_run: false,
            actor: "test".into(),
            force: true,
        })
        .unwrap();
    store
        .dlq_redrive("in", &millrace::dlq::RedriveOptions::default())
        .unwrap();
    for topic in INTERNAL_TOPICS {
        assert!(store.list_all_topics().contains(&topic.to_string()), "{topic}");
    }
    store
}

fn is_internal_name(result: Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(result, Err(Error::InternalName { .. }))
}

#[test]
fn no_public_write_path_takes_an_internal_topic_or_group() {
    let dir = common::scratch_dir();
    let store = populated(dir.path());
    let before = store.group_offsets("g").unwrap();
    let forged = Record::new(b"forged".to_vec());
    let producer = store.init_producer("p").unwrap();
    for topic in INTERNAL_TOPICS {
        assert!(
            is_internal_name(store.append(topic, 0, std::slice::from_ref(&forged))),
            "{topic}"
        );
        assert!(is_internal_name(store.append_pending(
            topic,
            0,
            std::slice::from_ref(&forged),
            None
        )));
        assert!(is_internal_name(store.append_sequenced(
            topic,
            0,
            std::slice::from_ref(&forged),
            producer.stamp(0)
        )));
        assert!(is_internal_name(store.append_routed(
            topic,
            0,
            std::slice::from_ref(&forged)
        )));
        assert!(is_internal_name(store.truncate_prefix(topic, 0, 1)), "{topic}");
        assert!(is_internal_name(store.delete_topic(topic)), "{topic}");
        assert!(is_internal_name(store.create_topic(topic, TopicConfig::default())));
        let mut txn = store.begin_transaction(producer.id()).unwrap();
        assert!(
            is_internal_name(txn.append(topic, 0, std::slice::from_ref(&forged))),
            "{topic}"
        );
        // A group's position on a DLQ is the exception (below).
        if !millrace::names::is_dlq_topic(topic) {
            assert!(is_internal_name(store.commit_offset("g", topic, 0, 0, b"")));
            assert!(is_internal_name(
                store.commit_offsets("g", &[(topic.into(), 0, 0, vec![])])
            ));
            assert!(is_internal_name(txn.commit_offset("g", topic, 0, 0, b"")));
            assert!(is_internal_name(txn.advance_offset("g", topic, 0, 0)));
        }
    }
    for group in ["__redrive.in", "__replay.job", "__x"] {
        assert!(is_internal_name(store.commit_offset(group, "in", 0, 1, b"")), "{group}");
        assert!(is_internal_name(
            store.commit_offsets(group, &[("in".into(), 0, 1, vec![])])
        ));
        let mut txn = store.begin_transaction(producer.id()).unwrap();
        assert!(is_internal_name(txn.commit_offset(group, "in", 0, 1, b"")));
        assert!(is_internal_name(txn.advance_offset(group, "in", 0, 1)));
        assert!(is_internal_name(store.init_producer(group)), "{group}");
    }
    // A replay job's progress: only in its own producer's transaction.
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    assert!(is_internal_name(txn.commit_replay_progress("job", "in", 0, 3, b"")));
    let job = store.init_replay_producer("job").unwrap();
    let mut txn = store.begin_transaction(job.id()).unwrap();
    txn.commit_replay_progress("job", "in", 0, 3, b"").unwrap();
    txn.commit().unwrap();
    assert_eq!(store.committed_offset("__replay.job", "in", 0).unwrap(), Some(3));
    assert_eq!(store.group_offsets("g").unwrap(), before);
}

/// A client group reads a DLQ like any topic, so it keeps its place there:
/// direct, batched, transactional commits and resets of its position on
/// `__dlq.<topic>` are accepted (design/format.md, "Names"); the DLQ's
/// records stay the engine's (a failed record of the DLQ is refused), and
/// the positions go with the topic.
#[test]
fn a_group_commits_its_position_on_a_dead_letter_queue() {
    let dir = common::scratch_dir();
    let store = populated(dir.path());
    let dlq = "__dlq.in";
    assert!(store.offsets(dlq, 0).unwrap().1 >= 1);
    store.commit_offset("dlq-readers", dlq, 0, 1, b"meta").unwrap();
    assert_eq!(store.committed_offset("dlq-readers", dlq, 0).unwrap(), Some(1));
    store
        .commit_offsets("batch", &[(dlq.into(), 0, 1, b"m".to_vec())])
        .unwrap();
    assert_eq!(store.committed_offset("batch", dlq, 0).unwrap(), Some(1));
    // Not past the DLQ's end, as on any topic.
    assert!(store.commit_offset("dlq-readers", dlq, 0, 1_000, b"").is_err());
    let producer = store.init_producer("t").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.commit_offset("txn-readers", dlq, 0, 1, b"").unwrap();
    txn.commit().unwrap();
    assert_eq!(store.committed_offset("txn-readers", dlq, 0).unwrap(), Some(1));
    let plan = store
        .reset_offsets(&millrace::ResetRequest {
            group: "dlq-readers".into(),
            scopes: vec![millrace::ResetScope::Topic(dlq.into())],
            target: millrace::ResetTarget::Offset(0),
            dry_run: false,
            actor: "test".into(),
            force: true,
        })
        .unwrap();
    assert_eq!(plan.entries.len(), 1);
    assert_eq!(store.committed_offset("dlq-readers", dlq, 0).unwrap(), Some(0));
    // Still the engine's: an internal group, and a failed record of the DLQ.
    assert!(is_internal_name(store.commit_offset("__x", dlq, 0, 0, b"")));
    let read = store
        .read_with(dlq, 0, 0, ReadOptions::default(), millrace::Isolation::ReadUncommitted)
        .unwrap();
    assert!(is_internal_name(store.fail_record(
        producer.id(),
        "dlq-readers",
        dlq,
        0,
        &read.records[0],
        "s",
        "e",
        "m",
        1
    )));
    // Deleting the topic forgets them with the DLQ.
    store.delete_topic("in").unwrap();
    assert!(store.group_offsets("dlq-readers").unwrap().is_empty());
}

#[test]
fn what_the_internal_path_leaves_in_an_internal_topic_stays_confined() {
    for topic in INTERNAL_TOPICS {
        for garbage in [true, false] {
            let dir = common::scratch_dir();
            let store = populated(dir.path());
            let record = if garbage {
                Record::new(b"garbage \xff\x00".to_vec())
            } else {
                // A genuine record of the topic, replayed.
                let first = store.read_with(
                    topic,
                    0,
                    0,
                    ReadOptions::default(),
                    millrace::Isolation::ReadUncommitted,
                );
                first.unwrap().records[0].to_record()
            };
            store.append_to_internal_topic(topic, 0, &[record]).unwrap();
            store.close().unwrap();
            let store = Store::open(dir.path(), options())
                .unwrap_or_else(|e| panic!("{topic} (garbage: {garbage}): the store does not open: {e}"));
            let read = store.read("in", 0, 0, ReadOptions::default()).unwrap();
            assert!(read.records.len() >= 10, "{topic} (garbage: {garbage})");
            store.append("in", 0, &[Record::new(b"after".to_vec())]).unwrap();
            store.close().unwrap();
        }
    }
}
