//! Kafka batch → engine records → stored → read back as a Kafka batch, through
//! a real store: keys, duplicate headers, create/log-append timestamps, null
//! values (tombstones) and null header values; a fetch from inside an engine batch starts at exactly that offset with the
//! producer fields kept and the base sequence moved.

use millrace::{ReadOptions, Store, StoreOptions, TopicConfig};
use millrace_server::kafka::records::{
    encode_read_batch, produce_batch, produced_records, to_engine_records, RecordsError,
};

use super::*;

fn plain(key: Option<&[u8]>, value: &[u8], headers: &[(&str, &[u8])], timestamp_delta: i64) -> Plain {
    Plain {
        timestamp_delta,
        key: key.map(<[u8]>::to_vec),
        value: Some(value.to_vec()),
        headers: headers.iter().map(|(k, v)| (k.to_string(), Some(v.to_vec()))).collect(),
    }
}

fn produced() -> Vec<Plain> {
    vec![
        plain(Some(b"k0"), b"v0", &[("h", b"1"), ("h", b"2")], 0),
        plain(None, b"", &[], 7),
        plain(Some(b""), b"v2", &[("x", b"")], -3),
        plain(Some(b"k3"), &[9; 3000], &[("h", b"3")], 11),
    ]
}

#[test]
fn produced_batch_maps_onto_engine_records() {
    let records = produced();
    for codec in Compression::ALL {
        // Ours and theirs encoders (theirs cannot carry duplicate header keys).
        let bytes = encode_ours(&records, codec, false);
        let batch = produce_batch(&bytes).unwrap();
        let mut scratch = Vec::new();
        let mut out = Vec::new();
        to_engine_records(&batch, &mut scratch, 1 << 20, &mut out).unwrap();
        assert_eq!(out.len(), records.len());
        for (engine, kafka) in out.iter().zip(&records) {
            assert_eq!(engine.key, kafka.key);
            assert_eq!(Some(&engine.value), kafka.value.as_ref());
            let headers: Vec<(String, Option<Vec<u8>>)> = engine
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect();
            assert_eq!(headers, kafka.headers, "duplicate keys kept in order");
            assert_eq!(engine.timestamp_ms, Some(BASE_TIMESTAMP + kafka.timestamp_delta));
        }
    }
}

/// The plain and idempotent produce append the batch's records borrowed
/// from the request: the engine batch they make is byte for byte the one
/// the owned records (the transactional path's) make, nulls included.
#[test]
fn borrowed_records_make_the_engine_batch_of_the_owned_ones() {
    let mut records = produced();
    records[2].value = None;
    records[1].headers = vec![("n".into(), None), ("a".into(), Some(b"x".to_vec()))];
    for codec in Compression::ALL {
        let bytes = encode_ours(&records, codec, false);
        let batch = produce_batch(&bytes).unwrap();
        let mut owned = Vec::new();
        to_engine_records(&batch, &mut Vec::new(), 1 << 20, &mut owned).unwrap();
        let mut scratch = Vec::new();
        let mut borrowed = Vec::new();
        produced_records(&batch, &mut scratch, 1 << 20, &mut borrowed).unwrap();
        let time = millrace::batch::AppendTime {
            ms: 5,
            overrides: false,
        };
        let (mut from_owned, mut from_borrowed) = (Vec::new(), Vec::new());
        millrace::batch::encode_at(&mut from_owned, 3, &owned, time, None, 0, 0);
        millrace::batch::encode_at(&mut from_borrowed, 3, &borrowed, time, None, 0, 0);
        assert_eq!(from_borrowed, from_owned, "{codec:?}");
        let header = millrace::batch::verify(&from_borrowed).unwrap();
        assert_eq!(header.version, millrace::batch::BATCH_VERSION_NULLS);
    }
}

#[test]
fn log_append_time_and_missing_timestamps_map_to_append_time() {
    let records = produced();
    let mut bytes = encode_ours(&records, Compression::None, false);
    bytes[22] |= 1 << 3; // timestamp type: log-append time
    reseal(&mut bytes);
    let mut out = Vec::new();
    to_engine_records(&produce_batch(&bytes).unwrap(), &mut Vec::new(), 1 << 20, &mut out).unwrap();
    assert!(out.iter().all(|r| r.timestamp_ms.is_none()));
    let mut bytes = encode_ours(&records, Compression::None, false);
    bytes[27..35].copy_from_slice(&(-1i64).to_be_bytes()); // base timestamp -1: none given
    reseal(&mut bytes);
    let mut out = Vec::new();
    to_engine_records(&produce_batch(&bytes).unwrap(), &mut Vec::new(), 1 << 20, &mut out).unwrap();
    assert!(out.iter().all(|r| r.timestamp_ms.is_none()));
}

