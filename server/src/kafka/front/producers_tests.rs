//! InitProducerId and `stamp` through `dispatch::handle` and a real store;
//! the Kafka sequence mapping at the wrap against the engine's own
//! de-duplication state machine (`millrace::producer_state::ProducerTable`),
//! since reaching sequence 2^31 through appends takes 2^31 records.

use super::*;
use crate::auth::Principal;
use crate::kafka::protocol::{decode_response_body, encode_request, ApiKey, Request};
use crate::kafka::records::Attributes;
use crate::server::service::Service;
use millrace::producer_state::{Admission, ProducerTable};
use millrace::{ProducerStamp, Record, Store, StoreOptions, TopicConfig};
use std::sync::Arc;

fn front(dir: &std::path::Path) -> Front {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    store.create_topic("t", TopicConfig::with_partitions(2)).unwrap();
    let service = Service {
        frame_bytes_max: 16 << 20,
        fetch_wait_max_ms: 1000,
        ..Service::for_tests(store)
    };
    Front::new(Arc::new(service), super::super::KafkaConfig::default())
}

fn conn() -> Conn {
    Conn::new("127.0.0.1:1".parse().unwrap())
}

/// InitProducerId at `version` through the dispatch table, from the
/// request's encoded bytes; the decoded answer.
fn init(front: &Front, conn: &mut Conn, version: i16) -> InitProducerIdResponse {
    init_as(front, conn, version, None)
}

/// InitProducerId with `transactional_id` (`None`: idempotent only).
fn init_as(front: &Front, conn: &mut Conn, version: i16, transactional_id: Option<&str>) -> InitProducerIdResponse {
    let header = RequestHeader {
        api_key: ApiKey::InitProducerId as i16,
        api_version: version,
        correlation_id: 7,
        client_id: Some("test"),
    };
    let request = Request::InitProducerId(InitProducerIdRequest {
        transactional_id,
        transaction_timeout_ms: 60_000,
        ..InitProducerIdRequest::default()
    });
    let mut frame = Vec::new();
    encode_request(&mut frame, &header, &request).unwrap();
    let (header, request) = crate::kafka::protocol::decode_request(&frame).unwrap();
    let mut out = Vec::new();
    super::super::handle(front, conn, &header, request, &mut out).unwrap();
    let size = usize::try_from(i32::from_be_bytes(out[..4].try_into().unwrap())).unwrap();
    assert_eq!(size, out.len() - 4);
    assert_eq!(i32::from_be_bytes(out[4..8].try_into().unwrap()), 7, "correlation id");
    match decode_response_body(ApiKey::InitProducerId, &out[8..], version).unwrap() {
        Response::InitProducerId(response) => response,
        other => panic!("{other:?}"),
    }
}

fn batch(producer_id: i64, producer_epoch: i16, base_sequence: i32, record_count: i32) -> BatchHeader {
    BatchHeader {
        base_offset: 0,
        batch_length: 0,
        partition_leader_epoch: -1,
        magic: 2,
        crc: 0,
        attributes: Attributes::default(),
        last_offset_delta: record_count - 1,
        base_timestamp: 0,
        max_timestamp: 0,
        producer_id,
        producer_epoch,
        base_sequence,
        record_count,
    }
}

fn records(n: usize) -> Vec<Record> {
    (0..n).map(|i| Record::new(format!("r{i}"))).collect()
}

#[test]
fn init_producer_id_registers_a_new_anonymous_producer_per_call() {
    let dir = tempfile::tempdir().unwrap();
    let front = front(dir.path());
    let mut conn = conn();
    let mut ids = std::collections::BTreeSet::new();
    for version in [0, 1, 0, 1] {
        let response = init(&front, &mut conn, version);
        assert_eq!((response.error_code, response.producer_epoch), (errors::NONE, 0));
        assert!(response.producer_id >= 0);
        let id = u64::try_from(response.producer_id).unwrap();
        assert_eq!(front.service.store.producer_epoch(id), Some(0), "registered");
        assert!(ids.insert(id), "a new id per call");
    }
}

