//! Null values and null header values (Kafka tombstones) through the public
//! API: they are written, read (copied, scanned, after a reopen, through a
//! transaction and into the DLQ) and told apart from empty ones; only a batch
//! that holds one is written as batch version 2, so a store without nulls is
//! byte for byte what earlier releases write and read, and a store written
//! before (the checked-in `fixtures/registry-v2`) opens unchanged. Corrupt
//! encodings of a null (the sentinel in a version-1 batch, a wrong length, a
//! flipped byte) are refused as corruption, never read as a value.
use crate::common;

use millrace::batch::{self, BatchHeader, HEADER_SIZE};
use millrace::dlq::{DlqFilter, FailOutcome};
use millrace::{CorruptionKind, Error, Isolation, Nulls, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::path::Path;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

/// A tombstone with a null and an empty header, then an empty value with an
/// empty header, then an ordinary record.
fn records() -> Vec<Record> {
    vec![
        Record::tombstone()
            .with_key("k")
            .with_null_header("n")
            .with_header("e", Vec::new()),
        Record::new(Vec::new()).with_header("e", Vec::new()),
        Record::new("v").with_header("h", "x"),
    ]
}

/// The three records of [`records`] at `from`, whatever follows them.
fn assert_nulls_read_back(store: &Store, topic: &str, from: u64) {
    let mut read = store.read(topic, 0, from, ReadOptions::default()).unwrap().records;
    assert!(read.len() >= 3, "{read:?}");
    read.truncate(3);
    assert!(read[0].is_null_value());
    assert_eq!(read[0].value_opt(), None);
    assert_eq!(read[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(
        read[0].headers_opt().collect::<Vec<_>>(),
        vec![("n", None), ("e", Some(&b""[..]))]
    );
    // The old accessors still compile and read a null as empty.
    assert!(read[0].value.is_empty());
    assert_eq!(read[0].header("n"), Some(&b""[..]));
    assert!(!read[1].is_null_value());
    assert_eq!(read[1].value_opt(), Some(&b""[..]));
    assert_eq!(read[1].headers_opt().collect::<Vec<_>>(), vec![("e", Some(&b""[..]))]);
    assert_eq!(read[2].value_opt(), Some(&b"v"[..]));
    assert_eq!(read[2].nulls, Nulls::default());
    // The borrowed views say the same.
    let mut seen = Vec::new();
    store
        .scan(
            topic,
            0,
            from,
            ReadOptions::default(),
            Isolation::ReadCommitted,
            |view| {
                seen.push((
                    view.value_opt().map(<[u8]>::to_vec),
                    view.is_null_value(),
                    view.headers_opt()
                        .map(|(n, v)| (n.to_string(), v.map(<[u8]>::to_vec)))
                        .collect::<Vec<_>>(),
                    view.to_owned(),
                ));
            },
        )
        .unwrap();
    assert!(seen.len() >= 3);
    seen.truncate(3);
    assert_eq!(seen[0].0, None);
    assert!(seen[0].1);
    assert_eq!(
        seen[0].2,
        vec![("n".to_string(), None), ("e".to_string(), Some(Vec::new()))]
    );
    assert_eq!(seen[1].0, Some(Vec::new()));
    for (i, (.., owned)) in seen.iter().enumerate() {
        assert_eq!(owned, &read[i]);
    }
}

/// Batch versions of every batch in partition 0's first segment.
fn batch_versions(data: &Path, topic: &str) -> Vec<u16> {
    let bytes = std::fs::read(common::log_path(data, topic, 0, 0)).unwrap();
    common::batch_layout(&bytes)
        .iter()
        .map(|(position, _)| u16::from_le_bytes([bytes[position + 12], bytes[position + 13]]))
        .collect()
}

#[test]
fn null_values_round_trip_and_only_their_batches_are_version_2() {
    let dir = common::scratch_dir();
    {
        let store = Store::open(dir.path(), options()).unwrap();
        store.create_topic("t", TopicConfig::default()).unwrap();
        store.append("t", 0, &[Record::new("plain")]).unwrap();
        let at = store.append("t", 0, &records()).unwrap();
        assert_eq!(at.base_offset, 1);
        store.append("t", 0, &[Record::new(Vec::new())]).unwrap();
        assert_nulls_read_back(&store, "t", 1);
        store.close().unwrap();
    }
    // Batches without a null are version 1, as every earlier release writes.
    assert_eq!(batch_versions(dir.path(), "t"), vec![1, 2, 1]);
    let store = Store::open(dir.path(), options()).unwrap();
    assert_nulls_read_back(&store, "t", 1);
    let last = store.read("t", 0, 4, ReadOptions::default()).unwrap().records;
    assert_eq!(last[0].value_opt(), Some(&b""[..]));
    store.close().unwrap();
}

#[test]
fn a_store_written_before_nulls_opens_unchanged_and_takes_them() {
    let dir = common::scratch_dir();
    let data = dir.path().join("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry-v2"),
        &data,
    );
    let before = std::fs::read(common::log_path(&data, "orders", 0, 0)).unwrap();
    assert_eq!(batch_versions(&data, "orders"), vec![1, 1, 1]);
    let store = Store::open(&data, options()).unwrap();
    let old = store.read("orders", 0, 0, ReadOptions::default()).unwrap().records;
    let values: Vec<_> = old.iter().map(|r| r.value_opt().map(<[u8]>::to_vec)).collect();
    assert_eq!(
        values,
        vec![
            Some(b"checkout-0".to_vec()),
            Some(b"checkout-1".to_vec()),
            Some(b"refunds-0".to_vec())
        ]
    );
    // Nothing was rewritten by the open.
    assert_eq!(std::fs::read(common::log_path(&data, "orders", 0, 0)).unwrap(), before);
    store.append("orders", 0, &records()).unwrap();
    store.close().unwrap();
    let store = Store::open(&data, options()).unwrap();
    assert_nulls_read_back(&store, "orders", 3);
    assert_eq!(batch_versions(&data, "orders"), vec![1, 1, 1, 2]);
}

#[test]
fn nulls_that_disagree_with_the_values_are_refused() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let mut value_and_null = Record::new("v");
    value_and_null.nulls.value = true;
    let mut header_and_null = Record::new("v").with_header("h", "x");
    header_and_null.nulls.headers = vec![0];
    let past_the_headers = Record {
        nulls: Nulls {
            value: false,
            headers: vec![1],
        },
        ..Record::new("v").with_header("h", Vec::new())
    };
    let descending = Record {
        nulls: Nulls {
            value: false,
            headers: vec![1, 0],
        },
        ..Record::new("v")
            .with_header("a", Vec::new())
            .with_header("b", Vec::new())
    };
    for bad in [value_and_null, header_and_null, past_the_headers, descending] {
        let err = store.append("t", 0, std::slice::from_ref(&bad)).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad:?}: {err:?}");
    }
    assert_eq!(store.offsets("t", 0).unwrap(), (0, 0));
}

