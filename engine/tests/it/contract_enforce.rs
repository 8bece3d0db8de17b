//! Enforcement of a topic's contract at the embedded append paths (issue 22,
//! design/contracts.md "Enforcement"), through the public API with a test
//! check installed in `Store::record_checks`: a value containing `reject` is
//! refused, `bad` goes to the DLQ, `warn` is counted and appended. Also: the
//! DLQ routing is atomic with the valid records under an I/O fault at every
//! write and fsync of the request.

use crate::common;

use common::{read_partition, scratch_dir, FaultKind, FaultOp, FaultyStorage};
use millrace::contract::check::{Action, RecordCheck, Verdict, Violation};
use millrace::dlq::{header, DlqFilter, RedriveOptions};
use millrace::{Durability, Error, Producer, Record, Store, StoreOptions, TopicConfig};
use std::sync::{Arc, Mutex};

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

/// The test contract (version 7): words in the value decide.
#[derive(Debug, Default)]
struct Words {
    /// (partition, base offset, records) of every `observe`.
    observed: Mutex<Vec<(u32, u64, usize)>>,
}

impl RecordCheck for Words {
    fn check(&self, _partition: u32, record: &Record) -> Verdict {
        let value = &record.value[..];
        let text = String::from_utf8_lossy(value);
        let mut violations = Vec::new();
        for (word, rule, action) in [
            ("warn", "no_warn", Action::Warn),
            ("bad", "no_bad", Action::Dlq),
            ("reject", "no_reject", Action::Reject),
        ] {
            if text.contains(word) {
                violations.push(Violation {
                    rule: rule.to_string(),
                    path: "/word".to_string(),
                    message: format!("the value holds {word:?}"),
                    action,
                });
            }
        }
        Verdict {
            contract_version: 7,
            violations,
        }
    }

    fn observe(&self, partition: u32, base_offset: u64, records: &[Record]) {
        self.observed
            .lock()
            .unwrap()
            .push((partition, base_offset, records.len()));
    }
}

fn values(store: &Store, topic: &str) -> Vec<String> {
    read_partition(store, topic, 0)
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect()
}

fn dlq_values(store: &Store, topic: &str) -> Vec<String> {
    store
        .dlq_list(topic, &DlqFilter::default())
        .unwrap()
        .iter()
        .map(|e| String::from_utf8_lossy(&e.letter.record.value).into_owned())
        .collect()
}

fn install(store: &Store, topic: &str) -> Arc<Words> {
    let words = Arc::new(Words::default());
    store.record_checks().set(topic, Some(words.clone()));
    words
}

