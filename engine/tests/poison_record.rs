//! A store poisoned in one run says so in the next: the first cause is
//! recorded in `<data>/poisoned` at poisoning time (a failed fsync through a
//! fault-injecting storage here), a read-only open (what `millrace stats`
//! and `check` use) shows it without changing anything, and the next
//! writable open shows it once and archives the record (`poisoned.previous`).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failure"
)]

mod common;

use common::{scratch_dir, FaultKind, FaultOp, FaultyStorage};
use millrace::{Durability, Record, Store, StoreOptions, TopicConfig};
use std::sync::Arc;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

#[test]
fn an_earlier_poisoning_is_shown_by_the_next_opens_until_a_writable_one() {
    let dir = scratch_dir();
    {
        let storage = FaultyStorage::default();
        let store = Store::open_with_storage(dir.path(), options(), Arc::new(storage.clone())).unwrap();
        assert!(store.earlier_poison().is_none());
        let config = TopicConfig {
            durability: Some(Durability::Always),
            ..TopicConfig::with_partitions(1)
        };
        store.create_topic("t", config).unwrap();
        storage.arm(FaultOp::SyncData, 0, FaultKind::Eio);
        assert!(store.append("t", 0, &[Record::new("x")]).is_err());
        assert!(store.is_poisoned());
    }
    assert!(dir.path().join("poisoned").is_file(), "the cause is recorded");
    for _ in 0..2 {
        let store = Store::open_read_only(dir.path(), options()).unwrap();
        let earlier = store
            .earlier_poison()
            .expect("a read-only open shows the earlier poisoning");
        assert_eq!(earlier.op, "fsync segment", "{earlier:?}");
        assert!(earlier.path.ends_with("00000000000000000000.log"), "{earlier:?}");
        assert!(earlier.at_unix_ms > 0);
        assert!(!store.is_poisoned());
        store.close().unwrap();
        assert!(
            dir.path().join("poisoned").is_file(),
            "a read-only open keeps the record"
        );
    }
    let store = Store::open(dir.path(), options()).unwrap();
    assert!(store.earlier_poison().is_some(), "the writable open shows it once");
    store.append("t", 0, &[Record::new("y")]).unwrap();
    store.close().unwrap();
    assert!(!dir.path().join("poisoned").exists());
    assert!(dir.path().join("poisoned.previous").is_file());
    let store = Store::open(dir.path(), options()).unwrap();
    assert!(store.earlier_poison().is_none(), "archived by the writable open before");
}
