//! A mirror's positions are retention floors (`consumer/mirror.rs`,
//! design/mirror.md): retention by size or age deletes no segment holding a
//! record the mirror has not delivered, across a reopen; the operator's
//! audited "drop oldest unmirrored" lets it; with no mirror, retention is
//! as before.

use crate::common;
use millrace::{Record, Store, StoreOptions, TopicConfig};

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

/// A topic whose retention keeps about one segment, with 20 segments of
/// 10 records each (every segment rolled by hand).
fn filled(store: &Store) {
    store
        .create_topic(
            "t",
            TopicConfig {
                retention_bytes: Some(1),
                ..TopicConfig::default()
            },
        )
        .unwrap();
    for s in 0..20u64 {
        let records: Vec<Record> = (0..10)
            .map(|i| Record::new(format!("r{}", s * 10 + i).into_bytes()))
            .collect();
        store.append("t", 0, &records).unwrap();
        store.roll("t", 0).unwrap();
    }
}

#[test]
fn retention_keeps_every_unmirrored_record_across_a_reopen() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    filled(&store);
    let groups = store.consumer_groups();
    groups
        .commit_mirror_positions("central", &[("t".to_string(), 0, 55)], b"{}")
        .unwrap();
    assert_eq!(groups.retention_floor("t", 0).unwrap(), Some(55));
    store.enforce_retention().unwrap();
    let (start, end) = store.offsets("t", 0).unwrap();
    assert_eq!(end, 200);
    assert_eq!(
        start, 50,
        "segments wholly below the floor go, the one holding 55 stays"
    );
    store.close().unwrap();

    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(
        store.consumer_groups().retention_floor("t", 0).unwrap(),
        Some(55),
        "the floor is durable"
    );
    store.enforce_retention().unwrap();
    assert_eq!(store.offsets("t", 0).unwrap().0, 50);
    // Delivered further: retention follows.
    store
        .consumer_groups()
        .commit_mirror_positions("central", &[("t".to_string(), 0, 120)], b"{}")
        .unwrap();
    store.enforce_retention().unwrap();
    assert_eq!(store.offsets("t", 0).unwrap().0, 120);
}

#[test]
fn the_slowest_mirror_holds_the_floor_and_an_audited_drop_releases_it() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    filled(&store);
    let groups = store.consumer_groups();
    groups
        .commit_mirror_positions("a", &[("t".to_string(), 0, 150)], b"")
        .unwrap();
    groups
        .commit_mirror_positions("b", &[("t".to_string(), 0, 30)], b"")
        .unwrap();
    assert_eq!(groups.retention_floor("t", 0).unwrap(), Some(30));
    let mut mirrors = groups.mirrors().unwrap();
    mirrors.sort();
    assert_eq!(mirrors, ["a", "b"]);
    store.enforce_retention().unwrap();
    assert_eq!(store.offsets("t", 0).unwrap().0, 30);

    // The mirrors' groups are the store's own: no client moves them.
    assert!(matches!(
        groups.commit_offset("__mirror.b", "t", 0, 199, b""),
        Err(millrace::Error::InternalName { .. })
    ));

    let before = groups.drop_unmirrored("b", "t", 0, 100, "ops@edge").unwrap();
    assert_eq!(before, Some(30));
    assert_eq!(groups.retention_floor("t", 0).unwrap(), Some(100));
    store.enforce_retention().unwrap();
    assert_eq!(store.offsets("t", 0).unwrap().0, 100);
    let audit = groups.reset_audit(Some("__mirror.b")).unwrap();
    assert_eq!(audit.len(), 1);
    let entry = audit.first().unwrap();
    assert_eq!(
        (entry.actor.as_str(), entry.target.as_str(), entry.from, entry.to),
        ("ops@edge", "drop-unmirrored", Some(30), 100)
    );
    // Behind the position: nothing to drop, nothing audited.
    assert_eq!(groups.drop_unmirrored("b", "t", 0, 10, "ops@edge").unwrap(), Some(100));
    assert_eq!(groups.reset_audit(Some("__mirror.b")).unwrap().len(), 1);
}

#[test]
fn without_a_mirror_retention_is_unchanged() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    filled(&store);
    assert_eq!(store.consumer_groups().retention_floor("t", 0).unwrap(), None);
    store.enforce_retention().unwrap();
    assert_eq!(
        store.offsets("t", 0).unwrap().0,
        200,
        "every sealed segment past retention goes"
    );
}