#[test]
fn retain_headers_keeps_nulls_on_their_headers() {
    let mut record = Record::new("v")
        .with_header("dlq.a", "1")
        .with_null_header("n")
        .with_header("dlq.b", Vec::new())
        .with_null_header("m");
    record.retain_headers(|name| !name.starts_with("dlq."));
    assert_eq!(record.headers_opt().collect::<Vec<_>>(), vec![("n", None), ("m", None)]);
    assert_eq!(record.nulls.headers, vec![0, 1]);
}

#[test]
fn a_transaction_and_the_dlq_keep_nulls() {
    let dir = common::scratch_dir();
    {
        let store = Store::open(dir.path(), options()).unwrap();
        store.create_topic("in", TopicConfig::default()).unwrap();
        store.create_topic("out", TopicConfig::default()).unwrap();
        let session = store.init_producer("stage").unwrap();
        let mut txn = store.begin_transaction(session.id()).unwrap();
        txn.append("out", 0, &records()).unwrap();
        txn.commit().unwrap();
        assert_nulls_read_back(&store, "out", 0);
        // A tombstone dead-lettered: the letter keeps the null value and header.
        store.append("in", 0, &records()).unwrap();
        let tombstone = store.read("in", 0, 0, ReadOptions::default()).unwrap().records[0].clone();
        let outcome = store
            .fail_record(session.id(), "g", "in", 0, &tombstone, "transform", "E", "bad", 1)
            .unwrap();
        assert!(matches!(outcome, FailOutcome::DeadLettered { .. }), "{outcome:?}");
        store.close().unwrap();
    }
    // After a reopen (the transaction log replayed, if needed), the same.
    let store = Store::open(dir.path(), options()).unwrap();
    assert_nulls_read_back(&store, "out", 0);
    let letters = store.dlq_list("in", &DlqFilter::default()).unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0].letter.record;
    assert!(letter.is_null_value());
    assert_eq!(
        letter.headers_opt().collect::<Vec<_>>(),
        vec![("n", None), ("e", Some(&b""[..]))]
    );
}

