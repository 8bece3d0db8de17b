//! Proves the recovery decision table of `design/durability.md` ("Recovery"), one test
//! per row, by writing real segments through the engine (Always, no background
//! thread), damaging the files on disk (truncation at every byte of the last batch,
//! bit flips, zeroed tails, garbage, hand-encoded group-commit tails, deleted or
//! garbage index files) and reopening: each case must recover to exactly the last
//! valid batch (records, offsets, file length, appends continuing densely) or fail
//! with `Error::Corruption` naming the segment file and the byte position.

use crate::common;

use common::{
    backup_files, batch_layout, index_path, log_path, read_partition, remove_producer_snapshots, scratch_dir,
    segment_bases,
};
use millrace::batch::{self, BatchHeader, HEADER_SIZE};
use millrace::index::{IndexEntry, ENTRY_SIZE};
use millrace::{
    CorruptionKind, Durability, Error, ReadOptions, Record, RecoveryMode, Store, StoreOptions, StoredRecord,
    TopicConfig,
};
use std::path::{Path, PathBuf};

const TOPIC: &str = "t";

fn options(recovery: RecoveryMode) -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        recovery,
        ..StoreOptions::default()
    }
}

/// One big segment and no index entries unless asked: the whole last segment
/// is then the scanned tail.
fn config(segment_bytes: u64, index_interval_bytes: u32) -> TopicConfig {
    TopicConfig {
        partitions: 1,
        segment_bytes,
        index_interval_bytes,
        ..TopicConfig::default()
    }
}

/// Deterministic records of varied shape; timestamps are not monotonic so the
/// time index is exercised.
fn batch_records(batch: usize) -> Vec<Record> {
    (0..batch % 3 + 1)
        .map(|j| {
            let n = batch * 3 + j;
            let mut record = Record::new(vec![(n % 251) as u8; 20 + (n * 37) % 90])
                .with_timestamp(1_000 + ((n * 7) % 50) as i64 * 10);
            if n.is_multiple_of(2) {
                record = record.with_key(format!("key-{n}").into_bytes());
            }
            if n.is_multiple_of(3) {
                record = record.with_header("h", n.to_le_bytes().to_vec());
            }
            record
        })
        .collect()
}

/// A store with one partition written batch by batch, closed again.
struct Fixture {
    dir: tempfile::TempDir,
    /// Records of each batch, in order.
    batches: Vec<Vec<Record>>,
    /// Bytes of the (single or last) segment as written.
    pristine: Vec<u8>,
    /// (position, header) of each batch of that segment.
    layout: Vec<(usize, BatchHeader)>,
}

