//! Proves `check_dir` finds every kind of damage at its exact file and byte
//! position, classifies torn tails as recoverable, and that `repair_segment`
//! leaves a directory that checks clean and opens, by damaging real stores.

use super::*;
use crate::{Record, Store, StoreOptions};
use std::fs;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

/// A store with topic `t` of one partition and three segments of 10 batches each.
fn build(dir: &Path) -> PathBuf {
    let store = Store::open(dir, options()).unwrap();
    store
        .create_topic(
            "t",
            TopicConfig {
                index_interval_bytes: 64,
                ..TopicConfig::default()
            },
        )
        .unwrap();
    for segment in 0..3 {
        for i in 0..10 {
            store
                .append(
                    "t",
                    0,
                    &[Record::new(format!("value-{segment}-{i}")).with_key(b"k".to_vec())],
                )
                .unwrap();
        }
        if segment < 2 {
            store.roll("t", 0).unwrap();
        }
    }
    store.close().unwrap();
    dir.join("topics").join("t").join("00000")
}

fn positions(log: &Path) -> Vec<u64> {
    let mut positions = Vec::new();
    dump_segment(log, |b| {
        positions.push(b.position);
        true
    })
    .unwrap();
    positions
}

fn flip(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
fn clean_store_checks_clean() {
    let tmp = tempfile::tempdir().unwrap();
    build(tmp.path());
    let report = check_dir(tmp.path()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.topics, 1);
    assert_eq!(report.partitions, 1);
    assert_eq!(report.segments, 3);
    assert_eq!(report.batches, 30);
    assert_eq!(report.records, 30);
    assert!(report.index_entries > 3);
}

#[test]
fn flipped_byte_in_sealed_segment_is_corruption_at_its_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let pdir = build(tmp.path());
    let log = pdir.join(log_name(10));
    let batch_at = positions(&log)[4];
    flip(&log, batch_at + 70);
    let report = check_dir(tmp.path()).unwrap();
    assert!(report.corruption_found());
    let problem = &report.problems[0];
    assert_eq!(problem.path, log);
    assert_eq!(problem.position, batch_at);
    assert_eq!(problem.kind, CorruptionKind::ChecksumMismatch);
    assert_eq!(problem.severity, Severity::Corruption);
    assert!(
        Store::open(tmp.path(), options()).is_err() || {
            // The sealed index is trusted on open; a read then reports it.
            let store = Store::open(tmp.path(), options()).unwrap();
            store
                .read(
                    "t",
                    0,
                    0,
                    crate::ReadOptions {
                        max_records: 3,
                        ..crate::ReadOptions::default()
                    },
                )
                .is_ok()
                && store.read("t", 0, 14, crate::ReadOptions::default()).is_err()
        }
    );

    // Wrong position: refused, nothing changed.
    let backup = tmp.path().join("backup");
    assert!(repair_segment(tmp.path(), &log, batch_at + 1, &backup).is_err());
    let outcome = repair_segment(tmp.path(), &log, batch_at, &backup).unwrap();
    assert_eq!(
        outcome.truncated,
        Some((
            log.clone(),
            fs::metadata(backup.join(log_name(10))).unwrap().len(),
            batch_at
        ))
    );
    assert!(outcome.moved.contains(&pdir.join(log_name(20))));
    assert!(outcome.moved.contains(&pdir.join(index_name(20))));
    assert_eq!(outcome.offsets_dropped, Some((14, 30)));
    let report = check_dir(tmp.path()).unwrap();
    assert!(!report.corruption_found(), "{:?}", report.problems);
    let store = Store::open(tmp.path(), options()).unwrap();
    assert_eq!(store.offsets("t", 0).unwrap(), (0, 14));
    store.append("t", 0, &[Record::new("after repair")]).unwrap();
}

