//! A topic's contract enforced through the server (issue 22,
//! design/contracts.md "Enforcement"): the native Produce (ContractViolation
//! with rule and path; dead-lettered records leave the answer's offsets),
//! the Kafka front's Produce (INVALID_RECORD with v8 `record_errors`, the
//! base offset unknown when records went to the DLQ), the DLQ's provenance
//! over the wire, and the adherence series on /metrics. The check is a test
//! double installed in the server's store: a value containing `reject` is
//! refused, `bad` is dead-lettered, `warn` is counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use millrace::contract::check::{Action, RecordCheck, Verdict, Violation};
use millrace::{Record, Store, StoreOptions, TopicConfig};
use millrace_server::error_code::ErrorCode;
use millrace_server::kafka::front::KafkaConfig;
use millrace_server::kafka::protocol::messages::produce::{
    ProduceRequest, ProduceRequestPartition, ProduceRequestTopic,
};
use millrace_server::kafka::protocol::{
    decode_response_body, encode_request, ApiKey, Request as KafkaRequest, RequestHeader, Response as KafkaResponse,
};
use millrace_server::kafka::records::{
    Attributes, BatchFields, BatchWriter, Compression, TimestampType, NO_PARTITION_LEADER_EPOCH,
};
use millrace_server::messages::DlqList;
use millrace_server::ClientError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{scrape, test_config, TestServer};

#[derive(Debug)]
struct Words;

impl RecordCheck for Words {
    fn check(&self, _partition: u32, record: &Record) -> Verdict {
        let text = String::from_utf8_lossy(&record.value);
        let violations = [
            ("warn", "no_warn", Action::Warn),
            ("bad", "no_bad", Action::Dlq),
            ("reject", "no_reject", Action::Reject),
        ]
        .into_iter()
        .filter(|(word, _, _)| text.contains(word))
        .map(|(word, rule, action)| Violation {
            rule: rule.to_string(),
            path: "/word".to_string(),
            message: format!("the value holds {word:?}"),
            action,
        })
        .collect();
        Verdict {
            contract_version: 7,
            violations,
        }
    }
}

async fn server() -> (TestServer, Store, SocketAddr) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.kafka = KafkaConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..KafkaConfig::off()
    };
    let options = StoreOptions {
        producer_dedup_batches: config.producer_dedup_batches(),
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), options).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    store.record_checks().set("t", Some(Arc::new(Words)));
    let handle = millrace_server::server::start_with_store(config, store.clone())
        .await
        .expect("server starts");
    let kafka = handle.kafka_addr().expect("the Kafka front listens");
    (TestServer { handle, dir }, store, kafka)
}

fn values(store: &Store) -> Vec<String> {
    store
        .read("t", 0, 0, millrace::ReadOptions::default())
        .unwrap()
        .records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect()
}