#[test]
fn init_producer_id_needs_the_produce_permission_and_records_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let front = front(dir.path());
    let mut consumer = conn();
    consumer.session.principal = Principal::named("reader", Permissions::of(&[Permission::Consume]), &[]);
    let refused = init(&front, &mut consumer, 1);
    assert_eq!(
        (refused.error_code, refused.producer_id, refused.producer_epoch),
        (errors::CLUSTER_AUTHORIZATION_FAILED, -1, -1)
    );
    let mut writer = conn();
    writer.session.principal = Principal::named("writer", Permissions::of(&[Permission::Produce]), &[]);
    let response = init(&front, &mut writer, 1);
    assert_eq!(response.error_code, errors::NONE);
    let id = u64::try_from(response.producer_id).unwrap();
    assert_eq!(front.service.store.producer_owner(id).as_deref(), Some("writer"));
    // Another token cannot write with it.
    let mut other = conn();
    other.session.principal = Principal::named("other", Permissions::of(&[Permission::Produce]), &[]);
    assert_eq!(
        stamp(&front, &other, "t", 0, &batch(response.producer_id, 0, 0, 1)),
        Err(errors::TOPIC_AUTHORIZATION_FAILED)
    );
    assert!(stamp(&front, &writer, "t", 0, &batch(response.producer_id, 0, 0, 1)).is_ok());
}

/// `stamp` validates the producer and maps sequences; the engine then
/// appends, answers a retry with its original offsets, and refuses a gap.
#[test]
fn stamp_validates_the_producer_and_retries_get_the_original_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let front = front(dir.path());
    let mut conn = conn();
    let pid = init(&front, &mut conn, 0).producer_id;
    let unknown = if pid == 5 { 6 } else { 5 };
    assert_eq!(
        stamp(&front, &conn, "t", 0, &batch(unknown, 0, 0, 1)),
        Err(errors::UNKNOWN_PRODUCER_ID)
    );
    // A newer epoch not at sequence 0 is no client's own bump.
    assert_eq!(
        stamp(&front, &conn, "t", 0, &batch(pid, 1, 4, 1)),
        Err(errors::INVALID_PRODUCER_EPOCH)
    );
    assert_eq!(
        stamp(&front, &conn, "t", 0, &batch(pid, -1, 0, 1)),
        Err(errors::INVALID_PRODUCER_EPOCH)
    );
    assert_eq!(
        stamp(&front, &conn, "nope", 0, &batch(pid, 0, 0, 1)),
        Err(errors::UNKNOWN_TOPIC_OR_PARTITION)
    );
    assert_eq!(
        stamp(&front, &conn, "t", 9, &batch(pid, 0, 0, 1)),
        Err(errors::UNKNOWN_TOPIC_OR_PARTITION)
    );
    let service = &front.service;
    let append = |kafka_sequence: i32, count: usize| {
        let count_i32 = i32::try_from(count).unwrap();
        let stamped = stamp(&front, &conn, "t", 1, &batch(pid, 0, kafka_sequence, count_i32))?;
        service
            .append(&conn.session, "t", 1, &records(count), Some(stamped))
            .and_then(crate::server::service::Appended::wait)
            .map_err(|error| code_of(&error))
    };
    let first = append(0, 3).unwrap();
    let second = append(3, 2).unwrap();
    assert!(!first.duplicate && !second.duplicate);
    assert_eq!((first.base_offset, second.base_offset), (0, 3));
    let retry = append(0, 3).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, 0);
    assert_eq!(append(3, 2).unwrap().base_offset, 3);
    assert_eq!(append(7, 1), Err(errors::OUT_OF_ORDER_SEQUENCE_NUMBER));
    assert_eq!(append(1, 1), Err(errors::OUT_OF_ORDER_SEQUENCE_NUMBER));
    assert_eq!(append(5, 1).unwrap().base_offset, 5);
    // The other partition has its own sequences.
    assert_eq!(
        stamp(&front, &conn, "t", 0, &batch(pid, 0, 0, 1)).map(|s| s.base_sequence),
        Ok(0)
    );
}

