//! End-to-end over loopback: every request type through the real server and
//! client against the real engine (topics, produce, fetch by offset/time with
//! byte budget, isolation and long poll, offsets, lag, resets, transactions,
//! failed records, DLQ list/redrive/purge, stats, flush), pipelining, metrics,
//! auth, graceful shutdown that releases the directory lock, and client
//! reconnection.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use std::time::Duration;

use common::{start_server, Raw};
use millrace::{Record, Store, StoreOptions};
use millrace_server::auth::Permission;
use millrace_server::config::TokenConfig;
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::*;
use millrace_server::{Client, ClientError, ClientOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Server(error)) => error.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_produce_fetch_stats_flush() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.ping().await.unwrap();
    let hello = client.server_hello().await.unwrap();
    assert_eq!(hello.version, 1);

    client
        .create_topic(
            "events",
            2,
            &[("retention_ms", "3600000"), ("record_bytes_max", "65536")],
        )
        .await
        .unwrap();
    assert_eq!(
        code(client.create_topic("events", 2, &[]).await),
        ErrorCode::TopicExists
    );
    assert_eq!(
        code(client.create_topic("other", 1, &[("colour", "blue")]).await),
        ErrorCode::InvalidInput
    );
    assert_eq!(code(client.create_topic("bad", 0, &[]).await), ErrorCode::InvalidInput);
    assert_eq!(client.list_topics().await.unwrap(), vec!["events".to_string()]);

    let description = client.describe_topic("events").await.unwrap();
    assert_eq!(description.partitions.len(), 2);
    let retention = description.config.iter().find(|e| e.key == "retention_ms").unwrap();
    assert_eq!(retention.value, "3600000");
    assert_eq!(code(client.describe_topic("nope").await), ErrorCode::TopicNotFound);

    let records = vec![
        Record::new(b"a".to_vec())
            .with_key(b"k1".to_vec())
            .with_timestamp(1_000),
        Record::new(b"b".to_vec())
            .with_header("h", b"v".to_vec())
            .with_timestamp(2_000),
        Record::new(b"c".to_vec()).with_timestamp(3_000),
    ];
    let produced = client.produce("events", 1, records.clone()).await.unwrap();
    assert_eq!(
        (produced.base_offset, produced.next_offset, produced.duplicate),
        (0, 3, false)
    );
    assert_eq!(
        code(client.produce("events", 7, records.clone()).await),
        ErrorCode::PartitionNotFound
    );
    assert_eq!(
        code(client.produce("missing", 0, records.clone()).await),
        ErrorCode::TopicNotFound
    );
    assert_eq!(code(client.produce("events", 0, vec![]).await), ErrorCode::InvalidInput);

    let fetched = client.fetch("events", 1, 0, Duration::ZERO).await.unwrap();
    assert_eq!(fetched.records.len(), 3);
    assert_eq!(fetched.next_offset, 3);
    assert_eq!(fetched.high_watermark, 3);
    assert_eq!(fetched.records[0].key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(fetched.records[1].header("h"), Some(&b"v"[..]));
    assert_eq!(fetched.records[2].value, b"c");

    // Byte budget: at least one record, not all.
    let small = client
        .fetch_with(Fetch {
            topic: "events".into(),
            partition: 1,
            position: Position::Offset(0),
            max_bytes: 1,
            max_records: 0,
            isolation: Isolation::ReadUncommitted,
            max_wait_ms: 0,
        })
        .await
        .unwrap();
    assert_eq!(small.records.len(), 1);
    // From a time.
    let by_time = client
        .fetch_with(Fetch {
            topic: "events".into(),
            partition: 1,
            position: Position::Time(2_000),
            max_bytes: 1 << 20,
            max_records: 0,
            isolation: Isolation::ReadCommitted,
            max_wait_ms: 0,
        })
        .await
        .unwrap();
    assert_eq!(by_time.records.first().map(|r| r.offset), Some(1));
    // Limits are refused, not clamped.
    let too_long = client
        .fetch_with(Fetch {
            topic: "events".into(),
            partition: 1,
            position: Position::Offset(0),
            max_bytes: 1024,
            max_records: 0,
            isolation: Isolation::ReadCommitted,
            max_wait_ms: 10_000_000,
        })
        .await;
    assert_eq!(code(too_long), ErrorCode::InvalidInput);

    // Long poll: a fetch at the end waits until a record arrives.
    let poller = {
        let client = client.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let fetched = client.fetch("events", 0, 0, Duration::from_secs(5)).await.unwrap();
            (fetched, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Produce on a second connection: requests of one connection run in order.
    let producer = server.client().await;
    producer
        .produce("events", 0, vec![Record::new(b"late".to_vec())])
        .await
        .unwrap();
    let (fetched, waited) = poller.await.unwrap();
    assert_eq!(fetched.records.len(), 1, "long poll returned the new record");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    // Long poll that times out returns empty, not an error.
    let empty = client.fetch("events", 0, 1, Duration::from_millis(200)).await.unwrap();
    assert!(empty.records.is_empty());

    let stats = client.stats().await.unwrap();
    let appended = stats
        .iter()
        .find(|s| s.name == "millrace_append_records_total")
        .unwrap();
    assert_eq!(appended.value, 4);
    client.flush().await.unwrap();

    client.delete_topic("events").await.unwrap();
    assert!(client.list_topics().await.unwrap().is_empty());
    assert_eq!(code(client.delete_topic("events").await), ErrorCode::TopicNotFound);
    server.handle.shutdown().await.unwrap();
}

async fn offsets(client: &Client, group: &str) -> Vec<CommittedOffset> {
    match client
        .call(Request::FetchOffsets(GroupQuery {
            group: group.into(),
            topic: None,
        }))
        .await
        .unwrap()
    {
        Response::Offsets(offsets) => offsets,
        other => panic!("{other:?}"),
    }
}

async fn call_ok(client: &Client, request: Request) -> Response {
    let opcode = request.opcode();
    client.call(request).await.unwrap_or_else(|e| panic!("{opcode:?}: {e}"))
}

/// Offsets, lag, resets, transactions, failed records and the DLQ end to end:
/// the requests of issues 3 and 4 through the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_lag_reset_transactions_and_dlq() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.create_topic("in", 1, &[]).await.unwrap();
    client.create_topic("out", 1, &[]).await.unwrap();
    let values: Vec<Record> = (0..5u8).map(|i| Record::new(vec![i])).collect();
    client.produce("in", 0, values).await.unwrap();

    // Commit, fetch, lag.
    let commit = |offset| {
        Request::CommitOffsets(CommitOffsets {
            group: "g".into(),
            offsets: vec![PartitionOffset {
                topic: "in".into(),
                partition: 0,
                offset,
                metadata: b"m".to_vec(),
            }],
        })
    };
    assert_eq!(call_ok(&client, commit(2)).await, Response::Empty);
    let committed = offsets(&client, "g").await;
    assert_eq!(
        (committed.len(), committed[0].offset, committed[0].metadata.as_slice()),
        (1, 2, &b"m"[..])
    );
    let lag = call_ok(
        &client,
        Request::Lag(GroupQuery {
            group: "g".into(),
            topic: Some("in".into()),
        }),
    )
    .await;
    let Response::Lag(lag) = lag else { panic!("{lag:?}") };
    assert_eq!((lag[0].committed, lag[0].high_watermark, lag[0].lag), (Some(2), 5, 3));

    // Reset: a dry run past the end is clamped with a warning and not applied.
    let reset_with = |target, dry_run, force| {
        Request::ResetOffsets(ResetOffsets {
            group: "g".into(),
            topic: Some("in".into()),
            partitions: vec![],
            target,
            dry_run,
            force,
        })
    };
    let reset = |target, dry_run| reset_with(target, dry_run, true);
    let Response::ResetPlan(plan) = call_ok(&client, reset(ResetTarget::ToOffset(100), true)).await else {
        panic!()
    };
    assert!(!plan.applied);
    assert_eq!((plan.entries[0].current, plan.entries[0].new_offset), (Some(2), 5));
    assert_eq!(
        plan.entries[0].warnings,
        vec![ResetWarning::AboveHighWatermark { requested: 100 }]
    );
    assert_eq!(offsets(&client, "g").await[0].offset, 2);
    // "g" committed a moment ago: an unforced reset is refused (engine code 15).
    match client.call(reset_with(ResetTarget::Earliest, false, false)).await {
        Err(ClientError::Server(e)) => assert_eq!(e.code.code(), 15, "{e:?}"),
        other => panic!("expected GroupActive, got {other:?}"),
    }
    assert_eq!(offsets(&client, "g").await[0].offset, 2);
    let Response::ResetPlan(plan) = call_ok(&client, reset(ResetTarget::Earliest, false)).await else {
        panic!()
    };
    assert!(plan.applied);
    assert_eq!(offsets(&client, "g").await[0].offset, 0);

    // A transaction: output records and the offset commit become visible together.
    let Response::ProducerInit(producer) =
        call_ok(&client, Request::InitProducer(InitProducer { name: "stage".into() })).await
    else {
        panic!()
    };
    let begin = Request::TxnBegin(TxnBegin {
        producer_id: producer.producer_id,
        epoch: producer.epoch,
    });
    let Response::TxnBegun(txn) = call_ok(&client, begin.clone()).await else {
        panic!()
    };
    let id = txn.transaction_id;
    call_ok(
        &client,
        Request::TxnAppend(TxnAppend {
            transaction_id: id,
            topic: "out".into(),
            partition: 0,
            records: vec![Record::new(b"x".to_vec()), Record::new(b"y".to_vec())],
        }),
    )
    .await;
    call_ok(
        &client,
        Request::TxnCommitOffsets(TxnCommitOffsets {
            transaction_id: id,
            group: "g".into(),
            offsets: vec![PartitionOffset {
                topic: "in".into(),
                partition: 0,
                offset: 3,
                metadata: vec![],
            }],
        }),
    )
    .await;
    assert!(client
        .fetch("out", 0, 0, Duration::ZERO)
        .await
        .unwrap()
        .records
        .is_empty());
    assert_eq!(offsets(&client, "g").await[0].offset, 0);
    let Response::TxnCommitted(committed) = call_ok(&client, Request::TxnCommit(TxnEnd { transaction_id: id })).await
    else {
        panic!()
    };
    assert_eq!(
        committed.parts,
        vec![CommittedPart {
            topic: "out".into(),
            partition: 0,
            base_offset: 0,
            next_offset: 2,
        }]
    );
    assert_eq!(
        client.fetch("out", 0, 0, Duration::ZERO).await.unwrap().records.len(),
        2
    );
    assert_eq!(offsets(&client, "g").await[0].offset, 3);
    // The id is gone after commit; an aborted transaction leaves nothing.
    assert_eq!(
        code(client.call(Request::TxnCommit(TxnEnd { transaction_id: id })).await),
        ErrorCode::InvalidInput
    );
    let Response::TxnBegun(txn) = call_ok(&client, begin.clone()).await else {
        panic!()
    };
    call_ok(
        &client,
        Request::TxnAppend(TxnAppend {
            transaction_id: txn.transaction_id,
            topic: "out".into(),
            partition: 0,
            records: vec![Record::new(b"never".to_vec())],
        }),
    )
    .await;
    call_ok(
        &client,
        Request::TxnAbort(TxnEnd {
            transaction_id: txn.transaction_id,
        }),
    )
    .await;
    let after_abort = client
        .fetch_with(Fetch {
            topic: "out".into(),
            partition: 0,
            position: Position::Offset(0),
            max_bytes: 1 << 20,
            max_records: 0,
            isolation: Isolation::ReadCommitted,
            max_wait_ms: 0,
        })
        .await
        .unwrap();
    assert!(after_abort.records.iter().all(|r| r.value != b"never"));

    // A failed record: counted, then dead-lettered with the offset commit past it.
    let fail = Request::FailRecord(FailRecord {
        producer_id: producer.producer_id,
        epoch: producer.epoch,
        group: "g".into(),
        topic: "in".into(),
        partition: 0,
        offset: 3,
        stage: "transform".into(),
        error_class: "parse".into(),
        error_message: "bad input".into(),
        max_attempts: 2,
    });
    let Response::RecordFailed(first) = call_ok(&client, fail.clone()).await else {
        panic!()
    };
    assert_eq!((first.dead_lettered, first.attempts), (false, 1));
    let Response::RecordFailed(second) = call_ok(&client, fail).await else {
        panic!()
    };
    assert_eq!((second.dead_lettered, second.attempts), (true, 2));
    assert_eq!(offsets(&client, "g").await[0].offset, 4);

    // A dead letter written inside a transaction.
    let Response::TxnBegun(txn) = call_ok(&client, begin).await else {
        panic!()
    };
    call_ok(
        &client,
        Request::TxnDeadLetter(TxnDeadLetter {
            transaction_id: txn.transaction_id,
            group: "g".into(),
            source_topic: "in".into(),
            source_partition: 0,
            source_offset: 4,
            stage: "sink".into(),
            error_class: "timeout".into(),
            error_message: "downstream".into(),
            attempts: 1,
            record: Record::new(vec![4u8]),
        }),
    )
    .await;
    call_ok(
        &client,
        Request::TxnCommit(TxnEnd {
            transaction_id: txn.transaction_id,
        }),
    )
    .await;

    let list = |error_contains: Option<&str>| {
        Request::DlqList(DlqList {
            topic: "in".into(),
            from_offset: 0,
            max_records: 0,
            error_contains: error_contains.map(str::to_string),
            source_partition: None,
            since_ms: None,
            until_ms: None,
        })
    };
    let Response::DlqListing(listing) = call_ok(&client, list(None)).await else {
        panic!()
    };
    assert_eq!(listing.depth, 2);
    assert_eq!(listing.entries.len(), 2);
    let parsed = &listing.entries[0].letter;
    assert_eq!(
        (
            parsed.source_offset,
            parsed.stage.as_str(),
            parsed.error_class.as_str(),
            parsed.attempts
        ),
        (3, "transform", "parse", 2)
    );
    assert_eq!(parsed.record.value, vec![3u8]);
    let metrics = common::scrape(&server).await;
    assert!(metrics.contains("millrace_dlq_depth{topic=\"in\"} 2"), "{metrics}");
    assert!(
        metrics.contains("millrace_dlq_oldest_age_seconds{topic=\"in\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("millrace_consumer_lag{group=\"g\",topic=\"in\",partition=\"0\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("millrace_metrics_read_errors 0"), "{metrics}");
    let Response::DlqListing(filtered) = call_ok(&client, list(Some("timeout"))).await else {
        panic!()
    };
    assert_eq!(filtered.entries.len(), 1);
    assert_eq!(filtered.entries[0].letter.source_offset, 4);

    // Redrive: a dry run plans, a real run re-appends, a second run adds nothing.
    let redrive = |dry_run| {
        Request::DlqRedrive(DlqRedrive {
            topic: "in".into(),
            target_topic: None,
            max_records: None,
            rate_per_second: 0,
            redrive_cap: 0,
            dry_run,
            from_offset: None,
        })
    };
    let Response::Redrive(plan) = call_ok(&client, redrive(true)).await else {
        panic!()
    };
    assert_eq!(plan.redriven.len(), 2);
    assert_eq!(client.describe_topic("in").await.unwrap().partitions[0].end_offset, 5);
    let Response::Redrive(done) = call_ok(&client, redrive(false)).await else {
        panic!()
    };
    assert_eq!(done.redriven.len(), 2);
    let Response::Redrive(again) = call_ok(&client, redrive(false)).await else {
        panic!()
    };
    assert!(again.redriven.is_empty(), "{again:?}");
    let end = client.describe_topic("in").await.unwrap().partitions[0].end_offset;
    assert!(end > 5, "redriven records are back in the source topic");

    let Response::Purged(purged) = call_ok(
        &client,
        Request::DlqPurge(DlqPurge {
            topic: "in".into(),
            up_to_offset: listing.end_offset,
        }),
    )
    .await
    else {
        panic!()
    };
    assert!(purged >= 1, "{purged}");
    server.handle.shutdown().await.unwrap();
}

/// Many requests in flight on one connection; each response reaches its caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_on_one_connection() {
    let server = start_server(|c| c.in_flight_max = 4).await;
    let client = server.client().await;
    client.create_topic("p", 1, &[]).await.unwrap();
    let calls = (0..200u32).map(|i| {
        let client = client.clone();
        async move {
            let produced = client
                .produce("p", 0, vec![Record::new(i.to_le_bytes().to_vec())])
                .await
                .unwrap();
            (i, produced.base_offset)
        }
    });
    let results = futures_join_all(calls).await;
    let mut offsets: Vec<u64> = results.iter().map(|(_, offset)| *offset).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (0..200).collect::<Vec<u64>>());
    // Each value sits at the offset its produce call was told.
    let fetched = client.fetch("p", 0, 0, Duration::ZERO).await.unwrap();
    for (i, offset) in results {
        assert_eq!(fetched.records[offset as usize].value, i.to_le_bytes());
    }

    // Raw pipelining: 100 pings written at once, answered in order.
    let mut raw = Raw::hello(server.addr()).await;
    let mut burst = Vec::new();
    for id in 10..110u32 {
        encode_request_into(&mut burst, id, &Request::Ping);
    }
    raw.send(&burst).await;
    for id in 10..110u32 {
        let (frame, result) = raw.response().await.unwrap();
        assert_eq!(frame.header.request_id, id);
        assert_eq!(result, Ok(Response::Empty));
    }
    server.handle.shutdown().await.unwrap();
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_endpoint() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.create_topic("m", 1, &[]).await.unwrap();
    client.produce("m", 0, vec![Record::new(vec![0u8; 100])]).await.unwrap();
    let _ = client.describe_topic("missing").await;
    let addr = server.handle.metrics_addr().unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("millrace_append_records_total 1"), "{text}");
    assert!(text.contains("millrace_server_connections_open 1"), "{text}");
    assert!(
        text.contains("millrace_server_request_seconds_count{opcode=\"Produce\"} 1"),
        "{text}"
    );
    assert!(text.contains("millrace_fsync_seconds_bucket{le=\"+Inf\"}"), "{text}");
    assert!(
        text.contains("millrace_server_errors_total{code=\"7\",name=\"TopicNotFound\"} 1"),
        "{text}"
    );
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_permissions() {
    let admin = "admin-token-0123456789";
    let consumer = "consume-token-0123456789";
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
                groups: Vec::new(),
                groups_max: None,
                token: consumer.into(),
                permissions: vec![Permission::Consume],
            },
        ]
    })
    .await;
    let with_token = |token: Option<&str>| ClientOptions {
        token: token.map(|t| t.as_bytes().to_vec()),
        connect_attempts_max: 1,
        ..ClientOptions::default()
    };
    let refused = Client::connect(server.addr(), with_token(None)).await;
    assert_eq!(code(refused), ErrorCode::Unauthenticated);
    let refused = Client::connect(server.addr(), with_token(Some("wrong-token-0123456789"))).await;
    assert_eq!(code(refused), ErrorCode::Unauthenticated);

    let admin = Client::connect(server.addr(), with_token(Some(admin))).await.unwrap();
    admin.create_topic("a", 1, &[]).await.unwrap();
    admin.produce("a", 0, vec![Record::new(b"x".to_vec())]).await.unwrap();
    let consumer = Client::connect(server.addr(), with_token(Some(consumer)))
        .await
        .unwrap();
    assert_eq!(
        consumer.fetch("a", 0, 0, Duration::ZERO).await.unwrap().records.len(),
        1
    );
    assert_eq!(
        code(consumer.produce("a", 0, vec![Record::new(b"y".to_vec())]).await),
        ErrorCode::PermissionDenied
    );
    assert_eq!(code(consumer.delete_topic("a").await), ErrorCode::PermissionDenied);
    // Denied requests do not close the connection.
    consumer.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// Shutdown finishes, flushes and releases the directory lock; the data is there on reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_releases_the_lock() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.create_topic("s", 1, &[]).await.unwrap();
    for i in 0..10u8 {
        client.produce("s", 0, vec![Record::new(vec![i])]).await.unwrap();
    }
    // A long poll in flight must not hold shutdown up for its whole wait.
    let poller = {
        let client = client.clone();
        tokio::spawn(async move { client.fetch("s", 0, 10, Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let dir = server.dir.path().to_path_buf();
    server.handle.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let polled = poller.await.unwrap();
    assert!(polled.map(|f| f.records.is_empty()).unwrap_or(true));
    let store = Store::open(&dir, StoreOptions::default()).expect("lock released");
    let read = store.read("s", 0, 0, millrace::ReadOptions::default()).unwrap();
    assert_eq!(read.records.len(), 10);
    store.close().unwrap();
    drop(server.dir);
}

/// The client reconnects (with backoff) after the server restarts on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reconnects_after_server_restart() {
    let server = start_server(|_| {}).await;
    let addr = server.addr();
    let client = Client::connect(
        addr,
        ClientOptions {
            connect_attempts_max: 20,
            reconnect_backoff_initial: Duration::from_millis(20),
            reconnect_backoff_max: Duration::from_millis(200),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    client.create_topic("r", 1, &[]).await.unwrap();
    let dir = server.dir;
    server.handle.shutdown().await.unwrap();
    // The old connection is gone: the next call fails or reconnects; restart meanwhile.
    let mut config = common::test_config(dir.path());
    config.listen = addr;
    let restarted = millrace_server::server::start(config).await.unwrap();
    let mut ok = false;
    for _ in 0..3 {
        match client.list_topics().await {
            Ok(topics) => {
                assert_eq!(topics, vec!["r".to_string()]);
                ok = true;
                break;
            }
            Err(ClientError::Disconnected) | Err(ClientError::Io { .. }) => continue,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(ok, "client did not reconnect");
    restarted.shutdown().await.unwrap();
}
