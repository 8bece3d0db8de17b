//! Encode with the kafka-protocol crate and decode with ours, and the other
//! way round, for every codec; compare every field.

use millrace_server::kafka::records::{Compression, MAGIC_V2, NO_PARTITION_LEADER_EPOCH};

use super::*;

#[test]
fn theirs_encoded_decodes_with_ours_for_every_codec() {
    let records = sample_records();
    for codec in Compression::ALL {
        for transactional in [false, true] {
            let bytes = encode_theirs(&records, codec, transactional);
            let (batch, decoded) = decode_ours(&bytes);
            let h = batch.header;
            assert_eq!(h.magic, MAGIC_V2);
            assert_eq!(h.base_offset, 0);
            assert_eq!(h.partition_leader_epoch, NO_PARTITION_LEADER_EPOCH);
            assert_eq!(h.attributes.compression(), Ok(codec), "{codec:?}");
            assert_eq!(h.attributes.is_transactional(), transactional);
            assert!(!h.attributes.is_control());
            assert_eq!(h.attributes.timestamp_type(), TimestampType::CreateTime);
            assert_eq!(h.record_count, records.len() as i32);
            assert_eq!(h.last_offset_delta, records.len() as i32 - 1);
            assert_eq!(h.producer_id, PRODUCER_ID);
            assert_eq!(h.producer_epoch, PRODUCER_EPOCH);
            assert_eq!(h.base_sequence, BASE_SEQUENCE);
            let max_delta = records.iter().map(|r| r.timestamp_delta).max().unwrap();
            assert_eq!(h.max_timestamp, BASE_TIMESTAMP + max_delta);
            assert_eq!(decoded.len(), records.len());
            for (ours, expected) in decoded.iter().zip(&records) {
                assert_eq!(
                    h.base_timestamp + ours.timestamp_delta,
                    BASE_TIMESTAMP + expected.timestamp_delta,
                    "{codec:?}"
                );
                assert_eq!(ours.key, expected.key);
                assert_eq!(ours.value, expected.value);
                assert_eq!(ours.headers, expected.headers);
            }
            // Offset deltas are 0..n-1.
            let (batch, _) = RecordBatch::parse(&bytes, 0).unwrap();
            let mut scratch = Vec::new();
            let deltas: Vec<i32> = batch
                .records(&mut scratch, 64 << 20)
                .unwrap()
                .map(|r| r.unwrap().offset_delta)
                .collect();
            assert_eq!(deltas, (0..records.len() as i32).collect::<Vec<_>>());
        }
    }
}

#[test]
fn ours_encoded_decodes_with_theirs_for_every_codec() {
    let records = sample_records();
    for codec in Compression::ALL {
        for transactional in [false, true] {
            let bytes = encode_ours(&records, codec, transactional);
            let theirs = decode_theirs(&bytes);
            assert_eq!(theirs.len(), records.len(), "{codec:?}");
            for (i, (t, expected)) in theirs.iter().zip(&records).enumerate() {
                assert_eq!(t.offset, i as i64);
                assert_eq!(t.sequence, BASE_SEQUENCE + i as i32);
                assert_eq!(t.producer_id, PRODUCER_ID);
                assert_eq!(t.producer_epoch, PRODUCER_EPOCH);
                assert_eq!(t.transactional, transactional);
                assert!(!t.control);
                assert_eq!(t.partition_leader_epoch, NO_PARTITION_LEADER_EPOCH);
                assert_eq!(t.timestamp, BASE_TIMESTAMP + expected.timestamp_delta, "{codec:?}");
                assert_eq!(t.key.as_deref(), expected.key.as_deref());
                assert_eq!(t.value.as_deref(), expected.value.as_deref());
                let headers: Vec<(String, Option<Vec<u8>>)> = t
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_vec())))
                    .collect();
                assert_eq!(headers, expected.headers);
            }
        }
    }
}

#[test]
fn uncompressed_encoding_is_byte_identical_to_theirs() {
    // Same base timestamp on both sides: the crate takes the smallest record
    // timestamp as the base, so give the first record the smallest.
    let mut records = sample_records();
    for r in &mut records {
        r.timestamp_delta = r.timestamp_delta.abs();
    }
    assert_eq!(
        encode_ours(&records, Compression::None, true),
        encode_theirs(&records, Compression::None, true)
    );
}
