//! Producer ids are not guessable and never name two producers (issue 27,
//! item 2), through the public API: the ids of 1,000 producers are distinct
//! random 63-bit numbers (no step between consecutive ones repeats, none is
//! small); a new id is never one the log holds, even when the registry file
//! is lost, damaged or older (a storage whose random source is scripted
//! forces the collision); a version-2 registry (ids issued in sequence,
//! `fixtures/registry-v2`, written by the engine before this change) opens,
//! its producers resume with their ids and sequences, and new ids stay clear
//! of the sequential range.

use crate::common;

use millrace::storage::{FsStorage, OpenMode, Storage, StorageFile};
use millrace::{Durability, Producer, ProducerId, Record, Store, StoreOptions, TopicConfig};
use std::any::Any;
use std::collections::{BTreeSet, VecDeque};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

fn values(store: &Store, topic: &str) -> Vec<String> {
    common::read_partition(store, topic, 0)
        .into_iter()
        .map(|r| String::from_utf8(r.value).unwrap())
        .collect()
}

#[test]
fn ids_of_a_thousand_producers_are_distinct_and_unpredictable() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    let ids: Vec<u64> = (0..1000)
        .map(|i| store.init_producer(&format!("p{i}")).unwrap().producer_id)
        .collect();
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "an id was issued twice");
    // Drawn from 0..2^63: none is small (a counter's), and they spread over
    // the range (a chance of 2^-1000 that none reaches 2^62).
    assert!(ids.iter().all(|id| *id < 1 << 63), "an id with the top bit set");
    assert!(ids.iter().all(|id| *id >= 1 << 32), "a small id: {ids:?}");
    assert!(ids.iter().any(|id| *id >= 1 << 62));
    // No constant step: knowing one's own id says nothing about the next or
    // the previous producer's.
    let steps: BTreeSet<i128> = ids.windows(2).map(|w| i128::from(w[1]) - i128::from(w[0])).collect();
    assert_eq!(steps.len(), ids.len() - 1, "a step between consecutive ids repeats");
    assert!(
        steps.iter().all(|step| step.unsigned_abs() >= 1 << 32),
        "two consecutive ids are close"
    );
    // And the ids are what the registry keeps: each name resumes its own.
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    for (i, id) in ids.iter().enumerate().step_by(97) {
        let session = store.init_producer(&format!("p{i}")).unwrap();
        assert_eq!((session.producer_id, session.epoch), (*id, 1));
    }
}

/// [`FsStorage`] whose random source is a script: each `random_u64` takes
/// the next value.
#[derive(Debug)]
struct ScriptedIds {
    inner: FsStorage,
    draws: Mutex<VecDeque<u64>>,
}

impl ScriptedIds {
    fn new(draws: &[u64]) -> Arc<ScriptedIds> {
        Arc::new(ScriptedIds {
            inner: FsStorage,
            draws: Mutex::new(draws.iter().copied().collect()),
        })
    }

    fn left(&self) -> usize {
        self.draws.lock().unwrap().len()
    }
}

impl Storage for ScriptedIds {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        self.inner.open(path, mode)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn lock_dir(&self, path: &Path) -> io::Result<Result<Box<dyn Any + Send + Sync>, Option<u32>>> {
        self.inner.lock_dir(path)
    }
    fn random_u64(&self) -> io::Result<u64> {
        self.draws
            .lock()
            .unwrap()
            .pop_front()
            .ok_or_else(|| io::Error::other("the script has no more draws"))
    }
}

