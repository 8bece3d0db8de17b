//! Consumer offsets through the public API: commits survive reopen with
//! their metadata and time; compaction keeps exactly the latest value per
//! (group, topic, partition) and deletes superseded segments; the consumer's
//! poll/commit/seek; lag; and every offset-reset form including clamping,
//! time lookups, dry runs and the audit log.

use crate::common;

use millrace::offset_table::OFFSETS_TOPIC;
use millrace::{
    AutoOffsetReset, Consumer, ConsumerOptions, Durability, Error, ReadOptions, Record, ResetRequest, ResetScope,
    ResetTarget, ResetWarning, Store, StoreOptions, TopicConfig,
};
use std::path::Path;
use std::time::{Duration, Instant};

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

fn open(path: &Path) -> Store {
    Store::open(path, options()).unwrap()
}

/// Topic `t` with `partitions` partitions and `per_partition` records each,
/// record i stamped at time 1_000 + 10 * i.
fn with_data(path: &Path, partitions: u32, per_partition: u64) -> Store {
    let store = open(path);
    store
        .create_topic("t", TopicConfig::with_partitions(partitions))
        .unwrap();
    for p in 0..partitions {
        for i in 0..per_partition {
            let record = Record::new(format!("p{p}-{i}").into_bytes()).with_timestamp(1_000 + 10 * i as i64);
            store.append("t", p, &[record]).unwrap();
        }
    }
    store
}

fn reset(group: &str, scopes: Vec<ResetScope>, target: ResetTarget, dry_run: bool) -> ResetRequest {
    ResetRequest {
        group: group.to_string(),
        scopes,
        target,
        dry_run,
        actor: "ops@test".to_string(),
        // These tests commit and reset from one process; the active-group
        // check has its own test below.
        force: true,
    }
}

fn topic_scope() -> Vec<ResetScope> {
    vec![ResetScope::Topic("t".to_string())]
}

#[test]
fn commits_survive_reopen_with_metadata_and_time() {
    let dir = common::scratch_dir();
    let before = millrace_now_ms();
    {
        let store = with_data(dir.path(), 2, 5);
        store.commit_offset("g1", "t", 0, 3, b"worker-7").unwrap();
        store.commit_offset("g1", "t", 1, 5, b"").unwrap();
        store.commit_offset("g2", "t", 0, 1, b"").unwrap();
        store.commit_offset("g1", "t", 0, 4, b"worker-8").unwrap();
        assert!(matches!(
            store.commit_offset("g1", "t", 9, 0, b""),
            Err(Error::PartitionNotFound { .. })
        ));
        assert!(matches!(
            store.commit_offset("g1", "t", 0, 0, &vec![0u8; 4097]),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            store.commit_offset("", "t", 0, 0, b""),
            Err(Error::InvalidInput { .. })
        ));
    }
    let store = open(dir.path());
    let committed = store.committed("g1", "t", 0).unwrap().unwrap();
    assert_eq!(committed.offset, 4);
    assert_eq!(committed.metadata, b"worker-8");
    assert!(committed.commit_time_ms >= before);
    assert_eq!(store.committed_offset("g1", "t", 1).unwrap(), Some(5));
    assert_eq!(store.committed_offset("g2", "t", 0).unwrap(), Some(1));
    assert_eq!(store.committed_offset("g2", "t", 1).unwrap(), None);
    assert_eq!(store.groups().unwrap(), ["g1", "g2"]);
    // Internal topics stay out of the user listing.
    assert_eq!(store.list_topics(), ["t"]);
}

fn millrace_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn readable_offset_records(store: &Store) -> usize {
    let (start, end) = store.offsets(OFFSETS_TOPIC, 0).unwrap();
    let mut offset = start;
    let mut count = 0;
    while offset < end {
        let r = store.read(OFFSETS_TOPIC, 0, offset, ReadOptions::default()).unwrap();
        count += r.records.len();
        offset = r.next_offset;
    }
    count
}

