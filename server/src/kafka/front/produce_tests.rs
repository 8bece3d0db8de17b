//! Produce handler tests: requests encoded as a client would, through the
//! front's one dispatch table against a real store; responses decoded by the
//! codec. (Real clients through the `millrace` binary: cli/tests/it/kafka_data.rs.)

use std::sync::Arc;

use millrace::{Durability, Store, StoreOptions, TopicConfig};

use super::super::{handle, Conn, Front, KafkaConfig};
use crate::kafka::protocol::messages::produce::{
    PartitionProduceResponse, ProduceRequest, ProduceRequestPartition, ProduceRequestTopic,
};
use crate::kafka::protocol::{decode_request, decode_response_body, encode_request, ApiKey, Request, RequestHeader};
use crate::kafka::protocol::{Response, SUPPORTED_APIS};
use crate::kafka::records::{
    Attributes, BatchFields, BatchWriter, Compression, TimestampType, NO_PARTITION_LEADER_EPOCH,
};
use crate::server::service::Service;

/// A front over a store in a temporary directory, and one connection.
pub(crate) struct Harness {
    pub front: Front,
    pub conn: Conn,
    _dir: tempfile::TempDir,
}

pub(crate) fn harness(config: KafkaConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let service = Arc::new(Service {
        frame_bytes_max: 16 * 1024 * 1024,
        fetch_wait_max_ms: 5000,
        ..Service::for_tests(store)
    });
    Harness {
        front: Front::new(service, config),
        conn: Conn::new("127.0.0.1:1".parse().unwrap()),
        _dir: dir,
    }
}

impl Harness {
    pub fn create(&self, topic: &str, config: TopicConfig) {
        self.front.service.create_topic("test", topic, config, true).unwrap();
    }

    /// Encode `request` at `version` as a client would, decode it as the
    /// connection does, and handle it: the response frame(s) appended.
    pub fn call(&mut self, version: i16, request: &Request<'_>) -> Vec<u8> {
        let header = RequestHeader {
            api_key: request.api_key().code(),
            api_version: version,
            correlation_id: 7,
            client_id: Some("test"),
        };
        let mut frame = Vec::new();
        encode_request(&mut frame, &header, request).unwrap();
        let (header, request) = decode_request(&frame).unwrap();
        let mut out = Vec::new();
        handle(&self.front, &mut self.conn, &header, request, &mut out).unwrap();
        out
    }
}

/// The body of one response frame (size, correlation id, no tagged fields:
/// the served versions are not flexible).
pub(crate) fn response(out: &[u8], api: ApiKey, version: i16) -> Response<'_> {
    assert!(out.len() >= 8, "no response frame");
    let size = i32::from_be_bytes(out[0..4].try_into().unwrap());
    assert_eq!(size as usize, out.len() - 4, "exactly one frame");
    assert_eq!(i32::from_be_bytes(out[4..8].try_into().unwrap()), 7);
    decode_response_body(api, &out[8..], version).unwrap()
}

/// One uncompressed batch of `(key, value)` records with create time.
/// A record's key and value (`None`: null).
pub(crate) type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

pub(crate) fn batch(records: &[KeyValue<'_>], base_timestamp: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = BatchWriter::begin(
        &mut out,
        BatchFields {
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            attributes: Attributes::new(Compression::None, TimestampType::CreateTime, false, false),
            base_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        },
    );
    for (index, (key, value)) in records.iter().enumerate() {
        let headers = || [("h", Some(&b"1"[..])), ("h", None)].into_iter();
        writer
            .record(index as i32, index as i64, *key, *value, headers)
            .unwrap();
    }
    writer.finish(Compression::None).unwrap();
    out
}

pub(crate) fn produce_request<'a>(topic: &'a str, acks: i16, partitions: &'a [(i32, &'a [u8])]) -> Request<'a> {
    Request::Produce(ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 5000,
        topic_data: vec![ProduceRequestTopic {
            name: topic,
            topic_id: Default::default(),
            partition_data: partitions
                .iter()
                .map(|(index, records)| ProduceRequestPartition {
                    index: *index,
                    records: Some(records),
                })
                .collect(),
        }],
    })
}