/// One encoded batch of `records()`, at offset 0.
fn null_batch() -> (Vec<u8>, BatchHeader) {
    let mut bytes = Vec::new();
    let header = batch::encode(&mut bytes, 0, &records(), 7, None, 0, 0);
    (bytes, header)
}

/// Recompute the CRC (a forgery that only the record parse can catch).
fn fix_crc(bytes: &mut [u8]) {
    let crc = crc32fast::hash(&bytes[12..]);
    bytes[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// Byte position of the first record's value length in [`null_batch`].
fn value_length_at() -> usize {
    // record_length 4, timestamp 8, key length 4, key "k".
    HEADER_SIZE + 4 + 8 + 4 + 1
}

#[test]
fn a_corrupt_null_is_refused_not_read_as_a_value() {
    let (good, header) = null_batch();
    assert_eq!(header.version, 2);
    assert_eq!(&good[value_length_at()..value_length_at() + 4], &u32::MAX.to_le_bytes());
    let decoded = batch::decode_records(&good, &batch::verify(&good).unwrap()).unwrap();
    assert!(decoded[0].is_null_value());

    // A flipped byte anywhere: the CRC.
    for i in 0..good.len() {
        let mut flipped = good.clone();
        flipped[i] ^= 0x01;
        assert!(batch::verify(&flipped).is_err(), "flip at {i}");
    }
    // The same records claimed as version 1 (CRC fixed): the sentinel is a
    // length past the batch.
    let mut as_v1 = good.clone();
    as_v1[12..14].copy_from_slice(&1u16.to_le_bytes());
    fix_crc(&mut as_v1);
    let h = batch::verify(&as_v1).unwrap();
    assert_eq!(batch::decode_records(&as_v1, &h), Err(CorruptionKind::BadRecord));
    // An unknown version.
    let mut as_v3 = good.clone();
    as_v3[12..14].copy_from_slice(&3u16.to_le_bytes());
    fix_crc(&mut as_v3);
    assert_eq!(batch::verify(&as_v3), Err(CorruptionKind::BadVersion));
    // Plausible but wrong lengths where the sentinel was: one short of it, and
    // a length that runs into the next field.
    for wrong in [u32::MAX - 1, 1, 5] {
        let mut bytes = good.clone();
        bytes[value_length_at()..value_length_at() + 4].copy_from_slice(&wrong.to_le_bytes());
        fix_crc(&mut bytes);
        let h = batch::verify(&bytes).unwrap();
        assert_eq!(
            batch::decode_records(&bytes, &h),
            Err(CorruptionKind::BadRecord),
            "value length {wrong}"
        );
    }
    // An empty value turned into the sentinel keeps every length consistent:
    // only the CRC catches it, and does.
    let mut empty_to_null = good.clone();
    // Second record: value length sits after its record_length, timestamp, key length (-1).
    let second = HEADER_SIZE + u32::from_le_bytes(good[HEADER_SIZE..HEADER_SIZE + 4].try_into().unwrap()) as usize;
    let at = second + 4 + 8 + 4;
    assert_eq!(&good[at..at + 4], &0u32.to_le_bytes());
    empty_to_null[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(batch::verify(&empty_to_null), Err(CorruptionKind::ChecksumMismatch));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