#[test]
fn compaction_keeps_only_the_latest_values() {
    let dir = common::scratch_dir();
    {
        let store = with_data(dir.path(), 3, 1);
        // Commits may not lie past the high watermark: offsets up to 3000 exist.
        for p in 0..3 {
            store.append("t", p, &vec![Record::new(b"r".to_vec()); 3_000]).unwrap();
        }
        // Many commits over 6 keys: automatic compaction bounds the log.
        for i in 0..3_000u64 {
            let group = if i % 2 == 0 { "even" } else { "odd" };
            store.commit_offset(group, "t", (i % 3) as u32, i, b"").unwrap();
        }
        let (start, end) = store.offsets(OFFSETS_TOPIC, 0).unwrap();
        assert!(end - start <= 2 * 6 + 1024 + 1, "log holds {} records", end - start);
        assert!(start > 0, "compaction ran");
        // Explicit compaction: exactly one readable record per key.
        assert_eq!(store.compact_offsets().unwrap(), 6);
        assert_eq!(readable_offset_records(&store), 6);
        let segments = common::segment_bases(dir.path(), OFFSETS_TOPIC, 0);
        assert!(segments.len() <= 2, "superseded segments deleted: {segments:?}");
    }
    let store = open(dir.path());
    assert_eq!(readable_offset_records(&store), 6);
    for (group, parity) in [("even", 0u64), ("odd", 1)] {
        for p in 0..3u64 {
            // The last i < 3000 with i % 2 == parity and i % 3 == p.
            let last = (0..3_000u64).rev().find(|i| i % 2 == parity && i % 3 == p).unwrap();
            assert_eq!(store.committed_offset(group, "t", p as u32).unwrap(), Some(last));
        }
    }
}

#[test]
fn consumer_polls_commits_seeks_and_resumes() {
    let dir = common::scratch_dir();
    let store = with_data(dir.path(), 2, 3);
    let mut consumer = Consumer::new(&store, "g", ConsumerOptions::default()).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    assert_eq!(consumer.assignment().len(), 2);
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let batch = consumer.poll(Duration::from_millis(100)).unwrap();
        assert!(!batch.is_empty());
        seen.extend(batch.into_iter().map(|r| (r.partition, r.record.offset)));
    }
    seen.sort();
    assert_eq!(seen, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
    // Nothing more: poll waits out its timeout.
    let started = Instant::now();
    assert!(consumer.poll(Duration::from_millis(80)).unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(80));
    // A record appended while polling wakes the poll.
    let writer = store.clone();
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        writer.append("t", 1, &[Record::new(b"late".to_vec())]).unwrap();
    });
    let started = Instant::now();
    let late = consumer.poll(Duration::from_secs(10)).unwrap();
    handle.join().unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].record.value, b"late");
    assert!(started.elapsed() < Duration::from_secs(5));
    consumer.commit().unwrap();
    assert_eq!(consumer.committed("t", 0).unwrap(), Some(3));
    assert_eq!(consumer.committed("t", 1).unwrap(), Some(4));

    // A new consumer of the group resumes at the committed offsets.
    let mut again = Consumer::new(&store, "g", ConsumerOptions::default()).unwrap();
    again.assign(&[("t", 0)]).unwrap();
    assert_eq!(again.position("t", 0).unwrap(), 3);
    again.seek("t", 0, 1).unwrap();
    let replay = again.poll(Duration::from_millis(100)).unwrap();
    assert_eq!(replay.iter().map(|r| r.record.offset).collect::<Vec<_>>(), [1, 2]);
    assert!(again.seek("t", 1, 0).is_err(), "not assigned");
    again.commit_offsets(&[("t", 0, 2, b"manual".as_slice())]).unwrap();
    assert_eq!(store.committed("g", "t", 0).unwrap().unwrap().metadata, b"manual");

    // Auto reset: Latest starts at the end, None refuses.
    let mut latest = Consumer::new(
        &store,
        "fresh",
        ConsumerOptions {
            auto_offset_reset: AutoOffsetReset::Latest,
            ..ConsumerOptions::default()
        },
    )
    .unwrap();
    latest.assign(&[("t", 0)]).unwrap();
    assert_eq!(latest.position("t", 0).unwrap(), 3);
    let mut strict = Consumer::new(
        &store,
        "fresh",
        ConsumerOptions {
            auto_offset_reset: AutoOffsetReset::None,
            ..ConsumerOptions::default()
        },
    )
    .unwrap();
    strict.assign(&[("t", 0)]).unwrap();
    assert!(strict.poll(Duration::ZERO).is_err());

    // A position out of the log (seek past the end) is reset by the policy.
    let mut earliest = Consumer::new(&store, "e", ConsumerOptions::default()).unwrap();
    earliest.assign(&[("t", 0)]).unwrap();
    earliest.seek("t", 0, 99).unwrap();
    assert!(earliest.poll(Duration::ZERO).unwrap().is_empty());
    assert_eq!(earliest.position("t", 0).unwrap(), 0);
}

