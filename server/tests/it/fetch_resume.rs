//! Fetches that read on where the connection's last fetch stopped (issue 26):
//! each connection keeps a scanner per partition, so a consumer that reads
//! a large batch of a sealed segment in small fetches has that batch's CRC
//! checked once, not once per fetch; on the native and the Kafka front.
//! The engine counts the batches reads verify
//! (`millrace_read_batches_verified_total`) and the reads that continued
//! inside a batch verified before (`millrace_read_batches_resumed_total`).

use std::time::Duration;

use millrace::Record;
use millrace_server::kafka::protocol::messages::fetch::{FetchPartition, FetchRequest, FetchTopic};
use millrace_server::kafka::protocol::{
    decode_response_body, encode_request, ApiKey, Request as KafkaRequest, RequestHeader, Response as KafkaResponse,
};
use millrace_server::kafka::records::Batches;
use millrace_server::messages::{Fetch, Position};
use millrace_server::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{kafka_server, start_server, stat};

/// Records in each produced batch (one batch, about 48 KiB, per segment of 64 KiB).
const RECORDS: u64 = 400;
/// A fetch's byte budget: about ten 100-byte records.
const FETCH_BYTES: u32 = 1200;

fn value(i: u64) -> Vec<u8> {
    format!("{i:0100}").into_bytes()
}

/// (verified, resumed) batch counters of the server now.
async fn read_counters(client: &Client) -> (u64, u64) {
    let stats = client.stats().await.unwrap();
    (
        stat(&stats, "millrace_read_batches_verified_total"),
        stat(&stats, "millrace_read_batches_resumed_total"),
    )
}

/// Topic `name` with one sealed segment holding one batch of [`RECORDS`]
/// records (a second batch rolls the segment and stays in the active one).
async fn topic_with_a_sealed_batch(client: &Client, name: &str) {
    client
        .create_topic(name, 1, &[("segment_bytes", "65536")])
        .await
        .unwrap();
    for batch in 0..2 {
        let records = (0..RECORDS).map(|i| Record::new(value(batch * RECORDS + i))).collect();
        client.produce(name, 0, records).await.unwrap();
    }
}

/// A Kafka Fetch v4 (read uncommitted) of `topic`/0 from `offset`, size-prefixed.
fn kafka_fetch_frame(correlation_id: i32, topic: &str, offset: u64) -> Vec<u8> {
    let request = KafkaRequest::Fetch(FetchRequest {
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level: 0,
        topics: vec![FetchTopic {
            topic,
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: offset as i64,
                partition_max_bytes: FETCH_BYTES as i32,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let header = RequestHeader {
        api_key: ApiKey::Fetch.code(),
        api_version: 4,
        correlation_id,
        client_id: Some("fetch-resume-test"),
    };
    let mut body = Vec::new();
    encode_request(&mut body, &header, &request).unwrap();
    let mut framed = (body.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    framed
}

/// The values of a Fetch v4 answer's one partition, in offset order, with
/// the offset of the first (the batches' offsets must continue).
async fn kafka_fetched(stream: &mut TcpStream) -> (u64, Vec<Vec<u8>>) {
    let mut size = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(20), stream.read_exact(&mut size))
        .await
        .expect("answered within 20 s")
        .unwrap();
    let mut answer = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut answer).await.unwrap();
    let Ok(KafkaResponse::Fetch(response)) = decode_response_body(ApiKey::Fetch, &answer[4..], 4) else {
        panic!("not a Fetch response");
    };
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    let mut first = None;
    let mut values = Vec::new();
    let mut scratch = Vec::new();
    for batch in Batches::new(partition.records.unwrap()) {
        let batch = batch.unwrap();
        first.get_or_insert(batch.header.base_offset as u64);
        for record in batch.records(&mut scratch, 1 << 20).unwrap() {
            values.push(record.unwrap().value.unwrap().to_vec());
        }
    }
    (first.expect("at least one record"), values)
}

/// A native consumer that reads a 400-record batch of a sealed segment ten
/// records per fetch gets every record once and in order, and the batch is
/// verified once for all those fetches (every fetch verified it again
/// before the connection kept its scanner); a fetch elsewhere (a seek back)
/// reads through the index again and is answered the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_fetches_through_a_sealed_batch_verify_it_once() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    topic_with_a_sealed_batch(&client, "t").await;
    let fetch = |offset: u64| Fetch {
        topic: "t".into(),
        partition: 0,
        position: Position::Offset(offset),
        max_bytes: FETCH_BYTES,
        max_records: 0,
        isolation: millrace_server::messages::Isolation::ReadCommitted,
        max_wait_ms: 0,
    };
    let (verified_before, resumed_before) = read_counters(&client).await;
    let mut offset = 0;
    let mut fetches = 0u64;
    let mut values = Vec::new();
    while offset < RECORDS {
        let fetched = client.fetch_with(fetch(offset)).await.unwrap();
        assert_eq!(fetched.records.first().map(|r| r.offset), Some(offset));
        values.extend(fetched.records.into_iter().map(|r| r.value));
        offset = fetched.next_offset;
        fetches += 1;
    }
    let (verified, resumed) = read_counters(&client).await;
    let (verified, resumed) = (verified - verified_before, resumed - resumed_before);
    assert!(fetches >= 30, "{fetches} fetches");
    assert_eq!(
        values[..RECORDS as usize],
        (0..RECORDS).map(value).collect::<Vec<_>>()[..]
    );
    // The sealed batch once, and the next one (active segment) at most once.
    assert!(verified <= 2, "{verified} batches verified in {fetches} fetches");
    assert!(resumed >= fetches - 2, "{resumed} of {fetches} fetches resumed");
    // A seek back: found through the index and verified again.
    let again = client.fetch_with(fetch(5)).await.unwrap();
    assert_eq!(again.records.first().map(|r| r.value.clone()), Some(value(5)));
    let (verified_after_seek, _) = read_counters(&client).await;
    assert_eq!(verified_after_seek - verified_before - verified, 1);
    server.handle.shutdown().await.unwrap();
}

/// The same through the Kafka front: Fetch requests of ten records each read
/// the sealed batch with one CRC check, and the records come back complete
/// and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_fetches_through_a_sealed_batch_verify_it_once() {
    let (server, kafka) = kafka_server(|_| {}).await;
    let client = server.client().await;
    topic_with_a_sealed_batch(&client, "k").await;
    let (verified_before, resumed_before) = read_counters(&client).await;
    let mut stream = TcpStream::connect(kafka).await.unwrap();
    let mut offset = 0u64;
    let mut fetches = 0u64;
    let mut values = Vec::new();
    while offset < RECORDS {
        stream
            .write_all(&kafka_fetch_frame(fetches as i32, "k", offset))
            .await
            .unwrap();
        let (first, fetched) = kafka_fetched(&mut stream).await;
        assert_eq!(first, offset);
        offset += fetched.len() as u64;
        values.extend(fetched);
        fetches += 1;
    }
    let (verified, resumed) = read_counters(&client).await;
    let (verified, resumed) = (verified - verified_before, resumed - resumed_before);
    assert!(fetches >= 30, "{fetches} fetches");
    assert_eq!(
        values[..RECORDS as usize],
        (0..RECORDS).map(value).collect::<Vec<_>>()[..]
    );
    assert!(verified <= 2, "{verified} batches verified in {fetches} fetches");
    assert!(resumed >= fetches - 2, "{resumed} of {fetches} fetches resumed");
    server.handle.shutdown().await.unwrap();
}
