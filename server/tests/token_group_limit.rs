//! A token's `groups_max` bounds the groups its `groups` patterns reach
//! (issue 27, item 5), through a real server with tokens from a TOML config:
//! a token limited to 3 creates 3 groups, the 4th is refused with GroupLimit
//! (details `[3]`) directly, in a transaction (when staged, and when two
//! staged groups together pass it, and at the commit when a direct commit
//! took the room meanwhile) and through FailRecord, while its existing
//! groups keep committing; another token (own prefix, no limit) is
//! unaffected; after a restart the limit still holds.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use std::path::Path;

use common::TestServer;
use millrace::Record;
use millrace_server::config::{ServerConfig, TokenConfig};
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::FailRecord;
use millrace_server::{Client, ClientError, ClientOptions, Producer, ProducerOptions};

const ADMIN: &str = "admin-token-0123456789";
const LIMITED: &str = "limited-token-0123456789";
const OTHER: &str = "other-token-0123456789";

fn tokens() -> Vec<TokenConfig> {
    let text = format!(
        "[[tokens]]\nname = \"ops\"\ntoken = \"{ADMIN}\"\npermissions = [\"admin\"]\n\
         [[tokens]]\nname = \"limited\"\ntoken = \"{LIMITED}\"\npermissions = [\"produce\", \"consume\"]\n\
         groups = [\"app-*\"]\ngroups_max = 3\n\
         [[tokens]]\nname = \"other\"\ntoken = \"{OTHER}\"\npermissions = [\"consume\"]\ngroups = [\"other-*\"]\n"
    );
    ServerConfig::from_toml_str(&text, Path::new("test.toml"))
        .unwrap()
        .tokens
}

async fn start(dir: tempfile::TempDir) -> TestServer {
    let mut config = common::test_config(dir.path());
    config.tokens = tokens();
    let handle = millrace_server::server::start(config).await.unwrap();
    TestServer { handle, dir }
}

async fn connect(server: &TestServer, token: &str) -> Client {
    let options = ClientOptions {
        token: Some(token.as_bytes().to_vec()),
        connect_attempts_max: 1,
        ..ClientOptions::default()
    };
    Client::connect(server.addr(), options).await.unwrap()
}

fn group_limit(result: Result<impl std::fmt::Debug, ClientError>) -> Vec<u64> {
    match result {
        Err(ClientError::Server(wire)) if wire.code == ErrorCode::GroupLimit => wire.details,
        other => panic!("expected GroupLimit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_groups_max_bounds_the_groups_it_creates() {
    let server = start(tempfile::tempdir().unwrap()).await;
    let admin = connect(&server, ADMIN).await;
    admin.create_topic("t", 1, &[]).await.unwrap();
    admin
        .produce("t", 0, vec![Record::new(b"x".to_vec()), Record::new(b"y".to_vec())])
        .await
        .unwrap();
    let limited = connect(&server, LIMITED).await;
    for g in 0..2 {
        limited
            .commit_offsets(&format!("app-{g}"), &[("t", 0, 1)])
            .await
            .unwrap();
    }
    // Room for one more. Two new groups staged in one transaction: the
    // second is refused when staged.
    let producer = Producer::init(limited.clone(), "p", ProducerOptions::default())
        .await
        .unwrap();
    let txn = limited
        .begin_transaction(producer.producer_id(), producer.epoch())
        .await
        .unwrap();
    txn.commit_offsets("app-tx-0", &[("t", 0, 1)]).await.unwrap();
    assert_eq!(group_limit(txn.commit_offsets("app-tx-1", &[("t", 0, 1)]).await), [3]);
    // A direct commit takes the room meanwhile: the transaction's commit is
    // refused (the transaction is aborted).
    limited.commit_offsets("app-2", &[("t", 0, 1)]).await.unwrap();
    assert_eq!(group_limit(txn.commit().await), [3]);
    // Three groups: the 4th is refused, directly, in a transaction and
    // through FailRecord; the three keep committing, in a transaction too.
    assert_eq!(group_limit(limited.commit_offsets("app-3", &[("t", 0, 1)]).await), [3]);
    limited.commit_offsets("app-0", &[("t", 0, 2)]).await.unwrap();
    let txn = limited
        .begin_transaction(producer.producer_id(), producer.epoch())
        .await
        .unwrap();
    txn.commit_offsets("app-1", &[("t", 0, 2)]).await.unwrap();
    assert_eq!(group_limit(txn.commit_offsets("app-4", &[("t", 0, 1)]).await), [3]);
    txn.commit().await.unwrap();
    let fail = FailRecord {
        producer_id: producer.producer_id(),
        epoch: producer.epoch(),
        group: "app-5".into(),
        topic: "t".into(),
        partition: 0,
        offset: 0,
        stage: "process".into(),
        error_class: "test".into(),
        error_message: "refused".into(),
        max_attempts: 1,
    };
    assert_eq!(group_limit(limited.fail_record(fail).await), [3]);
    // Another token is not affected by this one's limit.
    let other = connect(&server, OTHER).await;
    for g in 0..5 {
        other
            .commit_offsets(&format!("other-{g}"), &[("t", 0, 1)])
            .await
            .unwrap();
    }
    let app_groups = |mut groups: Vec<String>| {
        groups.retain(|g| g.starts_with("app-"));
        groups
    };
    assert_eq!(
        app_groups(admin.list_groups().await.unwrap()),
        ["app-0", "app-1", "app-2"]
    );
    assert_eq!(
        admin.committed_offsets("app-1", None).await.unwrap()[0].offset,
        2,
        "the transaction to an existing group was applied"
    );

    // After a restart the limit still holds.
    let TestServer { handle, dir } = server;
    handle.shutdown().await.unwrap();
    let server = start(dir).await;
    let limited = connect(&server, LIMITED).await;
    assert_eq!(group_limit(limited.commit_offsets("app-3", &[("t", 0, 1)]).await), [3]);
    limited.commit_offsets("app-2", &[("t", 0, 2)]).await.unwrap();
    let admin = connect(&server, ADMIN).await;
    assert_eq!(
        app_groups(admin.list_groups().await.unwrap()),
        ["app-0", "app-1", "app-2"]
    );
    server.handle.shutdown().await.unwrap();
}
