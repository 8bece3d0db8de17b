//! Consumer groups are bounded (issue 27, item 5), through a real server:
//! past `groups_max` a commit that would add a group is refused with
//! GroupLimit (details `[groups_max]`), directly or in a transaction, while
//! existing groups keep committing; `ListGroups` then lists at most
//! `groups_max` groups, and deleting one makes room again.

use crate::common;

use common::start_server;
use millrace::Record;
use millrace_server::error_code::ErrorCode;
use millrace_server::{ClientError, Producer, ProducerOptions};

fn group_limit(result: Result<impl std::fmt::Debug, ClientError>) -> Vec<u64> {
    match result {
        Err(ClientError::Server(wire)) if wire.code == ErrorCode::GroupLimit => wire.details,
        other => panic!("expected GroupLimit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_past_the_group_limit_are_refused() {
    let server = start_server(|c| c.groups_max = 3).await;
    let client = server.client().await;
    client.create_topic("t", 2, &[]).await.unwrap();
    client.produce("t", 0, vec![Record::new(b"x".to_vec())]).await.unwrap();
    for g in 0..3 {
        client.commit_offsets(&format!("g{g}"), &[("t", 0, 1)]).await.unwrap();
    }
    assert_eq!(group_limit(client.commit_offsets("g3", &[("t", 0, 1)]).await), vec![3]);
    // The groups there commit as before, on any partition.
    client.commit_offsets("g0", &[("t", 1, 0), ("t", 0, 0)]).await.unwrap();
    // A transaction cannot add one either.
    let producer = Producer::init(client.clone(), "p", ProducerOptions::default())
        .await
        .unwrap();
    let txn = client
        .begin_transaction(producer.producer_id(), producer.epoch())
        .await
        .unwrap();
    assert_eq!(group_limit(txn.commit_offsets("g4", &[("t", 0, 1)]).await), vec![3]);
    txn.abort().await.unwrap();
    let mut groups = client.list_groups().await.unwrap();
    groups.retain(|g| !g.starts_with("__"));
    assert_eq!(groups, ["g0", "g1", "g2"]);
    server.handle.shutdown().await.unwrap();
}

/// Every value in `out/0`, uncommitted ones included.
async fn out_values(client: &millrace_server::Client) -> Vec<Vec<u8>> {
    let fetched = client
        .fetch_with(millrace_server::messages::Fetch {
            topic: "out".into(),
            partition: 0,
            position: millrace_server::messages::Position::Offset(0),
            max_bytes: 1 << 20,
            max_records: 0,
            isolation: millrace_server::messages::Isolation::ReadUncommitted,
            max_wait_ms: 0,
        })
        .await
        .unwrap();
    fetched.records.into_iter().map(|r| r.value).collect()
}

async fn user_groups(client: &millrace_server::Client) -> Vec<String> {
    let mut groups = client.list_groups().await.unwrap();
    groups.retain(|g| !g.starts_with("__"));
    groups
}

/// The store-wide limit holds for transactions too (issue 27): one
/// transaction's new groups count together, and two open transactions that
/// each add a group where only one fits: the second `TxnCommit` is refused
/// (its records and offsets nowhere, after a restart too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_cannot_add_groups_past_the_limit_together() {
    let server = start_server(|c| c.groups_max = 3).await;
    let client = server.client().await;
    client.create_topic("t", 1, &[]).await.unwrap();
    client.create_topic("out", 1, &[]).await.unwrap();
    client.produce("t", 0, vec![Record::new(b"x".to_vec())]).await.unwrap();
    client.commit_offsets("g0", &[("t", 0, 1)]).await.unwrap();
    client.commit_offsets("g1", &[("t", 0, 1)]).await.unwrap();
    let first = Producer::init(client.clone(), "p1", ProducerOptions::default())
        .await
        .unwrap();
    let second = Producer::init(client.clone(), "p2", ProducerOptions::default())
        .await
        .unwrap();

    // One transaction, several new groups: the one past the limit is refused.
    let txn = client
        .begin_transaction(first.producer_id(), first.epoch())
        .await
        .unwrap();
    txn.commit_offsets("n1", &[("t", 0, 1)]).await.unwrap();
    assert_eq!(group_limit(txn.commit_offsets("n2", &[("t", 0, 1)]).await), vec![3]);
    txn.abort().await.unwrap();

    // Two transactions, one new group each, room for one.
    let one = client
        .begin_transaction(first.producer_id(), first.epoch())
        .await
        .unwrap();
    let other = server.client().await;
    let two = other
        .begin_transaction(second.producer_id(), second.epoch())
        .await
        .unwrap();
    one.append("out", 0, vec![Record::new(b"one".to_vec())]).await.unwrap();
    one.commit_offsets("a", &[("t", 0, 1)]).await.unwrap();
    two.append("out", 0, vec![Record::new(b"two".to_vec())]).await.unwrap();
    two.commit_offsets("b", &[("t", 0, 1)]).await.unwrap();
    one.commit().await.unwrap();
    assert_eq!(group_limit(two.commit().await), vec![3]);
    assert_eq!(user_groups(&client).await, ["a", "g0", "g1"]);
    assert_eq!(out_values(&client).await, [b"one".to_vec()]);

    let dir = server.dir;
    server.handle.shutdown().await.unwrap();
    let mut config = common::test_config(dir.path());
    config.groups_max = 3;
    let restarted = millrace_server::server::start(config).await.unwrap();
    let client = millrace_server::Client::connect(restarted.local_addr(), millrace_server::ClientOptions::default())
        .await
        .unwrap();
    assert_eq!(user_groups(&client).await, ["a", "g0", "g1"]);
    assert_eq!(out_values(&client).await, [b"one".to_vec()]);
    assert!(client.committed_offsets("b", None).await.unwrap().is_empty());
    restarted.shutdown().await.unwrap();
}
