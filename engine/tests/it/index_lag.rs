//! Issue 26: an `Always` partition's append path writes its index entries
//! to the index file only once the oldest of them lies 256 KiB behind the
//! durable log (not one `pwrite` per fsync group); reads use the entries in
//! memory, close writes them all, and an open after a crash (kill -9 or a
//! power cut) finds an index shorter than its log and scans the tail
//! (design/durability.md, "Recovery").

use std::path::Path;
use std::sync::Arc;

use millrace::testing::sim::{FaultPlan, SimStorage};
use millrace::{Durability, ReadOptions, Record, Store, StoreOptions, TopicConfig};

const BATCHES: u64 = 600;
const DIR: &str = "/lag";

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

/// Entries in the partition's (single) index file.
fn index_entries(storage: &SimStorage) -> u64 {
    let files = storage.files();
    let (_, bytes) = files
        .iter()
        .find(|(path, _)| path.extension().is_some_and(|e| e == "index"))
        .expect("an index file");
    (bytes.len() / millrace::index::ENTRY_SIZE) as u64
}

/// Every read and time lookup lands on the right record.
fn check(store: &Store, what: &str) {
    assert_eq!(
        store.offsets("t", 0).unwrap().1,
        BATCHES,
        "{what}: every acknowledged record"
    );
    for offset in (0..BATCHES).step_by(7) {
        let read = store.read("t", 0, offset, ReadOptions::default()).unwrap();
        let first = read
            .records
            .first()
            .unwrap_or_else(|| panic!("{what}: read at {offset}"));
        assert_eq!(first.offset, offset, "{what}: read at {offset}");
        assert_eq!(first.value, value(offset), "{what}: value at {offset}");
        let found = store.offset_for_time("t", 0, timestamp(offset)).unwrap();
        assert_eq!(found, Some(offset), "{what}: time lookup of {offset}");
    }
}

fn value(offset: u64) -> Vec<u8> {
    vec![(offset % 251) as u8; 1000]
}

fn timestamp(offset: u64) -> i64 {
    1_000_000 + offset as i64 * 3
}

#[test]
fn index_entries_lag_the_log_and_a_crash_rebuilds_the_tail() {
    for crash in ["kill -9", "power cut"] {
        let storage = SimStorage::new(7, FaultPlan::none());
        storage.create_dir_all_durable(Path::new(DIR)).unwrap();
        let store = Store::open_with_storage(DIR, options(), Arc::new(storage.clone())).unwrap();
        let config = TopicConfig {
            partitions: 1,
            segment_bytes: 1 << 20,
            index_interval_bytes: 1024,
            ..TopicConfig::default()
        };
        store.create_topic("t", config).unwrap();
        for offset in 0..BATCHES {
            let record = Record::new(value(offset)).with_timestamp(timestamp(offset));
            store.append("t", 0, &[record]).unwrap();
        }
        // ~620 KiB of log, an entry per batch: the file has the entries
        // 256 KiB behind, not the last ones.
        let written = index_entries(&storage);
        assert!(
            written > 0 && written < BATCHES - 50,
            "{crash}: {written} entries in the file"
        );
        check(&store, &format!("{crash}, live"));
        let survivor = match crash {
            "kill -9" => storage.restart(),
            _ => storage.power_cut(),
        };
        drop(store);
        let store = Store::open_with_storage(DIR, options(), Arc::new(survivor.clone())).unwrap();
        check(&store, &format!("{crash}, reopened"));
        store.close().unwrap();
        // Close wrote every entry.
        assert!(index_entries(&survivor) >= BATCHES - 1, "{crash}: after close");
        let store = Store::open_with_storage(DIR, options(), Arc::new(survivor)).unwrap();
        check(&store, &format!("{crash}, after close"));
    }
}
