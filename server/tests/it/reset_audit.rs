//! End-to-end over loopback: `ResetAudit` and `ListGroups` through the real
//! server and client, with their permissions (admin for the audit log,
//! consume for the group list).

use crate::common;

use std::time::Duration;

use common::start_server;
use millrace::Record;
use millrace_server::auth::Permission;
use millrace_server::config::TokenConfig;
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::*;
use millrace_server::{Client, ClientError, ClientOptions};

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Server(error)) => error.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

fn reset(group: &str, target: ResetTarget, dry_run: bool) -> ResetOffsets {
    ResetOffsets {
        group: group.into(),
        topic: Some("in".into()),
        partitions: vec![],
        target,
        dry_run,
        force: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_audit_and_list_groups() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    assert_eq!(client.reset_audit(None).await.unwrap(), vec![]);
    assert_eq!(client.list_groups().await.unwrap(), Vec::<String>::new());

    client.create_topic("in", 2, &[]).await.unwrap();
    let values: Vec<Record> = (0..5u8).map(|i| Record::new(vec![i])).collect();
    client.produce("in", 0, values.clone()).await.unwrap();
    client.produce("in", 1, values).await.unwrap();
    client.commit_offsets("billing", &[("in", 0, 3)]).await.unwrap();
    client.commit_offsets("audit-me", &[("in", 1, 4)]).await.unwrap();
    let groups = client.list_groups().await.unwrap();
    assert_eq!(groups, vec!["audit-me".to_string(), "billing".to_string()]);

    // A dry run is not audited; applied resets are, one entry per partition.
    client
        .reset_offsets(reset("billing", ResetTarget::Earliest, true))
        .await
        .unwrap();
    assert_eq!(client.reset_audit(None).await.unwrap(), vec![]);
    let plan = client
        .reset_offsets(reset("billing", ResetTarget::ShiftBy(-1), false))
        .await
        .unwrap();
    assert!(plan.applied);
    client
        .reset_offsets(reset("audit-me", ResetTarget::ToOffset(1), false))
        .await
        .unwrap();

    let all = client.reset_audit(None).await.unwrap();
    // "billing" had no commit on partition 1: both partitions of "in" are reset.
    let billing: Vec<_> = all.iter().filter(|e| e.group == "billing").collect();
    assert_eq!(billing.len(), 2, "{all:?}");
    let p0 = billing.iter().find(|e| e.partition == 0).unwrap();
    assert_eq!((p0.topic.as_str(), p0.from, p0.to), ("in", Some(3), 2));
    assert_eq!(p0.target, "shift-by:-1");
    assert!(p0.actor.contains('@'), "actor is client_name@peer: {}", p0.actor);
    assert!(p0.at_ms > 0);

    let only = client.reset_audit(Some("audit-me")).await.unwrap();
    assert_eq!(only.len(), 2, "{only:?}");
    assert!(only.iter().all(|e| e.group == "audit-me"));
    let p1 = only.iter().find(|e| e.partition == 1).unwrap();
    assert_eq!((p1.from, p1.to), (Some(4), 1));
    // Oldest first: billing's reset came before audit-me's.
    assert_eq!(all.last().unwrap().group, "audit-me");
    assert_eq!(client.reset_audit(Some("nobody")).await.unwrap(), vec![]);

    // The raw requests answer the response variants of the opcodes table.
    match client.call(Request::ListGroups).await.unwrap() {
        Response::Groups(g) => assert_eq!(g, groups),
        other => panic!("{other:?}"),
    }
    match client
        .call(Request::ResetAudit(ResetAudit { group: None }))
        .await
        .unwrap()
    {
        Response::ResetAudit(entries) => assert_eq!(entries, all),
        other => panic!("{other:?}"),
    }
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_audit_needs_admin_list_groups_needs_consume() {
    let admin = "admin-token-0123456789";
    let consumer = "consume-token-0123456789";
    let producer = "produce-token-0123456789";
    let server = start_server(|c| {
        c.tokens = vec![
            TokenConfig {
                name: None,
                groups: Vec::new(),
                groups_max: None,
                token: admin.into(),
                permissions: vec![Permission::Admin, Permission::Produce, Permission::Consume],
            },
            TokenConfig {
                name: None,
                groups: vec!["g".into()],
                groups_max: None,
                token: consumer.into(),
                permissions: vec![Permission::Consume],
            },
            TokenConfig {
                name: None,
                groups: Vec::new(),
                groups_max: None,
                token: producer.into(),
                permissions: vec![Permission::Produce],
            },
        ]
    })
    .await;
    let connect = |token: &str| {
        let options = ClientOptions {
            token: Some(token.as_bytes().to_vec()),
            connect_attempts_max: 1,
            ..ClientOptions::default()
        };
        Client::connect(server.addr(), options)
    };
    let admin = connect(admin).await.unwrap();
    admin.create_topic("in", 1, &[]).await.unwrap();
    admin.commit_offsets("g", &[("in", 0, 0)]).await.unwrap();
    admin.commit_offsets("h", &[("in", 0, 0)]).await.unwrap();
    assert_eq!(admin.reset_audit(None).await.unwrap(), vec![]);
    assert_eq!(
        admin.list_groups().await.unwrap(),
        vec!["g".to_string(), "h".to_string()]
    );

    // A consume token lists the groups its `groups` patterns cover, no others.
    let consumer = connect(consumer).await.unwrap();
    assert_eq!(consumer.list_groups().await.unwrap(), vec!["g".to_string()]);
    assert_eq!(code(consumer.reset_audit(None).await), ErrorCode::PermissionDenied);
    assert_eq!(code(consumer.reset_audit(Some("g")).await), ErrorCode::PermissionDenied);

    let producer = connect(producer).await.unwrap();
    assert_eq!(code(producer.list_groups().await), ErrorCode::PermissionDenied);
    assert_eq!(code(producer.reset_audit(None).await), ErrorCode::PermissionDenied);
    // Denied requests do not close the connection.
    tokio::time::timeout(Duration::from_secs(5), consumer.ping())
        .await
        .unwrap()
        .unwrap();
    server.handle.shutdown().await.unwrap();
}
