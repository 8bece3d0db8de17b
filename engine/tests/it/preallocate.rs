//! `Always` partitions keep zeros written ahead of their data so that a
//! durable append's fdatasync overwrites existing blocks instead of growing
//! the file (design/durability.md, "Preallocated tail"). These tests pin down
//! the file states that produces: zeros past the data while open, exact files
//! after a clean close and after a roll, and a crash image (the files as a
//! kill -9 leaves them) that recovers every acknowledged record without
//! counting the zeros as a torn tail — while a torn batch in front of the
//! zeros still is one.

use crate::common;

use common::{batch_layout, log_path, partition_dir, read_partition, scratch_dir, segment_bases};
use millrace::{Durability, Record, Store, StoreOptions, TopicConfig};
use std::path::Path;

const TOPIC: &str = "t";

fn open(dir: &Path, durability: Durability) -> Store {
    Store::open(
        dir,
        StoreOptions {
            durability,
            background: false,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

fn config(segment_bytes: u64) -> TopicConfig {
    TopicConfig {
        partitions: 1,
        segment_bytes,
        ..TopicConfig::default()
    }
}

fn record(i: usize) -> Record {
    Record::new(vec![(i % 251) as u8; 100 + i % 300]).with_key(format!("k{i}").into_bytes())
}

/// Append `count` single-record batches; returns the records.
fn append(store: &Store, from: usize, count: usize) -> Vec<Record> {
    (from..from + count)
        .map(|i| {
            let r = record(i);
            let info = store.append(TOPIC, 0, std::slice::from_ref(&r)).unwrap();
            assert_eq!(info.base_offset, i as u64, "dense offsets");
            r
        })
        .collect()
}

/// Bytes of whole batches at the start of `bytes` (the rest is not a batch).
fn data_len(bytes: &[u8]) -> usize {
    let mut pos = 0;
    while let Ok(header) = millrace::batch::verify(&bytes[pos..]) {
        pos += header.length as usize;
    }
    pos
}

fn values(store: &Store) -> Vec<Vec<u8>> {
    read_partition(store, TOPIC, 0).into_iter().map(|r| r.value).collect()
}

/// Copy a data directory as a crash leaves it (what the page cache holds).
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

#[test]
fn always_partition_writes_zeros_ahead_and_close_cuts_them() {
    let dir = scratch_dir();
    let store = open(dir.path(), Durability::Always);
    store.create_topic(TOPIC, config(64 << 20)).unwrap();
    let records = append(&store, 0, 50);
    let log = log_path(dir.path(), TOPIC, 0, 0);
    let bytes = std::fs::read(&log).unwrap();
    let data = data_len(&bytes);
    assert!(
        bytes.len() >= data + 512 * 1024,
        "{} bytes of file for {data} of data",
        bytes.len()
    );
    assert!(bytes[data..].iter().all(|&b| b == 0), "only zeros after the data");
    assert_eq!(batch_layout(&bytes[..data]).len(), 50);
    store.close().unwrap();
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        data as u64,
        "close cuts the zeros"
    );
    let store = open(dir.path(), Durability::Always);
    let want: Vec<Vec<u8>> = records.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values(&store), want);
    assert_eq!(store.metrics().torn_tails_truncated, 0);
}

#[test]
fn relaxed_modes_do_not_preallocate() {
    for durability in [Durability::Os, Durability::Interval { ms: 10 }] {
        let dir = scratch_dir();
        let store = open(dir.path(), durability);
        store.create_topic(TOPIC, config(64 << 20)).unwrap();
        append(&store, 0, 20);
        let bytes = std::fs::read(log_path(dir.path(), TOPIC, 0, 0)).unwrap();
        assert_eq!(
            data_len(&bytes),
            bytes.len(),
            "{durability:?}: file is exactly its batches"
        );
        store.close().unwrap();
    }
}

#[test]
fn crash_image_with_zeros_recovers_every_record_and_counts_no_torn_tail() {
    let dir = scratch_dir();
    let store = open(dir.path(), Durability::Always);
    store.create_topic(TOPIC, config(64 << 20)).unwrap();
    let mut records = append(&store, 0, 40);
    let crashed = scratch_dir();
    copy_dir(dir.path(), crashed.path());
    drop(store);
    let log = log_path(crashed.path(), TOPIC, 0, 0);
    let before = std::fs::read(&log).unwrap();
    let data = data_len(&before);
    assert!(before.len() > data, "the crash image holds preallocated zeros");
    let store = open(crashed.path(), Durability::Always);
    assert_eq!(store.metrics().torn_tails_truncated, 0, "zeros are not a torn tail");
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        data as u64,
        "open cuts the zeros"
    );
    records.extend(append(&store, 40, 10));
    let want: Vec<Vec<u8>> = records.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values(&store), want);
}