#[test]
fn lag_is_high_watermark_minus_committed() {
    let dir = common::scratch_dir();
    let store = with_data(dir.path(), 3, 10);
    store.commit_offset("g", "t", 0, 4, b"").unwrap();
    store.commit_offset("g", "t", 1, 10, b"").unwrap();
    let lag = store.consumer_lag("g").unwrap();
    assert_eq!(
        lag.iter().map(|l| (l.partition, l.lag)).collect::<Vec<_>>(),
        [(0, 6), (1, 0)]
    );
    let all = store.consumer_lag_for_topic("g", "t").unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!((all[2].committed, all[2].lag), (None, 10));
    store.append("t", 1, &[Record::new(b"x".to_vec())]).unwrap();
    assert_eq!(store.consumer_lag("g").unwrap()[1].lag, 1);
}

fn plan_news(plan: &millrace::ResetPlan) -> Vec<u64> {
    plan.entries.iter().map(|e| e.new).collect()
}

#[test]
fn reset_to_earliest_latest_and_offset_with_clamping() {
    let dir = common::scratch_dir();
    let store = with_data(dir.path(), 2, 10);
    store.truncate_prefix("t", 1, 4).unwrap();
    store.commit_offset("g", "t", 0, 5, b"").unwrap();

    let plan = store
        .reset_offsets(&reset("g", topic_scope(), ResetTarget::Earliest, false))
        .unwrap();
    assert_eq!(plan_news(&plan), [0, 4]);
    assert_eq!(plan.entries[0].current, Some(5));
    assert_eq!(plan.entries[1].current, None);
    assert!(plan.applied);
    assert_eq!(store.committed_offset("g", "t", 1).unwrap(), Some(4));

    let plan = store
        .reset_offsets(&reset("g", topic_scope(), ResetTarget::Latest, false))
        .unwrap();
    assert_eq!(plan_news(&plan), [10, 10]);

    let plan = store
        .reset_offsets(&reset("g", topic_scope(), ResetTarget::Offset(2), false))
        .unwrap();
    assert_eq!(plan_news(&plan), [2, 4]);
    assert!(plan.entries[0].warnings.is_empty());
    assert_eq!(plan.entries[1].warnings, [ResetWarning::BelowLogStart { requested: 2 }]);

    let plan = store
        .reset_offsets(&reset("g", topic_scope(), ResetTarget::Offset(50), false))
        .unwrap();
    assert_eq!(plan_news(&plan), [10, 10]);
    assert_eq!(
        plan.entries[0].warnings,
        [ResetWarning::AboveHighWatermark { requested: 50 }]
    );
}

