//! `StoreOptions::groups_max` holds for transactions (issue 27): the new
//! groups of one transaction count together, and they are checked again at
//! the commit, against groups added since they were staged (a direct commit,
//! another transaction's): refused with `GroupLimit`, nothing of the
//! transaction is visible, before and after a reopen.

use millrace::{Error, Isolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};

fn open(dir: &std::path::Path, groups_max: usize) -> Store {
    let options = StoreOptions {
        groups_max,
        background: false,
        ..StoreOptions::default()
    };
    Store::open(dir, options).unwrap()
}

fn committed_values(store: &Store, topic: &str) -> Vec<Vec<u8>> {
    let read = store
        .read_with(
            topic,
            0,
            0,
            ReadOptions {
                max_bytes: usize::MAX,
                max_records: 1000,
            },
            Isolation::ReadCommitted,
        )
        .unwrap();
    read.records.into_iter().map(|r| r.value).collect()
}

fn user_groups(store: &Store) -> Vec<String> {
    let mut groups = store.groups().unwrap();
    groups.retain(|g| !g.starts_with("__"));
    groups
}

fn refused_group(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::GroupLimit { group, groups_max }) => {
            assert!(groups_max > 0);
            group
        }
        other => panic!("expected GroupLimit, got {other:?}"),
    }
}

/// A store with topics `in` (one record) and `out`, and groups `a` and `b`.
fn prepared(dir: &std::path::Path, groups_max: usize) -> Store {
    let store = open(dir, groups_max);
    store.create_topic("in", TopicConfig::default()).unwrap();
    store.create_topic("out", TopicConfig::default()).unwrap();
    store.append("in", 0, &[Record::new(b"i".to_vec())]).unwrap();
    store.commit_offset("a", "in", 0, 1, b"").unwrap();
    store.commit_offset("b", "in", 0, 1, b"").unwrap();
    store
}

#[test]
fn one_transactions_new_groups_count_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = prepared(dir.path(), 3);
    let producer = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("out", 0, &[Record::new(b"o".to_vec())]).unwrap();
    txn.commit_offset("g1", "in", 0, 1, b"").unwrap();
    // Room for one new group: the second one of the same transaction is refused.
    assert_eq!(refused_group(txn.commit_offset("g2", "in", 0, 1, b"")), "g2");
    assert_eq!(refused_group(txn.advance_offset("g3", "in", 0, 1)), "g3");
    // A group already staged by it, or already in the store, still passes.
    txn.commit_offset("g1", "in", 0, 0, b"").unwrap();
    txn.commit_offset("a", "in", 0, 0, b"").unwrap();
    txn.commit().unwrap();
    assert_eq!(user_groups(&store), ["a", "b", "g1"]);
    store.close().unwrap();
    let store = open(dir.path(), 3);
    assert_eq!(user_groups(&store), ["a", "b", "g1"]);
    assert_eq!(committed_values(&store, "out"), [b"o".to_vec()]);
    store.close().unwrap();
}

#[test]
fn a_group_added_after_staging_refuses_the_commit_and_nothing_is_visible() {
    let dir = tempfile::tempdir().unwrap();
    let store = prepared(dir.path(), 3);
    let producer = store.init_producer("p").unwrap();
    let mut txn = store.begin_transaction(producer.id()).unwrap();
    txn.append("out", 0, &[Record::new(b"lost".to_vec())]).unwrap();
    txn.commit_offset("late", "in", 0, 1, b"").unwrap();
    // The last room goes to a direct commit meanwhile.
    store.commit_offset("direct", "in", 0, 1, b"").unwrap();
    assert_eq!(refused_group(txn.commit()), "late");
    let check = |store: &Store| {
        assert_eq!(user_groups(store), ["a", "b", "direct"]);
        assert!(committed_values(store, "out").is_empty());
        assert_eq!(store.offsets("out", 0).unwrap(), (0, 0), "nothing of it was written");
        assert_eq!(store.committed_offset("late", "in", 0).unwrap(), None);
    };
    check(&store);
    store.close().unwrap();
    let store = open(dir.path(), 3);
    check(&store);
    store.close().unwrap();
}

#[test]
fn of_two_transactions_adding_a_group_each_only_one_fits() {
    let dir = tempfile::tempdir().unwrap();
    let store = prepared(dir.path(), 3);
    let first = store.init_producer("p1").unwrap();
    let second = store.init_producer("p2").unwrap();
    let mut one = store.begin_transaction(first.id()).unwrap();
    let mut two = store.begin_transaction(second.id()).unwrap();
    one.append("out", 0, &[Record::new(b"one".to_vec())]).unwrap();
    one.commit_offset("g1", "in", 0, 1, b"").unwrap();
    two.append("out", 0, &[Record::new(b"two".to_vec())]).unwrap();
    two.commit_offset("g2", "in", 0, 1, b"").unwrap();
    one.commit().unwrap();
    assert_eq!(refused_group(two.commit()), "g2");
    let check = |store: &Store| {
        assert_eq!(user_groups(store), ["a", "b", "g1"]);
        assert_eq!(committed_values(store, "out"), [b"one".to_vec()]);
    };
    check(&store);
    store.close().unwrap();
    let store = open(dir.path(), 3);
    check(&store);
    // The refused producer's next transaction commits (nothing was half done).
    let mut again = store.begin_transaction(second.id()).unwrap();
    again.append("out", 0, &[Record::new(b"two".to_vec())]).unwrap();
    again.commit_offset("g1", "in", 0, 1, b"").unwrap();
    again.commit().unwrap();
    assert_eq!(committed_values(&store, "out"), [b"one".to_vec(), b"two".to_vec()]);
    store.close().unwrap();
}
