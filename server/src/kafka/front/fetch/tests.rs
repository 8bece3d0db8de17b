//! Fetch and ListOffsets handler tests: records produced through the Produce
//! handler, fetched and listed through the front's dispatch table, the
//! response decoded by the codec and its batches by `kafka::records`. (Real
//! clients through the `millrace` binary: cli/tests/it/kafka_data.rs.)

use millrace::TopicConfig;

use super::super::produce::tests::{batch, harness, produce_request, response, Harness, KeyValue};
use super::super::{errors, KafkaConfig};
use crate::kafka::protocol::messages::fetch::{FetchPartition, FetchRequest, FetchResponsePartition, FetchTopic};
use crate::kafka::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsTopic,
};
use crate::kafka::protocol::{ApiKey, Request, Response};
use crate::kafka::records::{Batches, TimestampType};

/// A fetched record: (offset, timestamp, key, value, headers).
type Fetched = (
    i64,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

fn fetch_request<'a>(topic: &'a str, partitions: &[(i32, i64)], max_wait_ms: i32, max_bytes: i32) -> Request<'a> {
    Request::Fetch(FetchRequest {
        max_wait_ms,
        min_bytes: 1,
        max_bytes,
        isolation_level: 0,
        topics: vec![FetchTopic {
            topic,
            partitions: partitions
                .iter()
                .map(|(partition, fetch_offset)| FetchPartition {
                    partition: *partition,
                    fetch_offset: *fetch_offset,
                    partition_max_bytes: 1024 * 1024,
                    ..FetchPartition::default()
                })
                .collect(),
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    })
}

fn fetched_partitions(response: Response<'_>) -> Vec<FetchResponsePartition<'_>> {
    let Response::Fetch(fetch) = response else {
        panic!("not a fetch response: {response:?}")
    };
    assert_eq!(fetch.error_code, 0);
    assert_eq!(fetch.session_id, 0, "no incremental fetch sessions");
    fetch.responses.into_iter().flat_map(|topic| topic.partitions).collect()
}

/// The records of a partition's answer, and how many batches held them.
fn records_of(partition: &FetchResponsePartition<'_>) -> (Vec<Fetched>, usize) {
    let mut records = Vec::new();
    let mut batches = 0;
    for batch in Batches::new(partition.records.unwrap()) {
        let batch = batch.unwrap();
        batches += 1;
        let mut scratch = Vec::new();
        for record in batch.records(&mut scratch, 1 << 20).unwrap() {
            let record = record.unwrap();
            records.push((
                batch.header.base_offset + i64::from(record.offset_delta),
                batch.header.base_timestamp + record.timestamp_delta,
                record.key.map(<[u8]>::to_vec),
                record.value.map(<[u8]>::to_vec),
                record
                    .headers
                    .iter()
                    .map(|(name, value)| (name.to_owned(), value.map(<[u8]>::to_vec)))
                    .collect(),
            ));
        }
    }
    (records, batches)
}

fn produce(h: &mut Harness, topic: &str, partition: i32, records: &[KeyValue<'_>], timestamp: i64) {
    let bytes = batch(records, timestamp);
    let out = h.call(8, &produce_request(topic, 1, &[(partition, &bytes)]));
    let Response::Produce(produced) = response(&out, ApiKey::Produce, 8) else {
        panic!("not a produce response")
    };
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
}

#[test]
fn a_fetch_inside_a_stored_batch_starts_exactly_at_its_offset() {
    let mut h = harness(KafkaConfig::default());
    h.create("t", TopicConfig::default());
    let values: Vec<Vec<u8>> = (0..10).map(|i| format!("v{i}").into_bytes()).collect();
    let records: Vec<KeyValue<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (Some(&b"k"[..]), if i == 7 { None } else { Some(&v[..]) }))
        .collect();
    produce(&mut h, "t", 0, &records, 1_000);
    for version in [4, 11] {
        let out = h.call(version, &fetch_request("t", &[(0, 5)], 500, 1 << 20));
        let partitions = fetched_partitions(response(&out, ApiKey::Fetch, version));
        let answer = &partitions[0];
        assert_eq!(answer.error_code, 0);
        assert_eq!((answer.high_watermark, answer.last_stable_offset), (10, 10));
        assert_eq!(answer.log_start_offset, if version >= 5 { 0 } else { -1 });
        let (fetched, batches) = records_of(answer);
        assert_eq!(batches, 1);
        let offsets: Vec<i64> = fetched.iter().map(|r| r.0).collect();
        assert_eq!(offsets, [5, 6, 7, 8, 9], "never earlier records, never a skipped batch");
        assert_eq!(fetched[0].1, 1_005, "create time kept");
        assert_eq!(fetched[0].2.as_deref(), Some(&b"k"[..]));
        assert_eq!(fetched[0].3.as_deref(), Some(&b"v5"[..]));
        assert_eq!(fetched[2].3, None, "a tombstone comes back null");
        let headers = vec![("h".to_owned(), Some(b"1".to_vec())), ("h".to_owned(), None)];
        assert_eq!(fetched[0].4, headers, "duplicate keys and null values kept in order");
    }
}

#[test]
fn errors_and_offsets_out_of_range_are_per_partition() {
    let mut h = harness(KafkaConfig::default());
    h.create("t", TopicConfig::with_partitions(2));
    produce(&mut h, "t", 0, &[(None, Some(b"a"))], 5);
    let out = h.call(11, &fetch_request("t", &[(0, 2), (0, -1), (1, 0), (5, 0)], 0, 1 << 20));
    let codes: Vec<i16> = fetched_partitions(response(&out, ApiKey::Fetch, 11))
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(
        codes,
        [
            errors::OFFSET_OUT_OF_RANGE,
            errors::OFFSET_OUT_OF_RANGE,
            errors::NONE,
            errors::UNKNOWN_TOPIC_OR_PARTITION
        ]
    );
    let out = h.call(11, &fetch_request("missing", &[(0, 0)], 0, 1 << 20));
    assert_eq!(
        fetched_partitions(response(&out, ApiKey::Fetch, 11))[0].error_code,
        errors::UNKNOWN_TOPIC_OR_PARTITION
    );
    // An incremental session was never handed out.
    let Request::Fetch(mut incremental) = fetch_request("t", &[(0, 0)], 0, 1 << 20) else {
        unreachable!()
    };
    incremental.session_id = 12;
    incremental.session_epoch = 3;
    let out = h.call(7, &Request::Fetch(incremental));
    let Response::Fetch(refused) = response(&out, ApiKey::Fetch, 7) else {
        panic!("not a fetch response")
    };
    assert_eq!(refused.error_code, errors::FETCH_SESSION_ID_NOT_FOUND);
}

#[test]
fn the_first_record_always_fits_and_max_bytes_caps_the_rest() {
    let mut h = harness(KafkaConfig::default());
    h.create("t", TopicConfig::with_partitions(2));
    let big = vec![b'x'; 4000];
    produce(&mut h, "t", 0, &[(None, Some(&big)), (None, Some(&big))], 5);
    produce(&mut h, "t", 1, &[(None, Some(&big))], 5);
    // max_bytes 100: the response's first record only.
    let out = h.call(11, &fetch_request("t", &[(0, 0), (1, 0)], 0, 100));
    let partitions = fetched_partitions(response(&out, ApiKey::Fetch, 11));
    assert_eq!(records_of(&partitions[0]).0.len(), 1);
    assert_eq!(records_of(&partitions[1]).0.len(), 0);
    assert_eq!(partitions[1].error_code, 0);
    assert_eq!(partitions[1].high_watermark, 1);
    // Room for all three.
    let out = h.call(11, &fetch_request("t", &[(0, 0), (1, 0)], 0, 1 << 20));
    let partitions = fetched_partitions(response(&out, ApiKey::Fetch, 11));
    assert_eq!(records_of(&partitions[0]).0.len(), 2);
    assert_eq!(records_of(&partitions[1]).0.len(), 1);
}

#[test]
fn a_long_poll_wakes_when_any_partition_gets_records() {
    let mut h = harness(KafkaConfig::default());
    h.create("t", TopicConfig::with_partitions(2));
    // Nothing yet and no wait: answered at once, empty.
    let out = h.call(11, &fetch_request("t", &[(0, 0), (1, 0)], 0, 1 << 20));
    let partitions = fetched_partitions(response(&out, ApiKey::Fetch, 11));
    assert!(partitions
        .iter()
        .all(|p| p.error_code == 0 && p.records == Some(&[][..])));
    let service = std::sync::Arc::clone(&h.front.service);
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        service
            .store
            .append("t", 1, &[millrace::Record::new(b"late".to_vec())])
            .unwrap();
    });
    // A wait longer than the server's fetch_wait_max_ms is shortened, not refused.
    let out = h.call(11, &fetch_request("t", &[(0, 0), (1, 0)], 60_000, 1 << 20));
    writer.join().unwrap();
    let partitions = fetched_partitions(response(&out, ApiKey::Fetch, 11));
    let (records, _) = records_of(&partitions[1]);
    assert_eq!(records.len(), 1, "the wait ended with the record of partition 1");
    assert_eq!(records[0].3.as_deref(), Some(&b"late"[..]));
}