#[test]
fn reset_shift_by_both_ways_with_clamping() {
    let dir = common::scratch_dir();
    let store = with_data(dir.path(), 2, 10);
    store.commit_offset("g", "t", 0, 5, b"").unwrap();
    let plan = store
        .reset_offsets(&reset("g", topic_scope(), ResetTarget::ShiftBy(-2), false))
        .unwrap();
    assert_eq!(plan_news(&plan), [3, 0]);
    assert_eq!(
        plan.entries[1].warnings,
        [
            ResetWarning::NoCommittedOffset,
            ResetWarning::BelowLogStart { requested: -2 }
        ]
    );
    let plan = store
        .reset_offsets(&reset("g", topic_scope(), ResetTarget::ShiftBy(4), false))
        .unwrap();
    assert_eq!(plan_news(&plan), [7, 4]);
    let plan = store
        .reset_offsets(&reset("g", topic_scope(), ResetTarget::ShiftBy(i64::MAX), false))
        .unwrap();
    assert_eq!(plan_news(&plan), [10, 10]);
    assert!(matches!(
        plan.entries[0].warnings[..],
        [ResetWarning::AboveHighWatermark { .. }]
    ));
    let plan = store
        .reset_offsets(&reset("g", topic_scope(), ResetTarget::ShiftBy(i64::MIN), false))
        .unwrap();
    assert_eq!(plan_news(&plan), [0, 0]);
}

#[test]
fn reset_to_datetime_and_by_duration() {
    let dir = common::scratch_dir();
    let store = with_data(dir.path(), 1, 10);
    // Record i has timestamp 1_000 + 10 i: the first at or after 1_045 is offset 5.
    let plan = store
        .reset_offsets(&reset(
            "g",
            topic_scope(),
            ResetTarget::DateTime { timestamp_ms: 1_045 },
            false,
        ))
        .unwrap();
    assert_eq!(plan_news(&plan), [5]);
    let plan = store
        .reset_offsets(&reset(
            "g",
            topic_scope(),
            ResetTarget::DateTime { timestamp_ms: 0 },
            false,
        ))
        .unwrap();
    assert_eq!(plan_news(&plan), [0]);
    // After every record: the end, with a warning.
    let plan = store
        .reset_offsets(&reset(
            "g",
            topic_scope(),
            ResetTarget::DateTime { timestamp_ms: 9_999 },
            false,
        ))
        .unwrap();
    assert_eq!(plan_news(&plan), [10]);
    assert_eq!(
        plan.entries[0].warnings,
        [ResetWarning::NoRecordAtOrAfter { timestamp_ms: 9_999 }]
    );
    // By duration: records stamped now − 1 h and now; one hour and a half back
    // finds the first, one minute back finds the second.
    let now = millrace_now_ms();
    store
        .append(
            "t",
            0,
            &[Record::new(b"hour-ago".to_vec()).with_timestamp(now - 3_600_000)],
        )
        .unwrap();
    store
        .append("t", 0, &[Record::new(b"now".to_vec()).with_timestamp(now)])
        .unwrap();
    let plan = store
        .reset_offsets(&reset(
            "g",
            topic_scope(),
            ResetTarget::ByDuration(Duration::from_secs(5_400)),
            false,
        ))
        .unwrap();
    assert_eq!(plan_news(&plan), [10]);
    let plan = store
        .reset_offsets(&reset(
            "g",
            topic_scope(),
            ResetTarget::ByDuration(Duration::from_secs(60)),
            false,
        ))
        .unwrap();
    assert_eq!(plan_news(&plan), [11]);
}

