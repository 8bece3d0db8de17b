//! Giving memory back while idle.
//!
//! `Store::release_mapped_pages`: reads of sealed segments go through memory
//! maps whose touched pages stay resident; releasing them must take them out
//! of the process's resident set, and reads before, after and across a
//! release must see the same records. Resident pages are counted per mapping
//! in `/proc/self/smaps` (only the maps of this test's own data directory, so
//! other tests running in the same process do not disturb the count).
//!
//! `Store::release_sealed_indexes`: sealed segments' index entries leave
//! memory and come back from the index files on the next lookup; reads by
//! offset and by time answer exactly as before, also when an index file was
//! lost meanwhile (a lookup then starts at the segment's first batch).

#![cfg(target_os = "linux")]
use millrace::{Durability, Isolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::path::Path;

const VALUE_BYTES: usize = 1000;
const RECORDS: u64 = 2000;

/// A store with one single-partition topic `t` of `segment_bytes` segments.
fn open(dir: &Path, segment_bytes: u64, index_interval_bytes: u32) -> Store {
    let store = Store::open(
        dir,
        StoreOptions {
            durability: Durability::Os,
            background: false,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store
        .create_topic(
            "t",
            TopicConfig {
                partitions: 1,
                segment_bytes,
                index_interval_bytes,
                ..TopicConfig::default()
            },
        )
        .unwrap();
    store
}

/// Resident kB of every mapping of a file under `dir`.
fn resident_kib_under(dir: &Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let dir = dir.to_str().unwrap();
    let mut ours = false;
    let mut total = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header line: "start-end perms offset dev inode [path]".
            ours = line.split_whitespace().nth(5).is_some_and(|path| path.starts_with(dir));
        } else if ours {
            if let Some(rest) = line.strip_prefix("Rss:") {
                total += rest.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap();
            }
        }
    }
    total
}

/// Every record's (offset, value) from the start, through the `Scanner`.
fn read_all(store: &Store) -> Vec<(u64, Vec<u8>)> {
    let mut scanner = store.scanner("t", 0, 0, Isolation::ReadCommitted).unwrap();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        scanner
            .scan(
                ReadOptions {
                    max_bytes: 1 << 20,
                    ..ReadOptions::default()
                },
                |view| out.push((view.offset, view.value.to_vec())),
            )
            .unwrap();
        if out.len() == before {
            return out;
        }
    }
}

#[test]
fn released_pages_leave_the_resident_set_and_reads_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 256 * 1024, TopicConfig::default().index_interval_bytes);
    for i in 0..RECORDS {
        store
            .append("t", 0, &[Record::new(vec![(i % 251) as u8; VALUE_BYTES])])
            .unwrap();
    }
    // Nothing mapped before a read: nothing to release.
    assert_eq!(store.release_mapped_pages(), 0);

    let first = read_all(&store);
    assert_eq!(first.len() as u64, RECORDS);
    for (i, (offset, value)) in first.iter().enumerate() {
        assert_eq!(*offset, i as u64);
        assert_eq!(value, &vec![(i as u64 % 251) as u8; VALUE_BYTES]);
    }
    // ~2 MB written in 256 KiB segments: the sealed ones were read through maps.
    let resident = resident_kib_under(dir.path());
    assert!(
        resident >= 1024,
        "only {resident} kB of segment maps resident after a full read"
    );

    let released = store.release_mapped_pages();
    // Map lengths are not rounded up to pages, resident sizes are.
    assert!(
        released + 4096 * 16 >= resident * 1024,
        "released {released} B of maps, {resident} kB were resident"
    );
    let after = resident_kib_under(dir.path());
    assert_eq!(after, 0, "{after} kB of segment maps still resident after the release");

    // The same records, read through the same maps (pages fault back in).
    assert_eq!(read_all(&store), first);
    assert!(resident_kib_under(dir.path()) >= 1024);

    // A release while a scanner is between calls: it resumes where it was.
    let mut scanner = store.scanner("t", 0, 0, Isolation::ReadCommitted).unwrap();
    let mut resumed = Vec::new();
    let options = ReadOptions {
        max_bytes: 64 * 1024,
        ..ReadOptions::default()
    };
    loop {
        let before = resumed.len();
        scanner
            .scan(options, |view| resumed.push((view.offset, view.value.to_vec())))
            .unwrap();
        store.release_mapped_pages();
        if resumed.len() == before {
            break;
        }
    }
    assert_eq!(resumed, first);
    store.close().unwrap();
}