fn list_offsets(
    h: &mut Harness,
    version: i16,
    topic: &str,
    asks: &[(i32, i64)],
    committed: bool,
) -> Vec<ListOffsetsPartitionResponse> {
    let request = Request::ListOffsets(ListOffsetsRequest {
        replica_id: -1,
        isolation_level: i8::from(committed),
        topics: vec![ListOffsetsTopic {
            name: topic,
            partitions: asks
                .iter()
                .map(|(partition_index, timestamp)| ListOffsetsPartition {
                    partition_index: *partition_index,
                    timestamp: *timestamp,
                    ..ListOffsetsPartition::default()
                })
                .collect(),
        }],
        timeout_ms: 0,
    });
    let out = h.call(version, &request);
    let Response::ListOffsets(answer) = response(&out, ApiKey::ListOffsets, version) else {
        panic!("not a list offsets response")
    };
    answer.topics.into_iter().flat_map(|topic| topic.partitions).collect()
}

#[test]
fn list_offsets_answers_latest_earliest_and_by_time_for_every_partition() {
    let mut h = harness(KafkaConfig::default());
    h.create("t", TopicConfig::with_partitions(2));
    produce(&mut h, "t", 0, &[(None, Some(b"a")), (None, Some(b"b"))], 1_000);
    produce(&mut h, "t", 0, &[(None, Some(b"c"))], 5_000);
    for version in [1, 5] {
        for committed in [false, true] {
            let answers = list_offsets(
                &mut h,
                version,
                "t",
                &[(0, -1), (0, -2), (0, 1_001), (0, 2_000), (0, 9_000), (1, -1), (7, -1)],
                committed,
            );
            let found: Vec<(i16, i64, i64)> = answers.iter().map(|a| (a.error_code, a.offset, a.timestamp)).collect();
            assert_eq!(
                found,
                [
                    (0, 3, -1),
                    (0, 0, -1),
                    (0, 1, 1_001),
                    (0, 2, 5_000),
                    (0, -1, -1),
                    (0, 0, -1),
                    (errors::UNKNOWN_TOPIC_OR_PARTITION, -1, -1)
                ],
                "v{version} committed {committed}"
            );
        }
    }
    let answers = list_offsets(&mut h, 5, "missing", &[(0, -1)], false);
    assert_eq!(answers[0].error_code, errors::UNKNOWN_TOPIC_OR_PARTITION);
}

