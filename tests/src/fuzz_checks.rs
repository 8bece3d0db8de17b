//! The per-input checks of the fuzz targets in `fuzz/` (`batch_decode`,
//! `segment_recovery`), shared with `tests/it/fuzz_corpus.rs`, which replays the
//! checked-in corpus through them so CI needs no cargo-fuzz.
//!
//! Each check panics (the fuzzer's signal) if the engine panics, returns an
//! error outside the expected typed set, disagrees with an independent model
//! of the format, or allocates more than [`allocation_bound_bytes`] for the
//! input. The binary must install [`crate::alloc_track::TrackingAllocator`].

use crate::alloc_track::{self, AllocationStats};
use millrace::batch::{self, BatchHeader, HEADER_SIZE};
use millrace::{
    CorruptionKind, Durability, Error, ReadOptions, Record, RecoveryMode, Store, StoreOptions, StoredRecord,
    TopicConfig,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Bytes 8..12 of a batch hold the CRC of bytes 12..length (design/format.md, "Batch").
const CRC_FIELD: std::ops::Range<usize> = 8..12;
const CRC_COVERS_FROM: usize = 12;

/// The allocation bound the checks assert, per input of `input_bytes` bytes.
///
/// No decoder sizes a buffer from a header field alone: `BatchHeader::parse`
/// rejects `length > BATCH_BYTES_MAX` (64 MiB) and record counts above
/// `(length - 64) / 22` before anything is allocated, the segment scan reads a
/// batch only once the file is known to hold `length` bytes, and record and
/// header vectors are capped by the bytes actually present. So what is live
/// at once is proportional to the input, plus a fixed cost for the store
/// (paths, metadata, one 256 KiB scan chunk at most the file's size).
/// The factor covers the decoded form (a `StoredRecord` is ~100 bytes for a
/// 22-byte minimal record; a header entry 48 bytes for 6 input bytes) and the
/// checks' own copies (the CRC-fixed input, the model's decoded records).
pub fn allocation_bound_bytes(input_bytes: usize) -> usize {
    const FIXED_BYTES: usize = 512 * 1024;
    const PER_INPUT_BYTE: usize = 48;
    FIXED_BYTES + PER_INPUT_BYTE * input_bytes
}

pub(crate) fn assert_tracking() {
    assert!(
        alloc_track::is_installed(),
        "install millrace_tests::alloc_track::TrackingAllocator as the global allocator"
    );
}

pub(crate) fn assert_bounded(what: &str, input_bytes: usize, stats: AllocationStats) {
    let bound = allocation_bound_bytes(input_bytes);
    assert!(
        stats.peak_bytes <= bound,
        "{what}: {} bytes live at peak for a {input_bytes}-byte input, bound {bound} ({stats:?})",
        stats.peak_bytes
    );
}

// ---------------------------------------------------------------- batch_decode

/// Feed `data` to `batch::verify` and `batch::decode_records`: as given, with
/// its CRC recomputed (so mutations reach the record decoder), and parsed
/// without the CRC check (the decoder must be total on any input). Returns the
/// allocation seen.
pub fn check_batch_decode(data: &[u8]) -> AllocationStats {
    assert_tracking();
    let ((), stats) = alloc_track::measure(|| {
        decode_verified(data);
        let fixed = with_crc_fixed(data);
        let header_ok = BatchHeader::parse(&fixed).is_ok_and(|h| h.length as usize <= fixed.len());
        let verified = decode_verified(&fixed);
        assert_eq!(
            verified, header_ok,
            "a batch with a valid header and a recomputed CRC must verify"
        );
        if let Ok(header) = BatchHeader::parse(data) {
            let _ = batch::decode_records(data, &header);
        }
    });
    assert_bounded("batch_decode", data.len(), stats);
    stats
}

/// Verify and, if valid, decode; check decoded records against a re-encoding.
/// Returns whether `verify` accepted the bytes.
fn decode_verified(bytes: &[u8]) -> bool {
    let Ok(header) = batch::verify(bytes) else {
        return false;
    };
    assert!(header.length as usize <= bytes.len() && header.length as usize >= HEADER_SIZE);
    if let Ok(records) = batch::decode_records(bytes, &header) {
        check_reencodes(bytes, &header, &records);
    }
    true
}

/// Decoding is exact: re-encoding the records gives back the same body bytes.
fn check_reencodes(bytes: &[u8], header: &BatchHeader, records: &[StoredRecord]) {
    assert_eq!(records.len(), header.record_count as usize, "record count");
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.offset, header.base_offset + i as u64, "dense offsets in a batch");
    }
    let appendable: Vec<Record> = records.iter().map(StoredRecord::to_record).collect();
    let mut out = Vec::new();
    batch::encode(
        &mut out,
        header.base_offset,
        &appendable,
        0,
        header.producer,
        header.flags,
        header.synced_before,
    );
    assert_eq!(
        out.get(HEADER_SIZE..),
        bytes.get(HEADER_SIZE..header.length as usize),
        "decode then encode changed the records"
    );
}

