//! Kafka record batches (server/src/kafka/records) through their public API:
//! differential tests against the `kafka-protocol` crate (an independent
//! encoder/decoder) for every codec, property round trips, hostile batches
//! (typed errors, never a panic), and the mapping onto and from the engine.

mod differential;
mod hostile;
mod mapping;
mod roundtrip;

use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as TheirCompression, Record as TheirRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as TheirTimestampType,
};
use millrace_server::kafka::records::{
    Attributes, BatchFields, BatchWriter, Compression, Record, RecordBatch, TimestampType, NO_PARTITION_LEADER_EPOCH,
};

/// A record as both sides see it: owned, comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    pub timestamp_delta: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Plain {
    pub fn of(record: &Record<'_>) -> Plain {
        Plain {
            timestamp_delta: record.timestamp_delta,
            key: record.key.map(<[u8]>::to_vec),
            value: record.value.map(<[u8]>::to_vec),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(<[u8]>::to_vec)))
                .collect(),
        }
    }
}

pub fn their_codec(codec: Compression) -> TheirCompression {
    match codec {
        Compression::None => TheirCompression::None,
        Compression::Gzip => TheirCompression::Gzip,
        Compression::Snappy => TheirCompression::Snappy,
        Compression::Lz4 => TheirCompression::Lz4,
        Compression::Zstd => TheirCompression::Zstd,
    }
}

/// Producer fields shared by the tests' batches.
pub const PRODUCER_ID: i64 = 4242;
pub const PRODUCER_EPOCH: i16 = 7;
pub const BASE_SEQUENCE: i32 = 100;
pub const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// Encode `records` (offsets 0..n) with the kafka-protocol crate.
pub fn encode_theirs(records: &[Plain], codec: Compression, transactional: bool) -> Vec<u8> {
    let theirs: Vec<TheirRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| TheirRecord {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: PRODUCER_ID,
            producer_epoch: PRODUCER_EPOCH,
            timestamp_type: TheirTimestampType::Creation,
            offset: i as i64,
            sequence: BASE_SEQUENCE + i as i32,
            timestamp: BASE_TIMESTAMP + r.timestamp_delta,
            key: r.key.clone().map(Into::into),
            value: r.value.clone().map(Into::into),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone().map(Into::into)))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &theirs,
        &RecordEncodeOptions {
            version: 2,
            compression: their_codec(codec),
        },
    )
    .expect("kafka-protocol encodes");
    buf.to_vec()
}

/// Encode `records` (offsets 0..n) with ours.
pub fn encode_ours(records: &[Plain], codec: Compression, transactional: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let fields = BatchFields {
        base_offset: 0,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        attributes: Attributes::new(Compression::None, TimestampType::CreateTime, transactional, false),
        base_timestamp: BASE_TIMESTAMP,
        producer_id: PRODUCER_ID,
        producer_epoch: PRODUCER_EPOCH,
        base_sequence: BASE_SEQUENCE,
    };
    let mut writer = BatchWriter::begin(&mut out, fields);
    for (i, r) in records.iter().enumerate() {
        writer
            .record(
                i as i32,
                r.timestamp_delta,
                r.key.as_deref(),
                r.value.as_deref(),
                || r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
            )
            .expect("encodes");
    }
    writer.finish(codec).expect("finishes");
    out
}

/// Decode one batch with ours: the records as `Plain`, all of the input used.
pub fn decode_ours(bytes: &[u8]) -> (RecordBatch<'_>, Vec<Plain>) {
    let (batch, rest) = RecordBatch::parse(bytes, 0).expect("parses");
    assert!(rest.is_empty());
    let mut scratch = Vec::new();
    let records = batch
        .records(&mut scratch, 64 << 20)
        .expect("records")
        .map(|r| Plain::of(&r.expect("record")))
        .collect();
    (batch, records)
}

/// Decode with the kafka-protocol crate.
pub fn decode_theirs(bytes: &[u8]) -> Vec<TheirRecord> {
    let mut buf = bytes::Bytes::copy_from_slice(bytes);
    let set = RecordBatchDecoder::decode(&mut buf).expect("kafka-protocol decodes");
    set.records
}

/// Records covering the shapes: keys and null keys, empty and large values,
/// headers with null values, timestamps before and after the base.
pub fn sample_records() -> Vec<Plain> {
    vec![
        Plain {
            timestamp_delta: 0,
            key: Some(b"key-0".to_vec()),
            value: Some(b"hello".to_vec()),
            headers: vec![("trace".into(), Some(b"abc".to_vec()))],
        },
        Plain {
            timestamp_delta: -5,
            key: None,
            value: Some(Vec::new()),
            headers: vec![],
        },
        Plain {
            timestamp_delta: 1 << 33,
            key: Some(Vec::new()),
            value: Some(vec![0x5a; 70_000]),
            headers: vec![("a".into(), None), ("b".into(), Some(Vec::new()))],
        },
        Plain {
            timestamp_delta: 3,
            key: Some(b"k".to_vec()),
            value: Some((0..=255u8).cycle().take(5_000).collect()),
            headers: vec![("x".into(), Some(b"1".to_vec()))],
        },
    ]
}