#[test]
fn torn_batch_in_front_of_the_zeros_is_still_a_torn_tail() {
    let dir = scratch_dir();
    let store = open(dir.path(), Durability::Always);
    store.create_topic(TOPIC, config(64 << 20)).unwrap();
    let records = append(&store, 0, 30);
    let crashed = scratch_dir();
    copy_dir(dir.path(), crashed.path());
    drop(store);
    let log = log_path(crashed.path(), TOPIC, 0, 0);
    let mut bytes = std::fs::read(&log).unwrap();
    let data = data_len(&bytes);
    let layout = batch_layout(&bytes[..data]);
    // The last batch torn: its first 40 bytes reached the disk, the rest are
    // still the zeros written ahead.
    let (last, header) = *layout.last().unwrap();
    bytes[last + 40..last + header.length as usize].fill(0);
    std::fs::write(&log, &bytes).unwrap();
    let store = open(crashed.path(), Durability::Always);
    assert_eq!(store.metrics().torn_tails_truncated, 1);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), last as u64);
    let want: Vec<Vec<u8>> = records[..29].iter().map(|r| r.value.clone()).collect();
    assert_eq!(values(&store), want);
}

#[test]
fn sealed_segments_end_at_their_last_batch() {
    let dir = scratch_dir();
    let store = open(dir.path(), Durability::Always);
    // Small segments: many rolls, each sealing a file that had zeros ahead.
    store.create_topic(TOPIC, config(16 * 1024)).unwrap();
    let records = append(&store, 0, 300);
    let bases = segment_bases(dir.path(), TOPIC, 0);
    assert!(bases.len() > 3, "rolled: {bases:?}");
    for base in &bases[..bases.len() - 1] {
        let bytes = std::fs::read(log_path(dir.path(), TOPIC, 0, *base)).unwrap();
        assert_eq!(
            data_len(&bytes),
            bytes.len(),
            "sealed segment {base} is exactly its batches"
        );
    }
    // A crash image opens: sealed segments are trusted through their indexes.
    let crashed = scratch_dir();
    copy_dir(dir.path(), crashed.path());
    drop(store);
    let store = open(crashed.path(), Durability::Always);
    let want: Vec<Vec<u8>> = records.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values(&store), want);
    assert_eq!(store.metrics().torn_tails_truncated, 0);
    assert!(partition_dir(crashed.path(), TOPIC, 0).is_dir());
}

#[test]
fn check_does_not_report_the_preallocated_zeros_but_does_report_a_torn_batch() {
    let dir = scratch_dir();
    let store = open(dir.path(), Durability::Always);
    store.create_topic(TOPIC, config(64 << 20)).unwrap();
    append(&store, 0, 20);
    let crashed = scratch_dir();
    copy_dir(dir.path(), crashed.path());
    drop(store);
    std::fs::remove_file(crashed.path().join("LOCK")).ok();
    let report = millrace::inspect::check_dir(crashed.path()).unwrap();
    assert_eq!(report.records, 20);
    let log_problems: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.path.extension().is_some_and(|e| e == "log"))
        .collect();
    assert!(
        log_problems.is_empty(),
        "zeros after the data are not a problem: {log_problems:?}"
    );
    // A torn batch in front of the zeros is still reported (recoverable).
    let log = log_path(crashed.path(), TOPIC, 0, 0);
    let mut bytes = std::fs::read(&log).unwrap();
    let data = data_len(&bytes);
    bytes.copy_within(..10, data);
    std::fs::write(&log, &bytes).unwrap();
    let report = millrace::inspect::check_dir(crashed.path()).unwrap();
    let torn: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.path == log && p.position == data as u64)
        .collect();
    assert_eq!(torn.len(), 1, "{:?}", report.problems);
    assert_eq!(torn[0].severity, millrace::inspect::Severity::Recoverable);
}
