//! Replays every file in `fuzz/corpus/batch_decode` and
//! `fuzz/corpus/segment_recovery` through the same checks the cargo-fuzz
//! targets run (`millrace_tests::fuzz_checks`), so CI covers the seeds and
//! every kept crash without cargo-fuzz. The ignored test `write_seed_corpus`
//! regenerates the seeds (valid segments written through the public API, and
//! truncated, bit-flipped, zeroed and extended variants):
//! `cargo test -p millrace-tests --test it -- --ignored fuzz_corpus::write_seed_corpus`.

use millrace::batch::{self, ProducerStamp, FLAG_CONTROL, FLAG_TRANSACTIONAL, HEADER_SIZE};
use millrace::{Durability, Record, Store, StoreOptions, TopicConfig};
use millrace_tests::alloc_track::AllocationStats;
use millrace_tests::crash::SplitMix64;
use millrace_tests::fuzz_checks::{allocation_bound_bytes, check_batch_decode, check_segment_recovery, segment_path};
use millrace_tests::fuzz_metadata::{self, check_metadata_open, Target};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

fn replay(target: &str, check: fn(&[u8]) -> AllocationStats, bound: fn(usize) -> usize) {
    let files = corpus_files(target);
    let mut worst: Option<(f64, String, usize, AllocationStats)> = None;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        let stats = match outcome {
            Ok(stats) => stats,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("{target}: corpus file {name} ({} bytes) failed: {message}", bytes.len());
            }
        };
        let share = stats.peak_bytes as f64 / bound(bytes.len()) as f64;
        if worst.as_ref().is_none_or(|w| share > w.0) {
            worst = Some((share, name, bytes.len(), stats));
        }
    }
    if let Some((share, name, len, stats)) = worst {
        eprintln!(
            "{target}: {} files; closest to the allocation bound: {name} ({len} bytes) peaked at {} bytes = {:.1}% of {} ({stats:?})",
            files.len(),
            stats.peak_bytes,
            share * 100.0,
            bound(len)
        );
    }
}

#[test]
fn batch_decode_corpus_replays() {
    replay("batch_decode", check_batch_decode, allocation_bound_bytes);
}

#[test]
fn segment_recovery_corpus_replays() {
    replay("segment_recovery", check_segment_recovery, allocation_bound_bytes);
}

#[test]
fn metadata_open_corpus_replays() {
    replay(
        "metadata_open",
        check_metadata_open,
        fuzz_metadata::allocation_bound_bytes,
    );
}

/// The `metadata_open` check reaches both sides of every parser: each
/// target's own bytes with the checksum appended open and read back (the
/// image is laid out where the store reads it), and half of them are
/// refused, at open or when the table is first read, where the format can
/// tell (all but `start.offset`, whose half of "1" is an empty file, the
/// files derived from the log: the index, the producer registry and
/// snapshots, which open ignores with a warning and rebuilds, and a
/// transaction commit record, which open skips and reports instead of
/// refusing the store: `transaction_parts_unapplied`,
/// `engine/tests/txn_limits.rs`).
#[test]
fn metadata_open_seeds_reach_accepting_and_refusing_paths() {
    let good = fuzz_metadata::Outcome {
        opened: true,
        tables_read: true,
    };
    for (name, input) in fuzz_metadata::seed_inputs() {
        let target = Target::of(input[0]);
        if name.ends_with("whole") {
            assert_eq!(
                fuzz_metadata::outcome(&input, true),
                good,
                "{name}: the template's own bytes"
            );
        } else if !matches!(
            target,
            Target::Index
                | Target::StartOffset
                | Target::ProducerRegistry
                | Target::ProducerSnapshot
                | Target::TransactionCommit
        ) {
            for checksum in [true, false] {
                assert_ne!(
                    fuzz_metadata::outcome(&input, checksum),
                    good,
                    "{name} (checksum appended: {checksum}): half a file must be refused"
                );
            }
        }
    }
}

// ------------------------------------------------------------- seed corpus

/// A segment written by the store in `Always` mode (so `synced_before` is set
/// as in production), with timestamps given so the bytes are reproducible.
fn store_segment(batches: &[Vec<Record>]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            durability: Durability::Always,
            background: false,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    // Same name and layout as the fuzz checks' store.
    store
        .create_topic(
            "fuzz",
            TopicConfig {
                index_interval_bytes: 256,
                ..TopicConfig::default()
            },
        )
        .unwrap();
    for records in batches {
        store.append("fuzz", 0, records).unwrap();
    }
    store.close().unwrap();
    std::fs::read(segment_path(dir.path())).unwrap()
}

fn varied_batches(count: usize, seed: u64) -> Vec<Vec<Record>> {
    let mut rng = SplitMix64::new(seed);
    let mut time = 1_700_000_000_000i64;
    (0..count)
        .map(|b| {
            let records = 1 + rng.below(if b % 5 == 0 { 4 } else { 1 }) as usize;
            (0..records)
                .map(|r| {
                    time += rng.below(1000) as i64;
                    let len = if rng.below(8) == 0 { 300 } else { rng.below(40) as usize };
                    let value: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                    let mut record = Record::new(value).with_timestamp(time);
                    if rng.below(2) == 0 {
                        record = record.with_key(format!("key-{b}-{r}").into_bytes());
                    }
                    if rng.below(3) == 0 {
                        record = record.with_header("h", vec![b as u8; 3]).with_header("", Vec::new());
                    }
                    record
                })
                .collect()
        })
        .collect()
}

