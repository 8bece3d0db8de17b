//! The transaction handlers through `dispatch::handle` (requests and
//! responses encoded by the front's own codec) and the Produce seam
//! `txn::append`, over a real store: what a read-committed reader and the
//! offset table see after each step.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::kafka::front::{errors, Conn, Front, KafkaConfig};
use crate::kafka::protocol::messages::txn::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnTopic, EndTxnRequest, InitProducerIdRequest,
    TxnOffsetCommitRequest, TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use crate::kafka::protocol::{Request, Response};
use crate::kafka::records::{Attributes, BatchHeader, Compression, TimestampType};
use crate::server::service::Service;

struct Fixture {
    front: Front,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = millrace::Store::open(dir.path(), millrace::StoreOptions::default()).expect("store");
    for topic in ["in", "out"] {
        store
            .create_topic(topic, millrace::TopicConfig::with_partitions(2))
            .expect("topic");
    }
    let service = Service {
        frame_bytes_max: 1 << 20,
        fetch_wait_max_ms: 1000,
        ..Service::for_tests(store)
    };
    Fixture {
        front: Front::new(Arc::new(service), KafkaConfig::default()),
        _dir: dir,
    }
}

/// The same service (store, producer registry) under a new front: what a
/// server restart leaves of the coordinator (nothing).
fn restarted(front: &Front) -> Front {
    Front::new(front.service.clone(), KafkaConfig::default())
}

fn conn() -> Conn {
    Conn::new(SocketAddr::from(([127, 0, 0, 1], 40000)))
}

/// Sends `request` at `version` through the dispatch table; the decoded
/// response goes to `check`.
fn call<T>(front: &Front, version: i16, request: &Request<'_>, check: impl FnOnce(Response<'_>) -> T) -> T {
    crate::kafka::front::test_support::call(front, &mut conn(), version, request, check)
}

fn init(front: &Front, transactional_id: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let request = Request::InitProducerId(InitProducerIdRequest {
        transactional_id: Some(transactional_id),
        transaction_timeout_ms: timeout_ms,
        ..InitProducerIdRequest::default()
    });
    call(front, 1, &request, |response| match response {
        Response::InitProducerId(r) => (r.error_code, r.producer_id, r.producer_epoch),
        other => panic!("unexpected {other:?}"),
    })
}

fn add_partitions(front: &Front, version: i16, id: (i64, i16), partitions: &[(&str, i32)]) -> Vec<i16> {
    let topics = partitions
        .iter()
        .map(|(topic, partition)| AddPartitionsToTxnTopic {
            name: topic,
            partitions: vec![*partition],
        })
        .collect();
    let request = Request::AddPartitionsToTxn(AddPartitionsToTxnRequest {
        transactional_id: "t",
        producer_id: id.0,
        producer_epoch: id.1,
        topics,
    });
    call(front, version, &request, |response| match response {
        Response::AddPartitionsToTxn(r) => r
            .results_by_topic
            .iter()
            .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
            .collect(),
        other => panic!("unexpected {other:?}"),
    })
}

fn add_offsets(front: &Front, id: (i64, i16), group: &str) -> i16 {
    let request = Request::AddOffsetsToTxn(AddOffsetsToTxnRequest {
        transactional_id: "t",
        producer_id: id.0,
        producer_epoch: id.1,
        group_id: group,
    });
    call(front, 2, &request, |response| match response {
        Response::AddOffsetsToTxn(r) => r.error_code,
        other => panic!("unexpected {other:?}"),
    })
}

fn commit_offset(front: &Front, id: (i64, i16), group: &str, offset: i64) -> Vec<i16> {
    let request = Request::TxnOffsetCommit(TxnOffsetCommitRequest {
        transactional_id: "t",
        group_id: group,
        producer_id: id.0,
        producer_epoch: id.1,
        topics: vec![TxnOffsetCommitRequestTopic {
            name: "in",
            partitions: vec![TxnOffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: Some("meta"),
            }],
        }],
        ..TxnOffsetCommitRequest::default()
    });
    call(front, 2, &request, |response| match response {
        Response::TxnOffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        other => panic!("unexpected {other:?}"),
    })
}