/// librdkafka's own epoch bump for a live id (after requests in flight
/// timed out): a batch at a newer epoch from sequence 0 moves the id to it,
/// in every partition from sequence 0, and fences the old epoch; only for
/// the owner's anonymous id, and only from sequence 0. A retry of the old
/// epoch before the bump is still a duplicate.
#[test]
fn a_live_idempotent_producers_own_epoch_bump_is_taken_from_sequence_0() {
    let dir = tempfile::tempdir().unwrap();
    let front = front(dir.path());
    let mut writer = conn();
    writer.session.principal = Principal::named("writer", Permissions::of(&[Permission::Produce]), &[]);
    let mut other = conn();
    other.session.principal = Principal::named("other", Permissions::of(&[Permission::Produce]), &[]);
    let pid = init(&front, &mut writer, 1).producer_id;
    let id = u64::try_from(pid).unwrap();
    let service = &front.service;
    let append = |partition: u32, epoch: i16, kafka_sequence: i32, count: usize| {
        let count_i32 = i32::try_from(count).unwrap();
        let stamped = stamp(
            &front,
            &writer,
            "t",
            partition,
            &batch(pid, epoch, kafka_sequence, count_i32),
        )?;
        service
            .append(&writer.session, "t", partition, &records(count), Some(stamped))
            .and_then(crate::server::service::Appended::wait)
            .map_err(|error| code_of(&error))
    };
    assert_eq!(append(0, 0, 0, 3).unwrap().base_offset, 0);
    assert_eq!(append(1, 0, 0, 2).unwrap().base_offset, 0);
    assert!(append(0, 0, 0, 3).unwrap().duplicate, "a live producer's retry");
    assert_eq!(
        stamp(&front, &other, "t", 0, &batch(pid, 1, 0, 1)),
        Err(errors::TOPIC_AUTHORIZATION_FAILED),
        "another token's id"
    );
    assert_eq!(append(0, 1, 3, 1), Err(errors::INVALID_PRODUCER_EPOCH), "not from 0");
    assert_eq!(service.store.producer_epoch(id), Some(0));
    let bumped = append(0, 1, 0, 2).unwrap();
    assert!(!bumped.duplicate, "a new epoch's first batch, not epoch 0's retry");
    assert_eq!(bumped.base_offset, 3);
    assert_eq!(service.store.producer_epoch(id), Some(1));
    assert!(append(0, 1, 0, 2).unwrap().duplicate, "the new epoch's retry");
    assert_eq!(append(1, 1, 0, 1).unwrap().base_offset, 2, "partition 1 from 0 too");
    assert_eq!(
        append(0, 0, 3, 1),
        Err(errors::INVALID_PRODUCER_EPOCH),
        "epoch 0 fenced"
    );
    assert_eq!(service.metrics.kafka.producer_epochs_bumped.load(Relaxed), 1);
    // A transactional id's epoch moves through InitProducerId only.
    let txn = init_as(&front, &mut writer, 1, Some("tx"));
    assert_eq!(
        stamp(
            &front,
            &writer,
            "t",
            0,
            &batch(txn.producer_id, txn.producer_epoch + 1, 0, 1)
        ),
        Err(errors::INVALID_PRODUCER_EPOCH)
    );
}

#[test]
fn sequences_map_to_the_nearest_engine_sequence() {
    let cases: [(Option<u32>, i32, u32); 12] = [
        (None, 0, 0),
        (None, 5, 5),
        (Some(9), 10, 10),
        (Some(9), 3, 3),
        // Kafka wraps at 2^31: after i32::MAX comes 0, the engine goes on.
        (Some(i32::MAX as u32), 0, 1 << 31),
        (Some((1 << 31) + 4), 5, (1 << 31) + 5),
        // A retry across the wrap maps back below 2^31.
        (Some((1 << 31) + 4), i32::MAX - 2, (1 << 31) - 3),
        // The engine wraps at 2^32; Kafka is then at 2^31 - 1.
        (Some(u32::MAX - 1), i32::MAX, u32::MAX),
        (Some(u32::MAX), 0, 0),
        (Some(2), i32::MAX, u32::MAX),
        // Half of Kafka's space each way.
        (Some(99), 100 + (1 << 30) - 1, 100 + (1 << 30) - 1),
        (Some(99), 100 + (1 << 30), 100u32.wrapping_sub(1 << 30)),
    ];
    for (last, kafka, engine) in cases {
        assert_eq!(engine_sequence(kafka, last), Some(engine), "{last:?} {kafka}");
    }
    assert_eq!(engine_sequence(-1, None), None);
    // Always congruent modulo 2^31 and within 2^30 of the next expected.
    for last in [
        None,
        Some(0),
        Some(77),
        Some(i32::MAX as u32),
        Some(u32::MAX),
        Some(3 << 30),
    ] {
        for kafka in [0, 1, 1 << 29, (1 << 30) + 3, i32::MAX - 1, i32::MAX] {
            let engine = engine_sequence(kafka, last).unwrap();
            assert_eq!(engine & KAFKA_SEQUENCE_MASK, kafka as u32);
            let next = last.map_or(0, |s| s.wrapping_add(1));
            let distance = engine.wrapping_sub(next).min(next.wrapping_sub(engine));
            assert!(distance <= HALF_WINDOW, "{last:?} {kafka}");
        }
    }
}