/// Whatever happened to the registry file, a new producer never gets an id
/// the log holds: the partitions' producer state (`appender`) and the
/// transaction log (`committer`, which only commits an offset in a
/// transaction). The random source offers exactly those ids first.
#[test]
fn a_new_id_is_never_one_the_log_holds_whatever_happened_to_the_registry() {
    const APPENDER: u64 = 0x1111_2222_3333_4444;
    const COMMITTER: u64 = 0x0555_6666_7777_8888;
    const FRESH: u64 = 0x0999_aaaa_bbbb_cccc;
    const CLUSTER_ID: u64 = 0x0123_4567_89ab_cdef;
    for damage in ["delete", "flip", "stale"] {
        let dir = common::scratch_dir();
        let registry = dir.path().join("producers.registry");
        let stale = {
            // The first open draws the cluster id (two draws) before any producer id.
            let storage = ScriptedIds::new(&[CLUSTER_ID, CLUSTER_ID, APPENDER, COMMITTER]);
            let store = Store::open_with_storage(dir.path(), options(), storage.clone()).unwrap();
            store.create_topic("t", TopicConfig::default()).unwrap();
            let stale = std::fs::read(&registry).ok();
            let mut appender = Producer::init(&store, "appender").unwrap();
            appender.send("t", 0, &[Record::new(b"a-0".to_vec())]).unwrap();
            let committer = store.init_producer("committer").unwrap();
            assert_eq!((appender.id().id, committer.producer_id), (APPENDER, COMMITTER));
            let mut txn = store
                .begin_transaction(ProducerId::new(COMMITTER, committer.epoch))
                .unwrap();
            txn.commit_offset("g", "t", 0, 1, b"").unwrap();
            txn.commit().unwrap();
            assert_eq!(storage.left(), 0);
            stale
        };
        match damage {
            "delete" => std::fs::remove_file(&registry).unwrap(),
            "flip" => {
                let mut bytes = std::fs::read(&registry).unwrap();
                bytes[8] ^= 0x20;
                std::fs::write(&registry, bytes).unwrap();
            }
            _ => match &stale {
                Some(bytes) => std::fs::write(&registry, bytes).unwrap(),
                None => std::fs::remove_file(&registry).unwrap(),
            },
        }
        let storage = ScriptedIds::new(&[APPENDER, COMMITTER, APPENDER | 1 << 63, FRESH]);
        let store = Store::open_with_storage(dir.path(), options(), storage.clone()).unwrap();
        let fresh = store.init_producer("newcomer").unwrap();
        assert_eq!(fresh.producer_id, FRESH, "{damage}");
        assert_eq!(storage.left(), 0, "{damage}");
        assert_eq!(values(&store, "t"), ["a-0"], "{damage}");
        assert_eq!(store.committed_offset("g", "t", 0).unwrap(), Some(1), "{damage}");
    }
}

/// Copy a fixture directory (files and subdirectories) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `fixtures/registry-v2`: topic `orders` (one partition) holding
/// `checkout-0`, `checkout-1` from producer `checkout` (id 0, epoch 0,
/// sequences 0 and 1) and `refunds-0` from producer `refunds` (id 1, epoch 0,
/// sequence 0); registry version 2 with next id 2.
#[test]
fn a_version_2_registry_opens_and_its_producers_resume() {
    let dir = common::scratch_dir();
    let data = dir.path().join("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry-v2"),
        &data,
    );
    let registry_version = |data: &Path| {
        let bytes = std::fs::read(data.join("producers.registry")).unwrap();
        u16::from_le_bytes([bytes[4], bytes[5]])
    };
    assert_eq!(registry_version(&data), 2);
    let storage = ScriptedIds::new(&[0, 1, 1 << 62]);
    let store = Store::open_with_storage(&data, options(), storage.clone()).unwrap();
    let mut checkout = Producer::init(&store, "checkout").unwrap();
    assert_eq!((checkout.id().id, checkout.id().epoch), (0, 1));
    assert_eq!(checkout.session().next_sequence("orders", 0), 2);
    // A retry of an old batch is still known as one; the next batch follows.
    let retry = store
        .append_sequenced(
            "orders",
            0,
            &[Record::new(b"checkout-1".to_vec())],
            millrace::ProducerStamp {
                producer_id: 0,
                epoch: 1,
                base_sequence: 1,
            },
        )
        .unwrap();
    assert!(retry.duplicate);
    checkout
        .send("orders", 0, &[Record::new(b"checkout-2".to_vec())])
        .unwrap();
    let refunds = store.init_producer("refunds").unwrap();
    assert_eq!((refunds.producer_id, refunds.epoch), (1, 1));
    assert_eq!(refunds.next_sequence("orders", 0), 1);
    // A new producer: the draws 0 and 1 are refused (registered).
    let newcomer = store.init_producer("newcomer").unwrap();
    assert_eq!(newcomer.producer_id, 1 << 62);
    assert_eq!(storage.left(), 0);
    drop(checkout);
    store.close().unwrap();
    // The registry is version 3 now, and keeps the sequential range.
    assert_eq!(registry_version(&data), 3);
    let storage = ScriptedIds::new(&[1, 7]);
    let store = Store::open_with_storage(&data, options(), storage.clone()).unwrap();
    assert_eq!(store.init_producer("checkout").unwrap().producer_id, 0);
    assert_eq!(store.init_producer("newcomer").unwrap().producer_id, 1 << 62);
    assert_eq!(store.init_producer("later").unwrap().producer_id, 7);
    assert_eq!(
        values(&store, "orders"),
        ["checkout-0", "checkout-1", "refunds-0", "checkout-2"]
    );
}