fn end(front: &Front, version: i16, id: (i64, i16), commit: bool) -> i16 {
    let request = Request::EndTxn(EndTxnRequest {
        transactional_id: "t",
        producer_id: id.0,
        producer_epoch: id.1,
        committed: commit,
    });
    call(front, version, &request, |response| match response {
        Response::EndTxn(r) => r.error_code,
        other => panic!("unexpected {other:?}"),
    })
}

fn batch(id: (i64, i16), base_sequence: i32, record_count: i32) -> BatchHeader {
    BatchHeader {
        base_offset: 0,
        batch_length: 0,
        partition_leader_epoch: -1,
        magic: 2,
        crc: 0,
        attributes: Attributes::new(Compression::None, TimestampType::CreateTime, true, false),
        last_offset_delta: record_count - 1,
        base_timestamp: 0,
        max_timestamp: 0,
        producer_id: id.0,
        producer_epoch: id.1,
        base_sequence,
        record_count,
    }
}

/// The Produce handler's call for a transactional batch of `values` to out/0.
fn produce(front: &Front, id: (i64, i16), base_sequence: i32, values: &[&str]) -> Result<(), i16> {
    let records: Vec<millrace::Record> = values.iter().map(|v| millrace::Record::new(*v)).collect();
    let count = i32::try_from(values.len()).expect("count");
    super::append(front, &mut conn(), "out", 0, &batch(id, base_sequence, count), &records).map(|_| ())
}

/// What a read-committed reader sees in out/0.
fn visible(front: &Front) -> Vec<String> {
    let read = front
        .service
        .store
        .read("out", 0, 0, millrace::ReadOptions::default())
        .expect("read");
    read.records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect()
}

/// What a read-committed reader sees once a commit's parts are applied:
/// EndTxn answers at the commit point, and the parts become visible about
/// one fdatasync later (design/durability.md, "Answered at the commit
/// point"), so this waits up to 10 s for `expected` and returns what it saw.
fn visible_once_applied(front: &Front, expected: &[&str]) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let seen = visible(front);
        if seen == expected || std::time::Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn committed(front: &Front, group: &str) -> Option<u64> {
    front
        .service
        .store
        .group_offsets(group)
        .expect("offsets")
        .into_iter()
        .find(|((topic, partition), _)| topic == "in" && *partition == 0)
        .map(|(_, offset)| offset.offset)
}

fn started(front: &Front, timeout_ms: i32) -> (i64, i16) {
    let (code, producer_id, epoch) = init(front, "t", timeout_ms);
    assert_eq!(code, errors::NONE);
    (producer_id, epoch)
}

#[test]
fn commit_makes_the_records_and_the_offsets_visible_together() {
    let fixture = fixture();
    let front = &fixture.front;
    let input: Vec<millrace::Record> = (0..3).map(|i| millrace::Record::new(format!("in-{i}"))).collect();
    front.service.store.append("in", 0, &input).expect("input");
    let id = started(front, 60_000);
    assert!(id.0 >= 0 && id.1 >= 0);
    assert_eq!(add_partitions(front, 0, id, &[("out", 0)]), vec![errors::NONE]);
    assert_eq!(produce(front, id, 0, &["a", "b"]), Ok(()));
    assert_eq!(
        produce(front, id, 0, &["a", "b"]),
        Ok(()),
        "a retried batch is answered again"
    );
    assert_eq!(produce(front, id, 2, &["c"]), Ok(()));
    assert_eq!(produce(front, id, 9, &["x"]), Err(errors::OUT_OF_ORDER_SEQUENCE_NUMBER));
    assert_eq!(add_offsets(front, id, "stage"), errors::NONE);
    assert_eq!(commit_offset(front, id, "stage", 3), vec![errors::NONE]);
    assert!(visible(front).is_empty(), "nothing before the commit");
    assert_eq!(committed(front, "stage"), None);
    assert_eq!(end(front, 1, id, true), errors::NONE);
    assert_eq!(
        visible_once_applied(front, &["a", "b", "c"]),
        ["a", "b", "c"],
        "the retry was appended once"
    );
    assert_eq!(committed(front, "stage"), Some(3));
    assert_eq!(
        end(front, 1, id, true),
        errors::NONE,
        "a retried commit is answered again"
    );
    assert_eq!(visible(front).len(), 3);
    assert_eq!(
        end(front, 1, id, false),
        errors::NONE,
        "nothing open: an abort changes nothing"
    );
    assert_eq!(
        produce(front, id, 3, &["d"]),
        Err(errors::INVALID_TXN_STATE),
        "a batch outside a transaction"
    );
}

