//! Internal topics and groups (`__*`) are the store's own, through the real
//! server (issue 19 finding 1, issue 27 findings 3 and 4): every internal
//! topic is first filled by the operation that owns it, then every token
//! (admin included) tries to write it with garbage and with a well-formed
//! forgery (a byte-for-byte copy of a genuine record of that topic, read back
//! with the admin token: a replayed offset commit, reset audit entry,
//! transaction commit record, attempt count, dead letter, redrive mark), to
//! delete it, and to commit to or reset an internal group. Each is refused
//! (`InternalName`), reading an internal topic needs the admin permission
//! (`PermissionDenied`), names the data directory uses are refused as topic
//! names, and after a restart every group's offsets, the reset audit and the
//! DLQ are exactly what the owning operations left.

use crate::common;

use std::time::Duration;

use common::test_config;
use millrace::Record;
use millrace_server::auth::Permission;
use millrace_server::config::{ServerConfig, TokenConfig};
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::*;
use millrace_server::server::{start, ServerHandle};
use millrace_server::{Client, ClientError, ClientOptions};

const ADMIN: &str = "admin-token-0123456789";
const PRODUCE: &str = "produce-token-0123456789";
const CONSUME: &str = "consume-token-0123456789";
const PRODUCE_CONSUME: &str = "produce-consume-token-0123456789";

/// Every internal topic the operations below create.
const INTERNAL_TOPICS: [&str; 6] = [
    "__offsets",
    "__transactions",
    "__attempts",
    "__dlq.in",
    "__offset_resets",
    "__redriven",
];

fn config(dir: &std::path::Path) -> ServerConfig {
    let token = |token: &str, permissions: &[Permission]| TokenConfig {
        name: None,
        token: token.into(),
        permissions: permissions.to_vec(),
        // Every user group: the refusals tested here are the store's own.
        groups: vec!["*".into()],
        groups_max: None,
    };
    ServerConfig {
        tokens: vec![
            token(ADMIN, &[Permission::Admin, Permission::Produce, Permission::Consume]),
            token(PRODUCE, &[Permission::Produce]),
            token(CONSUME, &[Permission::Consume]),
            token(PRODUCE_CONSUME, &[Permission::Produce, Permission::Consume]),
        ],
        ..test_config(dir)
    }
}

async fn connect(handle: &ServerHandle, token: &str) -> Client {
    let options = ClientOptions {
        token: Some(token.as_bytes().to_vec()),
        connect_attempts_max: 1,
        ..ClientOptions::default()
    };
    Client::connect(handle.local_addr(), options).await.unwrap()
}

#[track_caller]
fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Server(error)) => error.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

fn fetch(topic: &str) -> Request {
    Request::Fetch(Fetch {
        topic: topic.into(),
        partition: 0,
        position: Position::Offset(0),
        max_bytes: 1024 * 1024,
        max_records: 0,
        isolation: Isolation::ReadUncommitted,
        max_wait_ms: 0,
    })
}

fn commit(group: &str, topic: &str, offset: u64) -> Request {
    Request::CommitOffsets(CommitOffsets {
        group: group.into(),
        offsets: vec![PartitionOffset {
            topic: topic.into(),
            partition: 0,
            offset,
            metadata: Vec::new(),
        }],
    })
}

fn fail(producer: &ProducerInit, group: &str, topic: &str, offset: u64) -> Request {
    Request::FailRecord(FailRecord {
        producer_id: producer.producer_id,
        epoch: producer.epoch,
        group: group.into(),
        topic: topic.into(),
        partition: 0,
        offset,
        stage: "transform".into(),
        error_class: "ParseError".into(),
        error_message: "bad".into(),
        max_attempts: 1,
    })
}

fn reset(group: &str, topic: &str, target: ResetTarget) -> Request {
    Request::ResetOffsets(ResetOffsets {
        group: group.into(),
        topic: Some(topic.into()),
        partitions: vec![],
        target,
        dry_run: false,
        force: true,
    })
}