#[test]
fn append_acts_on_each_verdict() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    // No contract: anything goes.
    store.append("t", 0, &[Record::new("bad")]).unwrap();
    let words = install(&store, "t");
    let info = store
        .append("t", 0, &[Record::new("ok"), Record::new("bad 1"), Record::new("warn")])
        .unwrap();
    assert_eq!(values(&store, "t"), ["bad", "ok", "warn"]);
    assert_eq!(info.next_offset - info.base_offset, 2, "{info:?}");
    let entries = store.dlq_list("t", &DlqFilter::default()).unwrap();
    assert_eq!(entries.len(), 1);
    let letter = &entries[0].letter;
    assert_eq!(letter.record.value, b"bad 1");
    assert_eq!(
        (letter.stage.as_str(), letter.error_class.as_str()),
        ("produce", "contract.no_bad")
    );
    assert_eq!(letter.error_message, "the value holds \"bad\"");
    let contract = letter.contract.as_ref().expect("contract provenance");
    assert_eq!(
        (
            contract.contract_version,
            contract.rule.as_str(),
            contract.path.as_str()
        ),
        (7, "no_bad", "/word")
    );
    // The provenance headers as a reader of the DLQ topic sees them.
    let raw = store.read("__dlq.t", 0, 0, millrace::ReadOptions::default()).unwrap();
    let stored = &raw.records[0];
    assert_eq!(stored.header(header::CONTRACT_VERSION), Some(&b"7"[..]));
    assert_eq!(stored.header(header::CONTRACT_RULE), Some(&b"no_bad"[..]));
    assert_eq!(stored.header(header::CONTRACT_PATH), Some(&b"/word"[..]));
    // A reject refuses the whole request, dlq-bound records included.
    let refused = store.append(
        "t",
        0,
        &[Record::new("ok 2"), Record::new("bad 2"), Record::new("reject")],
    );
    match refused {
        Err(Error::ContractViolation {
            topic,
            partition,
            index,
            rule,
            path,
            contract_version,
            ..
        }) => assert_eq!(
            (
                topic.as_str(),
                partition,
                index,
                rule.as_str(),
                path.as_str(),
                contract_version
            ),
            ("t", 0, 2, "no_reject", "/word", 7)
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(values(&store, "t").len(), 3);
    assert_eq!(dlq_values(&store, "t"), ["bad 1"]);
    // All dead-lettered: nothing in the topic, an empty range at its end.
    let info = store.append("t", 0, &[Record::new("bad 3")]).unwrap();
    assert_eq!((info.base_offset, info.next_offset), (3, 3));
    assert_eq!(dlq_values(&store, "t"), ["bad 1", "bad 3"]);
    // The counters: every record judged, by result and by rule.
    let adherence = store.record_checks().adherence("t").unwrap();
    assert_eq!(
        (
            adherence.valid,
            adherence.warned,
            adherence.dead_lettered,
            adherence.rejected
        ),
        (2, 1, 3, 1)
    );
    assert!(adherence.violations.contains(&("no_bad".to_string(), Action::Dlq, 3)));
    assert!(adherence
        .violations
        .contains(&("no_reject".to_string(), Action::Reject, 1)));
    // Observed: what was appended, where.
    assert_eq!(*words.observed.lock().unwrap(), vec![(0, 1, 2)]);
    // The routed records survive a reopen, in the topic and in the DLQ.
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(values(&store, "t"), ["bad", "ok", "warn"]);
    assert_eq!(dlq_values(&store, "t"), ["bad 1", "bad 3"]);
}

#[test]
fn append_routed_reports_where_each_record_went() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    install(&store, "t");
    let routed = store
        .append_routed("t", 0, &[Record::new("bad a"), Record::new("ok"), Record::new("bad b")])
        .unwrap();
    assert_eq!(routed.appended.map(|a| (a.base_offset, a.next_offset)), Some((0, 1)));
    assert_eq!(routed.dead_lettered, vec![(0, 0), (2, 1)]);
    let pending = store
        .append_pending("t", 0, &[Record::new("bad c"), Record::new("ok 2")], None)
        .unwrap();
    assert_eq!(pending.dead_lettered, vec![(0, 2)]);
    assert!(!pending.needs_wait(), "acknowledged by the transaction's commit");
    let done = pending.wait().unwrap();
    assert_eq!((done.base_offset, done.next_offset), (1, 2));
    assert_eq!(values(&store, "t"), ["ok", "ok 2"]);
}

#[test]
fn transaction_append_stages_dead_letters_with_the_transaction() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    install(&store, "t");
    let producer = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("t", 0, &[Record::new("ok"), Record::new("bad")]).unwrap();
    assert!(matches!(
        txn.append("t", 0, &[Record::new("ok 2"), Record::new("reject")]),
        Err(Error::ContractViolation { index: 1, .. })
    ));
    // Nothing visible before the commit, anywhere.
    assert!(values(&store, "t").is_empty());
    assert!(dlq_values(&store, "t").is_empty());
    txn.commit().unwrap();
    assert_eq!(values(&store, "t"), ["ok"]);
    assert_eq!(dlq_values(&store, "t"), ["bad"]);
    // An aborted transaction dead-letters nothing.
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("t", 0, &[Record::new("bad 2")]).unwrap();
    txn.abort();
    assert_eq!(dlq_values(&store, "t"), ["bad"]);
}