fn read_at(store: &Store, offset: u64) -> Vec<(u64, i64, Vec<u8>)> {
    store
        .read(
            "t",
            0,
            offset,
            ReadOptions {
                max_bytes: 8 * 1024,
                max_records: 5,
            },
        )
        .unwrap()
        .records
        .into_iter()
        .map(|r| (r.offset, r.timestamp_ms, r.value))
        .collect()
}

/// Reads from a spread of offsets and lookups by time.
fn answers(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for offset in [0, 1, 63, 64, 65, 255, 256, 700, 1001, 1500, 1999] {
        out.push(format!("{offset}: {:?}", read_at(store, offset)));
    }
    for timestamp in [-5, 0, 10_000, 10_001, 10_500, 11_999, 12_000, 99_999] {
        out.push(format!(
            "t{timestamp}: {:?}",
            store.offset_for_time("t", 0, timestamp).unwrap()
        ));
    }
    out
}

#[test]
fn released_indexes_come_back_from_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 64 * 1024, 1024);
    for i in 0..RECORDS {
        let record = Record::new(vec![(i % 251) as u8; VALUE_BYTES]).with_timestamp(10_000 + i as i64);
        store.append("t", 0, &[record]).unwrap();
    }
    let before = answers(&store);
    assert_eq!(read_at(&store, 1500)[0].0, 1500);

    // ~2 MB in 64 KiB segments, an entry per KiB: ~30 sealed indexes.
    let freed = store.release_sealed_indexes();
    assert!(freed >= 30 * 60 * 16, "only {freed} B of sealed indexes released");
    assert_eq!(store.release_sealed_indexes(), 0, "nothing left to release");
    assert_eq!(answers(&store), before);
    // The lookups read them back: there is something to release again.
    assert!(store.release_sealed_indexes() > 0);

    // An index file lost after the release: lookups start at the segment's
    // first batch and still find the same records.
    let mut indexes = Vec::new();
    let mut dirs = vec![dir.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "index") {
                indexes.push(path);
            }
        }
    }
    indexes.sort();
    assert!(indexes.len() >= 30, "{} index files", indexes.len());
    for index in &indexes[..indexes.len() - 1] {
        std::fs::OpenOptions::new()
            .write(true)
            .open(index)
            .unwrap()
            .set_len(0)
            .unwrap();
    }
    assert_eq!(answers(&store), before);
    store.close().unwrap();
}

/// Releases racing with readers: every full read, by `Scanner` (through the
/// maps) and by offset lookups (through the indexes), sees exactly the
/// records written while another thread releases maps and indexes in a loop.
#[test]
fn releases_while_reading_change_nothing_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 64 * 1024, 1024);
    for i in 0..RECORDS {
        store
            .append(
                "t",
                0,
                &[Record::new(vec![(i % 251) as u8; VALUE_BYTES]).with_timestamp(10_000 + i as i64)],
            )
            .unwrap();
    }
    let expected = read_all(&store);
    let lookups = answers(&store);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let releaser = scope.spawn(|| {
            let mut rounds = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                store.release_mapped_pages();
                store.release_sealed_indexes();
                rounds += 1;
            }
            rounds
        });
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..10 {
                        assert_eq!(read_all(&store), expected);
                        assert_eq!(answers(&store), lookups);
                    }
                })
            })
            .collect();
        for reader in readers {
            reader.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(releaser.join().unwrap() > 0);
    });
    store.close().unwrap();
}