fn redrive(topic: &str, target_topic: Option<&str>) -> Request {
    Request::DlqRedrive(DlqRedrive {
        topic: topic.into(),
        target_topic: target_topic.map(str::to_string),
        max_records: None,
        rate_per_second: 0,
        redrive_cap: 0,
        dry_run: false,
        from_offset: None,
    })
}

fn dlq_list(topic: &str) -> Request {
    Request::DlqList(DlqList {
        topic: topic.into(),
        from_offset: 0,
        max_records: 0,
        error_contains: None,
        source_partition: None,
        since_ms: None,
        until_ms: None,
    })
}

async fn init_producer(client: &Client, name: &str) -> Result<ProducerInit, ClientError> {
    match client
        .call(Request::InitProducer(InitProducer { name: name.into() }))
        .await?
    {
        Response::ProducerInit(init) => Ok(init),
        other => panic!("{other:?}"),
    }
}

/// Everything the owning operations left: committed offsets of every group
/// (internal ones included), the reset audit, the DLQ listing, and each
/// internal topic's end offset.
async fn state(admin: &Client) -> String {
    let mut out = String::new();
    let Response::Groups(groups) = admin.call(Request::ListGroups).await.unwrap() else {
        panic!()
    };
    for group in groups {
        let offsets = admin.committed_offsets(&group, None).await.unwrap();
        out.push_str(&format!("{group}: {offsets:?}\n"));
    }
    out.push_str(&format!("audit: {:?}\n", admin.reset_audit(None).await.unwrap()));
    out.push_str(&format!("dlq: {:?}\n", admin.call(dlq_list("in")).await.unwrap()));
    for topic in INTERNAL_TOPICS {
        let description = admin.describe_topic(topic).await.unwrap();
        out.push_str(&format!("{topic}: {:?}\n", description.partitions));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_topics_and_groups_are_the_stores_own() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(config(dir.path())).await.unwrap();
    let admin = connect(&handle, ADMIN).await;

    // Every internal topic, written by the operation that owns it.
    admin.create_topic("in", 1, &[]).await.unwrap();
    let values: Vec<Record> = (0..10u8).map(|i| Record::new(vec![i])).collect();
    admin.produce("in", 0, values).await.unwrap();
    admin.call(commit("g", "in", 5)).await.unwrap(); // __offsets
    let stage = init_producer(&admin, "stage").await.unwrap();
    let Response::RecordFailed(failed) = admin.call(fail(&stage, "g", "in", 2)).await.unwrap() else {
        panic!()
    }; // __attempts, __transactions, __dlq.in
    assert!(failed.dead_lettered);
    admin.call(commit("r", "in", 7)).await.unwrap();
    admin.call(reset("r", "in", ResetTarget::ToOffset(4))).await.unwrap(); // __offset_resets
    let Response::Redrive(report) = admin.call(redrive("in", None)).await.unwrap() else {
        panic!()
    }; // __redriven, group __redrive.in
    assert_eq!(report.redriven.len(), 1);
    let before = state(&admin).await;
    assert!(before.contains("__redrive.in"), "{before}");

    let producer = connect(&handle, PRODUCE).await;
    let consumer = connect(&handle, CONSUME).await;
    let both = connect(&handle, PRODUCE_CONSUME).await;
    let forger = init_producer(&producer, "forger").await.unwrap();
    for topic in INTERNAL_TOPICS {
        // Reading is the admin's: the forgery is a genuine record copied back.
        let genuine = admin.fetch(topic, 0, 0, Duration::ZERO).await.unwrap();
        let forged = genuine
            .records
            .first()
            .unwrap_or_else(|| panic!("{topic} is empty"))
            .to_record();
        for client in [&consumer, &both] {
            if topic.starts_with("__dlq.") {
                // A dead-letter queue is readable with `consume` (what
                // `DlqList` shows): the record read is the genuine one.
                let read = client.fetch(topic, 0, 0, Duration::ZERO).await.unwrap();
                assert_eq!(read.records, genuine.records, "{topic}");
                assert_eq!(client.describe_topic(topic).await.unwrap().name, *topic);
            } else {
                assert_eq!(
                    code(client.call(fetch(topic)).await),
                    ErrorCode::PermissionDenied,
                    "{topic}"
                );
                assert_eq!(
                    code(client.describe_topic(topic).await),
                    ErrorCode::PermissionDenied,
                    "{topic}"
                );
            }
            if topic.starts_with("__dlq.") {
                // A group may keep its position on a DLQ: its lag there too.
                client.lag("g", Some(topic)).await.unwrap();
            } else {
                assert_eq!(
                    code(client.lag("g", Some(topic)).await),
                    ErrorCode::PermissionDenied,
                    "{topic}"
                );
            }
        }
        // No token writes it: garbage, a well-formed forgery, idempotent or
        // transactional, nor deletes or re-creates it.
        for client in [&producer, &both, &admin] {
            for record in [Record::new(b"garbage \xff\x00".to_vec()), forged.clone()] {
                assert_eq!(
                    code(client.produce(topic, 0, vec![record]).await),
                    ErrorCode::InternalName,
                    "{topic}"
                );
            }
        }
        let sequenced = Request::Produce(Produce {
            topic: topic.into(),
            partition: 0,
            producer: Some(ProducerStamp {
                producer_id: forger.producer_id,
                epoch: forger.epoch,
                base_sequence: 0,
            }),
            records: vec![forged.clone()],
        });
        assert_eq!(code(producer.call(sequenced).await), ErrorCode::InternalName, "{topic}");
        let txn = producer
            .begin_transaction(forger.producer_id, forger.epoch)
            .await
            .unwrap();
        assert_eq!(
            code(txn.append(topic, 0, vec![forged.clone()]).await),
            ErrorCode::InternalName,
            "{topic}"
        );
        txn.abort().await.unwrap();
        assert_eq!(
            code(admin.delete_topic(topic).await),
            ErrorCode::InternalName,
            "{topic}"
        );
        assert_eq!(
            code(admin.create_topic(topic, 1, &[]).await),
            ErrorCode::InternalName,
            "{topic}"
        );
        // No group commits a position on it but on a DLQ (below); none
        // fails one of its records.
        if !topic.starts_with("__dlq.") {
            assert_eq!(
                code(both.call(commit("g", topic, 0)).await),
                ErrorCode::InternalName,
                "{topic}"
            );
        }
        assert_eq!(
            code(both.call(fail(&stage, "g", topic, 0)).await),
            ErrorCode::InternalName,
            "{topic}"
        );
    }
    assert_eq!(code(admin.create_topic("__new", 1, &[]).await), ErrorCode::InternalName);

    // Internal groups: no commit, transactional commit, failed record or
    // reset moves them, whatever the token.
    for group in ["__redrive.in", "__replay.job", "__anything"] {
        for client in [&both, &admin] {
            assert_eq!(
                code(client.call(commit(group, "in", 1)).await),
                ErrorCode::InternalName,
                "{group}"
            );
            assert_eq!(
                code(client.call(fail(&stage, group, "in", 3)).await),
                ErrorCode::InternalName,
                "{group}"
            );
        }
        assert_eq!(
            code(admin.call(reset(group, "in", ResetTarget::Earliest)).await),
            ErrorCode::InternalName,
            "{group}"
        );
    }
    let txn = admin.begin_transaction(stage.producer_id, stage.epoch).await.unwrap();
    assert_eq!(
        code(txn.commit_offsets("__redrive.in", &[("__dlq.in", 0, 0)]).await),
        ErrorCode::InternalName
    );
    // A replay job's progress moves only in a transaction of its own producer.
    assert_eq!(
        code(txn.commit_offsets("__replay.job", &[("in", 0, 1)]).await),
        ErrorCode::InternalName
    );
    txn.abort().await.unwrap();
    // A producer belongs to the token that registered it: `both` uses its own.
    let forger = init_producer(&both, "both-forger").await.unwrap();
    let txn = both.begin_transaction(forger.producer_id, forger.epoch).await.unwrap();
    assert_eq!(
        code(txn.commit_offsets("__replay.job", &[("in", 0, 1)]).await),
        ErrorCode::PermissionDenied
    );
    txn.abort().await.unwrap();
    // The store's jobs' producers: a replay job's is the admin's, a redrive's nobody's.
    assert_eq!(
        code(init_producer(&both, "__replay.job").await),
        ErrorCode::PermissionDenied
    );
    for client in [&both, &admin] {
        assert_eq!(
            code(init_producer(client, "__redrive.in").await),
            ErrorCode::InternalName
        );
    }
    // A dead letter of an internal topic, a redrive into one, a DLQ of one.
    let txn = both.begin_transaction(forger.producer_id, forger.epoch).await.unwrap();
    let letter = TxnDeadLetter {
        transaction_id: 0,
        group: "g".into(),
        source_topic: "__offsets".into(),
        source_partition: 0,
        source_offset: 0,
        stage: "s".into(),
        error_class: "e".into(),
        error_message: "m".into(),
        attempts: 1,
        record: Record::new(b"forged".to_vec()),
    };
    assert_eq!(code(txn.dead_letter(letter).await), ErrorCode::InternalName);
    txn.abort().await.unwrap();
    assert_eq!(
        code(admin.call(redrive("in", Some("__offsets"))).await),
        ErrorCode::InternalName
    );
    assert_eq!(
        code(admin.call(redrive("__offsets", None)).await),
        ErrorCode::InternalName
    );
    assert_eq!(code(admin.dlq_purge("__offsets", 1).await), ErrorCode::InternalName);

    // Nothing moved.
    assert_eq!(state(&admin).await, before);
    // A group reads a DLQ like any topic, so it keeps its place there
    // (design/format.md, "Names"): the one commit an internal topic takes.
    both.call(commit("dlq-readers", "__dlq.in", 1)).await.unwrap();
    let kept = both.committed_offsets("dlq-readers", None).await.unwrap();
    assert_eq!((kept[0].topic.as_str(), kept[0].offset), ("__dlq.in", 1));
    // The admin's replay job moves its own group, in its producer's transaction.
    let job = init_producer(&admin, "__replay.job").await.unwrap();
    let txn = admin.begin_transaction(job.producer_id, job.epoch).await.unwrap();
    assert_eq!(
        code(txn.commit_offsets("__replay.job", &[("__dlq.in", 0, 0)]).await),
        ErrorCode::InternalName
    );
    txn.commit_offsets("__replay.job", &[("in", 0, 3)]).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        admin.committed_offsets("__replay.job", None).await.unwrap()[0].offset,
        3
    );
    let before = state(&admin).await;
    // Nothing moves at a restart.
    for client in [admin, producer, consumer, both] {
        drop(client);
    }
    handle.shutdown().await.unwrap();
    let handle = start(config(dir.path())).await.unwrap();
    let admin = connect(&handle, ADMIN).await;
    assert_eq!(state(&admin).await, before);
    // The owning operations still work.
    admin.call(commit("g", "in", 6)).await.unwrap();
    assert_eq!(admin.committed_offsets("g", None).await.unwrap()[0].offset, 6);
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_the_data_directory_uses_are_not_topic_names() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(config(dir.path())).await.unwrap();
    let admin = connect(&handle, ADMIN).await;
    for name in ["x.creating", "x.deleting", "x.tmp", ".hidden", "..", "-x", "a/b"] {
        assert_eq!(
            code(admin.create_topic(name, 1, &[]).await),
            ErrorCode::InvalidInput,
            "{name}"
        );
    }
    admin.create_topic("x", 1, &[]).await.unwrap();
    admin
        .produce("x", 0, vec![Record::new(b"kept".to_vec())])
        .await
        .unwrap();
    drop(admin);
    handle.shutdown().await.unwrap();
    // Nothing was created that a restart would take away.
    let handle = start(config(dir.path())).await.unwrap();
    let admin = connect(&handle, ADMIN).await;
    assert_eq!(admin.list_topics().await.unwrap(), vec!["x".to_string()]);
    let fetched = admin.fetch("x", 0, 0, Duration::ZERO).await.unwrap();
    assert_eq!(fetched.records[0].value, b"kept");
    handle.shutdown().await.unwrap();
}