/// A copy of `data` with the CRC field recomputed over `12..min(length, len)`.
fn with_crc_fixed(data: &[u8]) -> Vec<u8> {
    let mut fixed = data.to_vec();
    let end = le_u32_at(data, 4).map_or(data.len(), |l| (l as usize).min(data.len()));
    if let Some(body) = data.get(CRC_COVERS_FROM..end) {
        let crc = crc32fast::hash(body);
        if let Some(field) = fixed.get_mut(CRC_FIELD) {
            field.copy_from_slice(&crc.to_le_bytes());
        }
    }
    fixed
}

fn le_u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

// ------------------------------------------------------------ segment_recovery

const FUZZ_TOPIC: &str = "fuzz";

fn fuzz_topic_config() -> TopicConfig {
    TopicConfig {
        partitions: 1,
        index_interval_bytes: 256,
        ..TopicConfig::default()
    }
}

pub(crate) fn fuzz_store_options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Os,
        recovery: RecoveryMode::TornTailOnly,
        background: false,
        ..StoreOptions::default()
    }
}

/// Path of the partition's only segment inside a store directory.
pub fn segment_path(store_dir: &Path) -> PathBuf {
    store_dir
        .join("topics")
        .join(FUZZ_TOPIC)
        .join("00000")
        .join("00000000000000000000.log")
}

/// The files of a closed store with one empty topic, made once per process
/// through the public API and copied for each input (much faster than
/// creating a store per input).
fn template() -> &'static Vec<(PathBuf, Vec<u8>)> {
    static TEMPLATE: OnceLock<Vec<(PathBuf, Vec<u8>)>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = scratch_dir();
        let store = Store::open(dir.path(), fuzz_store_options()).expect("create template store");
        store
            .create_topic(FUZZ_TOPIC, fuzz_topic_config())
            .expect("create template topic");
        store.close().expect("close template store");
        let mut files = Vec::new();
        collect_files(dir.path(), dir.path(), &mut files);
        assert!(
            files
                .iter()
                .any(|(p, _)| dir.path().join(p) == segment_path(dir.path())),
            "template store has no segment at the expected path: {files:?}"
        );
        files
    })
}

pub(crate) fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("list template dir")
        .map(|e| e.expect("template dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(root, &path, out);
        } else {
            let relative = path.strip_prefix(root).expect("under root").to_path_buf();
            out.push((relative, std::fs::read(&path).expect("read template file")));
        }
    }
}

/// How the fuzzed bytes are laid out in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// As the partition's only (last, active) segment: a torn tail is truncated.
    Last,
    /// As a sealed segment followed by an empty last segment named `next`
    /// (sealed segments were fsync'd: any invalid byte is corruption; reads
    /// of a sealed segment go through the memory map).
    SealedBefore { next: u64 },
}

/// A fresh temporary directory for one store image: under
/// `MILLRACE_FUZZ_TMPDIR` if set, else `/dev/shm` where it exists (each input
/// costs several fsyncs, free on tmpfs), else the system temp dir.
pub(crate) fn scratch_dir() -> tempfile::TempDir {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    let base = BASE.get_or_init(|| match std::env::var_os("MILLRACE_FUZZ_TMPDIR") {
        Some(dir) => PathBuf::from(dir),
        None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    });
    tempfile::Builder::new()
        .prefix("millrace-fuzz-")
        .tempdir_in(base)
        .or_else(|_| tempfile::Builder::new().prefix("millrace-fuzz-").tempdir())
        .expect("temp dir")
}