#[test]
fn torn_tail_of_last_segment_is_recoverable() {
    let tmp = tempfile::tempdir().unwrap();
    let pdir = build(tmp.path());
    let log = pdir.join(log_name(20));
    let len = fs::metadata(&log).unwrap().len();
    let last = *positions(&log).last().unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    // After the clean close, the close's producer snapshot proves the last
    // batch was acknowledged: loss, not a torn tail.
    let report = check_dir(tmp.path()).unwrap();
    assert!(report.corruption_found(), "{:?}", report.problems);
    let lost = report.problems.iter().find(|p| p.path == log).unwrap();
    assert_eq!((lost.position, lost.severity), (last, Severity::Corruption));
    assert!(lost.detail.contains("were acknowledged"), "{}", lost.detail);
    // As a crash leaves it (no close snapshot): a torn tail.
    for name in fs::read_dir(&pdir).unwrap() {
        let path = name.unwrap().path();
        if path.extension().is_some_and(|e| e == "producers") {
            fs::remove_file(path).unwrap();
        }
    }
    let report = check_dir(tmp.path()).unwrap();
    assert!(!report.corruption_found(), "{:?}", report.problems);
    let torn = report.problems.iter().find(|p| p.path == log).unwrap();
    assert_eq!(torn.position, last);
    assert_eq!(torn.severity, Severity::Recoverable);
}

#[test]
fn damage_in_the_middle_of_the_last_segment_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let pdir = build(tmp.path());
    let log = pdir.join(log_name(20));
    let at = positions(&log)[2];
    flip(&log, at + 66);
    let report = check_dir(tmp.path()).unwrap();
    assert!(report.corruption_found());
    assert_eq!(report.problems[0].position, at);
    // Open validates only the tail after the last index checkpoint (and a
    // clean close left a producer snapshot at the end), so damage before it
    // is found by reads, with its position, and by `check` above: the read
    // from the start returns the records before it, the read that starts at
    // it the error.
    {
        let store = Store::open(tmp.path(), options()).unwrap();
        let before = store.read("t", 0, 0, millrace_read_all()).unwrap();
        let damaged = before.next_offset;
        assert_eq!(before.records.len() as u64, damaged);
        assert!(
            damaged > 20,
            "the sealed segment's records and the batches before the damage"
        );
        let read = store.read("t", 0, damaged, millrace_read_all());
        assert!(
            matches!(read, Err(Error::Corruption { position, .. }) if position == at),
            "{read:?}"
        );
    }
    let outcome = repair_segment(tmp.path(), &log, at, &tmp.path().join("b")).unwrap();
    // Only the producer snapshot taken at close (past the cut) is moved aside.
    assert!(
        outcome
            .moved
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "producers")),
        "{:?}",
        outcome.moved
    );
    assert!(!check_dir(tmp.path()).unwrap().corruption_found());
    let store = Store::open(tmp.path(), options()).unwrap();
    assert_eq!(store.offsets("t", 0).unwrap(), (0, 22));
}

#[test]
fn bad_index_entry_is_reported_and_index_repair_rebuilds() {
    let tmp = tempfile::tempdir().unwrap();
    let pdir = build(tmp.path());
    let index = pdir.join(index_name(0));
    let entries = fs::read(&index).unwrap().len() / ENTRY_SIZE;
    assert!(entries >= 2);
    flip(&index, 4); // position field of entry 0
    let report = check_dir(tmp.path()).unwrap();
    let problem = report.problems.iter().find(|p| p.path == index).unwrap();
    assert_eq!(problem.kind, CorruptionKind::BadIndex);
    assert_eq!(problem.position, 0);
    assert_eq!(problem.severity, Severity::Corruption);
    repair_index(tmp.path(), &pdir.join(log_name(0)), &tmp.path().join("b")).unwrap();
    let report = check_dir(tmp.path()).unwrap();
    assert!(!report.corruption_found(), "{:?}", report.problems);
    drop(Store::open(tmp.path(), options()).unwrap());
    assert!(check_dir(tmp.path()).unwrap().problems.is_empty());
}