#[test]
fn fetched_batches_follow_the_stored_ones_and_keep_their_producer() {
    let mut h = harness(KafkaConfig::default());
    h.create("t", TopicConfig::default());
    let store = &h.front.service.store;
    let producer = store.init_producer("p").unwrap();
    let stamp = millrace::ProducerStamp {
        producer_id: producer.producer_id,
        epoch: producer.epoch,
        base_sequence: 0,
    };
    let three: Vec<millrace::Record> = (0..3).map(|i| millrace::Record::new(vec![b'a' + i])).collect();
    let _ = store
        .append_pending("t", 0, &three, Some(stamp))
        .unwrap()
        .wait()
        .unwrap();
    produce(&mut h, "t", 0, &[(None, Some(b"plain"))], 5);
    let out = h.call(11, &fetch_request("t", &[(0, 1)], 0, 1 << 20));
    let partitions = fetched_partitions(response(&out, ApiKey::Fetch, 11));
    let headers: Vec<_> = Batches::new(partitions[0].records.unwrap())
        .map(|batch| {
            let header = batch.unwrap().header;
            (
                header.base_offset,
                header.record_count,
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
            )
        })
        .collect();
    let id = i64::try_from(producer.producer_id).unwrap();
    let epoch = i16::try_from(producer.epoch).unwrap();
    assert_eq!(
        headers,
        [(1, 2, id, epoch, 1), (3, 1, -1, -1, -1)],
        "one Kafka batch per stored batch, the sequence moved by the record skipped"
    );
    let offsets: Vec<i64> = records_of(&partitions[0]).0.iter().map(|r| r.0).collect();
    assert_eq!(offsets, [1, 2, 3]);
}