impl Fixture {
    fn new(batch_count: usize, topic_config: TopicConfig) -> Fixture {
        let dir = scratch_dir();
        let store = Store::open(dir.path(), options(RecoveryMode::TornTailOnly)).unwrap();
        store.create_topic(TOPIC, topic_config).unwrap();
        let mut batches = Vec::new();
        let mut next = 0;
        for i in 0..batch_count {
            let records = batch_records(i);
            let info = store.append(TOPIC, 0, &records).unwrap();
            assert_eq!(info.base_offset, next);
            next = info.next_offset;
            batches.push(records);
        }
        store.close().unwrap();
        let last = *segment_bases(dir.path(), TOPIC, 0).last().unwrap();
        let pristine = std::fs::read(log_path(dir.path(), TOPIC, 0, last)).unwrap();
        let layout = batch_layout(&pristine);
        Fixture {
            dir,
            batches,
            pristine,
            layout,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The single segment's log file (fixtures without rolls).
    fn log(&self) -> PathBuf {
        log_path(self.path(), TOPIC, 0, 0)
    }

    fn records(&self, batch_count: usize) -> Vec<Record> {
        self.batches[..batch_count].iter().flatten().cloned().collect()
    }

    fn position(&self, batch: usize) -> usize {
        self.layout.get(batch).map_or(self.pristine.len(), |(p, _)| *p)
    }

    fn batch_bytes(&self, batch: usize) -> &[u8] {
        &self.pristine[self.position(batch)..self.position(batch + 1)]
    }

    /// Replace the log with `bytes`, open, expect exactly the first `batch_count`
    /// batches, a log of exactly those bytes, `truncations` torn tails cut, and
    /// appends continuing at the next offset.
    /// Every cut removes bytes only after backing them up: the recovery must
    /// leave one new backup file holding exactly the bytes it cut.
    fn expect_recovers_to(&self, bytes: &[u8], batch_count: usize, truncations: u64, what: &str) {
        std::fs::write(self.log(), bytes).unwrap();
        // A crash, not a clean close: no close snapshot (row 4b).
        remove_producer_snapshots(self.path(), TOPIC, 0);
        let backups_before = backup_files(self.path());
        let store = Store::open(self.path(), options(RecoveryMode::TornTailOnly))
            .unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
        let new_backups: Vec<(PathBuf, Vec<u8>)> = backup_files(self.path())
            .into_iter()
            .filter(|b| !backups_before.contains(b))
            .collect();
        let kept = self.position(batch_count).min(bytes.len());
        let cut = &bytes[kept..];
        // Row 3a (the preallocated zeros) is neither counted nor backed up.
        if truncations > 0 {
            assert_eq!(
                new_backups.len(),
                1,
                "{what}: one backup of the cut bytes: {new_backups:?}"
            );
            assert!(
                new_backups[0].1 == cut,
                "{what}: the backup holds exactly the cut bytes"
            );
            let name = new_backups[0].0.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with(&format!("00000000000000000000.log.cut-{kept}-{}", bytes.len())),
                "{what}: backup named after the segment and the byte range: {name}"
            );
        } else {
            assert!(new_backups.is_empty(), "{what}: nothing cut, nothing backed up");
        }
        let expected = self.records(batch_count);
        assert_records(&read_partition(&store, TOPIC, 0), &expected, what);
        assert_eq!(store.metrics().torn_tails_truncated, truncations, "{what}: truncations");
        let on_disk = std::fs::read(self.log()).unwrap();
        assert_eq!(
            on_disk.len(),
            self.position(batch_count),
            "{what}: log length after recovery"
        );
        assert!(
            on_disk[..] == self.pristine[..on_disk.len()],
            "{what}: kept bytes changed"
        );
        let info = store.append(TOPIC, 0, &[Record::new(b"after".to_vec())]).unwrap();
        assert_eq!(
            info.base_offset,
            expected.len() as u64,
            "{what}: appends continue densely"
        );
        drop(store);
    }

    /// Replace the log with `bytes` and expect the open to fail with corruption at `position`.
    fn expect_corruption(&self, bytes: &[u8], position: usize, what: &str) -> CorruptionKind {
        std::fs::write(self.log(), bytes).unwrap();
        remove_producer_snapshots(self.path(), TOPIC, 0);
        let kind = match Store::open_strict(self.path(), options(RecoveryMode::TornTailOnly)) {
            Err(Error::Corruption {
                segment,
                position: got,
                kind,
            }) => {
                assert_eq!(segment, self.log(), "{what}: segment");
                assert_eq!(got, position as u64, "{what}: position");
                kind
            }
            Err(e) => panic!("{what}: expected Corruption, got {e}"),
            Ok(_) => panic!("{what}: expected Corruption, store opened"),
        };
        assert!(
            std::fs::read(self.log()).unwrap() == bytes,
            "{what}: a failed open must not modify the log"
        );
        kind
    }
}

fn assert_records(got: &[StoredRecord], want: &[Record], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: record count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.offset, i as u64, "{what}: offset");
        assert_eq!(g.value, w.value, "{what}: value of {i}");
        assert_eq!(g.key, w.key, "{what}: key of {i}");
        assert_eq!(g.headers, w.headers, "{what}: headers of {i}");
        assert_eq!(Some(g.timestamp_ms), w.timestamp_ms, "{what}: timestamp of {i}");
    }
}

/// Earliest offset whose timestamp is >= `t`, by brute force.
fn offset_for_time_model(records: &[Record], t: i64) -> Option<u64> {
    records
        .iter()
        .position(|r| r.timestamp_ms.unwrap() >= t)
        .map(|i| i as u64)
}

fn assert_time_lookups(store: &Store, records: &[Record], what: &str) {
    for t in (990..1_520).step_by(5) {
        assert_eq!(
            store.offset_for_time(TOPIC, 0, t).unwrap(),
            offset_for_time_model(records, t),
            "{what}: offset_for_time({t})"
        );
    }
}

/// A few deterministic garbage bytes (xorshift).
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Row 1: end of file at a batch boundary: clean, nothing to do.
// ---------------------------------------------------------------------------

#[test]
fn row1_clean_log_opens_untouched() {
    let f = Fixture::new(6, config(1 << 20, 1 << 20));
    let all = f.pristine.clone();
    f.expect_recovers_to(&all, 6, 0, "clean");
    // Cut exactly at a batch boundary: a clean log with fewer batches.
    for keep in 0..6 {
        let bytes = f.pristine[..f.position(keep)].to_vec();
        f.expect_recovers_to(&bytes, keep, 0, &format!("boundary cut keeping {keep}"));
    }
}

#[test]
fn row1_empty_last_segment_after_roll() {
    let dir = scratch_dir();
    let store = Store::open(dir.path(), options(RecoveryMode::TornTailOnly)).unwrap();
    store.create_topic(TOPIC, config(1 << 20, 1 << 20)).unwrap();
    let records = batch_records(1);
    store.append(TOPIC, 0, &records).unwrap();
    store.roll(TOPIC, 0).unwrap();
    store.close().unwrap();
    let bases = segment_bases(dir.path(), TOPIC, 0);
    assert_eq!(bases, vec![0, records.len() as u64]);
    assert_eq!(
        std::fs::metadata(log_path(dir.path(), TOPIC, 0, bases[1]))
            .unwrap()
            .len(),
        0
    );
    let store = Store::open(dir.path(), options(RecoveryMode::TornTailOnly)).unwrap();
    assert_records(&read_partition(&store, TOPIC, 0), &records, "empty last segment");
    assert_eq!(store.metrics().torn_tails_truncated, 0);
    assert_eq!(
        store.append(TOPIC, 0, &records).unwrap().base_offset,
        records.len() as u64
    );
}

