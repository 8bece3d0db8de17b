//! `DeleteGroup` through the real server (issue 27 item 5, issue 23's group
//! deletion): an admin token deletes a group (refused `GroupActive` while
//! it committed recently unless forced, `InternalName` for the store's own
//! `__*` groups); the deletion is in the reset audit with the token's name
//! as the actor; a consume token whose `groups` cover the group is still
//! refused; the deleted group is gone after a restart and frees its place
//! under `groups_max`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use common::test_config;
use millrace_server::auth::Permission;
use millrace_server::config::TokenConfig;
use millrace_server::error_code::ErrorCode;
use millrace_server::server::start;
use millrace_server::{Client, ClientError, ClientOptions};

const ADMIN: &str = "admin-token-0123456789";
const CONSUMER: &str = "consume-token-0123456789";

fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Server(wire)) => wire.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

async fn connect(addr: std::net::SocketAddr, token: &str) -> Client {
    let options = ClientOptions {
        token: Some(token.as_bytes().to_vec()),
        connect_attempts_max: 1,
        ..ClientOptions::default()
    };
    Client::connect(addr, options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_deletes_a_group_audited_under_its_token_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        let mut config = test_config(dir.path());
        config.groups_max = 2;
        config.tokens = vec![
            TokenConfig {
                name: Some("ops".into()),
                groups: Vec::new(),
                groups_max: None,
                token: ADMIN.into(),
                permissions: vec![Permission::Admin],
            },
            TokenConfig {
                name: Some("app".into()),
                groups: vec!["app-*".into()],
                groups_max: None,
                token: CONSUMER.into(),
                permissions: vec![Permission::Consume],
            },
        ];
        config
    };
    let server = start(config()).await.unwrap();
    let admin = connect(server.local_addr(), ADMIN).await;
    let consumer = connect(server.local_addr(), CONSUMER).await;
    admin.create_topic("t", 2, &[]).await.unwrap();
    consumer
        .commit_offsets("app-old", &[("t", 0, 0), ("t", 1, 0)])
        .await
        .unwrap();
    consumer.commit_offsets("app-keep", &[("t", 0, 0)]).await.unwrap();
    // groups_max = 2: no room for a third group.
    assert_eq!(
        code(consumer.commit_offsets("app-new", &[("t", 0, 0)]).await),
        ErrorCode::GroupLimit
    );

    // The consume token's `groups` cover it, but deleting needs admin.
    assert_eq!(
        code(consumer.delete_group("app-old", true).await),
        ErrorCode::PermissionDenied
    );
    // It committed just now: active.
    assert_eq!(code(admin.delete_group("app-old", false).await), ErrorCode::GroupActive);
    assert_eq!(
        code(admin.delete_group("__redrive.t", true).await),
        ErrorCode::InternalName
    );
    let removed = admin.delete_group("app-old", true).await.unwrap();
    let mut partitions: Vec<u32> = removed.iter().map(|o| o.partition).collect();
    partitions.sort();
    assert_eq!(partitions, [0, 1]);
    // Nothing left: an empty answer.
    assert!(admin.delete_group("app-old", true).await.unwrap().is_empty());
    // Its place is free again.
    consumer.commit_offsets("app-new", &[("t", 0, 0)]).await.unwrap();

    let audit = admin.reset_audit(Some("app-old")).await.unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
    for entry in &audit {
        assert_eq!(entry.target, "delete");
        assert!(entry.actor.starts_with("ops@"), "{}", entry.actor);
    }
    drop((admin, consumer));
    server.shutdown().await.unwrap();

    let server = start(config()).await.unwrap();
    let admin = connect(server.local_addr(), ADMIN).await;
    assert_eq!(admin.list_groups().await.unwrap(), ["app-keep", "app-new"]);
    assert!(admin.committed_offsets("app-old", None).await.unwrap().is_empty());
    server.shutdown().await.unwrap();
}
