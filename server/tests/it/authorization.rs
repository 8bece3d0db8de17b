//! Within its role a token reaches no further than it should: a producer
//! belongs to the token that registered it, offsets are committed only to
//! the token's groups, the reset audit names the token, the audit topic is
//! admin-only, failed authentications are counted, and a body is decoded
//! only once the handshake and the opcode's permission allow it. Every test
//! runs the real server over loopback with tokens from a TOML config.

use crate::common;

use std::path::Path;

use common::{start_server, Raw, TestServer};
use millrace::Record;
use millrace_server::config::ServerConfig;
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::{
    Fetch, Hello, InitProducer, Isolation, Position, Produce, ProducerStamp, Request, ResetOffsets, ResetTarget,
    Response, TxnBegin, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN,
};
use millrace_server::{Client, ClientError, ClientOptions};

const ADMIN: &str = "admin-token-0123456789";
const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-0123456789ab";
const READER: &str = "reader-token-0123456789";

/// Tokens: an admin, two produce+consume tokens and a consume token;
/// `alice_extra` and `reader_extra` are added to those tokens' tables (e.g. a
/// `groups` line).
fn tokens(alice_extra: &str, reader_extra: &str) -> Vec<millrace_server::config::TokenConfig> {
    let text = format!(
        "[[tokens]]\ntoken = \"{ADMIN}\"\npermissions = [\"admin\"]\n\
         [[tokens]]\ntoken = \"{ALICE}\"\npermissions = [\"produce\", \"consume\"]\n{alice_extra}\n\
         [[tokens]]\ntoken = \"{BOB}\"\npermissions = [\"produce\", \"consume\"]\n\
         [[tokens]]\ntoken = \"{READER}\"\npermissions = [\"consume\"]\n{reader_extra}\n"
    );
    ServerConfig::from_toml_str(&text, Path::new("test.toml"))
        .unwrap()
        .tokens
}

async fn server_with_tokens(alice_extra: &str, reader_extra: &str) -> TestServer {
    let tokens = tokens(alice_extra, reader_extra);
    start_server(|c| c.tokens = tokens).await
}

async fn connect(server: &TestServer, token: &str, client_name: &str) -> Client {
    let options = ClientOptions {
        token: Some(token.as_bytes().to_vec()),
        client_name: client_name.to_string(),
        connect_attempts_max: 1,
        ..ClientOptions::default()
    };
    Client::connect(server.addr(), options).await.unwrap()
}

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Server(error)) => error.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

fn produce(stamp: Option<ProducerStamp>, value: &[u8]) -> Request {
    Request::Produce(Produce {
        topic: "orders".into(),
        partition: 0,
        producer: stamp,
        records: vec![Record::new(value.to_vec())],
    })
}

async fn init(client: &Client, name: &str) -> Result<(u64, u16), ClientError> {
    match client
        .call(Request::InitProducer(InitProducer { name: name.into() }))
        .await?
    {
        Response::ProducerInit(init) => Ok((init.producer_id, init.epoch)),
        other => panic!("unexpected {other:?}"),
    }
}

fn stamp((producer_id, epoch): (u64, u16), base_sequence: u32) -> Option<ProducerStamp> {
    Some(ProducerStamp {
        producer_id,
        epoch,
        base_sequence,
    })
}

async fn produced(client: &Client, request: Request) -> Result<(u64, bool), ClientError> {
    match client.call(request).await? {
        Response::Produced(p) => Ok((p.base_offset, p.duplicate)),
        other => panic!("unexpected {other:?}"),
    }
}