// ---------------------------------------------------------------------------
// Row 2: fewer than 64 bytes, or a batch whose length runs past EOF: torn tail.
// ---------------------------------------------------------------------------

#[test]
fn row2_truncation_at_every_byte_of_the_last_batch() {
    let f = Fixture::new(5, config(1 << 20, 1 << 20));
    let last = f.position(4);
    let end = f.pristine.len();
    assert!(end - last > HEADER_SIZE, "last batch has a body");
    for cut in last + 1..end {
        let row = if cut - last < HEADER_SIZE {
            "short header"
        } else {
            "length past EOF"
        };
        f.expect_recovers_to(&f.pristine[..cut], 4, 1, &format!("cut at {cut} ({row})"));
    }
}

// ---------------------------------------------------------------------------
// Row 3: an invalid batch with nothing durable after it: torn tail.
// ---------------------------------------------------------------------------

#[test]
fn row3_bit_flips_in_header_and_payload_of_the_last_batch() {
    let f = Fixture::new(5, config(1 << 20, 1 << 20));
    let last = f.position(4);
    for at in last..f.pristine.len() {
        for mask in [0x01u8, 0x80] {
            let mut bytes = f.pristine.clone();
            bytes[at] ^= mask;
            let part = if at - last < HEADER_SIZE { "header" } else { "payload" };
            f.expect_recovers_to(&bytes, 4, 1, &format!("flip {mask:#04x} at {at} ({part})"));
        }
    }
}

#[test]
fn row3_zeroed_tails() {
    let f = Fixture::new(5, config(1 << 20, 1 << 20));
    let last = f.position(4);
    let end = f.pristine.len();
    // The whole last batch zeroed (file size persisted, data blocks not):
    // from a batch boundary to the end of the file this is exactly what the
    // zeros an `Always` partition writes ahead of its data look like, so it
    // is cut without being counted as a torn tail.
    let mut bytes = f.pristine.clone();
    bytes[last..].fill(0);
    f.expect_recovers_to(&bytes, 4, 0, "last batch zeroed");
    // Its second half zeroed.
    let mut bytes = f.pristine.clone();
    bytes[(last + end) / 2..].fill(0);
    f.expect_recovers_to(&bytes, 4, 1, "second half of last batch zeroed");
    // Zeros after the last batch (preallocated or extended file): cut, not a torn tail.
    for zeros in [1, HEADER_SIZE - 1, HEADER_SIZE, 4096, 1 << 20] {
        let mut bytes = f.pristine.clone();
        bytes.resize(end + zeros, 0);
        f.expect_recovers_to(&bytes, 5, 0, &format!("{zeros} zeros appended"));
    }
    // More zeros than any preallocation: handled as a torn tail (still cut).
    let mut bytes = f.pristine.clone();
    bytes.resize(end + (1 << 20) + 1, 0);
    f.expect_recovers_to(&bytes, 5, 1, "more zeros than a preallocation");
}

#[test]
fn row3_garbage_appended() {
    let f = Fixture::new(5, config(1 << 20, 1 << 20));
    for (i, len) in [1usize, 7, 63, 64, 65, 300, 5000].into_iter().enumerate() {
        let mut bytes = f.pristine.clone();
        bytes.extend_from_slice(&garbage(len, 0x9e37_79b9 + i as u64));
        f.expect_recovers_to(&bytes, 5, 1, &format!("{len} garbage bytes"));
    }
    // Garbage that starts like a batch: magic, then a length past EOF.
    let mut bytes = f.pristine.clone();
    bytes.extend_from_slice(&batch::BATCH_MAGIC.to_le_bytes());
    bytes.extend_from_slice(&1000u32.to_le_bytes());
    bytes.extend_from_slice(&garbage(200, 7));
    f.expect_recovers_to(&bytes, 5, 1, "magic and plausible length");
    // A CRC-valid copy of an earlier batch: bad offset, nothing durable after it.
    let mut bytes = f.pristine.clone();
    bytes.extend_from_slice(f.batch_bytes(1));
    f.expect_recovers_to(&bytes, 5, 1, "replayed earlier batch");
}

/// Encode a batch as the engine would have written it.
fn encode_batch(base_offset: u64, records: &[Record], synced_before: usize) -> Vec<u8> {
    let mut out = Vec::new();
    batch::encode(&mut out, base_offset, records, 5_000, None, 0, synced_before as u32);
    out
}

