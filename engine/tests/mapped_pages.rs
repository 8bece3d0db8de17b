//! `Store::release_mapped_pages`: reads of sealed segments go through memory
//! maps whose touched pages stay resident; releasing them must take them out
//! of the process's resident set, and reads before, after and across a
//! release must see the same records. Resident pages are counted per mapping
//! in `/proc/self/smaps` (only the maps of this test's own data directory, so
//! other tests running in the same process do not disturb the count).

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

use millrace::{Durability, Isolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::path::Path;

const VALUE_BYTES: usize = 1000;
const RECORDS: u64 = 2000;

fn open(dir: &Path) -> Store {
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
                segment_bytes: 256 * 1024,
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
    let store = open(dir.path());
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