/// Lay out a store whose partition holds `segment` bytes as `layout` says.
fn store_image(segment: &[u8], layout: Layout) -> tempfile::TempDir {
    let dir = scratch_dir();
    for (relative, bytes) in template() {
        let path = dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create image dir");
        }
        std::fs::write(&path, bytes).expect("write image file");
    }
    let first = segment_path(dir.path());
    std::fs::write(&first, segment).expect("write segment");
    if let (Layout::SealedBefore { next }, Some(partition)) = (layout, first.parent()) {
        std::fs::write(partition.join(format!("{next:020}.log")), b"").expect("write last segment");
        std::fs::write(partition.join(format!("{next:020}.index")), b"").expect("write last index");
    }
    dir
}

/// Write `data` as the only segment of a one-topic store and open it: open
/// must return `Ok` or `Err(Corruption)` at the first invalid batch; if `Ok`,
/// reads must return exactly what an independent decode of the bytes says, or
/// `Err(Corruption)` where that decode fails; then an append, close and reopen
/// must work. Then the same with the bytes as a sealed segment, where any
/// invalid byte must be reported as corruption. Done on the bytes as given and
/// with every batch CRC recomputed (so mutations reach deeper than the CRC).
/// Returns the allocation seen.
pub fn check_segment_recovery(data: &[u8]) -> AllocationStats {
    assert_tracking();
    template();
    let ((), stats) = alloc_track::measure(|| {
        recover_both_ways(data);
        let fixed = with_segment_crcs_fixed(data);
        if fixed != data {
            recover_both_ways(&fixed);
        }
    });
    assert_bounded("segment_recovery", data.len(), stats);
    stats
}

fn recover_both_ways(segment: &[u8]) {
    let expected = model(segment);
    recover_and_read(segment, &expected, Layout::Last);
    // The next segment must start where this one ends; an empty sealed
    // segment (or one of empty batches) would share its name.
    if !segment.is_empty() {
        let next = expected.next_offset.max(1);
        recover_and_read(segment, &expected, Layout::SealedBefore { next });
    }
}

/// What the segment holds, by an independent walk of the format.
#[derive(Debug, Default)]
struct SegmentModel {
    /// End of the last valid batch; recovery must truncate here.
    valid_end: u64,
    /// Offset after the last valid batch.
    next_offset: u64,
    /// Decoded data records (control batches left out), by offset.
    records: BTreeMap<u64, StoredRecord>,
    /// Offset ranges of CRC-valid batches whose records do not decode.
    undecodable: Vec<std::ops::Range<u64>>,
}

fn model(segment: &[u8]) -> SegmentModel {
    let mut m = SegmentModel::default();
    let mut position = 0usize;
    while let Some(rest) = segment.get(position..).filter(|r| !r.is_empty()) {
        let Ok(header) = BatchHeader::parse(rest) else { break };
        let Some(bytes) = rest.get(..header.length as usize) else {
            break;
        };
        let Ok(header) = batch::verify(bytes) else { break };
        if header.base_offset != m.next_offset {
            break;
        }
        let range = header.base_offset..header.base_offset + u64::from(header.record_count);
        match batch::decode_records(bytes, &header) {
            Ok(records) if !header.is_control() => {
                m.records.extend(records.into_iter().map(|r| (r.offset, r)));
            }
            Ok(_) => {}
            Err(_) => {
                // Records parse one at a time: a read delivers the ones
                // before the first that does not parse, and reports the
                // damage to the read that starts there (design/durability.md,
                // "Reads return what precedes damage").
                let mut decoded = 0u64;
                let _ = batch::for_each_record(bytes, &header, |view| {
                    if !header.is_control() {
                        m.records.insert(view.offset, view.to_owned());
                    }
                    decoded += 1;
                    true
                });
                m.undecodable.push(range.start + decoded..range.end);
            }
        }
        m.next_offset = range.end;
        position += header.length as usize;
        m.valid_end = position as u64;
    }
    m
}