#[test]
fn reset_scopes_dry_run_and_audit() {
    let dir = common::scratch_dir();
    {
        let store = with_data(dir.path(), 3, 10);
        store.commit_offset("g", "t", 0, 7, b"").unwrap();
        store.commit_offset("g", "t", 2, 8, b"").unwrap();
        store.commit_offset("other", "t", 0, 1, b"").unwrap();

        let dry = store
            .reset_offsets(&reset("g", topic_scope(), ResetTarget::Earliest, true))
            .unwrap();
        assert!(!dry.applied);
        assert_eq!(dry.entries.len(), 3);
        assert_eq!(
            store.committed_offset("g", "t", 0).unwrap(),
            Some(7),
            "dry run applies nothing"
        );
        assert!(store.reset_audit(None).unwrap().is_empty());

        let scope = vec![ResetScope::Partitions {
            topic: "t".to_string(),
            partitions: vec![1],
        }];
        let plan = store
            .reset_offsets(&reset("g", scope, ResetTarget::Offset(3), false))
            .unwrap();
        assert_eq!(plan.entries.len(), 1);
        assert_eq!(store.committed_offset("g", "t", 1).unwrap(), Some(3));

        let plan = store
            .reset_offsets(&reset(
                "g",
                vec![ResetScope::AllCommitted],
                ResetTarget::ShiftBy(-1),
                false,
            ))
            .unwrap();
        assert_eq!(
            plan.entries
                .iter()
                .map(|e| (e.partition, e.current, e.new))
                .collect::<Vec<_>>(),
            [(0, Some(7), 6), (1, Some(3), 2), (2, Some(8), 7)]
        );
        assert_eq!(
            store.committed_offset("other", "t", 0).unwrap(),
            Some(1),
            "other groups untouched"
        );

        let bad_scope = vec![ResetScope::Partitions {
            topic: "t".to_string(),
            partitions: vec![7],
        }];
        assert!(store
            .reset_offsets(&reset("g", bad_scope, ResetTarget::Earliest, false))
            .is_err());
        let mut no_actor = reset("g", topic_scope(), ResetTarget::Earliest, false);
        no_actor.actor.clear();
        assert!(matches!(
            store.reset_offsets(&no_actor),
            Err(Error::InvalidInput { .. })
        ));
    }
    // The audit log survives reopen and says who, when, from and to.
    let store = open(dir.path());
    let audit = store.reset_audit(Some("g")).unwrap();
    assert_eq!(audit.len(), 4);
    assert!(audit
        .iter()
        .all(|a| a.actor == "ops@test" && a.group == "g" && a.at_ms > 0));
    assert_eq!((audit[0].partition, audit[0].from, audit[0].to), (1, None, 3));
    assert_eq!(audit[0].target, "offset:3");
    assert_eq!(
        audit[1..]
            .iter()
            .map(|a| (a.partition, a.from, a.to))
            .collect::<Vec<_>>(),
        [(0, Some(7), 6), (1, Some(3), 2), (2, Some(8), 7)]
    );
    assert!(store.reset_audit(Some("other")).unwrap().is_empty());
}

