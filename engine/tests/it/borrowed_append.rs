//! Appending records borrowed from the caller's buffer (`AppendRecord`, what
//! the Kafka front's produce passes; issue 26) is appending the same owned
//! records: through `Store::append_pending` the two read back the same
//! (keys, values, headers, nulls, timestamps, a record without a timestamp
//! stamped at the append), a record over the topic's `record_bytes_max` is
//! refused with the same message, a producer's retry is a duplicate, and a
//! topic's contract judges borrowed records as owned ones (its DLQ gets the
//! same letter).

use crate::common;

use common::{read_partition, scratch_dir};
use millrace::contract::check::{Action, RecordCheck, Verdict, Violation};
use millrace::dlq::DlqFilter;
use millrace::{AppendRecord, ProducerStamp, Record, Store, StoreOptions, StoredRecord, TopicConfig};
use std::sync::Arc;

/// A record borrowed from elsewhere, as a protocol front would hold it.
#[derive(Debug, Clone, Copy)]
struct Borrowed<'a> {
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [(&'a str, Option<&'a [u8]>)],
    timestamp_ms: Option<i64>,
}

impl AppendRecord for Borrowed<'_> {
    fn key(&self) -> Option<&[u8]> {
        self.key
    }
    fn value(&self) -> Option<&[u8]> {
        self.value
    }
    fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn headers(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.headers.iter().copied()
    }
    fn to_record(&self) -> Record {
        let mut record = Record {
            key: self.key.map(<[u8]>::to_vec),
            timestamp_ms: self.timestamp_ms,
            ..Record::default()
        };
        match self.value {
            Some(value) => record.value = value.to_vec(),
            None => record.nulls.value = true,
        }
        for (name, value) in self.headers {
            record = match value {
                Some(value) => record.with_header(*name, value.to_vec()),
                None => record.with_null_header(*name),
            };
        }
        record
    }
}

const HEADERS: [(&str, Option<&[u8]>); 3] = [("a", Some(b"1")), ("gone", None), ("a", Some(b""))];

/// A keyed record with headers (one null), a tombstone, an empty value, a
/// record without a timestamp.
fn borrowed() -> Vec<Borrowed<'static>> {
    vec![
        Borrowed {
            key: Some(b"k1"),
            value: Some(b"value one"),
            headers: &HEADERS,
            timestamp_ms: Some(1_000),
        },
        Borrowed {
            key: Some(b"k2"),
            value: None,
            headers: &[],
            timestamp_ms: Some(999),
        },
        Borrowed {
            key: None,
            value: Some(b""),
            headers: &HEADERS[..1],
            timestamp_ms: Some(2_000),
        },
        Borrowed {
            key: None,
            value: Some(b"append time"),
            headers: &[],
            timestamp_ms: None,
        },
    ]
}

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

fn without_offsets(records: Vec<StoredRecord>) -> Vec<StoredRecord> {
    records.into_iter().map(|r| StoredRecord { offset: 0, ..r }).collect()
}

#[test]
fn borrowed_records_read_back_as_the_same_owned_records() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("owned", TopicConfig::default()).unwrap();
    store.create_topic("borrowed", TopicConfig::default()).unwrap();
    let records = borrowed();
    let owned: Vec<Record> = records.iter().map(AppendRecord::to_record).collect();
    let before_ms = millrace::clock::now_ms();
    store.append_pending("owned", 0, &owned, None).unwrap().wait().unwrap();
    let done = store
        .append_pending("borrowed", 0, &records, None)
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!((done.base_offset, done.next_offset), (0, 4));
    let mut from_owned = without_offsets(read_partition(&store, "owned", 0));
    let mut from_borrowed = without_offsets(read_partition(&store, "borrowed", 0));
    assert_eq!(from_borrowed.len(), 4);
    assert!(from_borrowed[1].is_null_value() && from_borrowed[0].headers_opt().nth(1) == Some(("gone", None)));
    // The record without a timestamp got its append's time.
    for read in [&mut from_owned, &mut from_borrowed] {
        assert!(read[3].timestamp_ms >= before_ms, "{:?}", read[3]);
        read[3].timestamp_ms = 0;
    }
    assert_eq!(from_borrowed, from_owned);
    assert_eq!(from_borrowed[0].headers, owned[0].headers);
}

#[test]
fn a_borrowed_record_over_the_limit_is_refused_as_an_owned_one() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    let config = TopicConfig {
        record_bytes_max: 100,
        ..TopicConfig::default()
    };
    store.create_topic("t", config).unwrap();
    let big = [0u8; 200];
    let record = Borrowed {
        key: None,
        value: Some(&big),
        headers: &HEADERS,
        timestamp_ms: None,
    };
    let borrowed = store.append_pending("t", 0, &[record], None).unwrap_err();
    let owned = store.append_pending("t", 0, &[record.to_record()], None).unwrap_err();
    assert_eq!(borrowed.to_string(), owned.to_string());
    assert!(borrowed.to_string().contains("record_bytes_max"), "{borrowed}");
    assert_eq!(store.offsets("t", 0).unwrap(), (0, 0), "nothing appended");
}

#[test]
fn a_producers_borrowed_retry_is_a_duplicate() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let session = store.init_producer("p").unwrap();
    let stamp = ProducerStamp {
        producer_id: session.producer_id,
        epoch: session.epoch,
        base_sequence: 0,
    };
    let records = borrowed();
    let original = store
        .append_pending("t", 0, &records, Some(stamp))
        .unwrap()
        .wait()
        .unwrap();
    let retry = store
        .append_pending("t", 0, &records, Some(stamp))
        .unwrap()
        .wait()
        .unwrap();
    assert!(!original.duplicate && retry.duplicate);
    assert_eq!((retry.base_offset, retry.next_offset), (0, 4));
    assert_eq!(read_partition(&store, "t", 0).len(), 4, "written once");
}

/// A contract that sends a value holding `bad` to the DLQ.
#[derive(Debug)]
struct NoBad;

impl RecordCheck for NoBad {
    fn check(&self, _partition: u32, record: &Record) -> Verdict {
        let bad = record.value.windows(3).any(|w| w == b"bad");
        Verdict {
            contract_version: 1,
            violations: bad
                .then(|| Violation {
                    rule: "no_bad".into(),
                    path: "/".into(),
                    message: "bad".into(),
                    action: Action::Dlq,
                })
                .into_iter()
                .collect(),
        }
    }
}

#[test]
fn a_contract_judges_borrowed_records_as_owned_ones() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    store.record_checks().set("t", Some(Arc::new(NoBad)));
    let mut records = borrowed();
    records[2].value = Some(b"a bad one");
    let pending = store.append_pending("t", 0, &records, None).unwrap();
    assert_eq!(pending.dead_lettered, vec![(2, 0)]);
    let done = pending.wait().unwrap();
    assert_eq!((done.base_offset, done.next_offset), (0, 3));
    let letters = store.dlq_list("t", &DlqFilter::default()).unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].letter.record, records[2].to_record());
    let kept: Vec<Vec<u8>> = read_partition(&store, "t", 0).into_iter().map(|r| r.value).collect();
    assert_eq!(kept, [b"value one".to_vec(), Vec::new(), b"append time".to_vec()]);
}
