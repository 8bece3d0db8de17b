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