fn partitions(response: Response<'_>) -> Vec<PartitionProduceResponse<'_>> {
    let Response::Produce(produce) = response else {
        panic!("not a produce response: {response:?}")
    };
    produce
        .responses
        .into_iter()
        .flat_map(|topic| topic.partition_responses)
        .collect()
}

#[test]
fn plain_batches_get_their_base_offsets_and_round_trip_nulls_and_headers() {
    let mut h = harness(KafkaConfig::default());
    h.create("t", TopicConfig::with_partitions(2));
    let first = batch(
        &[(Some(b"k0"), Some(b"v0")), (None, None), (Some(b""), Some(b""))],
        1_000,
    );
    let second = batch(&[(Some(b"k3"), Some(b"v3"))], 2_000);
    for version in [3, 8] {
        let out = h.call(version, &produce_request("t", 1, &[(0, &first), (1, &second)]));
        let answers = partitions(response(&out, ApiKey::Produce, version));
        assert_eq!(answers.len(), 2);
        assert!(answers.iter().all(|a| a.error_code == 0), "{answers:?}");
        let base = if version == 3 { 0 } else { 3 };
        assert_eq!(answers[0].base_offset, base);
        assert_eq!(answers[1].base_offset, base / 3);
        assert_eq!(answers[0].log_append_time_ms, -1);
        assert_eq!(answers[0].log_start_offset, if version >= 5 { 0 } else { -1 });
    }
    let read = h
        .front
        .service
        .store
        .read("t", 0, 0, millrace::ReadOptions::default())
        .unwrap();
    assert_eq!(read.records.len(), 6);
    let tombstone = &read.records[1];
    assert_eq!(tombstone.key, None);
    assert_eq!(tombstone.value_opt(), None);
    assert_eq!(tombstone.timestamp_ms, 1_001);
    let empty = &read.records[2];
    assert_eq!(empty.key.as_deref(), Some(&b""[..]));
    assert_eq!(empty.value_opt(), Some(&b""[..]));
    let headers: Vec<_> = read.records[0].headers_opt().collect();
    assert_eq!(headers, vec![("h", Some(&b"1"[..])), ("h", None)]);
}

#[test]
fn acks_zero_writes_without_a_response_and_bad_acks_are_refused() {
    let mut h = harness(KafkaConfig::default());
    h.create("t", TopicConfig::default());
    let records = batch(&[(None, Some(b"a"))], 5);
    assert!(h.call(8, &produce_request("t", 0, &[(0, &records)])).is_empty());
    assert_eq!(h.front.service.offsets("t", 0).unwrap(), (0, 1));
    let out = h.call(8, &produce_request("t", 2, &[(0, &records)]));
    let answers = partitions(response(&out, ApiKey::Produce, 8));
    assert_eq!(answers[0].error_code, super::errors::INVALID_REQUIRED_ACKS);
    assert_eq!(h.front.service.offsets("t", 0).unwrap(), (0, 1), "nothing written");
}

#[test]
fn bad_batches_unknown_partitions_and_large_records_get_their_codes() {
    let mut h = harness(KafkaConfig::default());
    h.create(
        "t",
        TopicConfig {
            record_bytes_max: 1024,
            ..TopicConfig::default()
        },
    );
    let mut corrupt = batch(&[(None, Some(b"a"))], 5);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let large_value = vec![b'x'; 2048];
    let large = batch(&[(None, Some(&large_value))], 5);
    let fine = batch(&[(None, Some(b"a"))], 5);
    let out = h.call(
        8,
        &produce_request("t", -1, &[(0, &corrupt), (0, &large), (1, &fine), (-1, &fine)]),
    );
    let answers = partitions(response(&out, ApiKey::Produce, 8));
    let codes: Vec<i16> = answers.iter().map(|a| a.error_code).collect();
    use super::errors::{CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, UNKNOWN_TOPIC_OR_PARTITION};
    assert_eq!(
        codes,
        [
            CORRUPT_MESSAGE,
            MESSAGE_TOO_LARGE,
            UNKNOWN_TOPIC_OR_PARTITION,
            UNKNOWN_TOPIC_OR_PARTITION
        ]
    );
    assert!(answers[0].error_message.unwrap().contains("CRC"), "{:?}", answers[0]);
    assert!(answers.iter().all(|a| a.base_offset == -1));
    let out = h.call(8, &produce_request("nope", 1, &[(0, &fine)]));
    assert_eq!(
        partitions(response(&out, ApiKey::Produce, 8))[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(h.front.service.offsets("t", 0).unwrap(), (0, 0), "nothing written");
}

#[test]
fn unknown_topics_are_created_when_the_front_auto_creates() {
    let mut h = harness(KafkaConfig {
        auto_create_topics: true,
        auto_create_partitions: 3,
        ..KafkaConfig::default()
    });
    let records = batch(&[(None, Some(b"a"))], 5);
    let out = h.call(7, &produce_request("fresh", 1, &[(2, &records)]));
    assert_eq!(partitions(response(&out, ApiKey::Produce, 7))[0].error_code, 0);
    assert_eq!(h.front.service.describe_topic("fresh").unwrap().config.partitions, 3);
    assert_eq!(h.front.service.offsets("fresh", 2).unwrap(), (0, 1));
}

#[test]
fn acks_all_on_an_always_topic_is_answered_after_the_fsync_inside_a_runtime() {
    let mut h = harness(KafkaConfig::default());
    h.create(
        "sync",
        TopicConfig {
            durability: Some(Durability::Always),
            ..TopicConfig::default()
        },
    );
    let records = batch(&[(None, Some(b"a")), (None, Some(b"b"))], 5);
    // Without a runtime: waited here.
    let out = h.call(8, &produce_request("sync", -1, &[(0, &records)]));
    assert_eq!(partitions(response(&out, ApiKey::Produce, 8))[0].base_offset, 0);
    // As the connection runs it: off the runtime's async tasks.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let out = runtime.block_on(async move {
        tokio::task::spawn_blocking(move || h.call(8, &produce_request("sync", -1, &[(0, &records), (0, &records)])))
            .await
            .unwrap()
    });
    let answers = partitions(response(&out, ApiKey::Produce, 8));
    let offsets: Vec<(i16, i64)> = answers.iter().map(|a| (a.error_code, a.base_offset)).collect();
    assert_eq!(offsets, [(0, 2), (0, 4)]);
}

#[test]
fn produce_below_v3_is_answered_unsupported_version_per_partition() {
    let records = batch(&[(None, Some(b"a"))], 5);
    let partitions_data: [(i32, &[u8]); 2] = [(0, &records), (1, &records)];
    let request = produce_request("t", 1, &partitions_data);
    assert_eq!(SUPPORTED_APIS[0].served_min, 3);
    for version in 0..3 {
        let header = RequestHeader {
            api_key: 0,
            api_version: version,
            correlation_id: 7,
            client_id: None,
        };
        let mut frame = Vec::new();
        encode_request(&mut frame, &header, &request).unwrap();
        let Err(crate::kafka::protocol::RequestError::UnsupportedVersion {
            header,
            refused: Some(refused),
        }) = decode_request(&frame)
        else {
            panic!("v{version} is served")
        };
        let Request::Produce(refused) = *refused else {
            panic!("not a produce")
        };
        let mut out = Vec::new();
        super::refuse_version(&header, &refused, &mut out).unwrap();
        let answers = partitions(response(&out, ApiKey::Produce, version));
        assert_eq!(answers.len(), 2);
        assert!(answers
            .iter()
            .all(|a| a.error_code == super::errors::UNSUPPORTED_VERSION));
    }
}

#[test]
fn tokens_need_produce_and_auto_creation_needs_admin() {
    use crate::auth::{Permission, Permissions, Principal};
    let mut h = harness(KafkaConfig {
        auto_create_topics: true,
        ..KafkaConfig::default()
    });
    h.create("t", TopicConfig::default());
    let records = batch(&[(None, Some(b"a"))], 5);
    h.conn.session.principal = Principal::named("reader", Permissions::of(&[Permission::Consume]), &[]);
    let out = h.call(8, &produce_request("t", 1, &[(0, &records)]));
    assert_eq!(
        partitions(response(&out, ApiKey::Produce, 8))[0].error_code,
        super::errors::TOPIC_AUTHORIZATION_FAILED
    );
    h.conn.session.principal = Principal::named("writer", Permissions::of(&[Permission::Produce]), &[]);
    let out = h.call(8, &produce_request("t", 1, &[(0, &records)]));
    assert_eq!(partitions(response(&out, ApiKey::Produce, 8))[0].error_code, 0);
    // Auto-creation is CreateTopic: admin only.
    let out = h.call(8, &produce_request("fresh", 1, &[(0, &records)]));
    assert_eq!(
        partitions(response(&out, ApiKey::Produce, 8))[0].error_code,
        super::errors::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert!(h.front.service.describe_topic("fresh").is_err());
    assert_eq!(h.front.service.offsets("t", 0).unwrap(), (0, 1));
}
