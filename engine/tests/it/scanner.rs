//! `Scanner`: a sequential reader that keeps its place between calls must
//! visit exactly what `Store::scan` (and `Store::read`) from the same offsets
//! visit, across segment rolls, retention and truncation under it, and still
//! report corruption with the segment and batch position.

use millrace::{
    CorruptionKind, Durability, Error, Isolation, ReadOptions, Record, Scanner, Store, StoreOptions, StoredRecord,
    TopicConfig,
};
use proptest::prelude::*;
use std::path::PathBuf;

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Os,
        background: false,
        ..StoreOptions::default()
    }
}

fn small_segments() -> TopicConfig {
    TopicConfig {
        partitions: 1,
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..TopicConfig::default()
    }
}

fn record(i: u64, value_len: usize) -> Record {
    let mut r = Record::new(vec![(i % 251) as u8; value_len]).with_timestamp(i as i64);
    if i.is_multiple_of(3) {
        r = r.with_key(i.to_le_bytes().to_vec());
    }
    if i.is_multiple_of(5) {
        r = r.with_header("n", i.to_le_bytes().to_vec());
    }
    r
}

/// Append `batches` batches of `per_batch` records (values of `value_len`
/// bytes), rolling every `roll_every` batches (0: never).
fn fill(store: &Store, topic: &str, batches: u64, per_batch: u64, value_len: usize, roll_every: u64) {
    let mut i = 0;
    for b in 0..batches {
        let records: Vec<Record> = (0..per_batch)
            .map(|_| {
                i += 1;
                record(i, value_len)
            })
            .collect();
        store.append(topic, 0, &records).unwrap();
        if roll_every > 0 && (b + 1) % roll_every == 0 {
            store.roll(topic, 0).unwrap();
        }
    }
}

fn scanner_call(scanner: &mut Scanner, options: ReadOptions) -> Result<(Vec<StoredRecord>, u64), Error> {
    let mut seen = Vec::new();
    let next = scanner.scan(options, |view| seen.push(view.to_owned()))?;
    Ok((seen, next))
}

fn store_scan_call(store: &Store, topic: &str, offset: u64, options: ReadOptions) -> (Vec<StoredRecord>, u64) {
    let mut seen = Vec::new();
    let next = store
        .scan(topic, 0, offset, options, Isolation::ReadCommitted, |view| {
            seen.push(view.to_owned())
        })
        .unwrap();
    (seen, next)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random batches (sizes, values, rolls), a random start and random
    /// budgets per call: every call of one scanner returns what `Store::scan`
    /// and `Store::read` from the same offset return.
    #[test]
    fn scanner_matches_store_scan_and_read(
        batches in proptest::collection::vec((1u64..40, 0usize..300, any::<bool>()), 1..40),
        start_fraction in 0.0f64..1.0,
        budgets in proptest::collection::vec((1usize..60, 1usize..6000), 1..20),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), options()).unwrap();
        // Segments of 16 KiB: several batches each, every batch fits.
        store.create_topic("t", TopicConfig { segment_bytes: 16384, ..small_segments() }).unwrap();
        let mut i = 0;
        for (count, value_len, roll) in &batches {
            let records: Vec<Record> = (0..*count).map(|_| { i += 1; record(i, *value_len) }).collect();
            store.append("t", 0, &records).unwrap();
            if *roll {
                store.roll("t", 0).unwrap();
            }
        }
        let (start, end) = store.offsets("t", 0).unwrap();
        let first = start + ((end - start) as f64 * start_fraction) as u64;
        let mut scanner = store.scanner("t", 0, first, Isolation::ReadCommitted).unwrap();
        let mut offset = first;
        let mut call = 0;
        while offset < end {
            let (max_records, max_bytes) = budgets[call % budgets.len()];
            let options = ReadOptions { max_records, max_bytes };
            let (seen, next) = scanner_call(&mut scanner, options).unwrap();
            let (expected, expected_next) = store_scan_call(&store, "t", offset, options);
            let read = store.read("t", 0, offset, options).unwrap();
            prop_assert_eq!(&seen, &expected, "call {} from {}", call, offset);
            prop_assert_eq!(&seen, &read.records);
            prop_assert_eq!(next, expected_next);
            prop_assert_eq!(next, read.next_offset);
            prop_assert_eq!(scanner.offset(), next);
            prop_assert!(next > offset);
            offset = next;
            call += 1;
        }
        // At the end: nothing more, like Store::scan.
        let (seen, next) = scanner_call(&mut scanner, ReadOptions::default()).unwrap();
        prop_assert!(seen.is_empty());
        prop_assert_eq!(next, end);
    }
}