#[test]
fn row3_group_commit_tear_with_later_batch_not_claiming_durability() {
    // Two appenders wrote B1 and B2 before one fdatasync; both carry
    // synced_before = end of the durable log. A power cut tore B1 and kept B2:
    // neither was acknowledged, so this is a torn tail.
    let f = Fixture::new(4, config(1 << 20, 1 << 20));
    let durable = f.pristine.len();
    let next = f.records(4).len() as u64;
    let b1 = encode_batch(next, &batch_records(10), durable);
    let b2 = encode_batch(next + 1, &batch_records(11), durable);
    for at in [0, 5, 12, 30, b1.len() - 1] {
        let mut bytes = f.pristine.clone();
        bytes.extend_from_slice(&b1);
        bytes[durable + at] ^= 0x04;
        bytes.extend_from_slice(&b2);
        f.expect_recovers_to(&bytes, 4, 1, &format!("B1 torn at {at}, B2 intact"));
    }
    // B1 missing entirely (zeros), B2 intact.
    let mut bytes = f.pristine.clone();
    bytes.resize(durable + b1.len(), 0);
    bytes.extend_from_slice(&b2);
    f.expect_recovers_to(&bytes, 4, 1, "B1 zeros, B2 intact");
}

// ---------------------------------------------------------------------------
// Row 4: an invalid batch followed by a valid batch whose synced_before shows
// it was durable: Corruption with segment and position; nothing modified.
// ---------------------------------------------------------------------------

#[test]
fn row4_bit_flip_in_a_durable_middle_batch_is_corruption() {
    let f = Fixture::new(6, config(1 << 20, 1 << 20));
    let middle = 3;
    let at_start = f.position(middle);
    // The batch after it was written after the middle batch's fdatasync.
    assert!(f.layout[middle + 1].1.synced_before as usize > at_start);
    for at in at_start..f.position(middle + 1) {
        let mut bytes = f.pristine.clone();
        bytes[at] ^= 0x01;
        let kind = f.expect_corruption(&bytes, at_start, &format!("flip at {at}"));
        let expected = match at - at_start {
            0..=3 => Some(CorruptionKind::BadMagic),
            12 => Some(CorruptionKind::BadVersion),
            n if n >= HEADER_SIZE => Some(CorruptionKind::ChecksumMismatch),
            _ => None,
        };
        if let Some(expected) = expected {
            assert_eq!(kind, expected, "flip at {at}");
        }
    }
}

#[test]
fn row4_valid_batch_with_wrong_offset_in_the_middle_is_corruption() {
    let f = Fixture::new(6, config(1 << 20, 1 << 20));
    let middle = 2;
    let (position, header) = f.layout[middle];
    let raw = f.batch_bytes(middle);
    let records: Vec<Record> = batch::decode_records(raw, &header)
        .unwrap()
        .iter()
        .map(StoredRecord::to_record)
        .collect();
    let replacement = encode_batch(header.base_offset + 1000, &records, header.synced_before as usize);
    assert_eq!(replacement.len(), raw.len());
    let mut bytes = f.pristine.clone();
    bytes[position..position + raw.len()].copy_from_slice(&replacement);
    let kind = f.expect_corruption(&bytes, position, "offset gap");
    assert_eq!(kind, CorruptionKind::OffsetGap);
}

#[test]
fn row4_group_commit_tail_where_a_later_batch_claims_durability() {
    // B1 was fdatasync'd (B2's writer saw synced_before = end of B1), then B1
    // was damaged: that is corruption of acknowledged data, not a torn write.
    let f = Fixture::new(4, config(1 << 20, 1 << 20));
    let durable = f.pristine.len();
    let next = f.records(4).len() as u64;
    let b1 = encode_batch(next, &batch_records(10), durable);
    let b2 = encode_batch(next + 1, &batch_records(11), durable + b1.len());
    let mut bytes = f.pristine.clone();
    bytes.extend_from_slice(&b1);
    bytes[durable + HEADER_SIZE + 3] ^= 0x40;
    bytes.extend_from_slice(&b2);
    let kind = f.expect_corruption(&bytes, durable, "B1 damaged after B2 saw it durable");
    assert_eq!(kind, CorruptionKind::ChecksumMismatch);
}

// ---------------------------------------------------------------------------
// Row 4b: the log ends before a producer snapshot that passes its CRC. A
// snapshot is written only for a log end that was fdatasync'd (every roll,
// every 10 s of activity, every close), so it proves that the records below
// its offset were acknowledged durable: damage to them, a truncated active
// segment or a deleted last segment is loss (`Corruption`, the store does not
// open and nothing is cut), not a torn tail. Found by hand: each of these
// used to be cut silently as a "torn tail, never acknowledged".
// ---------------------------------------------------------------------------