#[tokio::test]
async fn native_produce_refuses_rejected_batches_and_dead_letters_with_the_valid_records() {
    let (server, store, _) = server().await;
    let client = server.client().await;
    let produced = client
        .produce("t", 0, vec![Record::new("ok"), Record::new("bad"), Record::new("warn")])
        .await
        .unwrap();
    // Three records sent, two offsets: one went to the DLQ.
    assert_eq!((produced.base_offset, produced.next_offset), (0, 2));
    let refused = client
        .produce("t", 0, vec![Record::new("ok 2"), Record::new("reject")])
        .await;
    match refused {
        Err(ClientError::Server(error)) => {
            assert_eq!(error.code, ErrorCode::ContractViolation);
            assert_eq!(error.details, vec![1, 7]);
            assert!(
                error.message.contains("no_reject") && error.message.contains("/word"),
                "{error:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let store_values = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || values(&store)).await.unwrap()
    };
    assert_eq!(store_values, ["ok", "warn"]);
    // The DLQ record and its contract provenance, over the wire.
    let listing = client
        .dlq_list(DlqList {
            topic: "t".into(),
            from_offset: 0,
            max_records: 0,
            error_contains: None,
            source_partition: None,
            since_ms: None,
            until_ms: None,
        })
        .await
        .unwrap();
    assert_eq!(listing.entries.len(), 1);
    let letter = &listing.entries[0].letter;
    assert_eq!(letter.error_class, "contract.no_bad");
    assert_eq!(letter.record.value, b"bad");
    assert!(letter.record.headers.is_empty(), "{:?}", letter.record.headers);
    let contract = letter.contract.as_ref().expect("provenance");
    assert_eq!((contract.contract_version, contract.rule.as_str()), (7, "no_bad"));
    // The adherence series.
    let text = scrape(&server).await;
    for line in [
        "millrace_contract_records_total{topic=\"t\",result=\"valid\"} 2",
        "millrace_contract_records_total{topic=\"t\",result=\"warn\"} 1",
        "millrace_contract_records_total{topic=\"t\",result=\"dlq\"} 1",
        "millrace_contract_records_total{topic=\"t\",result=\"reject\"} 1",
        "millrace_contract_violations_total{topic=\"t\",rule=\"no_reject\",action=\"reject\"} 1",
        "millrace_contract_validation_seconds_count{topic=\"t\"} 5",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    server.handle.shutdown().await.unwrap();
}

/// One Kafka record batch, not idempotent, of `values`.
fn batch(values: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let fields = BatchFields {
        base_offset: 0,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        attributes: Attributes::new(Compression::None, TimestampType::CreateTime, false, false),
        base_timestamp: 1_700_000_000_000,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
    let mut writer = BatchWriter::begin(&mut out, fields);
    for (i, value) in values.iter().enumerate() {
        writer
            .record(i as i32, 0, None, Some(value.as_bytes()), std::iter::empty)
            .unwrap();
    }
    writer.finish(Compression::None).unwrap();
    out
}

/// Produce `values` as one batch to t/0 with Produce `version`; the
/// partition's (error code, base offset, record errors, error message).
async fn kafka_produce(
    addr: SocketAddr,
    version: i16,
    values: &[&str],
) -> (i16, i64, Vec<(i32, Option<String>)>, Option<String>) {
    let records = batch(values);
    let request = KafkaRequest::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 5000,
        topic_data: vec![ProduceRequestTopic {
            name: "t",
            partition_data: vec![ProduceRequestPartition {
                index: 0,
                records: Some(&records),
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let header = RequestHeader {
        api_key: ApiKey::Produce.code(),
        api_version: version,
        correlation_id: 5,
        client_id: Some("contract-test"),
    };
    let mut body = Vec::new();
    encode_request(&mut body, &header, &request).unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&(body.len() as u32).to_be_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut size = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut size))
        .await
        .expect("answered within 10 s")
        .unwrap();
    let mut answer = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut answer).await.unwrap();
    let Ok(KafkaResponse::Produce(response)) = decode_response_body(ApiKey::Produce, &answer[4..], version) else {
        panic!("not a Produce response");
    };
    let p = &response.responses[0].partition_responses[0];
    (
        p.error_code,
        p.base_offset,
        p.record_errors
            .iter()
            .map(|e| (e.batch_index, e.batch_index_error_message.map(str::to_string)))
            .collect(),
        p.error_message.map(str::to_string),
    )
}

#[tokio::test]
async fn kafka_produce_answers_invalid_record_and_dead_letters_with_the_valid_records() {
    let (server, store, kafka) = server().await;
    // v8: INVALID_RECORD naming the record and the rule; nothing appended.
    let (code, base, record_errors, message) = kafka_produce(kafka, 8, &["ok", "bad", "reject"]).await;
    assert_eq!((code, base), (87, -1));
    assert_eq!(record_errors.len(), 1, "{record_errors:?}");
    assert_eq!(record_errors[0].0, 2);
    let message = message.expect("error_message");
    assert!(message.contains("no_reject") && message.contains("/word"), "{message}");
    // v7: the code only.
    let (code, _, record_errors, message) = kafka_produce(kafka, 7, &["reject"]).await;
    assert_eq!((code, record_errors.len(), message), (87, 0, None));
    // Valid and dead-lettered records: written together; the base offset is
    // the first appended record's.
    let (code, base, _, _) = kafka_produce(kafka, 8, &["ok", "bad", "ok 2"]).await;
    assert_eq!((code, base), (0, 0));
    // All valid: the base offset as usual.
    let (code, base, _, _) = kafka_produce(kafka, 8, &["ok 3", "warn"]).await;
    assert_eq!((code, base), (0, 2));
    let (topic, dlq) = tokio::task::spawn_blocking(move || {
        let dlq = store.dlq_list("t", &millrace::dlq::DlqFilter::default()).unwrap();
        (values(&store), dlq)
    })
    .await
    .unwrap();
    assert_eq!(topic, ["ok", "ok 2", "ok 3", "warn"]);
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].letter.record.value, b"bad");
    assert_eq!(dlq[0].letter.stage, "produce");
    server.handle.shutdown().await.unwrap();
}
