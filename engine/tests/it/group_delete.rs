//! `Store::delete_group` through the public API: refused while the group
//! committed recently unless forced, durable across a reopen, audited; and
//! `StoreOptions::groups_max` refuses a commit that would add a group.

use millrace::{Error, ReadOptions, Record, Store, StoreOptions, TopicConfig};

fn store(dir: &std::path::Path, groups_max: usize) -> Store {
    let options = StoreOptions {
        groups_max,
        ..StoreOptions::default()
    };
    Store::open(dir, options).unwrap()
}

#[test]
fn delete_group_is_refused_while_active_unless_forced_and_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), 100);
    s.create_topic("t", TopicConfig::with_partitions(1)).unwrap();
    s.append("t", 0, &[Record::new(b"x".to_vec())]).unwrap();
    s.commit_offset("a", "t", 0, 1, b"").unwrap();
    s.commit_offset("b", "t", 0, 0, b"").unwrap();
    assert!(matches!(
        s.delete_group("a", "tester", false),
        Err(Error::GroupActive { .. })
    ));
    let removed = s.delete_group("a", "tester", true).unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].1.offset, 1);
    assert_eq!(s.committed_offset("a", "t", 0).unwrap(), None);
    s.close().unwrap();
    let s = store(tmp.path(), 100);
    assert_eq!(s.committed_offset("a", "t", 0).unwrap(), None);
    assert_eq!(s.committed_offset("b", "t", 0).unwrap(), Some(0));
    assert_eq!(s.groups().unwrap(), ["b"]);
    let audit = s.reset_audit(Some("a")).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target, "delete");
    assert_eq!(audit[0].actor, "tester");
    // Nothing left to delete: an empty answer, not an error.
    assert!(s.delete_group("a", "tester", true).unwrap().is_empty());
    s.close().unwrap();
}

#[test]
fn groups_past_the_limit_are_refused_and_deleting_makes_room() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), 2);
    s.create_topic("t", TopicConfig::with_partitions(1)).unwrap();
    s.commit_offset("a", "t", 0, 0, b"").unwrap();
    s.commit_offsets("b", &[("t".into(), 0, 0, Vec::new())]).unwrap();
    match s.commit_offset("c", "t", 0, 0, b"") {
        Err(Error::GroupLimit { group, groups_max }) => {
            assert_eq!(group, "c");
            assert_eq!(groups_max, 2);
        }
        other => panic!("{other:?}"),
    }
    s.commit_offset("a", "t", 0, 0, b"").unwrap();
    s.delete_group("b", "tester", true).unwrap();
    s.commit_offset("c", "t", 0, 0, b"").unwrap();
    assert_eq!(s.groups_page(None, 10).unwrap(), ["a", "c"]);
    assert_eq!(s.groups_page(Some("a"), 10).unwrap(), ["c"]);
    assert_eq!(s.groups_page(None, 1).unwrap(), ["a"]);
    s.close().unwrap();
}

#[test]
fn the_stores_own_groups_are_never_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), 100);
    assert!(
        matches!(
            s.delete_group("__redrive.t", "tester", true),
            Err(Error::InternalName { what: "group", .. })
        ),
        "an internal group is InternalName, as for every other client write to it"
    );
    s.close().unwrap();
}

/// A group deleted after a transaction committed its offsets stays deleted
/// across a reopen: open re-applies the last commit records of
/// `__transactions` (the last two since EndTxn answers at its commit
/// point), and an offset commit of one of them must not bring the group
/// back. Both kinds of commit, the last two records each of them.
#[test]
fn a_group_deleted_after_a_transactions_offset_commit_stays_deleted_after_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), 100);
    s.create_topic("t", TopicConfig::with_partitions(1)).unwrap();
    s.append("t", 0, &[Record::new(b"x".to_vec())]).unwrap();
    let producer = s.init_producer("p").unwrap();
    for (i, early) in [false, true].into_iter().enumerate() {
        let mut txn = s.begin_transaction(producer.id()).unwrap();
        txn.append("t", 0, &[Record::new(format!("out {i}").into_bytes())])
            .unwrap();
        txn.commit_offset("g", "t", 0, 1, b"").unwrap();
        if early {
            txn.commit_at_commit_point().unwrap();
        } else {
            txn.commit().unwrap();
        }
    }
    assert_eq!(s.committed_offset("g", "t", 0).unwrap(), Some(1));
    assert_eq!(s.delete_group("g", "tester", true).unwrap().len(), 1);
    s.close().unwrap();
    let s = store(tmp.path(), 100);
    assert_eq!(
        s.committed_offset("g", "t", 0).unwrap(),
        None,
        "the deleted group came back"
    );
    assert!(s.groups().unwrap().is_empty());
    // The transactions' records are still there, once each.
    let read = s.read("t", 0, 0, ReadOptions::default()).unwrap();
    let values: Vec<&[u8]> = read.records.iter().map(|r| r.value.as_slice()).collect();
    assert_eq!(values, [&b"x"[..], b"out 0", b"out 1"]);
    s.close().unwrap();
}