/// Bob cannot append with Alice's producer (id, epoch, next sequence), learn
/// its sequence from an error, fence it by name, or begin a transaction as
/// it; Alice's next batch is appended, not answered `duplicate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tokens_producer_is_refused() {
    let server = server_with_tokens("", "").await;
    connect(&server, ADMIN, "admin")
        .await
        .create_topic("orders", 1, &[])
        .await
        .unwrap();
    let alice = connect(&server, ALICE, "alice").await;
    let bob = connect(&server, BOB, "bob").await;
    let producer = init(&alice, "orders-writer").await.unwrap();
    assert_eq!(
        produced(&alice, produce(stamp(producer, 0), b"a0")).await.unwrap(),
        (0, false)
    );

    // Bob forges Alice's next batch: refused, without details.
    let forged = bob.call(produce(stamp(producer, 1), b"forged")).await;
    match &forged {
        Err(ClientError::Server(error)) => {
            assert_eq!(error.code, ErrorCode::PermissionDenied, "{error:?}");
            assert!(error.details.is_empty(), "{error:?}");
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    // A sequence gap tells Bob nothing either (no OutOfOrderSequence with the expected sequence).
    assert_eq!(
        code(bob.call(produce(stamp(producer, 7), b"probe")).await),
        ErrorCode::PermissionDenied
    );
    // Bob cannot fence Alice's producer by name, nor begin a transaction as it.
    assert_eq!(code(init(&bob, "orders-writer").await), ErrorCode::PermissionDenied);
    let begin = Request::TxnBegin(TxnBegin {
        producer_id: producer.0,
        epoch: producer.1,
    });
    assert_eq!(code(bob.call(begin.clone()).await), ErrorCode::PermissionDenied);

    // Alice is neither fenced nor deduplicated away.
    assert_eq!(
        produced(&alice, produce(stamp(producer, 1), b"a1")).await.unwrap(),
        (1, false)
    );
    assert!(matches!(alice.call(begin).await, Ok(Response::TxnBegun(_))));
    // Bob's own producer works, and re-initing Alice's name as Alice does too.
    let bobs = init(&bob, "bob-writer").await.unwrap();
    assert_ne!(bobs.0, producer.0);
    assert_eq!(
        produced(&bob, produce(stamp(bobs, 0), b"b0")).await.unwrap(),
        (2, false)
    );
    assert_eq!(
        init(&alice, "orders-writer").await.unwrap(),
        (producer.0, producer.1 + 1)
    );
    // The admin token may use any producer (admin is a superset).
    let admin = connect(&server, ADMIN, "admin").await;
    assert_eq!(
        init(&admin, "orders-writer").await.unwrap(),
        (producer.0, producer.1 + 2)
    );
    server.handle.shutdown().await.unwrap();
}

/// Ownership is durable: after a restart Bob is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_ownership_survives_a_restart() {
    let server = server_with_tokens("", "").await;
    connect(&server, ADMIN, "admin")
        .await
        .create_topic("orders", 1, &[])
        .await
        .unwrap();
    let producer = init(&connect(&server, ALICE, "alice").await, "orders-writer")
        .await
        .unwrap();
    let TestServer { handle, dir } = server;
    let mut config = common::test_config(dir.path());
    config.tokens = tokens("", "");
    handle.shutdown().await.unwrap();
    let handle = millrace_server::server::start(config).await.unwrap();
    let restarted = TestServer { handle, dir };
    let bob = connect(&restarted, BOB, "bob").await;
    assert_eq!(
        code(bob.call(produce(stamp(producer, 1), b"x")).await),
        ErrorCode::PermissionDenied
    );
    assert_eq!(code(init(&bob, "orders-writer").await), ErrorCode::PermissionDenied);
    let alice = connect(&restarted, ALICE, "alice").await;
    assert_eq!(
        produced(&alice, produce(stamp(producer, 0), b"a0")).await.unwrap(),
        (0, false)
    );
    restarted.handle.shutdown().await.unwrap();
}

/// A token commits only to the groups its `groups` patterns name; without
/// `groups` to none; an admin token to any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_only_to_the_tokens_groups() {
    let server = server_with_tokens("groups = [\"app-*\", \"billing\"]", "").await;
    let admin = connect(&server, ADMIN, "admin").await;
    admin.create_topic("orders", 1, &[]).await.unwrap();
    let alice = connect(&server, ALICE, "alice").await;
    alice.commit_offsets("app-orders", &[("orders", 0, 0)]).await.unwrap();
    alice.commit_offsets("billing", &[("orders", 0, 0)]).await.unwrap();
    assert_eq!(
        code(alice.commit_offsets("billing-2", &[("orders", 0, 0)]).await),
        ErrorCode::PermissionDenied
    );
    assert_eq!(
        code(alice.commit_offsets("other", &[("orders", 0, 0)]).await),
        ErrorCode::PermissionDenied
    );
    let transaction_producer = init(&alice, "alice-txn").await.unwrap();
    let transaction = alice
        .begin_transaction(transaction_producer.0, transaction_producer.1)
        .await
        .unwrap();
    assert_eq!(
        code(transaction.commit_offsets("other", &[("orders", 0, 0)]).await),
        ErrorCode::PermissionDenied
    );
    transaction.abort().await.unwrap();
    let reader = connect(&server, READER, "reader").await;
    assert_eq!(
        code(reader.commit_offsets("app-orders", &[("orders", 0, 0)]).await),
        ErrorCode::PermissionDenied
    );
    admin.commit_offsets("other", &[("orders", 0, 0)]).await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// The reset audit's actor is the token's name, whatever the client calls itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_actor_is_the_token_name() {
    let text = format!("[[tokens]]\nname = \"ops\"\ntoken = \"{ADMIN}\"\npermissions = [\"admin\"]\n");
    let tokens = ServerConfig::from_toml_str(&text, Path::new("t.toml")).unwrap().tokens;
    let server = start_server(|c| c.tokens = tokens).await;
    let admin = connect(&server, ADMIN, "mallory").await;
    admin.create_topic("orders", 1, &[]).await.unwrap();
    admin.commit_offsets("g", &[("orders", 0, 0)]).await.unwrap();
    admin
        .reset_offsets(ResetOffsets {
            group: "g".into(),
            topic: None,
            partitions: vec![],
            target: ResetTarget::Latest,
            dry_run: false,
            force: true,
        })
        .await
        .unwrap();
    let audit = admin.reset_audit(Some("g")).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert!(audit[0].actor.starts_with("ops@127.0.0.1:"), "{:?}", audit[0].actor);
    server.handle.shutdown().await.unwrap();
}