#[test]
fn applied_reset_of_an_active_group_is_refused_unless_forced() {
    let dir = common::scratch_dir();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            background: false,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    store
        .append("t", 0, &[Record::new(b"a".to_vec()), Record::new(b"b".to_vec())])
        .unwrap();
    store.commit_offset("live", "t", 0, 2, b"").unwrap();
    let request = |dry_run, force| ResetRequest {
        force,
        ..reset(
            "live",
            vec![ResetScope::Topic("t".into())],
            ResetTarget::Earliest,
            dry_run,
        )
    };
    // A dry run is always allowed; applying is refused while the group is active.
    assert!(!store.reset_offsets(&request(true, false)).unwrap().applied);
    match store.reset_offsets(&request(false, false)) {
        Err(Error::GroupActive { group, idle_ms }) => {
            assert_eq!(group, "live");
            assert!(idle_ms < 30_000);
        }
        other => panic!("expected GroupActive, got {other:?}"),
    }
    assert_eq!(store.committed_offset("live", "t", 0).unwrap(), Some(2));
    assert!(store.reset_offsets(&request(false, true)).unwrap().applied);
    assert_eq!(store.committed_offset("live", "t", 0).unwrap(), Some(0));
    // After a restart nothing in this process consumes the group: no force needed.
    drop(store);
    let store = Store::open(
        dir.path(),
        StoreOptions {
            background: false,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    assert!(store.reset_offsets(&request(false, false)).unwrap().applied);
}

/// A committed offset is evidence that the partition's offsets reached it
/// (an open never continues below one), so a commit past the high watermark
/// is refused; and a topic's committed offsets and DLQ go with the topic: a
/// topic created later under the same name inherits neither, across a
/// reopen too. (Before: the commit was accepted, and the group's offset 3 and
/// `__dlq.t` with its dead letter applied to the new, empty topic.)
#[test]
fn deleting_a_topic_forgets_its_offsets_and_its_dlq() {
    let dir = common::scratch_dir();
    {
        let store = with_data(dir.path(), 1, 3);
        assert!(matches!(
            store.commit_offset("g", "t", 0, 4, b""),
            Err(Error::InvalidInput { .. })
        ));
        store.commit_offset("g", "t", 0, 3, b"").unwrap();
        let session = store.init_producer("stage").unwrap();
        let record = store.read("t", 0, 1, ReadOptions::default()).unwrap().records[0].clone();
        // g2 finished record 0: failing record 1, its next one, commits past it.
        store.commit_offset("g2", "t", 0, 1, b"").unwrap();
        store
            .fail_record(session.id(), "g2", "t", 0, &record, "s", "E", "m", 1)
            .unwrap();
        assert!(store.list_all_topics().contains(&"__dlq.t".to_string()));
        assert_eq!(store.committed_offset("g2", "t", 0).unwrap(), Some(2));
        store.create_topic("u", TopicConfig::default()).unwrap();
        store.append("u", 0, &[Record::new(b"u".to_vec())]).unwrap();
        store.commit_offset("g", "u", 0, 1, b"").unwrap();

        store.delete_topic("t").unwrap();
        assert!(!store.list_all_topics().contains(&"__dlq.t".to_string()));
        store.create_topic("t", TopicConfig::default()).unwrap();
        assert_eq!(store.committed_offset("g", "t", 0).unwrap(), None);
        assert_eq!(store.committed_offset("g2", "t", 0).unwrap(), None);
        assert_eq!(store.committed_offset("g", "u", 0).unwrap(), Some(1));
        store.append("t", 0, &[Record::new(b"new".to_vec())]).unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.groups().unwrap(), ["g"]);
    assert_eq!(store.committed_offset("g", "t", 0).unwrap(), None);
    assert_eq!(store.committed_offset("g", "u", 0).unwrap(), Some(1));
    assert_eq!(store.offsets("t", 0).unwrap(), (0, 1));
    assert!(!store.list_all_topics().contains(&"__dlq.t".to_string()));
}

/// `commit_offsets` writes every entry as one batch of `__offsets`, however
/// many there are, so that a crash keeps all or none (it used to split at
/// 1000 entries: a crash between the batches kept a part).
#[test]
fn a_commit_of_many_entries_is_one_batch() {
    let dir = common::scratch_dir();
    let store = open(dir.path());
    // Distinct keys, so that compaction (which would rewrite them) stays away.
    store.create_topic("wide", TopicConfig::with_partitions(1500)).unwrap();
    let commits: Vec<(String, u32, u64, Vec<u8>)> = (0..1500u32).map(|p| ("wide".to_string(), p, 0, vec![])).collect();
    store.commit_offsets("g", &commits).unwrap();
    let (batches, _) = store
        .read_batches(OFFSETS_TOPIC, 0, 0, ReadOptions::default(), None)
        .unwrap();
    let counts: Vec<usize> = batches.iter().map(|b| b.records.len()).collect();
    assert_eq!(counts, vec![1500], "one batch");
    assert_eq!(store.group_offsets("g").unwrap().len(), 1500);
}

/// A transaction's offset commit is bounded by the high watermark like any
/// other (it used to accept `u64::MAX`); appends need at least one record.
#[test]
fn a_transaction_refuses_offsets_past_the_end_and_empty_appends() {
    let dir = common::scratch_dir();
    let store = with_data(dir.path(), 1, 2);
    let producer = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    for past in [3, u64::MAX] {
        assert!(
            matches!(
                txn.commit_offset("g", "t", 0, past, b""),
                Err(Error::InvalidInput { .. })
            ),
            "{past}"
        );
    }
    assert!(matches!(txn.append("t", 0, &[]), Err(Error::InvalidInput { .. })));
    txn.commit_offset("g", "t", 0, 2, b"").unwrap();
    txn.commit().unwrap();
    assert_eq!(store.committed_offset("g", "t", 0).unwrap(), Some(2));
}