/// Open with the close snapshot in place and expect `Corruption` at
/// (`segment`, `position`), with every file of the partition unchanged and
/// nothing backed up; then the operator's `TruncateCorruptTail` opens it.
fn expect_acknowledged_loss(f: &Fixture, segment: &Path, position: u64, what: &str) {
    let dir = common::partition_dir(f.path(), TOPIC, 0);
    let files = |dir: &Path| {
        let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        v.sort();
        v
    };
    let before = files(&dir);
    assert!(
        before
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "producers")),
        "{what}: the close wrote a producer snapshot"
    );
    match Store::open_strict(f.path(), options(RecoveryMode::TornTailOnly)) {
        Err(Error::Corruption {
            segment: got,
            position: at,
            ..
        }) => {
            assert_eq!(got, segment, "{what}: segment");
            assert_eq!(at, position, "{what}: position");
        }
        Err(e) => panic!("{what}: expected Corruption, got {e}"),
        Ok(_) => panic!("{what}: acknowledged records lost, yet the store opened"),
    }
    assert!(files(&dir) == before, "{what}: a refused open changes nothing");
    assert!(backup_files(f.path()).is_empty(), "{what}: nothing cut");
    // The operator accepts the loss: the store opens at what is left.
    let store = Store::open(f.path(), options(RecoveryMode::TruncateCorruptTail)).unwrap();
    drop(store);
    Store::open(f.path(), options(RecoveryMode::TornTailOnly)).unwrap_or_else(|e| panic!("{what}: after: {e}"));
}

#[test]
fn row4b_damage_after_a_clean_close_is_loss_not_a_torn_tail() {
    // A CRC failure in the last complete batch.
    let f = Fixture::new(6, config(1 << 20, 1 << 20));
    let last = f.position(5);
    let mut bytes = f.pristine.clone();
    bytes[last + HEADER_SIZE + 2] ^= 0x08;
    std::fs::write(f.log(), &bytes).unwrap();
    expect_acknowledged_loss(&f, &f.log(), last as u64, "CRC failure in the last batch");

    // The active segment truncated mid-batch, and at a batch boundary.
    let f = Fixture::new(6, config(1 << 20, 1 << 20));
    std::fs::write(f.log(), &f.pristine[..f.position(4) + 10]).unwrap();
    expect_acknowledged_loss(&f, &f.log(), f.position(4) as u64, "truncated mid-batch");
    let f = Fixture::new(6, config(1 << 20, 1 << 20));
    std::fs::write(f.log(), &f.pristine[..f.position(4)]).unwrap();
    expect_acknowledged_loss(&f, &f.log(), f.position(4) as u64, "truncated at a boundary");

    // The last segment deleted: the sealed one before it ends cleanly.
    let (f, bases, _) = rolled_fixture();
    let last = *bases.last().unwrap();
    let previous = bases[bases.len() - 2];
    std::fs::remove_file(log_path(f.path(), TOPIC, 0, last)).unwrap();
    std::fs::remove_file(index_path(f.path(), TOPIC, 0, last)).unwrap();
    let previous_log = log_path(f.path(), TOPIC, 0, previous);
    let previous_len = std::fs::metadata(&previous_log).unwrap().len();
    expect_acknowledged_loss(&f, &previous_log, previous_len, "last segment deleted");
}

// ---------------------------------------------------------------------------
// Row 5: as row 4, with RecoveryMode::TruncateCorruptTail: truncate at P.
// ---------------------------------------------------------------------------

#[test]
fn row5_truncate_corrupt_tail_mode_cuts_at_the_corruption() {
    let f = Fixture::new(6, config(1 << 20, 1 << 20));
    for middle in [0, 3, 5] {
        let position = f.position(middle);
        let mut bytes = f.pristine.clone();
        bytes[position + HEADER_SIZE + 1] ^= 0x10;
        std::fs::write(f.log(), &bytes).unwrap();
        let store = Store::open(f.path(), options(RecoveryMode::TruncateCorruptTail)).unwrap();
        let expected = f.records(middle);
        assert_records(&read_partition(&store, TOPIC, 0), &expected, "truncate mode");
        assert_eq!(store.metrics().torn_tails_truncated, 1);
        assert_eq!(std::fs::metadata(f.log()).unwrap().len(), position as u64);
        let info = store.append(TOPIC, 0, &batch_records(0)).unwrap();
        assert_eq!(info.base_offset, expected.len() as u64);
        drop(store);
        // And the truncated log now opens cleanly in the default mode.
        let store = Store::open(f.path(), options(RecoveryMode::TornTailOnly)).unwrap();
        assert_eq!(store.offsets(TOPIC, 0).unwrap().1, info.next_offset);
    }
}

// ---------------------------------------------------------------------------
// Outside the scanned tail: damage before the last index checkpoint of the
// last segment need not be looked at by recovery (its cost is proportional to
// the tail), but it is reported with its position, never cut silently.
// ---------------------------------------------------------------------------