#[test]
fn an_idempotent_batch_is_split_and_its_retry_is_a_duplicate_even_after_a_reopen() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    install(&store, "t");
    let mut producer = Producer::init(&store, "p").unwrap();
    producer.send("t", 0, &[Record::new("ok")]).unwrap();
    // A dlq verdict in a sequenced batch: the valid records are appended,
    // the others dead-lettered, the batch's three sequences claimed.
    let batch = [Record::new("ok 2"), Record::new("bad"), Record::new("ok 3")];
    let sent = producer.send("t", 0, &batch).unwrap();
    assert_eq!((sent.base_offset, sent.next_offset, sent.duplicate), (1, 3, false));
    assert_eq!(values(&store, "t"), ["ok", "ok 2", "ok 3"]);
    assert_eq!(dlq_values(&store, "t"), ["bad"]);
    let entries = store.dlq_list("t", &DlqFilter::default()).unwrap();
    let contract = entries[0].letter.contract.clone().unwrap();
    assert_eq!(
        (
            contract.contract_version,
            contract.rule.as_str(),
            contract.path.as_str()
        ),
        (7, "no_bad", "/word")
    );
    assert_eq!(producer.next_sequence("t", 0), 4, "every record of the batch counts");
    // A retry of the same sequence: a duplicate with the same answer, nothing written twice.
    let stamp = millrace::ProducerStamp {
        producer_id: producer.producer_id(),
        epoch: producer.epoch(),
        base_sequence: 1,
    };
    let again = store.append_sequenced("t", 0, &batch, stamp).unwrap();
    assert_eq!((again.base_offset, again.next_offset, again.duplicate), (1, 3, true));
    let pending = store.append_pending("t", 0, &batch, Some(stamp)).unwrap();
    assert!(pending.duplicate);
    assert_eq!((pending.base_offset, pending.next_offset), (1, 3));
    assert_eq!(dlq_values(&store, "t"), ["bad"], "never dead-lettered twice");
    // A batch all of whose records go to the DLQ claims its sequences too.
    let all_bad = producer
        .send("t", 0, &[Record::new("bad 2"), Record::new("bad 3")])
        .unwrap();
    assert_eq!(all_bad.next_offset - all_bad.base_offset, 0);
    assert_eq!(producer.next_sequence("t", 0), 6);
    // `reject` still refuses the batch whole; its sequence does not move.
    assert!(matches!(
        producer.send("t", 0, &[Record::new("ok 4"), Record::new("reject")]),
        Err(Error::ContractViolation { index: 1, .. })
    ));
    assert_eq!(producer.next_sequence("t", 0), 6);
    drop(producer);
    drop(store);
    // After a reopen the claims hold: the retries are duplicates, the next
    // sequence follows every record sent.
    let store = Store::open(dir.path(), options()).unwrap();
    install(&store, "t");
    let again = store.append_sequenced("t", 0, &batch, stamp).unwrap();
    assert_eq!((again.base_offset, again.next_offset, again.duplicate), (1, 3, true));
    let stamp_all_bad = millrace::ProducerStamp {
        base_sequence: 4,
        ..stamp
    };
    let again = store
        .append_sequenced("t", 0, &[Record::new("bad 2"), Record::new("bad 3")], stamp_all_bad)
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(dlq_values(&store, "t"), ["bad", "bad 2", "bad 3"]);
    let next = millrace::ProducerStamp {
        base_sequence: 6,
        ..stamp
    };
    let sent = store.append_sequenced("t", 0, &[Record::new("ok 5")], next).unwrap();
    assert_eq!((sent.base_offset, sent.duplicate), (3, false));
    assert_eq!(values(&store, "t"), ["ok", "ok 2", "ok 3", "ok 5"]);
}