/// A producer whose Kafka sequence crosses `i32::MAX` (and, later, whose
/// engine sequence crosses `u32::MAX`): batches are appended in order, no
/// false duplicate, no false out-of-order, retries on either side of the
/// wrap are duplicates with their original offsets; decided by the
/// engine's own table, as a partition does under its writer lock.
#[test]
fn the_wrap_of_kafka_sequences_is_continuous_for_the_engine() {
    for start in [(1u32 << 31) - 8, u32::MAX - 7] {
        let mut table = ProducerTable::new(5);
        let stamp_of = |base_sequence| ProducerStamp {
            producer_id: 1,
            epoch: 0,
            base_sequence,
        };
        // The producer wrote up to engine sequence `start - 1` (offset 0..).
        table.record(stamp_of(start - 4), 100, 4, 0);
        let kafka_of = |engine: u32| i32::try_from(engine & KAFKA_SEQUENCE_MASK).unwrap();
        let mut next_offset = 104u64;
        let mut written = Vec::new();
        let mut kafka = kafka_of(start);
        // Six batches of three records: the wrap falls inside one of them.
        for _ in 0..6 {
            let engine = engine_sequence(kafka, table.last_sequence(1)).unwrap();
            assert_eq!(table.check(stamp_of(engine), 3).unwrap(), Admission::Append, "{kafka}");
            table.record(stamp_of(engine), next_offset, 3, 0);
            written.push((kafka, next_offset));
            next_offset += 3;
            kafka = kafka_of(u32::try_from(kafka).unwrap() + 3);
        }
        assert!(written.iter().any(|(k, _)| *k > i32::MAX - 3), "the wrap is crossed");
        // Retries of the last five batches (the window): duplicates, original offsets.
        for (kafka, offset) in written.iter().skip(1) {
            let engine = engine_sequence(*kafka, table.last_sequence(1)).unwrap();
            assert_eq!(
                table.check(stamp_of(engine), 3).unwrap(),
                Admission::Duplicate {
                    base_offset: *offset,
                    next_offset: offset + 3
                },
                "retry of {kafka}"
            );
        }
        // A gap after the wrap, and a batch older than the window: out of order.
        for bad in [kafka + 3, written[0].0] {
            let engine = engine_sequence(bad, table.last_sequence(1)).unwrap();
            assert!(table.check(stamp_of(engine), 3).is_err(), "{bad} must be out of order");
        }
        // The next batch in order appends.
        let engine = engine_sequence(kafka, table.last_sequence(1)).unwrap();
        assert_eq!(table.check(stamp_of(engine), 1).unwrap(), Admission::Append);
    }
}

/// Kafka's epochs are `int16`: a transactional id initialised a 32769th time
/// moves to a new producer id at epoch 0 instead of epoch 32768 (which
/// clients read as -32768), and the instance at epoch 32767 is fenced (an
/// in-memory disk: 32768 registry rewrites).
#[test]
fn a_transactional_id_past_kafka_epochs_moves_to_a_new_producer_id() {
    use millrace::testing::sim::{FaultPlan, SimStorage};
    let storage = SimStorage::new(1, FaultPlan::none());
    storage.create_dir_all_durable(std::path::Path::new("/data")).unwrap();
    let store = Store::open_with_storage("/data", StoreOptions::default(), Arc::new(storage)).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let front = Front::new(
        Arc::new(Service::for_tests(store)),
        super::super::KafkaConfig::default(),
    );
    let mut conn = conn();
    let first = init_as(&front, &mut conn, 1, Some("tx"));
    assert_eq!((first.error_code, first.producer_epoch), (errors::NONE, 0));
    let mut last = first.clone();
    for _ in 0..i16::MAX {
        last = init_as(&front, &mut conn, 1, Some("tx"));
    }
    assert_eq!(
        (last.error_code, last.producer_id, last.producer_epoch),
        (errors::NONE, first.producer_id, i16::MAX)
    );
    let moved = init_as(&front, &mut conn, 1, Some("tx"));
    assert_eq!((moved.error_code, moved.producer_epoch), (errors::NONE, 0));
    assert!(moved.producer_id >= 0 && moved.producer_id != first.producer_id);
    // The instance at the last epoch is fenced: its id is gone.
    assert_eq!(
        stamp(
            &front,
            &conn,
            "t",
            0,
            &batch(last.producer_id, last.producer_epoch, 0, 1)
        ),
        Err(errors::UNKNOWN_PRODUCER_ID)
    );
    assert_eq!(
        front
            .service
            .store
            .producer_epoch(u64::try_from(moved.producer_id).unwrap()),
        Some(0)
    );
    // And the next init bumps the new id's epoch as usual.
    let next = init_as(&front, &mut conn, 1, Some("tx"));
    assert_eq!((next.producer_id, next.producer_epoch), (moved.producer_id, 1));
}