#[test]
fn reading_needs_consume_and_the_stores_own_topics_need_admin() {
    use crate::auth::{Permission, Permissions, Principal};
    let mut h = harness(KafkaConfig::default());
    h.create("t", TopicConfig::default());
    produce(&mut h, "t", 0, &[(None, Some(b"a"))], 5);
    h.conn.session.principal = Principal::named("writer", Permissions::of(&[Permission::Produce]), &[]);
    let out = h.call(11, &fetch_request("t", &[(0, 0)], 0, 1 << 20));
    let partitions = fetched_partitions(response(&out, ApiKey::Fetch, 11));
    assert_eq!(partitions[0].error_code, errors::TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(partitions[0].records, Some(&[][..]));
    let answers = list_offsets(&mut h, 5, "t", &[(0, -1)], false);
    assert_eq!(answers[0].error_code, errors::TOPIC_AUTHORIZATION_FAILED);
    h.conn.session.principal = Principal::named("reader", Permissions::of(&[Permission::Consume]), &[]);
    let out = h.call(11, &fetch_request("t", &[(0, 0)], 0, 1 << 20));
    assert_eq!(
        records_of(&fetched_partitions(response(&out, ApiKey::Fetch, 11))[0])
            .0
            .len(),
        1
    );
    let out = h.call(11, &fetch_request("__offsets", &[(0, 0)], 0, 1 << 20));
    assert_eq!(
        fetched_partitions(response(&out, ApiKey::Fetch, 11))[0].error_code,
        errors::TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(
        list_offsets(&mut h, 5, "__offsets", &[(0, -1)], false)[0].error_code,
        errors::TOPIC_AUTHORIZATION_FAILED
    );
}

/// (timestamp type, max timestamp, each record's timestamp as a Kafka
/// client reads it: the max timestamp under log-append time) per batch.
fn batch_times(partition: &FetchResponsePartition<'_>) -> Vec<(TimestampType, i64, Vec<i64>)> {
    Batches::new(partition.records.unwrap())
        .map(|batch| {
            let batch = batch.unwrap();
            let kind = batch.header.attributes.timestamp_type();
            let mut scratch = Vec::new();
            let times = batch
                .records(&mut scratch, 1 << 20)
                .unwrap()
                .map(|record| match kind {
                    TimestampType::LogAppendTime => batch.header.max_timestamp,
                    TimestampType::CreateTime => batch.header.base_timestamp + record.unwrap().timestamp_delta,
                })
                .collect();
            (kind, batch.header.max_timestamp, times)
        })
        .collect()
}

fn produce_answer(h: &mut Harness, topic: &str, timestamp: i64) -> (i64, i64) {
    let bytes = batch(&[(None, Some(&b"a"[..])), (None, Some(&b"b"[..]))], timestamp);
    let out = h.call(8, &produce_request(topic, 1, &[(0, &bytes)]));
    let Response::Produce(produced) = response(&out, ApiKey::Produce, 8) else {
        panic!("not a produce response")
    };
    let answer = &produced.responses[0].partition_responses[0];
    assert_eq!(answer.error_code, 0);
    (answer.base_offset, answer.log_append_time_ms)
}

/// A log-append-time topic: Produce answers the append time, fetched
/// batches are marked log-append time (bit 3) with it as their max
/// timestamp; a create-time topic answers -1 and keeps the producer's time.
/// Altered to log-append, a stored batch of several create times is
/// fetched as one log-append batch per time, each record keeping its own.
#[test]
fn a_log_append_time_topic_answers_and_marks_the_append_time() {
    let mut h = harness(KafkaConfig::default());
    let log_append = TopicConfig {
        timestamp_type: millrace::TimestampType::LogAppend,
        ..TopicConfig::default()
    };
    h.create("appended", log_append);
    h.create("created", TopicConfig::default());
    let before = millrace::clock::now_ms();
    let (_, stamped) = produce_answer(&mut h, "appended", 1_000);
    assert!(stamped >= before, "{stamped} < {before}");
    assert_eq!(produce_answer(&mut h, "created", 1_000), (0, -1));
    let out = h.call(11, &fetch_request("appended", &[(0, 0)], 0, 1 << 20));
    let partitions = fetched_partitions(response(&out, ApiKey::Fetch, 11));
    assert_eq!(
        batch_times(&partitions[0]),
        [(TimestampType::LogAppendTime, stamped, vec![stamped, stamped])]
    );
    let out = h.call(11, &fetch_request("created", &[(0, 0)], 0, 1 << 20));
    let partitions = fetched_partitions(response(&out, ApiKey::Fetch, 11));
    assert_eq!(
        batch_times(&partitions[0]),
        [(TimestampType::CreateTime, 1_001, vec![1_000, 1_001])]
    );
    h.front
        .service
        .store
        .alter_topic("created", &[("timestamp_type".into(), "log-append".into())], false)
        .unwrap();
    let (base, now) = produce_answer(&mut h, "created", 1_000);
    assert_eq!(base, 2);
    assert!(now >= stamped);
    let out = h.call(11, &fetch_request("created", &[(0, 0)], 0, 1 << 20));
    let partitions = fetched_partitions(response(&out, ApiKey::Fetch, 11));
    assert_eq!(
        batch_times(&partitions[0]),
        [
            (TimestampType::LogAppendTime, 1_000, vec![1_000]),
            (TimestampType::LogAppendTime, 1_001, vec![1_001]),
            (TimestampType::LogAppendTime, now, vec![now, now]),
        ]
    );
}