fn reseal(bytes: &mut [u8]) {
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn null_values_and_null_header_values_round_trip_through_the_store() {
    let mut records = produced();
    records[2].value = None;
    records[1].headers = vec![
        ("a".into(), Some(b"x".to_vec())),
        ("n".into(), None),
        ("a".into(), None),
    ];
    for codec in Compression::ALL {
        let bytes = encode_ours(&records, codec, false);
        let mut engine = Vec::new();
        to_engine_records(&produce_batch(&bytes).unwrap(), &mut Vec::new(), 1 << 20, &mut engine).unwrap();
        assert!(engine[2].is_null_value());
        assert!(!engine[1].is_null_value());
        let headers: Vec<(String, Option<Vec<u8>>)> = engine[1]
            .headers_opt()
            .map(|(k, v)| (k.to_string(), v.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(headers, records[1].headers);

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store.create_topic("t", TopicConfig::default()).unwrap();
        store.append("t", 0, &engine).unwrap();
        let (read, _) = store.read_batches("t", 0, 0, ReadOptions::default(), None).unwrap();
        let mut out = Vec::new();
        for b in &read {
            encode_read_batch(&mut out, b, codec).unwrap();
        }
        // Ours decodes the fetched batch back to exactly what was produced.
        let (_, fetched) = decode_ours(&out);
        let timestamps: Vec<i64> = fetched.iter().map(|r| r.timestamp_delta).collect();
        let mut expected = records.clone();
        for (e, f) in expected.iter_mut().zip(&timestamps) {
            e.timestamp_delta = *f;
        }
        assert_eq!(fetched, expected, "{codec:?}");
        // And the independent decoder sees the tombstone.
        let theirs = decode_theirs(&out);
        assert_eq!(theirs[2].value, None);
        assert_eq!(theirs[1].value.as_deref(), Some(&b""[..]));
    }
}

#[test]
fn out_of_order_offset_deltas_are_refused() {
    let records = produced();
    let mut out = Vec::new();
    let fields = BatchFields {
        base_offset: 0,
        partition_leader_epoch: -1,
        attributes: Attributes::default(),
        base_timestamp: BASE_TIMESTAMP,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
    let mut writer = BatchWriter::begin(&mut out, fields);
    for (delta, r) in [0, 2, 1, 3].into_iter().zip(&records) {
        writer
            .record(delta, 0, r.key.as_deref(), r.value.as_deref(), std::iter::empty)
            .unwrap();
    }
    writer.finish(Compression::None).unwrap();
    let error =
        to_engine_records(&produce_batch(&out).unwrap(), &mut Vec::new(), 1 << 20, &mut Vec::new()).unwrap_err();
    assert_eq!(
        error,
        RecordsError::OffsetDeltaOutOfOrder {
            index: 1,
            offset_delta: 2
        }
    );
}

#[test]
fn fetch_inside_an_engine_batch_starts_at_that_offset_with_producer_fields() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    // One plain batch of 2, then an idempotent batch of 4 (sequences 0..3).
    let records = produced();
    let batch = produce_batch(&encode_ours(&records, Compression::Gzip, false))
        .map(|b| {
            let mut out = Vec::new();
            to_engine_records(&b, &mut Vec::new(), 1 << 20, &mut out).unwrap();
            out
        })
        .unwrap();
    store.append("t", 0, &batch[..2]).unwrap();
    let session = store.init_producer("kafka-test").unwrap();
    store.append_sequenced("t", 0, &batch, session.stamp(0)).unwrap();

    for start in 2..6u64 {
        let (read, _) = store.read_batches("t", 0, start, ReadOptions::default(), None).unwrap();
        let mut out = Vec::new();
        for b in &read {
            encode_read_batch(&mut out, b, Compression::None).unwrap();
        }
        let theirs = decode_theirs(&out);
        assert_eq!(theirs.first().unwrap().offset, start as i64, "fetch from {start}");
        assert_eq!(theirs.len(), 6 - start as usize);
        for (t, offset) in theirs.iter().zip(start..) {
            let kafka = &records[offset as usize - 2];
            assert_eq!(t.offset, offset as i64);
            assert_eq!(t.producer_id, session.producer_id as i64);
            assert_eq!(t.producer_epoch, session.epoch as i16);
            assert_eq!(t.sequence, offset as i32 - 2, "base sequence moved with the start");
            assert_eq!(t.key.as_deref(), kafka.key.as_deref());
            assert_eq!(t.value.as_deref(), kafka.value.as_deref());
            assert_eq!(t.timestamp, BASE_TIMESTAMP + kafka.timestamp_delta);
            assert!(!t.transactional);
        }
    }
    // From 1: the tail of the plain batch (no producer), then the idempotent one.
    let (read, _) = store.read_batches("t", 0, 1, ReadOptions::default(), None).unwrap();
    let mut out = Vec::new();
    for b in &read {
        encode_read_batch(&mut out, b, Compression::Lz4).unwrap();
    }
    let theirs = decode_theirs(&out[..]);
    assert_eq!(theirs.len(), 1, "the first batch alone");
    assert_eq!(
        (theirs[0].offset, theirs[0].producer_id, theirs[0].sequence),
        (1, -1, -1)
    );
    let (second, _) = RecordBatch::parse(&out, 0).unwrap();
    let (_, rest) = (second, &out[second.bytes.len()..]);
    assert_eq!(decode_theirs(rest).len(), 4);
}
