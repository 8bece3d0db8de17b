//! Proves that recovery treats segment file names and index files as input,
//! never as assertions: a segment whose name is near `u64::MAX` and whose
//! index claims offsets past `u64::MAX` opens (the bad index entries are
//! dropped or rebuilt) instead of panicking on overflow. Each case writes the
//! files by hand into a store made through the public API, then reopens it.

use millrace::{Durability, Error, Record, Store, StoreOptions, TopicConfig};
use std::path::{Path, PathBuf};

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Os,
        background: false,
        ..StoreOptions::default()
    }
}

/// A store with topic "t" whose partition 0 holds `segments` (name, log bytes,
/// index bytes) instead of what the engine wrote.
fn store_with_segments(segments: &[(u64, Vec<u8>, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    store.close().unwrap();
    let partition = partition_dir(dir.path());
    for entry in std::fs::read_dir(&partition).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log" || e == "index") {
            std::fs::remove_file(path).unwrap();
        }
    }
    for (base, log, index) in segments {
        std::fs::write(partition.join(format!("{base:020}.log")), log).unwrap();
        std::fs::write(partition.join(format!("{base:020}.index")), index).unwrap();
    }
    dir
}

fn partition_dir(store: &Path) -> PathBuf {
    store.join("topics").join("t").join("00000")
}

/// One index entry: relative offset u32, log position u32, max timestamp i64
/// (design/format.md, "Index").
fn index_entry(relative_offset: u32, position: u32) -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(&relative_offset.to_le_bytes());
    e.extend_from_slice(&position.to_le_bytes());
    e.extend_from_slice(&0i64.to_le_bytes());
    e
}

fn one_batch(base_offset: u64) -> Vec<u8> {
    let mut out = Vec::new();
    millrace::batch::encode(&mut out, base_offset, &[Record::new(b"x".to_vec())], 1, None, 0, 0);
    out
}

/// Opening must not panic; an error, if any, must be a typed corruption.
fn open_does_not_panic(dir: &Path) -> Option<Store> {
    match Store::open_strict(dir, options()) {
        Ok(store) => Some(store),
        Err(Error::Corruption { .. }) => None,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[test]
fn last_segment_index_past_u64_max_is_dropped() {
    let base = u64::MAX - 1;
    let dir = store_with_segments(&[(base, Vec::new(), index_entry(5, 0))]);
    let store = open_does_not_panic(dir.path()).expect("an empty segment with a bad index opens");
    assert_eq!(store.offsets("t", 0).unwrap(), (base, base));
}

#[test]
fn sealed_segment_index_past_u64_max_is_rebuilt() {
    let base = u64::MAX - 10;
    let log = one_batch(base);
    let end = index_entry(u32::MAX, log.len() as u32);
    let next = base + 1;
    let dir = store_with_segments(&[(base, log, end), (next, Vec::new(), Vec::new())]);
    let store = open_does_not_panic(dir.path()).expect("the sealed segment is valid; its index is rebuilt");
    assert_eq!(store.offsets("t", 0).unwrap(), (base, next));
}