#[test]
fn abort_drops_everything_and_the_next_transaction_starts_clean() {
    let fixture = fixture();
    let front = &fixture.front;
    front
        .service
        .store
        .append("in", 0, &[millrace::Record::new("x")])
        .expect("input");
    let id = started(front, 60_000);
    assert_eq!(add_partitions(front, 2, id, &[("out", 0)]), vec![errors::NONE]);
    assert_eq!(produce(front, id, 0, &["aborted"]), Ok(()));
    assert_eq!(add_offsets(front, id, "stage"), errors::NONE);
    assert_eq!(commit_offset(front, id, "stage", 1), vec![errors::NONE]);
    assert_eq!(end(front, 2, id, false), errors::NONE);
    assert!(visible(front).is_empty());
    assert_eq!(committed(front, "stage"), None);
    assert_eq!(
        end(front, 2, id, true),
        errors::INVALID_TXN_STATE,
        "no transaction to commit"
    );
    assert_eq!(add_partitions(front, 2, id, &[("out", 0)]), vec![errors::NONE]);
    assert_eq!(produce(front, id, 1, &["kept"]), Ok(()));
    assert_eq!(end(front, 2, id, true), errors::NONE);
    assert_eq!(visible_once_applied(front, &["kept"]), ["kept"]);
}

#[test]
fn a_new_instance_fences_the_old_epoch_and_drops_its_transaction() {
    let fixture = fixture();
    let front = &fixture.front;
    let old = started(front, 60_000);
    assert_eq!(add_partitions(front, 0, old, &[("out", 0)]), vec![errors::NONE]);
    assert_eq!(produce(front, old, 0, &["zombie"]), Ok(()));
    let new = started(front, 60_000);
    assert_eq!(new.0, old.0, "the same producer id");
    assert_eq!(new.1, old.1 + 1, "the next epoch");
    assert_eq!(produce(front, old, 1, &["late"]), Err(errors::INVALID_PRODUCER_EPOCH));
    assert_eq!(end(front, 1, old, true), errors::INVALID_PRODUCER_EPOCH, "EndTxn v1");
    assert_eq!(end(front, 2, old, true), errors::PRODUCER_FENCED, "EndTxn v2");
    assert_eq!(
        add_partitions(front, 2, old, &[("out", 1)]),
        vec![errors::PRODUCER_FENCED]
    );
    assert_eq!(add_offsets(front, old, "stage"), errors::PRODUCER_FENCED);
    assert!(visible(front).is_empty(), "the zombie's transaction was dropped");
    assert_eq!(
        end(front, 2, new, true),
        errors::INVALID_TXN_STATE,
        "the new instance has none open"
    );
}