fn recover_and_read(segment: &[u8], expected: &SegmentModel, layout: Layout) {
    let image = store_image(segment, layout);
    let fully_valid = expected.valid_end == segment.len() as u64;
    let store = match Store::open_strict(image.path(), fuzz_store_options()) {
        Ok(store) => store,
        Err(Error::Corruption {
            segment: path,
            position,
            ..
        }) if path == segment_path(image.path()) => {
            assert_eq!(
                position, expected.valid_end,
                "{layout:?}: corruption must be reported at the first invalid batch"
            );
            assert!(!fully_valid, "{layout:?}: a fully valid segment reported as corrupt");
            return;
        }
        Err(Error::Corruption {
            segment: path,
            position,
            kind,
        }) if fully_valid && expected.next_offset == 0 && layout != Layout::Last => {
            // Only empty batches: the last segment, named 1, does not continue offset 0.
            assert_eq!((position, kind), (0, CorruptionKind::OffsetGap), "{}", path.display());
            return;
        }
        Err(other) => panic!("{layout:?}: open returned an unexpected error: {other}"),
    };
    assert!(
        layout == Layout::Last || fully_valid,
        "{layout:?}: a sealed segment with invalid bytes at {} opened",
        expected.valid_end
    );
    assert_eq!(
        store.offsets(FUZZ_TOPIC, 0).expect("offsets"),
        (0, expected.next_offset),
        "recovered offsets"
    );
    let len = std::fs::metadata(segment_path(image.path())).expect("stat").len();
    assert_eq!(
        len, expected.valid_end,
        "recovery must truncate at the last valid batch"
    );

    read_all_and_compare(&store, expected);
    match store.offset_for_time(FUZZ_TOPIC, 0, 0) {
        Ok(_) | Err(Error::Corruption { .. }) => {}
        Err(other) => panic!("offset_for_time returned an unexpected error: {other}"),
    }

    // The recovered store takes appends, continues the offsets, and reopens.
    let record = Record::new(b"after recovery".to_vec()).with_timestamp(7);
    let info = store
        .append(FUZZ_TOPIC, 0, std::slice::from_ref(&record))
        .expect("append after recovery");
    assert_eq!(info.base_offset, expected.next_offset, "offsets continue densely");
    store.close().expect("close after recovery");
    let store = Store::open(image.path(), fuzz_store_options()).expect("reopen after recovery");
    assert_eq!(
        store.offsets(FUZZ_TOPIC, 0).expect("offsets"),
        (0, expected.next_offset + 1),
        "reopened offsets"
    );
    let read = store
        .read(FUZZ_TOPIC, 0, expected.next_offset, ReadOptions::default())
        .expect("read the appended record");
    assert_eq!(
        read.records.first().map(|r| r.value.as_slice()),
        Some(&record.value[..])
    );
    store.close().expect("close");
}

/// Read from 0 to the high watermark; compare with the model.
fn read_all_and_compare(store: &Store, expected: &SegmentModel) {
    let options = ReadOptions {
        max_bytes: 64 * 1024,
        max_records: 1000,
    };
    let mut offset = 0;
    // Each read either errors or moves forward by at least one offset.
    for _ in 0..=expected.next_offset {
        if offset >= expected.next_offset {
            return;
        }
        match store.read(FUZZ_TOPIC, 0, offset, options) {
            Ok(result) => {
                assert!(
                    result.next_offset > offset && result.next_offset <= expected.next_offset,
                    "read from {offset} returned next offset {}",
                    result.next_offset
                );
                assert!(
                    !expected
                        .undecodable
                        .iter()
                        .any(|r| r.start < result.next_offset && r.end > offset),
                    "read [{offset}, {}) succeeded over an undecodable batch",
                    result.next_offset
                );
                let want: Vec<&StoredRecord> = expected
                    .records
                    .range(offset..result.next_offset)
                    .map(|(_, r)| r)
                    .collect();
                let got: Vec<&StoredRecord> = result.records.iter().collect();
                assert_eq!(got, want, "records read from {offset}");
                offset = result.next_offset;
            }
            Err(Error::Corruption { .. }) => {
                assert!(
                    expected.undecodable.iter().any(|r| r.end >= offset),
                    "read from {offset} reported corruption but every batch decodes"
                );
                return;
            }
            Err(other) => panic!("read from {offset} returned an unexpected error: {other}"),
        }
    }
    panic!("reads did not reach the high watermark {}", expected.next_offset);
}

/// A copy of `segment` with the CRC of each batch recomputed, walking the
/// batches by their length fields while a header parses and fits.
pub fn with_segment_crcs_fixed(segment: &[u8]) -> Vec<u8> {
    let mut fixed = segment.to_vec();
    let mut position = 0usize;
    while let Some(rest) = segment.get(position..) {
        let Ok(header) = BatchHeader::parse(rest) else { break };
        let end = position + header.length as usize;
        let (Some(body), Some(field)) = (
            segment.get(position + CRC_COVERS_FROM..end),
            fixed.get_mut(position + CRC_FIELD.start..position + CRC_FIELD.end),
        ) else {
            break;
        };
        field.copy_from_slice(&crc32fast::hash(body).to_le_bytes());
        position = end;
    }
    fixed
}
