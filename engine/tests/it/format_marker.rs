//! The downgrade guard of null values (design/format.md, "Version changes"):
//! a store that has never held a null keeps the `MILLRACE` marker the previous
//! release opens (`millrace-store-format 1`); the first batch with a null (an
//! append or a transaction's commit record, which embeds its parts' batches)
//! raises it to `millrace-store-format 2` durably before it is written, so a
//! release that predates nulls refuses the whole store (`FormatTooNew`, its
//! `supported` is 1) instead of taking a version-2 batch for a torn tail it
//! may cut. Proven through the public API on a real directory, and on the
//! simulated disk by a power cut at every storage call of the workloads: no
//! image ever holds a version-2 batch under a marker that does not name 2.
use crate::common;

use millrace::testing::sim::{FaultPlan, SimStorage};
use millrace::{Durability, Error, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::path::Path;
use std::sync::Arc;

const PLAIN: &[u8] = b"millrace-store-format 1\n";
const NULLS: &[u8] = b"millrace-store-format 2\n";

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

fn marker(data: &Path) -> Vec<u8> {
    std::fs::read(data.join("MILLRACE")).unwrap()
}

fn plain() -> Vec<Record> {
    vec![
        Record::new("a").with_key("k"),
        Record::new(Vec::new()).with_header("e", Vec::new()),
    ]
}

fn tombstone() -> Vec<Record> {
    vec![Record::tombstone().with_key("k")]
}

#[test]
fn a_store_without_nulls_keeps_the_marker_the_previous_release_opens() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(marker(dir.path()), PLAIN, "a new store");
    store.create_topic("t", TopicConfig::default()).unwrap();
    store.append("t", 0, &plain()).unwrap();
    let session = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(session.id()).unwrap();
    txn.append("t", 0, &plain()).unwrap();
    txn.commit().unwrap();
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.read("t", 0, 0, ReadOptions::default()).unwrap().records.len(), 4);
    store.close().unwrap();
    assert_eq!(marker(dir.path()), PLAIN, "empty values and headers are not nulls");
}

#[test]
fn the_first_null_raises_the_marker_before_it_is_acknowledged() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    store.append("t", 0, &plain()).unwrap();
    assert_eq!(marker(dir.path()), PLAIN);
    store.append("t", 0, &tombstone()).unwrap();
    assert_eq!(marker(dir.path()), NULLS, "raised when the null is acknowledged");
    store.append("t", 0, &[Record::new("v").with_null_header("n")]).unwrap();
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let read = store.read("t", 0, 0, ReadOptions::default()).unwrap().records;
    assert!(read[2].is_null_value(), "{read:?}");
    // Stays raised: the store holds a null.
    store.append("t", 0, &plain()).unwrap();
    store.close().unwrap();
    assert_eq!(marker(dir.path()), NULLS, "after a reopen");
}

#[test]
fn a_transaction_with_a_null_raises_the_marker_before_its_commit_record() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let session = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(session.id()).unwrap();
    txn.append("t", 0, &tombstone()).unwrap();
    assert_eq!(marker(dir.path()), PLAIN, "staged, not written");
    txn.commit().unwrap();
    assert_eq!(marker(dir.path()), NULLS);
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    assert!(store.read("t", 0, 0, ReadOptions::default()).unwrap().records[0].is_null_value());
    store.close().unwrap();
}

#[test]
fn a_marker_past_this_build_is_refused_as_too_new() {
    let dir = common::scratch_dir();
    Store::open(dir.path(), options()).unwrap().close().unwrap();
    std::fs::write(dir.path().join("MILLRACE"), b"millrace-store-format 3\n").unwrap();
    match Store::open(dir.path(), options()) {
        Err(Error::FormatTooNew { found, supported, .. }) => {
            assert_eq!(found, "3");
            assert_eq!(supported, 2);
        }
        other => panic!("expected FormatTooNew, got {other:?}"),
    }
}

/// Whether any bytes of `files` hold the header of a version-2 batch
/// (magic `MRB1`, then the version at byte 12), at any position: a
/// segment's batches and those a commit record embeds alike.
fn holds_null_batch(files: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>) -> Option<&Path> {
    files.iter().find_map(|(path, bytes)| {
        bytes
            .windows(14)
            .any(|w| w[..4] == *b"MRB1" && w[12..14] == 2u16.to_le_bytes())
            .then_some(path.as_path())
    })
}

const DATA: &str = "/data";

/// A direct append of a null after a plain one, or (`transaction`) a
/// transaction with one; stops at the first error (the crash point).
fn workload(storage: &SimStorage, transaction: bool) -> millrace::Result<()> {
    let store = Store::open_with_storage(DATA, options(), Arc::new(storage.clone()))?;
    store.create_topic("t", TopicConfig::default())?;
    store.append("t", 0, &plain())?;
    if transaction {
        let session = store.init_producer("p")?;
        let mut txn = store.begin_transaction(session.id())?;
        txn.append("t", 0, &tombstone())?;
        txn.commit()?;
    } else {
        store.append("t", 0, &tombstone())?;
    }
    store.append("t", 0, &plain())?;
    store.close()
}

#[test]
fn no_power_cut_leaves_a_null_batch_under_the_old_marker() {
    for transaction in [false, true] {
        let counting = SimStorage::new(0, FaultPlan::none());
        workload(&counting, transaction).unwrap();
        let calls = counting.calls();
        assert!(
            holds_null_batch(&counting.files()).is_some(),
            "the workload writes a null"
        );
        assert_eq!(counting.files()[Path::new("/data/MILLRACE")], NULLS);
        for crash_at in 0..=calls {
            for seed in 0..3 {
                let storage = SimStorage::new(seed, FaultPlan::none().crash_at_call(crash_at));
                let _ = workload(&storage, transaction);
                let image = storage.power_cut();
                let files = image.files();
                let what = format!("transaction {transaction}, crash at call {crash_at} of {calls}, seed {seed}");
                if let Some(path) = holds_null_batch(&files) {
                    assert_eq!(
                        files.get(Path::new("/data/MILLRACE")).map(Vec::as_slice),
                        Some(NULLS),
                        "{what}: {} holds a version-2 batch",
                        path.display()
                    );
                }
                // And the image opens with this build.
                Store::open_with_storage(DATA, options(), Arc::new(image))
                    .unwrap_or_else(|e| panic!("{what}: {e}"))
                    .close()
                    .unwrap();
            }
        }
    }
}