#[test]
fn redrive_checks_each_record_against_the_contract_of_today() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    install(&store, "t");
    store
        .append("t", 0, &[Record::new("bad one"), Record::new("bad reject")])
        .unwrap_err();
    store.append("t", 0, &[Record::new("bad one")]).unwrap();
    assert_eq!(store.dlq_stats("t").unwrap().depth, 1);
    // Still dead-lettered by today's contract: left in place, unmarked, reported.
    let report = store.dlq_redrive("t", &RedriveOptions::default()).unwrap();
    assert!(report.redriven.is_empty(), "{report:?}");
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert_eq!(report.refused[0].0, 0);
    assert!(report.refused[0].1.contains("no_bad"), "{report:?}");
    assert_eq!(store.dlq_stats("t").unwrap().depth, 1);
    assert!(values(&store, "t").is_empty());
    // The contract changed: the record is accepted and redriven, once.
    store.record_checks().set("t", None);
    let report = store
        .dlq_redrive(
            "t",
            &RedriveOptions {
                from_offset: Some(0),
                ..RedriveOptions::default()
            },
        )
        .unwrap();
    assert_eq!(report.redriven.len(), 1, "{report:?}");
    assert!(report.refused.is_empty());
    let again = store
        .dlq_redrive(
            "t",
            &RedriveOptions {
                from_offset: Some(0),
                ..RedriveOptions::default()
            },
        )
        .unwrap();
    assert!(again.redriven.is_empty());
    assert_eq!(values(&store, "t"), ["bad one"]);
    assert_eq!(store.dlq_stats("t").unwrap().depth, 0);
}

/// One routed request (two valid records, one for the DLQ) with an I/O
/// fault at the `nth` call of `op`; after a reopen on the plain file system
/// the topic and the DLQ hold all of it or none of it, each record once.
/// Returns whether the fault fired.
fn routed_under_fault(op: FaultOp, nth: u64, durability: Durability, contract: bool) -> bool {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let opts = StoreOptions {
        durability,
        ..options()
    };
    let store = Store::open_with_storage(dir.path(), opts.clone(), Arc::new(storage.clone())).unwrap();
    let config = TopicConfig {
        record_bytes_max: 100,
        route_invalid_to_dlq: !contract,
        ..TopicConfig::default()
    };
    store.create_topic("t", config).unwrap();
    // The internal topics the routing writes, created before the fault.
    store.append_routed("t", 0, &[Record::new(vec![b'x'; 200])]).ok();
    if contract {
        install(&store, "t");
        store.append("t", 0, &[Record::new("bad 0")]).unwrap();
    }
    let before = (values(&store, "t").len(), dlq_values(&store, "t").len());
    storage.arm(op, nth, FaultKind::Eio);
    let odd = if contract {
        Record::new("bad 1")
    } else {
        Record::new(vec![b'y'; 200])
    };
    let result = store.append_routed("t", 0, &[Record::new("a"), odd, Record::new("b")]);
    let fired = storage.fired().is_some();
    assert!(fired || result.is_ok(), "{op:?} {nth}: {result:?} without a fault");
    drop(store);
    let store = Store::open(dir.path(), opts).unwrap();
    let (topic, dlq) = (values(&store, "t"), dlq_values(&store, "t"));
    let added = (topic.len() - before.0, dlq.len() - before.1);
    assert!(
        added == (2, 1) || added == (0, 0),
        "{op:?} {nth} {durability:?}: topic {topic:?}, DLQ {dlq:?} (result {result:?})"
    );
    if result.is_ok() {
        assert_eq!(added, (2, 1), "{op:?} {nth}: acknowledged, then lost");
    }
    fired
}

#[test]
fn routed_appends_are_atomic_under_io_faults() {
    for contract in [false, true] {
        for durability in [Durability::Always, Durability::Os] {
            for op in [FaultOp::Write, FaultOp::SyncData] {
                let mut nth = 0;
                while routed_under_fault(op, nth, durability, contract) {
                    nth += 1;
                }
            }
        }
    }
}