/// A scanner stopped inside a batch of one segment continues into the next
/// segments (rolled while it was stopped, too) and into the active one.
#[test]
fn resumes_across_segment_rolls_and_into_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", small_segments()).unwrap();
    fill(&store, "t", 12, 10, 40, 4);
    let budget = ReadOptions {
        max_records: 7,
        max_bytes: 1 << 20,
    };
    let mut scanner = store.scanner("t", 0, 0, Isolation::ReadCommitted).unwrap();
    let mut all = Vec::new();
    let (seen, _) = scanner_call(&mut scanner, budget).unwrap();
    all.extend(seen);
    // More data and a roll while the scanner is stopped mid-batch.
    fill(&store, "t", 6, 10, 40, 3);
    let (_, end) = store.offsets("t", 0).unwrap();
    while scanner.offset() < end {
        let (seen, _) = scanner_call(&mut scanner, budget).unwrap();
        assert!(!seen.is_empty());
        all.extend(seen);
    }
    let expected: Vec<u64> = (0..end).collect();
    assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), expected);
    let read = store
        .read(
            "t",
            0,
            0,
            ReadOptions {
                max_records: 10_000,
                max_bytes: 1 << 30,
            },
        )
        .unwrap();
    assert_eq!(all, read.records);
}

/// Retention (here: prefix truncation, which deletes whole segments) under a
/// scanner: deleting segments before the scanner's changes nothing; moving
/// the log start past the scanner gives the same error as `Store::scan`, and
/// the scanner can seek to the new start.
#[test]
fn retention_and_truncation_under_a_scanner() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", small_segments()).unwrap();
    // 10 records of ~70 B a batch, 4 batches a segment: 40 records a segment.
    fill(&store, "t", 20, 10, 40, 4);
    let budget = ReadOptions {
        max_records: 13,
        max_bytes: 1 << 20,
    };
    // Stop inside a batch of the third segment (offsets 80..120).
    let mut scanner = store.scanner("t", 0, 85, Isolation::ReadCommitted).unwrap();
    let (seen, next) = scanner_call(&mut scanner, budget).unwrap();
    assert_eq!(seen.first().map(|r| r.offset), Some(85));
    assert_eq!(next, 98);
    // Delete the two segments before it: the scanner goes on unchanged.
    store.truncate_prefix("t", 0, 80).unwrap();
    assert_eq!(store.offsets("t", 0).unwrap().0, 80);
    let (seen, next) = scanner_call(&mut scanner, budget).unwrap();
    assert_eq!(
        (seen, next),
        store_scan_call(&store, "t", 98, budget),
        "after deleting earlier segments"
    );
    assert_eq!(next, 111);
    // Move the start past the scanner, inside the batch it stopped in.
    store.truncate_prefix("t", 0, 115).unwrap();
    let err = scanner_call(&mut scanner, budget).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OffsetOutOfRange {
                requested: 111,
                start: 115,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(scanner.offset(), 111, "an error leaves the offset");
    scanner.seek(115);
    let (seen, next) = scanner_call(&mut scanner, budget).unwrap();
    assert_eq!((seen, next), store_scan_call(&store, "t", 115, budget));
    // Delete the scanner's own segment (start past it): out of range again.
    store.truncate_prefix("t", 0, 160).unwrap();
    assert!(matches!(
        scanner_call(&mut scanner, budget),
        Err(Error::OffsetOutOfRange { start: 160, .. })
    ));
    // Retention by size deletes segments too; a scanner in the last ones goes on.
    let mut scanner = store.scanner("t", 0, 165, Isolation::ReadCommitted).unwrap();
    scanner_call(&mut scanner, budget).unwrap();
    let offset = scanner.offset();
    store.enforce_retention().unwrap();
    assert_eq!(
        scanner_call(&mut scanner, budget).unwrap(),
        store_scan_call(&store, "t", offset, budget)
    );
}