/// Byte ranges of the batches of a valid segment.
fn batch_ranges(segment: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut position = 0;
    while position < segment.len() {
        let length = batch::BatchHeader::parse(&segment[position..]).unwrap().length as usize;
        batch::verify(&segment[position..position + length]).unwrap();
        ranges.push(position..position + length);
        position += length;
    }
    ranges
}

fn encoded(base_offset: u64, records: &[Record], producer: Option<ProducerStamp>, flags: u16) -> Vec<u8> {
    let mut out = Vec::new();
    batch::encode(&mut out, base_offset, records, 1_000, producer, flags, 0);
    out
}

fn flip(bytes: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= mask;
    b
}

/// A batch header claiming `length` bytes and `record_count` records, with no body.
fn header_claiming(length: u32, record_count: u32) -> Vec<u8> {
    let mut b = encoded(0, &[Record::new(Vec::new())], None, 0);
    b.truncate(HEADER_SIZE);
    b[4..8].copy_from_slice(&length.to_le_bytes());
    b[24..28].copy_from_slice(&record_count.to_le_bytes());
    b
}

#[test]
#[ignore = "writes fuzz/corpus/metadata_open seeds; run by hand after a format change"]
fn write_metadata_seed_corpus() {
    let dir = corpus_dir("metadata_open");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, input) in fuzz_metadata::seed_inputs() {
        std::fs::write(dir.join(format!("seed-{name}")), input).unwrap();
    }
}

#[test]
#[ignore = "writes fuzz/corpus seeds; run by hand after a format change"]
fn write_seed_corpus() {
    let small = store_segment(&[
        vec![Record::new(b"v".to_vec()).with_timestamp(1)],
        vec![Record::new(b"value".to_vec())
            .with_key(b"key".to_vec())
            .with_header("h1", b"x".to_vec())
            .with_timestamp(2)],
        vec![
            Record::new(Vec::new()).with_timestamp(3),
            Record::new(b"b".to_vec()).with_key(Vec::new()).with_timestamp(4),
            Record::new(b"c".to_vec()).with_timestamp(2),
        ],
    ]);
    let many = store_segment(&varied_batches(40, 7));
    let ranges = batch_ranges(&many);
    let middle = ranges[ranges.len() / 2].clone();
    let last = ranges.last().unwrap().clone();

    let mut segments: Vec<(&str, Vec<u8>)> = vec![
        ("seed-empty", Vec::new()),
        ("seed-valid-small", small.clone()),
        ("seed-valid-many", many.clone()),
        ("seed-truncated-in-last-header", many[..last.start + 20].to_vec()),
        ("seed-truncated-in-last-body", many[..last.end - 3].to_vec()),
        ("seed-truncated-in-middle", many[..middle.start + 70].to_vec()),
        ("seed-flip-middle-header", flip(&many, middle.start + 17, 0x01)),
        ("seed-flip-middle-payload", flip(&many, middle.end - 5, 0x80)),
        ("seed-flip-last-payload", flip(&many, last.end - 1, 0x10)),
        ("seed-flip-first-magic", flip(&small, 0, 0xff)),
    ];
    let mut zeroed = many.clone();
    let zero_from = zeroed.len() - 100;
    zeroed[zero_from..].fill(0);
    segments.push(("seed-zeroed-tail", zeroed));
    let mut garbage = small.clone();
    let mut rng = SplitMix64::new(3);
    garbage.extend((0..200).map(|_| rng.next_u64() as u8));
    segments.push(("seed-garbage-appended", garbage));
    let mut huge = small.clone();
    huge.extend(header_claiming(batch::BATCH_BYTES_MAX, 1));
    segments.push(("seed-huge-length-claimed", huge));
    let mut gap = small.clone();
    gap.extend(encoded(1_000, &[Record::new(b"gap".to_vec())], None, 0));
    segments.push(("seed-offset-gap", gap));
    let mut flagged = small.clone();
    let stamp = ProducerStamp {
        producer_id: 9,
        epoch: 1,
        base_sequence: 0,
    };
    flagged.extend(encoded(
        5,
        &[Record::new(b"t".to_vec())],
        Some(stamp),
        FLAG_TRANSACTIONAL,
    ));
    flagged.extend(encoded(6, &[Record::new(Vec::new())], Some(stamp), FLAG_CONTROL));
    segments.push(("seed-transactional-and-control", flagged));

    let mut batches: Vec<(String, Vec<u8>)> = vec![
        (
            "seed-small-first".into(),
            small[batch_ranges(&small)[0].clone()].to_vec(),
        ),
        (
            "seed-small-three".into(),
            small[batch_ranges(&small)[2].clone()].to_vec(),
        ),
        ("seed-many-middle".into(), many[middle.clone()].to_vec()),
        (
            "seed-control".into(),
            encoded(3, &[Record::new(vec![0, 1])], Some(stamp), FLAG_CONTROL),
        ),
        (
            "seed-huge-length-claimed".into(),
            header_claiming(batch::BATCH_BYTES_MAX, 1),
        ),
        (
            "seed-over-length-max".into(),
            header_claiming(batch::BATCH_BYTES_MAX + 1, 1),
        ),
        ("seed-huge-record-count".into(), header_claiming(64 + 22 * 4, u32::MAX)),
        ("seed-empty".into(), Vec::new()),
    ];
    batches.push((
        "seed-flipped-record-length".into(),
        flip(&small[batch_ranges(&small)[1].clone()], HEADER_SIZE, 0x40),
    ));

    for (target, files) in [
        (
            "segment_recovery",
            segments
                .into_iter()
                .map(|(n, b)| (n.to_string(), b))
                .collect::<Vec<_>>(),
        ),
        ("batch_decode", batches),
    ] {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