/// An idempotent producer's split batch (two valid records, one for the
/// DLQ) with an I/O fault at the `nth` call of `op`; after a reopen on the
/// plain file system the topic and the DLQ hold all of it or none of it,
/// and a retry of the same sequence then leaves exactly one copy of each
/// record: appended once if nothing was, a duplicate otherwise (never
/// dead-lettered twice). Returns whether the fault fired.
fn split_under_fault(op: FaultOp, nth: u64, durability: Durability) -> bool {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let opts = StoreOptions {
        durability,
        ..options()
    };
    let store = Store::open_with_storage(dir.path(), opts.clone(), Arc::new(storage.clone())).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    install(&store, "t");
    let mut producer = Producer::init(&store, "p").unwrap();
    // The internal topics the split writes, created before the fault.
    producer.send("t", 0, &[Record::new("bad 0")]).unwrap();
    let stamp = millrace::ProducerStamp {
        producer_id: producer.producer_id(),
        epoch: producer.epoch(),
        base_sequence: producer.next_sequence("t", 0),
    };
    drop(producer);
    let batch = [Record::new("a"), Record::new("bad 1"), Record::new("b")];
    storage.arm(op, nth, FaultKind::Eio);
    let result = store.append_sequenced("t", 0, &batch, stamp);
    let fired = storage.fired().is_some();
    assert!(fired || result.is_ok(), "{op:?} {nth}: {result:?} without a fault");
    drop(store);
    let store = Store::open(dir.path(), opts).unwrap();
    install(&store, "t");
    let (topic, dlq) = (values(&store, "t"), dlq_values(&store, "t"));
    let added = (topic.len(), dlq.len() - 1);
    assert!(
        added == (2, 1) || added == (0, 0),
        "{op:?} {nth} {durability:?}: topic {topic:?}, DLQ {dlq:?} (result {result:?})"
    );
    if result.is_ok() {
        assert_eq!(added, (2, 1), "{op:?} {nth}: acknowledged, then lost");
    }
    let retry = store.append_sequenced("t", 0, &batch, stamp).unwrap();
    assert_eq!(
        retry.duplicate,
        added == (2, 1),
        "{op:?} {nth} {durability:?}: {retry:?}"
    );
    assert_eq!(values(&store, "t"), ["a", "b"], "{op:?} {nth} {durability:?}");
    assert_eq!(
        dlq_values(&store, "t"),
        ["bad 0", "bad 1"],
        "{op:?} {nth} {durability:?}"
    );
    fired
}

#[test]
fn split_idempotent_batches_are_atomic_and_retried_once_under_io_faults() {
    for durability in [Durability::Always, Durability::Os] {
        for op in [FaultOp::Write, FaultOp::SyncData] {
            let mut nth = 0;
            while split_under_fault(op, nth, durability) {
                nth += 1;
            }
        }
    }
}

#[test]
fn a_retried_batch_is_counted_once_in_the_adherence_counters() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    install(&store, "t");
    let counted = |store: &Store| {
        let a = store.record_checks().adherence("t").unwrap_or_default();
        (a.valid, a.dead_lettered, a.rejected, a.violations)
    };
    let mut producer = Producer::init(&store, "p").unwrap();
    let (producer_id, epoch) = (producer.producer_id(), producer.epoch());
    let stamp = |base_sequence| millrace::ProducerStamp {
        producer_id,
        epoch,
        base_sequence,
    };
    // A split batch (one record to the DLQ), then its retries through the
    // embedded sequenced append and the server's pending append.
    let split = [Record::new("ok 1"), Record::new("bad"), Record::new("ok 2")];
    assert!(!producer.send("t", 0, &split).unwrap().duplicate);
    let once = (2, 1, 0, vec![("no_bad".to_string(), Action::Dlq, 1)]);
    assert_eq!(counted(&store), once);
    assert!(store.append_sequenced("t", 0, &split, stamp(0)).unwrap().duplicate);
    assert!(store.append_pending("t", 0, &split, Some(stamp(0))).unwrap().duplicate);
    assert_eq!(counted(&store), once, "a retried split batch counts once");
    // An all-valid batch and its retries.
    let valid = [Record::new("ok 3"), Record::new("ok 4")];
    assert!(!producer.send("t", 0, &valid).unwrap().duplicate);
    assert!(store.append_sequenced("t", 0, &valid, stamp(3)).unwrap().duplicate);
    assert!(store.append_pending("t", 0, &valid, Some(stamp(3))).unwrap().duplicate);
    let twice = (4, 1, 0, vec![("no_bad".to_string(), Action::Dlq, 1)]);
    assert_eq!(counted(&store), twice, "a retried valid batch counts once");
    // A refused batch is not remembered: each send of it is counted.
    for _ in 0..2 {
        assert!(matches!(
            producer.send("t", 0, &[Record::new("reject")]),
            Err(Error::ContractViolation { .. })
        ));
    }
    let refused = counted(&store);
    assert_eq!((refused.0, refused.1, refused.2), (4, 1, 2));
    // A plain (unsequenced) append counts every time, as before.
    store.append("t", 0, &[Record::new("ok 5")]).unwrap();
    assert_eq!(counted(&store).0, 5);
}