#[test]
fn gap_between_segments_and_bad_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let pdir = build(tmp.path());
    fs::remove_file(pdir.join(log_name(10))).unwrap();
    fs::write(tmp.path().join("topics/t/00000/start.offset"), b"zz").unwrap();
    let report = check_dir(tmp.path()).unwrap();
    assert!(report
        .problems
        .iter()
        .any(|p| p.kind == CorruptionKind::OffsetGap && p.path == pdir.join(log_name(20)) && p.position == 0));
    assert!(report.problems.iter().any(|p| p.kind == CorruptionKind::BadMetadata));
}

#[test]
fn checks_a_locked_directory_live_and_refuses_a_non_store() {
    let tmp = tempfile::tempdir().unwrap();
    build(tmp.path());
    let store = Store::open(tmp.path(), options()).unwrap();
    // A writer holds it: checked live, without the lock.
    let live = check_dir(tmp.path()).unwrap();
    assert!(live.live && live.problems.is_empty(), "{live:?}");
    store.close().unwrap();
    let closed = check_dir(tmp.path()).unwrap();
    assert!(!closed.live && closed.problems.is_empty(), "{closed:?}");
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(check_dir(empty.path()), Err(Error::InvalidInput { .. })));
}

fn millrace_read_all() -> crate::ReadOptions {
    crate::ReadOptions {
        max_bytes: usize::MAX,
        max_records: usize::MAX,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `check` and recovery agree on damaged last segments: when the store
/// refuses to open with `Corruption` at P, check reports corruption at P;
/// when check reports corruption but the store opens (recovery scans only the
/// tail after the last valid index entry), reading the partition fails; when
/// check reports none, the store opens and afterwards checks clean.
#[test]
fn check_agrees_with_recovery_on_damaged_last_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    let pdir = build(&original);
    let relative_log = pdir.strip_prefix(&original).unwrap().join(log_name(20));
    let bytes = fs::read(original.join(&relative_log)).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for at in (0..bytes.len()).step_by(19) {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x08;
        cases.push((format!("flip at {at}"), flipped));
    }
    for len in (1..bytes.len()).step_by(53) {
        cases.push((format!("truncate to {len}"), bytes[..len].to_vec()));
    }
    let mut garbage = bytes.clone();
    garbage.extend_from_slice(&[0xAB; 100]);
    cases.push(("garbage appended".into(), garbage));
    for (i, (name, contents)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("case-{i}"));
        copy_dir(&original, &dir);
        fs::write(dir.join(&relative_log), contents).unwrap();
        let report = check_dir(&dir).unwrap();
        let opened = Store::open_strict(&dir, options());
        match opened {
            Err(Error::Corruption { position, .. }) => {
                assert!(
                    report.corruption_found(),
                    "{name}: open refused at {position}, check found no corruption: {:?}",
                    report.problems
                );
                assert!(
                    report
                        .problems
                        .iter()
                        .any(|p| p.severity == Severity::Corruption && p.position == position),
                    "{name}: open refused at {position}, check reported {:?}",
                    report.problems
                );
            }
            Ok(store) if report.corruption_found() => {
                // Recovery only scans the tail after the last valid index entry;
                // check reads everything. Damage it finds earlier is real: reading
                // the partition through it fails.
                let mut offset = 0;
                let mut failed = false;
                while offset < store.offsets("t", 0).unwrap().1 {
                    match store.read("t", 0, offset, crate::ReadOptions::default()) {
                        Ok(r) => offset = r.next_offset,
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                }
                assert!(
                    failed,
                    "{name}: check found corruption but every record reads: {:?}",
                    report.problems
                );
            }
            Ok(store) => {
                drop(store);
                // After the open's own repair (torn tail) the directory checks clean.
                let after = check_dir(&dir).unwrap();
                assert!(after.problems.is_empty(), "{name}: after open: {:?}", after.problems);
            }
            Err(e) => panic!("{name}: unexpected open error {e}"),
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