#[test]
fn damage_before_the_last_checkpoint_is_reported_by_reads() {
    let f = Fixture::new(30, config(1 << 20, 512));
    let index = std::fs::read(index_path(f.path(), TOPIC, 0, 0)).unwrap();
    let entries = IndexEntry::decode_all(&index, f.pristine.len() as u64);
    assert!(entries.len() >= 2, "index has checkpoints: {entries:?}");
    let victim = 1;
    let position = f.position(victim);
    assert!(position < entries.last().unwrap().position as usize);
    let mut bytes = f.pristine.clone();
    bytes[position + HEADER_SIZE] ^= 0x01;
    std::fs::write(f.log(), &bytes).unwrap();
    let offset = f.layout[victim].1.base_offset;
    // Either answer is allowed: an open that reads the whole segment anyway
    // (e.g. to rebuild other state) reports it at open; otherwise the read
    // does. Never a silent cut, always segment and position.
    let result = Store::open_strict(f.path(), options(RecoveryMode::TornTailOnly))
        .and_then(|store| store.read(TOPIC, 0, offset, ReadOptions::default()));
    match result {
        Err(Error::Corruption {
            segment,
            position: got,
            kind,
        }) => {
            assert_eq!(segment, f.log());
            assert_eq!(got, position as u64);
            assert_eq!(kind, CorruptionKind::ChecksumMismatch);
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
    assert!(std::fs::read(f.log()).unwrap() == bytes, "the log is not modified");
}

#[test]
fn sealed_segment_without_a_complete_index_is_scanned_strictly() {
    let f = Fixture::new(40, config(4096, 512));
    let bases = segment_bases(f.path(), TOPIC, 0);
    assert!(bases.len() >= 3, "rolled: {bases:?}");
    let sealed_log = log_path(f.path(), TOPIC, 0, bases[0]);
    let mut bytes = std::fs::read(&sealed_log).unwrap();
    let layout = batch_layout(&bytes);
    // Damage the sealed segment's *last* batch: in a sealed segment that is
    // corruption, never a torn tail.
    let (position, _) = *layout.last().unwrap();
    bytes[position + HEADER_SIZE] ^= 0x01;
    std::fs::write(&sealed_log, &bytes).unwrap();
    std::fs::remove_file(index_path(f.path(), TOPIC, 0, bases[0])).unwrap();
    match Store::open_strict(f.path(), options(RecoveryMode::TornTailOnly)) {
        Err(Error::Corruption {
            segment,
            position: got,
            kind,
        }) => {
            assert_eq!(segment, sealed_log);
            assert_eq!(got, position as u64);
            assert_eq!(kind, CorruptionKind::ChecksumMismatch);
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
}

#[test]
fn missing_middle_segment_is_an_offset_gap() {
    let f = Fixture::new(40, config(4096, 512));
    let bases = segment_bases(f.path(), TOPIC, 0);
    assert!(bases.len() >= 3, "rolled: {bases:?}");
    std::fs::remove_file(log_path(f.path(), TOPIC, 0, bases[1])).unwrap();
    std::fs::remove_file(index_path(f.path(), TOPIC, 0, bases[1])).unwrap();
    match Store::open_strict(f.path(), options(RecoveryMode::TornTailOnly)) {
        Err(Error::Corruption {
            segment,
            position,
            kind,
        }) => {
            assert_eq!(segment, log_path(f.path(), TOPIC, 0, bases[2]));
            assert_eq!(position, 0);
            assert_eq!(kind, CorruptionKind::OffsetGap);
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Index files are caches: missing, garbage, truncated or stale ones are rebuilt
// from the log, and reads and time lookups are unchanged.
// ---------------------------------------------------------------------------

/// A rolled fixture, and the index files as the engine wrote them.
fn rolled_fixture() -> (Fixture, Vec<u64>, Vec<Vec<u8>>) {
    let f = Fixture::new(80, config(4096, 300));
    let bases = segment_bases(f.path(), TOPIC, 0);
    assert!(bases.len() >= 4, "rolled: {bases:?}");
    let indexes = bases
        .iter()
        .map(|b| std::fs::read(index_path(f.path(), TOPIC, 0, *b)).unwrap())
        .collect();
    (f, bases, indexes)
}

fn check_reads_and_times(f: &Fixture, what: &str) {
    let store = Store::open(f.path(), options(RecoveryMode::TornTailOnly)).unwrap_or_else(|e| panic!("{what}: {e}"));
    let all = f.records(f.batches.len());
    assert_records(&read_partition(&store, TOPIC, 0), &all, what);
    assert_time_lookups(&store, &all, what);
    // Reads starting in the middle of every segment land on the right record.
    for offset in (0..all.len() as u64).step_by(7) {
        let r = store.read(TOPIC, 0, offset, ReadOptions::default()).unwrap();
        assert_eq!(
            r.records.first().map(|r| r.offset),
            Some(offset),
            "{what}: read at {offset}"
        );
    }
}

#[test]
fn sealed_index_missing_garbage_or_truncated_is_rebuilt() {
    let (f, bases, indexes) = rolled_fixture();
    check_reads_and_times(&f, "pristine");
    let sealed = 1;
    let path = index_path(f.path(), TOPIC, 0, bases[sealed]);
    let cases: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("deleted", None),
        ("empty", Some(Vec::new())),
        ("garbage", Some(garbage(200, 3))),
        ("garbage, odd length", Some(garbage(ENTRY_SIZE * 3 + 5, 4))),
        (
            "end entry lost",
            Some(indexes[sealed][..indexes[sealed].len() - ENTRY_SIZE].to_vec()),
        ),
        (
            "torn end entry",
            Some(indexes[sealed][..indexes[sealed].len() - 3].to_vec()),
        ),
    ];
    for (what, contents) in cases {
        match &contents {
            None => std::fs::remove_file(&path).unwrap(),
            Some(bytes) => std::fs::write(&path, bytes).unwrap(),
        }
        check_reads_and_times(&f, what);
        // The rebuilt index is the one the engine wrote originally, so the next
        // open trusts it instead of scanning the segment again.
        assert!(
            std::fs::read(&path).unwrap() == indexes[sealed],
            "{what}: rebuilt index differs from the original"
        );
        check_reads_and_times(&f, &format!("{what}, second open"));
    }
}

#[test]
fn last_segment_index_missing_or_garbage_is_rebuilt() {
    let (f, bases, _) = rolled_fixture();
    let path = index_path(f.path(), TOPIC, 0, *bases.last().unwrap());
    for (what, contents) in [
        ("deleted", None),
        ("garbage", Some(garbage(333, 5))),
        ("all ones", Some(vec![0xff; 64])),
    ] {
        match contents {
            None => std::fs::remove_file(&path).unwrap(),
            Some(bytes) => std::fs::write(&path, bytes).unwrap(),
        }
        check_reads_and_times(&f, what);
    }
}

#[test]
fn stale_index_entries_past_the_tail_are_dropped() {
    let f = Fixture::new(40, config(1 << 20, 200));
    let index_file = index_path(f.path(), TOPIC, 0, 0);
    let index = std::fs::read(&index_file).unwrap();
    let entries = IndexEntry::decode_all(&index, f.pristine.len() as u64);
    assert!(entries.len() >= 4, "index has entries: {entries:?}");
    let boundaries: Vec<usize> = f.layout.iter().map(|(p, _)| *p).collect();
    // The log lost its last batches but the index kept entries for them: cut
    // at a batch boundary, mid-batch, and exactly at an entry's position.
    let entry_at = entries[entries.len() - 2].position as usize;
    let keep_at_entry = boundaries.iter().position(|p| *p == entry_at).unwrap();
    for (cut, keep, truncations) in [
        (boundaries[20], 20, 0),
        (boundaries[20] + 30, 20, 1),
        (entry_at, keep_at_entry, 0),
        (boundaries[1] + 10, 1, 1),
    ] {
        std::fs::write(&index_file, &index).unwrap();
        f.expect_recovers_to(&f.pristine[..cut], keep, truncations, &format!("cut at {cut}"));
        // The rewritten index has no entry past the recovered log (the record
        // appended by the check lies past `cut`).
        let rewritten = std::fs::read(&index_file).unwrap();
        assert_eq!(rewritten.len() % ENTRY_SIZE, 0);
        let log_len = std::fs::metadata(f.log()).unwrap().len();
        let decoded = IndexEntry::decode_all(&rewritten, log_len);
        assert_eq!(
            decoded.len() * ENTRY_SIZE,
            rewritten.len(),
            "cut at {cut}: index entries all valid"
        );
        assert!(
            decoded.iter().all(|e| e.position as usize <= cut),
            "cut at {cut}: {decoded:?}"
        );
    }
    // An entry that points inside a batch, and one with the wrong offset at a
    // real boundary: both are dropped, the log is intact.
    for (what, bad) in [
        (
            "mid-batch position",
            IndexEntry {
                relative_offset: 1000,
                position: boundaries[38] as u32 + 5,
                max_timestamp_before_ms: i64::MAX - 1,
            },
        ),
        (
            "wrong offset",
            IndexEntry {
                relative_offset: 1000,
                position: boundaries[38] as u32,
                max_timestamp_before_ms: i64::MAX - 1,
            },
        ),
    ] {
        let mut stale = index.clone();
        stale.extend_from_slice(&bad.encode());
        std::fs::write(&index_file, &stale).unwrap();
        std::fs::write(f.log(), &f.pristine).unwrap();
        let store = Store::open(f.path(), options(RecoveryMode::TornTailOnly)).unwrap();
        let all = f.records(40);
        assert_records(&read_partition(&store, TOPIC, 0), &all, what);
        assert_time_lookups(&store, &all, what);
        drop(store);
        let rewritten = std::fs::read(&index_file).unwrap();
        assert!(!rewritten.ends_with(&bad.encode()), "{what}: stale entry kept");
    }
}

// ---------------------------------------------------------------------------
// Segment roll interrupted (design/durability.md, "Segment roll"): a crash
// before the directory fsync may lose the new, empty segment; the sealed one
// becomes the last, active segment again and its end entry is a valid start.
// ---------------------------------------------------------------------------

#[test]
fn roll_interrupted_before_the_new_segment_is_durable() {
    let f = Fixture::new(12, config(1 << 20, 256));
    let store = Store::open(f.path(), options(RecoveryMode::TornTailOnly)).unwrap();
    store.roll(TOPIC, 0).unwrap();
    drop(store);
    let bases = segment_bases(f.path(), TOPIC, 0);
    assert_eq!(bases.len(), 2);
    let sealed_index = std::fs::read(index_path(f.path(), TOPIC, 0, 0)).unwrap();
    let end = IndexEntry::decode_all(&sealed_index, f.pristine.len() as u64);
    assert_eq!(
        end.last().map(|e| e.position as usize),
        Some(f.pristine.len()),
        "end entry written"
    );
    std::fs::remove_file(log_path(f.path(), TOPIC, 0, bases[1])).unwrap();
    std::fs::remove_file(index_path(f.path(), TOPIC, 0, bases[1])).unwrap();

    let store = Store::open(f.path(), options(RecoveryMode::TornTailOnly)).unwrap();
    let mut all = f.records(12);
    assert_records(&read_partition(&store, TOPIC, 0), &all, "sealed segment is last again");
    assert_eq!(store.metrics().torn_tails_truncated, 0);
    for i in 20..30 {
        let info = store.append(TOPIC, 0, &batch_records(i)).unwrap();
        assert_eq!(info.base_offset, all.len() as u64);
        all.extend(batch_records(i));
    }
    assert_eq!(
        segment_bases(f.path(), TOPIC, 0),
        vec![0],
        "appends continue in the old segment"
    );
    store.roll(TOPIC, 0).unwrap();
    store.append(TOPIC, 0, &batch_records(40)).unwrap();
    all.extend(batch_records(40));
    drop(store);
    let store = Store::open(f.path(), options(RecoveryMode::TornTailOnly)).unwrap();
    assert_records(&read_partition(&store, TOPIC, 0), &all, "after a second roll");
    assert_time_lookups(&store, &all, "after a second roll");
}

/// `truncate_prefix` makes the log start durable at once, but under `Os`
/// (whose high watermark is published before the fsync) the records below
/// it may not be: a power cut can leave
/// `start.offset` past the log the next open recovers. That open lowers it
/// to the log end on disk, so an append acknowledged after it is not
/// hidden by the old start when the store opens again. (Found by the
/// `metadata_open` fuzz target: the append was acknowledged at offset 5 and
/// gone after the next reopen, the log starting at 6.)
#[test]
fn log_start_past_the_recovered_end_is_lowered_before_appends() {
    let dir = scratch_dir();
    let os = || StoreOptions {
        durability: Durability::Os,
        background: false,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), os()).unwrap();
    store.create_topic(TOPIC, config(1 << 20, 4096)).unwrap();
    for n in 0..8u8 {
        store.append(TOPIC, 0, &[Record::new(vec![n; 100])]).unwrap();
    }
    assert_eq!(store.truncate_prefix(TOPIC, 0, 8).unwrap(), 8);
    store.close().unwrap();
    // The power cut: the last three batches never reached the disk.
    let log = log_path(dir.path(), TOPIC, 0, 0);
    let bytes = std::fs::read(&log).unwrap();
    let layout = batch_layout(&bytes);
    assert_eq!(layout.len(), 8);
    std::fs::write(&log, &bytes[..layout[5].0]).unwrap();
    // ...nor did the close's producer snapshot at 8, which is written only
    // after an fdatasync to 8 (else it would prove 5..8 were acknowledged).
    remove_producer_snapshots(dir.path(), TOPIC, 0);
    let start_file = log.with_file_name("start.offset");
    assert_eq!(std::fs::read_to_string(&start_file).unwrap().trim(), "8");

    let store = Store::open(dir.path(), os()).unwrap();
    assert_eq!(store.offsets(TOPIC, 0).unwrap(), (5, 5));
    assert_eq!(std::fs::read_to_string(&start_file).unwrap().trim(), "5");
    let acknowledged = store.append(TOPIC, 0, &[Record::new(b"after".to_vec())]).unwrap();
    assert_eq!(acknowledged.base_offset, 5);
    store.close().unwrap();

    let store = Store::open(dir.path(), os()).unwrap();
    assert_eq!(store.offsets(TOPIC, 0).unwrap(), (5, 6));
    let read = store.read(TOPIC, 0, 5, ReadOptions::default()).unwrap();
    assert_eq!(read.records.len(), 1);
    assert_eq!(read.records[0].value, b"after");
    store.close().unwrap();
}