/// A contract of `topic` whose one rule on `/word` is `rule` (YAML lines).
fn word_contract(topic: &str, rule: &str) -> String {
    format!(
        "apiVersion: v3.0.0\nkind: DataContract\nid: urn:{topic}\nversion: 1.0.0\nstatus: active\nowner: o\ntopic: {topic}\nproperties:\n  - name: word\n{rule}"
    )
}

#[test]
fn a_retry_after_a_contract_change_is_a_duplicate_with_the_original_answer() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let apply = |text: &str| {
        store
            .contracts()
            .apply(&millrace::contract::ApplyRequest {
                text,
                actor: "test",
                dry_run: false,
                force: false,
            })
            .unwrap()
    };
    // Version 1: lowercase words pass, others go to the DLQ.
    apply(&word_contract("t", "    pattern: '^[a-z]+$'\n    action: dlq\n"));
    let mut producer = Producer::init(&store, "p").unwrap();
    let word = |w: &str| Record::new(format!(r#"{{"word":"{w}"}}"#));
    let plain = [word("a"), word("b")];
    let split = [word("c"), word("D")];
    let first = producer.send("t", 0, &plain).unwrap();
    let second = producer.send("t", 0, &split).unwrap();
    assert_eq!((first.base_offset, first.next_offset), (0, 2));
    assert_eq!((second.base_offset, second.next_offset), (2, 3));
    assert_eq!(dlq_values(&store, "t"), [r#"{"word":"D"}"#]);
    // Version 2 rejects every word.
    apply(&word_contract("t", "    maxLength: 0\n    action: reject\n"));
    let (producer_id, epoch) = (producer.producer_id(), producer.epoch());
    let stamp = |base_sequence| millrace::ProducerStamp {
        producer_id,
        epoch,
        base_sequence,
    };
    // The retries are duplicates with their first answers, not verdicts of version 2.
    for (batch, sequence, offsets) in [(&plain, 0, (0, 2)), (&split, 2, (2, 3))] {
        let again = store.append_sequenced("t", 0, batch, stamp(sequence)).unwrap();
        assert_eq!(
            (again.base_offset, again.next_offset, again.duplicate),
            (offsets.0, offsets.1, true)
        );
        let pending = store.append_pending("t", 0, batch, Some(stamp(sequence))).unwrap();
        assert!(pending.duplicate);
        assert_eq!((pending.base_offset, pending.next_offset), offsets);
        pending.wait().unwrap();
    }
    assert_eq!(
        dlq_values(&store, "t"),
        [r#"{"word":"D"}"#],
        "never dead-lettered twice"
    );
    assert_eq!(values(&store, "t").len(), 3);
    // A new batch is judged by version 2.
    assert!(matches!(
        producer.send("t", 0, &[word("e")]),
        Err(Error::ContractViolation { .. })
    ));
    assert!(matches!(
        store.append_sequenced("t", 0, &[word("e")], stamp(4)),
        Err(Error::ContractViolation { .. })
    ));
}