#[test]
fn after_a_restart_the_lost_transaction_is_never_committed() {
    let fixture = fixture();
    let before = &fixture.front;
    let id = started(before, 60_000);
    assert_eq!(add_partitions(before, 0, id, &[("out", 0)]), vec![errors::NONE]);
    assert_eq!(produce(before, id, 0, &["lost"]), Ok(()));
    let front = &restarted(before);
    let lost = errors::INVALID_PRODUCER_ID_MAPPING;
    assert_eq!(produce(front, id, 1, &["half"]), Err(lost));
    assert_eq!(add_partitions(front, 0, id, &[("out", 1)]), vec![lost]);
    // Fatal for librdkafka (which aborts without an EndTxn when the lost
    // transaction's first refusal is AddOffsetsToTxn, and would retry with
    // the same producer for ever): the application inits again.
    assert_eq!(add_offsets(front, id, "stage"), errors::PRODUCER_FENCED);
    assert_eq!(end(front, 1, id, true), lost, "never a commit of half a transaction");
    assert!(visible(front).is_empty());
    // The client aborts, then goes on with a new transaction.
    assert_eq!(end(front, 1, id, false), errors::NONE);
    assert_eq!(add_partitions(front, 0, id, &[("out", 0)]), vec![errors::NONE]);
    assert_eq!(produce(front, id, 2, &["whole"]), Ok(()));
    assert_eq!(end(front, 1, id, true), errors::NONE);
    assert_eq!(visible_once_applied(front, &["whole"]), ["whole"]);
}

#[test]
fn unknown_partitions_add_nothing() {
    let fixture = fixture();
    let front = &fixture.front;
    let id = started(front, 60_000);
    assert_eq!(
        add_partitions(front, 2, id, &[("out", 0), ("missing", 0), ("out", 7)]),
        vec![
            errors::OPERATION_NOT_ATTEMPTED,
            errors::UNKNOWN_TOPIC_OR_PARTITION,
            errors::UNKNOWN_TOPIC_OR_PARTITION
        ]
    );
    assert_eq!(produce(front, id, 0, &["a"]), Err(errors::INVALID_TXN_STATE));
    assert_eq!(add_partitions(front, 2, id, &[("out", 0)]), vec![errors::NONE]);
    assert_eq!(
        super::append(
            front,
            &mut conn(),
            "out",
            1,
            &batch(id, 0, 1),
            &[millrace::Record::new("a")]
        ),
        Err(errors::INVALID_TXN_STATE),
        "a partition not added"
    );
}

#[test]
fn transaction_timeouts_are_bounded_and_abort() {
    let fixture = fixture();
    let front = &fixture.front;
    let max_ms = i32::try_from(front.service.kafka_txn_timeout_max().as_millis()).expect("max");
    for timeout_ms in [0, -5, max_ms + 1] {
        assert_eq!(
            init(front, "t", timeout_ms).0,
            errors::INVALID_TRANSACTION_TIMEOUT,
            "{timeout_ms}"
        );
    }
    let id = started(front, 1);
    assert_eq!(add_partitions(front, 0, id, &[("out", 0)]), vec![errors::NONE]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let lost = errors::INVALID_PRODUCER_ID_MAPPING;
    assert_eq!(produce(front, id, 0, &["late"]), Err(lost));
    assert_eq!(end(front, 1, id, true), lost);
    assert_eq!(end(front, 1, id, false), errors::NONE);
    assert!(visible(front).is_empty());
}

#[test]
fn a_transaction_past_the_size_limit_can_only_abort() {
    let fixture = fixture();
    let front = &fixture.front;
    let id = started(front, 60_000);
    assert_eq!(add_partitions(front, 0, id, &[("out", 0)]), vec![errors::NONE]);
    let value = vec![b'v'; 1000 * 1024];
    let record = millrace::Record::new(value);
    let mut sequence = 0;
    let refused = loop {
        assert!(sequence < 100, "the limit was never reached");
        let result = super::append(
            front,
            &mut conn(),
            "out",
            0,
            &batch(id, sequence, 1),
            std::slice::from_ref(&record),
        );
        if let Err(code) = result {
            break code;
        }
        sequence += 1;
    };
    assert_eq!(refused, errors::POLICY_VIOLATION);
    assert_eq!(
        produce(front, id, sequence + 1, &["more"]),
        Err(errors::POLICY_VIOLATION)
    );
    assert_eq!(
        end(front, 1, id, true),
        errors::POLICY_VIOLATION,
        "never committed without the batch"
    );
    assert_eq!(end(front, 1, id, false), errors::NONE);
    assert!(visible(front).is_empty());
}