/// The reset audit topic is admin-only, also through Fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_token_cannot_fetch_the_reset_audit_topic() {
    let server = server_with_tokens("", "").await;
    let admin = connect(&server, ADMIN, "admin").await;
    admin.create_topic("orders", 1, &[]).await.unwrap();
    admin.commit_offsets("g", &[("orders", 0, 0)]).await.unwrap();
    let reset = ResetOffsets {
        group: "g".into(),
        topic: None,
        partitions: vec![],
        target: ResetTarget::Latest,
        dry_run: false,
        force: true,
    };
    admin.reset_offsets(reset).await.unwrap();
    let fetch = Request::Fetch(Fetch {
        topic: "__offset_resets".into(),
        partition: 0,
        position: Position::Offset(0),
        max_bytes: 1 << 20,
        max_records: 0,
        isolation: Isolation::ReadCommitted,
        max_wait_ms: 0,
    });
    let reader = connect(&server, READER, "reader").await;
    assert_eq!(code(reader.call(fetch.clone()).await), ErrorCode::PermissionDenied);
    match admin.call(fetch).await.unwrap() {
        Response::Fetched(f) => assert_eq!(f.records.len(), 1),
        other => panic!("unexpected {other:?}"),
    }
    server.handle.shutdown().await.unwrap();
}

/// Failed authentications are counted (Stats and /metrics).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_counted() {
    let server = server_with_tokens("", "").await;
    for token in [None, Some("wrong-token-0123456789")] {
        let options = ClientOptions {
            token: token.map(|t| t.as_bytes().to_vec()),
            connect_attempts_max: 1,
            ..ClientOptions::default()
        };
        assert_eq!(
            code(Client::connect(server.addr(), options).await),
            ErrorCode::Unauthenticated
        );
    }
    let stats = connect(&server, READER, "reader").await.stats().await.unwrap();
    let failures = stats
        .iter()
        .find(|s| s.name == "millrace_server_authentication_failures_total")
        .map(|s| s.value);
    assert_eq!(failures, Some(2));
    assert!(common::scrape(&server)
        .await
        .contains("millrace_server_authentication_failures_total 2"));
    server.handle.shutdown().await.unwrap();
}

fn garbage_frame(opcode: u16, request_id: u32) -> Vec<u8> {
    // A body of 3 bytes no request decodes from.
    let mut frame = Vec::new();
    frame.extend_from_slice(&11u32.to_le_bytes());
    frame.extend_from_slice(&opcode.to_le_bytes());
    frame.extend_from_slice(&0u16.to_le_bytes());
    frame.extend_from_slice(&request_id.to_le_bytes());
    frame.extend_from_slice(&[0xff, 0xff, 0xff]);
    frame
}

/// Before `Hello`, a known opcode is refused as HandshakeRequired without its
/// body being decoded; after it, an opcode the token may not call is
/// PermissionDenied without decoding, and the connection stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_decoded_only_after_the_checks() {
    let server = server_with_tokens("", "").await;
    let mut raw = Raw::connect(server.addr()).await;
    raw.send(&garbage_frame(0x0021, 5)).await;
    let (frame, result) = raw.response().await.unwrap();
    assert_eq!(frame.header.request_id, 5);
    assert_eq!(result.unwrap_err().code, ErrorCode::HandshakeRequired);
    assert!(raw.is_closed().await);

    let mut raw = Raw::connect(server.addr()).await;
    raw.request(
        1,
        &Request::Hello(Hello {
            version_min: PROTOCOL_VERSION_MIN,
            version_max: PROTOCOL_VERSION_MAX,
            client_name: "reader".into(),
            token: Some(READER.as_bytes().to_vec()),
        }),
    )
    .await;
    assert!(matches!(raw.response().await.unwrap().1, Ok(Response::Hello(_))));
    raw.send(&garbage_frame(0x0021, 2)).await;
    let (frame, result) = raw.response().await.unwrap();
    assert_eq!(frame.header.request_id, 2);
    assert_eq!(result.unwrap_err().code, ErrorCode::PermissionDenied);
    raw.request(3, &Request::Ping).await;
    let (frame, result) = raw.response().await.unwrap();
    assert_eq!((frame.header.request_id, result.is_ok()), (3, true));
    server.handle.shutdown().await.unwrap();
}
