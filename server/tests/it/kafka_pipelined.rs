//! Kafka Produce requests pipelined on one connection (librdkafka keeps up
//! to five in flight): plain produces are written on the connection's task,
//! and those queued behind one that waits for its `Always` fsync are
//! written before that wait, so that one fsync covers them; every answer
//! comes back in request order with its own offsets (design/kafka.md,
//! "Produce and fetch"). Idempotent produces from a live producer id take
//! the same way, deduplicated and fenced as on the blocking way.

use std::time::Duration;

use millrace_server::kafka::protocol::messages::api_versions::ApiVersionsRequest;
use millrace_server::kafka::protocol::messages::produce::{
    ProduceRequest, ProduceRequestPartition, ProduceRequestTopic,
};
use millrace_server::kafka::protocol::messages::txn::InitProducerIdRequest;
use millrace_server::kafka::protocol::{
    decode_response_body, encode_request, ApiKey, Request as KafkaRequest, RequestHeader, Response as KafkaResponse,
};
use millrace_server::kafka::records::{
    Attributes, BatchFields, BatchWriter, Compression, TimestampType, NO_PARTITION_LEADER_EPOCH,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{kafka_server, stat};

/// One plain (not idempotent) batch of `values`.
fn batch(values: &[&[u8]]) -> Vec<u8> {
    idempotent_batch(values, -1, -1, -1)
}

/// One batch of `values` from producer `producer_id` at `epoch`, its first
/// record at sequence `base_sequence` (-1s: a plain batch).
fn idempotent_batch(values: &[&[u8]], producer_id: i64, epoch: i16, base_sequence: i32) -> Vec<u8> {
    let mut out = Vec::new();
    let fields = BatchFields {
        base_offset: 0,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        attributes: Attributes::new(Compression::None, TimestampType::CreateTime, false, false),
        base_timestamp: 1_700_000_000_000,
        producer_id,
        producer_epoch: epoch,
        base_sequence,
    };
    let mut writer = BatchWriter::begin(&mut out, fields);
    for (i, value) in values.iter().enumerate() {
        writer.record(i as i32, 0, None, Some(value), std::iter::empty).unwrap();
    }
    writer.finish(Compression::None).unwrap();
    out
}

/// A size-prefixed Produce v8 frame (acks=all) of `records` to `topic`/0.
fn produce_frame(correlation_id: i32, topic: &str, records: &[u8]) -> Vec<u8> {
    let request = KafkaRequest::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![ProduceRequestTopic {
            name: topic,
            partition_data: vec![ProduceRequestPartition {
                index: 0,
                records: Some(records),
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    frame(ApiKey::Produce, 8, correlation_id, &request)
}

fn frame(api: ApiKey, version: i16, correlation_id: i32, request: &KafkaRequest<'_>) -> Vec<u8> {
    let header = RequestHeader {
        api_key: api.code(),
        api_version: version,
        correlation_id,
        client_id: Some("pipelined-test"),
    };
    let mut body = Vec::new();
    encode_request(&mut body, &header, request).unwrap();
    let mut framed = (body.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    framed
}

/// The next response frame: (correlation id, body).
async fn response(stream: &mut TcpStream) -> (i32, Vec<u8>) {
    let mut size = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(20), stream.read_exact(&mut size))
        .await
        .expect("answered within 20 s")
        .unwrap();
    let mut answer = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut answer).await.unwrap();
    let correlation_id = i32::from_be_bytes(answer[..4].try_into().unwrap());
    (correlation_id, answer[4..].to_vec())
}

/// (error code, base offset) of a Produce v8 answer's one partition.
fn produced(body: &[u8]) -> (i16, i64) {
    let Ok(KafkaResponse::Produce(response)) = decode_response_body(ApiKey::Produce, body, 8) else {
        panic!("not a Produce response");
    };
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

/// A burst of acks=all Produce requests to an `Always` topic in one write,
/// with a produce to an unknown topic (not written inline: the blocking
/// way answers it), a produce to an `Os` topic and an ApiVersions among
/// them: every answer in request order with its own offset, and far fewer
/// fsyncs than produces (answered one fsync at a time, as before, they
/// took one each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_always_produces_queued_behind_a_wait_share_its_fsync() {
    let (server, kafka) = kafka_server(|_| {}).await;
    let client = server.client().await;
    client
        .create_topic("slow", 1, &[("durability", "always")])
        .await
        .unwrap();
    client.create_topic("fast", 1, &[("durability", "os")]).await.unwrap();
    let fsyncs_before = stat(&client.stats().await.unwrap(), "millrace_fsyncs_total");
    let values: Vec<Vec<u8>> = (0..60u32).map(|i| format!("value {i}").into_bytes()).collect();
    let mut burst = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let correlation_id = 100 + i as i32;
        let records = batch(&[value, b"second"]);
        burst.extend(match i {
            20 => produce_frame(correlation_id, "missing", &records),
            30 => produce_frame(correlation_id, "fast", &records),
            40 => frame(
                ApiKey::ApiVersions,
                0,
                correlation_id,
                &KafkaRequest::ApiVersions(ApiVersionsRequest::default()),
            ),
            _ => produce_frame(correlation_id, "slow", &records),
        });
    }
    let mut stream = TcpStream::connect(kafka).await.unwrap();
    stream.write_all(&burst).await.unwrap();
    let mut slow_offset = 0;
    let mut slow_values = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let (correlation_id, body) = response(&mut stream).await;
        assert_eq!(correlation_id, 100 + i as i32, "answers come in request order");
        match i {
            20 => assert_eq!(produced(&body).0, 3, "UNKNOWN_TOPIC_OR_PARTITION"),
            30 => assert_eq!(produced(&body), (0, 0)),
            40 => {}
            _ => {
                assert_eq!(produced(&body), (0, slow_offset), "request {i}");
                slow_offset += 2;
                slow_values.push(value.clone());
                slow_values.push(b"second".to_vec());
            }
        }
    }
    assert_eq!(slow_offset, 114);
    let fsyncs = stat(&client.stats().await.unwrap(), "millrace_fsyncs_total") - fsyncs_before;
    assert!(
        fsyncs <= 20,
        "{fsyncs} fsyncs for 57 pipelined acks=all produces in 4 runs"
    );
    let fetched = client.fetch("slow", 0, 0, Duration::ZERO).await.unwrap();
    let stored: Vec<Vec<u8>> = fetched.records.into_iter().map(|record| record.value).collect();
    assert_eq!(stored, slow_values);
    server.handle.shutdown().await.unwrap();
}

/// An idempotent producer's acks=all batches to an `Always` topic in one
/// burst: they are written on the connection's task like plain ones, so
/// one fsync covers many (on the blocking way each took its own); a retry
/// of the batch before is answered the original offset and stored once; a
/// batch at an epoch the producer is not at is refused and not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_idempotent_produces_queued_behind_a_wait_share_its_fsync_deduplicated_and_fenced() {
    let (server, kafka) = kafka_server(|_| {}).await;
    let client = server.client().await;
    client
        .create_topic("slow", 1, &[("durability", "always")])
        .await
        .unwrap();
    let mut stream = TcpStream::connect(kafka).await.unwrap();
    let init = KafkaRequest::InitProducerId(InitProducerIdRequest {
        transaction_timeout_ms: 60_000,
        ..Default::default()
    });
    stream
        .write_all(&frame(ApiKey::InitProducerId, 1, 1, &init))
        .await
        .unwrap();
    let (_, body) = response(&mut stream).await;
    let Ok(KafkaResponse::InitProducerId(init)) = decode_response_body(ApiKey::InitProducerId, &body, 1) else {
        panic!("not an InitProducerId response");
    };
    assert_eq!(init.error_code, 0);
    let (producer_id, epoch) = (init.producer_id, init.producer_epoch);
    assert!(producer_id >= 0);
    let fsyncs_before = stat(&client.stats().await.unwrap(), "millrace_fsyncs_total");
    // Request i: a batch of two records; 21 resends 20; 40 is at an epoch
    // the producer is not at (and a sequence that is no restart).
    let mut burst = Vec::new();
    let mut sequence = 0;
    let mut expected = Vec::new();
    let mut stored = Vec::new();
    let mut offset = 0i64;
    for i in 0..60i32 {
        let value = format!("value {i}").into_bytes();
        let (records, answer) = match i {
            21 => (
                idempotent_batch(&[b"value 20", b"second"], producer_id, epoch, sequence - 2),
                (0, offset - 2),
            ),
            40 => (
                idempotent_batch(&[&value, b"second"], producer_id, epoch + 1, sequence),
                (47, -1),
            ),
            _ => {
                let records = idempotent_batch(&[&value, b"second"], producer_id, epoch, sequence);
                sequence += 2;
                stored.push(value.clone());
                stored.push(b"second".to_vec());
                offset += 2;
                (records, (0, offset - 2))
            }
        };
        expected.push(answer);
        burst.extend(produce_frame(100 + i, "slow", &records));
    }
    stream.write_all(&burst).await.unwrap();
    for (i, answer) in expected.iter().enumerate() {
        let (correlation_id, body) = response(&mut stream).await;
        assert_eq!(correlation_id, 100 + i as i32, "answers come in request order");
        let (code, base_offset) = produced(&body);
        assert_eq!(code, answer.0, "request {i}");
        if code == 0 {
            assert_eq!(base_offset, answer.1, "request {i}");
        }
    }
    let fsyncs = stat(&client.stats().await.unwrap(), "millrace_fsyncs_total") - fsyncs_before;
    assert!(
        fsyncs <= 20,
        "{fsyncs} fsyncs for 58 pipelined idempotent acks=all produces"
    );
    let fetched = client.fetch("slow", 0, 0, Duration::ZERO).await.unwrap();
    let values: Vec<Vec<u8>> = fetched.records.into_iter().map(|record| record.value).collect();
    assert_eq!(values, stored);
    server.handle.shutdown().await.unwrap();
}