/// A topic deleted under a scanner is an error, and a topic of the same name
/// created again is read from its own files, not the old mapping.
#[test]
fn deleted_and_recreated_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", small_segments()).unwrap();
    fill(&store, "t", 8, 10, 40, 4);
    let budget = ReadOptions {
        max_records: 5,
        max_bytes: 1 << 20,
    };
    let mut scanner = store.scanner("t", 0, 0, Isolation::ReadCommitted).unwrap();
    scanner_call(&mut scanner, budget).unwrap();
    assert_eq!(scanner.offset(), 5);
    store.delete_topic("t").unwrap();
    assert!(matches!(
        scanner_call(&mut scanner, budget),
        Err(Error::TopicNotFound(_))
    ));
    store.create_topic("t", small_segments()).unwrap();
    let records: Vec<Record> = (0..20).map(|i| Record::new(vec![0xEE; 40 + i])).collect();
    store.append("t", 0, &records).unwrap();
    store.roll("t", 0).unwrap();
    let (seen, next) = scanner_call(&mut scanner, budget).unwrap();
    assert_eq!((seen.clone(), next), store_scan_call(&store, "t", 5, budget));
    assert!(seen.iter().all(|r| r.value.iter().all(|b| *b == 0xEE)));
}

/// Positions of the batches in a segment file.
fn batch_positions(path: &PathBuf) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap();
    let mut positions = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        positions.push(at as u64);
        at += u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    positions
}

/// A damaged batch of a sealed segment is reported with the segment and the
/// batch's position by the scan that starts at it, whether the scanner
/// reaches it from the start, or by continuing from inside the batch before
/// it; the scan that reaches it after visiting records returns those records
/// and stops at the damage (design/durability.md, "Reads before damage").
#[test]
fn corruption_is_reported_with_segment_and_position() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), options()).unwrap();
        store.create_topic("t", small_segments()).unwrap();
        fill(&store, "t", 4, 10, 40, 4);
        fill(&store, "t", 1, 10, 40, 0);
        store.close().unwrap();
    }
    let segment = dir.path().join("topics/t/00000/00000000000000000000.log");
    let positions = batch_positions(&segment);
    assert_eq!(positions.len(), 4);
    let damaged = positions[2];
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[damaged as usize + 100] ^= 0x40;
    std::fs::write(&segment, &bytes).unwrap();

    let store = Store::open(dir.path(), options()).unwrap();
    let check = |err: Error| match err {
        Error::Corruption {
            segment: path,
            position,
            kind,
        } => {
            assert_eq!(path, segment);
            assert_eq!(position, damaged);
            assert_eq!(kind, CorruptionKind::ChecksumMismatch);
        }
        other => panic!("expected corruption, got {other:?}"),
    };
    // From the start with a budget past the damage.
    let mut scanner = store.scanner("t", 0, 0, Isolation::ReadCommitted).unwrap();
    let mut seen = 0;
    assert_eq!(scanner.scan(ReadOptions::default(), |_| seen += 1).unwrap(), 20);
    assert_eq!(seen, 20, "the two good batches before it were visited");
    check(scanner.scan(ReadOptions::default(), |_| seen += 1).unwrap_err());
    assert_eq!((seen, scanner.offset()), (20, 20));
    // Stopped inside batch 1, then continuing to the damaged batch 2.
    let budget = ReadOptions {
        max_records: 15,
        max_bytes: 1 << 20,
    };
    scanner.seek(0);
    let (_, next) = scanner_call(&mut scanner, budget).unwrap();
    assert_eq!(next, 15);
    let (_, next) = scanner_call(&mut scanner, budget).unwrap();
    assert_eq!(next, 20);
    check(scanner_call(&mut scanner, budget).unwrap_err());
    assert_eq!(scanner.offset(), 20);
    // Store::scan says the same.
    let next = store
        .scan("t", 0, 15, budget, Isolation::ReadCommitted, |_| {})
        .unwrap();
    assert_eq!(next, 20);
    let err = store
        .scan("t", 0, 20, budget, Isolation::ReadCommitted, |_| {})
        .unwrap_err();
    check(err);
}
