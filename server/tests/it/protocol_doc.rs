//! What `design/protocol.md` promises, checked against the real server over
//! loopback: the handshake rules, the opcode and request id of error frames,
//! the limits of offset commits, empty batches, the answers a client author
//! asks about (an empty fetch, InitProducer's `sequences`, `max_bytes`), and
//! that the document's error-code table is exactly the server's.

use crate::common;

use common::{start_server, Raw};
use millrace::Record;
use millrace_server::error_code::{ErrorCode, WireError};
use millrace_server::frame::{encode_frame, FrameHeader};
use millrace_server::messages::*;

/// The next response must be the error `code`, with this opcode and request
/// id in its frame header, and the server must then close the connection.
async fn expect_fatal(raw: &mut Raw, code: ErrorCode, opcode: u16, request_id: u32) -> WireError {
    let (frame, result) = raw.response().await.expect("an error frame before close");
    let error = result.expect_err("an error");
    assert_eq!(error.code, code, "{error}");
    assert_eq!(
        (frame.header.opcode, frame.header.request_id),
        (opcode, request_id),
        "header of the {code:?} frame"
    );
    assert!(raw.is_closed().await, "connection closed after {code:?}");
    error
}

async fn expect_error(raw: &mut Raw, request_id: u32, request: &Request, code: ErrorCode) -> WireError {
    raw.request(request_id, request).await;
    let (frame, result) = raw.response().await.expect("a response");
    assert_eq!(frame.header.request_id, request_id);
    assert_eq!(frame.header.opcode, request.opcode().code());
    let error = result.expect_err("an error");
    assert_eq!(error.code, code, "{error}");
    error
}

async fn expect_ok(raw: &mut Raw, request_id: u32, request: &Request) -> Response {
    raw.request(request_id, request).await;
    let (frame, result) = raw.response().await.expect("a response");
    assert_eq!(frame.header.request_id, request_id);
    result.unwrap_or_else(|e| panic!("{:?}: {e}", request.opcode()))
}

fn record(value: &[u8]) -> Record {
    Record::new(value.to_vec())
}

fn produce(topic: &str, partition: u32, records: Vec<Record>) -> Request {
    Request::Produce(Produce {
        topic: topic.into(),
        partition,
        producer: None,
        records,
    })
}

fn create(name: &str, partitions: u32, config: &[(&str, &str)]) -> Request {
    Request::CreateTopic(CreateTopic {
        name: name.into(),
        partitions,
        config: config
            .iter()
            .map(|(key, value)| ConfigEntry {
                key: (*key).into(),
                value: (*value).into(),
            })
            .collect(),
    })
}

fn offset(topic: &str, partition: u32, offset: u64) -> PartitionOffset {
    PartitionOffset {
        topic: topic.into(),
        partition,
        offset,
        metadata: Vec::new(),
    }
}

fn fetch(topic: &str, offset: u64, max_bytes: u32) -> Request {
    Request::Fetch(Fetch {
        topic: topic.into(),
        partition: 0,
        position: Position::Offset(offset),
        max_bytes,
        max_records: 0,
        isolation: Isolation::ReadCommitted,
        max_wait_ms: 0,
    })
}

/// Before `Hello`, any frame with another opcode is `HandshakeRequired`, with
/// that frame's opcode and request id, then close: also an opcode the server
/// does not know and a known one whose body does not decode. (The server
/// used to answer an unknown opcode with `UnknownOpcode` and a bad body with
/// `Malformed`, although the document said `HandshakeRequired`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_frame_but_hello_before_the_handshake_is_handshake_required() {
    let server = start_server(|_| {}).await;
    let healthy = server.client().await;

    let mut raw = Raw::connect(server.addr()).await;
    raw.send(&encode_frame(FrameHeader::request(0x7777, 5), b"whatever"))
        .await;
    expect_fatal(&mut raw, ErrorCode::HandshakeRequired, 0x7777, 5).await;

    let mut raw = Raw::connect(server.addr()).await;
    raw.send(&encode_frame(
        FrameHeader::request(Opcode::Produce.code(), 6),
        &[1, 2, 3],
    ))
    .await;
    expect_fatal(&mut raw, ErrorCode::HandshakeRequired, Opcode::Produce.code(), 6).await;

    let mut raw = Raw::connect(server.addr()).await;
    raw.request(7, &Request::Ping).await;
    expect_fatal(&mut raw, ErrorCode::HandshakeRequired, Opcode::Ping.code(), 7).await;

    // A Hello that does not decode stays Malformed, echoing its header.
    let mut raw = Raw::connect(server.addr()).await;
    raw.send(&encode_frame(FrameHeader::request(Opcode::Hello.code(), 8), &[1, 2]))
        .await;
    expect_fatal(&mut raw, ErrorCode::Malformed, Opcode::Hello.code(), 8).await;

    healthy.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// Errors not tied to a request carry opcode 0 and request id 0: a length
/// below 8, a length above `frame_bytes_max`, and each timeout (here the
/// handshake timeout). A second `Hello` is `InvalidInput` on its own opcode
/// and request id, and the connection stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_frames_not_tied_to_a_request_have_opcode_and_request_id_zero() {
    let server = start_server(|c| c.handshake_timeout_ms = 300).await;

    let mut raw = Raw::connect(server.addr()).await;
    raw.send(&7u32.to_le_bytes()).await;
    expect_fatal(&mut raw, ErrorCode::Malformed, 0, 0).await;

    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&u32::MAX.to_le_bytes()).await;
    expect_fatal(&mut raw, ErrorCode::FrameTooLarge, 0, 0).await;

    let mut raw = Raw::connect(server.addr()).await;
    expect_fatal(&mut raw, ErrorCode::Timeout, 0, 0).await;

    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&common::hello_frame(9)).await;
    let (frame, result) = raw.response().await.unwrap();
    assert_eq!(
        (frame.header.opcode, frame.header.request_id),
        (Opcode::Hello.code(), 9)
    );
    assert_eq!(result.unwrap_err().code, ErrorCode::InvalidInput);
    assert_eq!(expect_ok(&mut raw, 10, &Request::Ping).await, Response::Empty);

    server.handle.shutdown().await.unwrap();
}

/// `CommitOffsets` carries at most 1000 entries: 1001 is `InvalidInput` and
/// commits nothing (it used to be written as two batches, so a crash in
/// between could keep half); 1000 are committed. `TxnCommitOffsets` has the
/// same bound per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_commits_carry_at_most_1000_entries() {
    let server = start_server(|_| {}).await;
    let mut raw = Raw::hello(server.addr()).await;
    expect_ok(&mut raw, 2, &create("t", 2, &[])).await;
    expect_ok(&mut raw, 3, &produce("t", 0, vec![record(b"a")])).await;

    let entries = |n: u64| -> Vec<PartitionOffset> { (0..n).map(|i| offset("t", (i % 2) as u32, 1 - i % 2)).collect() };
    let error = expect_error(
        &mut raw,
        4,
        &Request::CommitOffsets(CommitOffsets {
            group: "g".into(),
            offsets: entries(1001),
        }),
        ErrorCode::InvalidInput,
    )
    .await;
    assert!(error.message.contains("1000"), "{error}");
    let committed = expect_ok(
        &mut raw,
        5,
        &Request::FetchOffsets(GroupQuery {
            group: "g".into(),
            topic: None,
        }),
    )
    .await;
    assert_eq!(committed, Response::Offsets(Vec::new()), "nothing of a refused commit");

    expect_ok(
        &mut raw,
        6,
        &Request::CommitOffsets(CommitOffsets {
            group: "g".into(),
            offsets: entries(1000),
        }),
    )
    .await;
    let Response::Offsets(committed) = expect_ok(
        &mut raw,
        7,
        &Request::FetchOffsets(GroupQuery {
            group: "g".into(),
            topic: None,
        }),
    )
    .await
    else {
        panic!("offsets")
    };
    let got: Vec<(u32, u64)> = committed.iter().map(|c| (c.partition, c.offset)).collect();
    assert_eq!(got, vec![(0, 1), (1, 0)]);

    let Response::ProducerInit(producer) =
        expect_ok(&mut raw, 8, &Request::InitProducer(InitProducer { name: "p".into() })).await
    else {
        panic!("init")
    };
    let Response::TxnBegun(txn) = expect_ok(
        &mut raw,
        9,
        &Request::TxnBegin(TxnBegin {
            producer_id: producer.producer_id,
            epoch: producer.epoch,
        }),
    )
    .await
    else {
        panic!("begin")
    };
    expect_error(
        &mut raw,
        10,
        &Request::TxnCommitOffsets(TxnCommitOffsets {
            transaction_id: txn.transaction_id,
            group: "g".into(),
            offsets: entries(1001),
        }),
        ErrorCode::InvalidInput,
    )
    .await;
    server.handle.shutdown().await.unwrap();
}

/// A committed offset is at most the partition's high watermark, through
/// `CommitOffsets` and, as well, through `TxnCommitOffsets` (which used to
/// accept `u64::MAX`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_past_the_high_watermark_are_refused_in_and_out_of_transactions() {
    let server = start_server(|_| {}).await;
    let mut raw = Raw::hello(server.addr()).await;
    expect_ok(&mut raw, 2, &create("t", 1, &[])).await;
    expect_ok(&mut raw, 3, &produce("t", 0, vec![record(b"a"), record(b"b")])).await;
    for (id, past) in [(4, 3), (5, u64::MAX)] {
        expect_error(
            &mut raw,
            id,
            &Request::CommitOffsets(CommitOffsets {
                group: "g".into(),
                offsets: vec![offset("t", 0, past)],
            }),
            ErrorCode::InvalidInput,
        )
        .await;
    }

    let Response::ProducerInit(producer) =
        expect_ok(&mut raw, 6, &Request::InitProducer(InitProducer { name: "p".into() })).await
    else {
        panic!("init")
    };
    let Response::TxnBegun(txn) = expect_ok(
        &mut raw,
        7,
        &Request::TxnBegin(TxnBegin {
            producer_id: producer.producer_id,
            epoch: producer.epoch,
        }),
    )
    .await
    else {
        panic!("begin")
    };
    for (id, past) in [(8, 3), (9, u64::MAX)] {
        expect_error(
            &mut raw,
            id,
            &Request::TxnCommitOffsets(TxnCommitOffsets {
                transaction_id: txn.transaction_id,
                group: "g".into(),
                offsets: vec![offset("t", 0, past)],
            }),
            ErrorCode::InvalidInput,
        )
        .await;
    }
    expect_ok(
        &mut raw,
        10,
        &Request::TxnCommitOffsets(TxnCommitOffsets {
            transaction_id: txn.transaction_id,
            group: "g".into(),
            offsets: vec![offset("t", 0, 2)],
        }),
    )
    .await;
    expect_ok(
        &mut raw,
        11,
        &Request::TxnCommit(TxnEnd {
            transaction_id: txn.transaction_id,
        }),
    )
    .await;
    let Response::Offsets(committed) = expect_ok(
        &mut raw,
        12,
        &Request::FetchOffsets(GroupQuery {
            group: "g".into(),
            topic: None,
        }),
    )
    .await
    else {
        panic!("offsets")
    };
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0].offset, 2);
    server.handle.shutdown().await.unwrap();
}

/// A batch needs at least one record: `Produce` and `TxnAppend` with none are
/// `InvalidInput` and leave the log as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_records_are_invalid_input() {
    let server = start_server(|_| {}).await;
    let mut raw = Raw::hello(server.addr()).await;
    expect_ok(&mut raw, 2, &create("t", 1, &[])).await;
    expect_error(&mut raw, 3, &produce("t", 0, Vec::new()), ErrorCode::InvalidInput).await;
    let Response::ProducerInit(producer) =
        expect_ok(&mut raw, 4, &Request::InitProducer(InitProducer { name: "p".into() })).await
    else {
        panic!("init")
    };
    let Response::TxnBegun(txn) = expect_ok(
        &mut raw,
        5,
        &Request::TxnBegin(TxnBegin {
            producer_id: producer.producer_id,
            epoch: producer.epoch,
        }),
    )
    .await
    else {
        panic!("begin")
    };
    expect_error(
        &mut raw,
        6,
        &Request::TxnAppend(TxnAppend {
            transaction_id: txn.transaction_id,
            topic: "t".into(),
            partition: 0,
            records: Vec::new(),
        }),
        ErrorCode::InvalidInput,
    )
    .await;
    expect_ok(
        &mut raw,
        7,
        &Request::TxnCommit(TxnEnd {
            transaction_id: txn.transaction_id,
        }),
    )
    .await;
    let Response::TopicDescription(description) =
        expect_ok(&mut raw, 8, &Request::DescribeTopic(TopicName { name: "t".into() })).await
    else {
        panic!("describe")
    };
    assert_eq!(description.partitions[0].end_offset, 0, "nothing appended");
    server.handle.shutdown().await.unwrap();
}

/// The answers the document gives to a client author: an empty fetch's
/// `next_offset` is the offset asked for; `max_bytes` is at least 1 and a
/// record larger than it still comes back alone; a fetch past the end is
/// `OffsetOutOfRange` with `[requested, start, end]`; InitProducer lists only
/// partitions where the producer has state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_and_init_producer_answers_match_the_document() {
    let server = start_server(|_| {}).await;
    let mut raw = Raw::hello(server.addr()).await;
    expect_ok(&mut raw, 2, &create("t", 2, &[])).await;
    expect_ok(&mut raw, 3, &produce("t", 0, vec![record(&[7u8; 100]), record(b"b")])).await;

    let Response::Fetched(empty) = expect_ok(&mut raw, 4, &fetch("t", 2, 1024)).await else {
        panic!("fetch")
    };
    assert!(empty.records.is_empty());
    assert_eq!(
        (empty.next_offset, empty.high_watermark, empty.last_stable_offset),
        (2, 2, 2)
    );

    expect_error(&mut raw, 5, &fetch("t", 0, 0), ErrorCode::InvalidInput).await;
    let Response::Fetched(one) = expect_ok(&mut raw, 6, &fetch("t", 0, 1)).await else {
        panic!("fetch")
    };
    assert_eq!(one.records.len(), 1, "one record over max_bytes still comes back");
    assert_eq!(one.next_offset, 1);

    let error = expect_error(&mut raw, 7, &fetch("t", 3, 1024), ErrorCode::OffsetOutOfRange).await;
    assert_eq!(error.details, vec![3, 0, 2]);

    let Response::ProducerInit(first) =
        expect_ok(&mut raw, 8, &Request::InitProducer(InitProducer { name: "p".into() })).await
    else {
        panic!("init")
    };
    assert!(first.sequences.is_empty(), "a new producer has no state");
    raw.request(
        9,
        &Request::Produce(Produce {
            topic: "t".into(),
            partition: 1,
            producer: Some(ProducerStamp {
                producer_id: first.producer_id,
                epoch: first.epoch,
                base_sequence: 0,
            }),
            records: vec![record(b"x"), record(b"y")],
        }),
    )
    .await;
    raw.response().await.unwrap().1.unwrap();
    let Response::ProducerInit(second) =
        expect_ok(&mut raw, 10, &Request::InitProducer(InitProducer { name: "p".into() })).await
    else {
        panic!("init")
    };
    assert_eq!(second.epoch, first.epoch + 1);
    assert_eq!(
        second.sequences,
        vec![ProducerSequence {
            topic: "t".into(),
            partition: 1,
            next_sequence: 2
        }],
        "partition 0, where it never wrote, is absent (next sequence 0)"
    );
    server.handle.shutdown().await.unwrap();
}

/// Every CreateTopic key of the document is accepted with its documented
/// default, DescribeTopic answers the same keys, the document's keys are
/// the engine's one table, and `route_invalid_to_dlq` travels both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topic_keys_and_defaults_match_the_document() {
    let server = start_server(|_| {}).await;
    let mut raw = Raw::hello(server.addr()).await;
    let defaults = topic_config_defaults();
    let keys: Vec<&str> = defaults.iter().map(|(k, _)| k.as_str()).collect();
    let engine: Vec<&str> = millrace::config::TOPIC_CONFIG_KEYS.iter().map(|k| k.key).collect();
    assert_eq!(keys, engine, "protocol.md's keys are the engine's table, in order");
    let given: Vec<(&str, &str)> = defaults.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    expect_ok(&mut raw, 2, &create("explicit", 1, &given)).await;
    expect_ok(&mut raw, 3, &create("implicit", 1, &[])).await;
    expect_ok(&mut raw, 4, &create("routed", 1, &[("route_invalid_to_dlq", "true")])).await;
    for (id, name) in [(5, "explicit"), (6, "implicit"), (7, "routed")] {
        let Response::TopicDescription(description) =
            expect_ok(&mut raw, id, &Request::DescribeTopic(TopicName { name: name.into() })).await
        else {
            panic!("describe")
        };
        let described: Vec<(String, String)> = description
            .config
            .into_iter()
            .map(|ConfigEntry { key, value }| (key, value))
            .collect();
        // The server's default durability here is `os` (the test config).
        let expected: Vec<(String, String)> = defaults
            .iter()
            .map(|(k, v)| {
                let value = match k.as_str() {
                    "durability" => "os".into(),
                    "route_invalid_to_dlq" if name == "routed" => "true".into(),
                    _ => v.clone(),
                };
                (k.clone(), value)
            })
            .collect();
        assert_eq!(described, expected, "{name}");
    }
    let error = expect_error(
        &mut raw,
        8,
        &create("bad", 1, &[("route_invalid_to_dlq", "yes")]),
        ErrorCode::InvalidInput,
    )
    .await;
    assert!(error.message.contains("route_invalid_to_dlq"), "{error}");
    server.handle.shutdown().await.unwrap();
}

pub(crate) fn protocol_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../design/protocol.md");
    std::fs::read_to_string(path).expect("design/protocol.md")
}

/// The rows of the first markdown table after the heading `heading`, as cells.
pub(crate) fn table_after(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let start = doc
        .lines()
        .position(|l| l.trim() == heading)
        .unwrap_or_else(|| panic!("heading {heading:?} in protocol.md"));
    doc.lines()
        .skip(start + 1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}

/// The CreateTopic key table of protocol.md: (key, default).
fn topic_config_defaults() -> Vec<(String, String)> {
    table_after(&protocol_md(), "#### CreateTopic config keys")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect()
}

/// protocol.md's error-code table names exactly the codes the server knows,
/// with the same names, and its "Writing a client" table marks as `retry`
/// exactly the codes `ErrorCode::is_retriable` says a client may retry.
#[test]
fn error_code_tables_match_the_code() {
    let doc = protocol_md();
    let mut named = Vec::new();
    for row in table_after(&doc, "## Error codes") {
        let (code, name) = (&row[0], &row[1]);
        if let Some((low, high)) = code.split_once("..=") {
            let (low, high): (u16, u16) = (low.parse().unwrap(), high.parse().unwrap());
            for code in [low, high] {
                assert!(
                    matches!(ErrorCode::from_code(code), ErrorCode::OtherEngine(_)),
                    "{code} is documented as reserved but the server names it"
                );
            }
            continue;
        }
        let code: u16 = code.parse().unwrap_or_else(|_| panic!("code cell {code:?}"));
        if code == 0 {
            assert_eq!(name, "Ok");
            continue;
        }
        assert_eq!(&format!("{:?}", ErrorCode::from_code(code)), name, "code {code}");
        named.push(code);
    }
    let known: Vec<u16> = (1..=u16::MAX)
        .filter(|c| {
            !matches!(
                ErrorCode::from_code(*c),
                ErrorCode::OtherEngine(_) | ErrorCode::Other(_)
            )
        })
        .collect();
    assert_eq!(named, known, "every named code is in the table, in order");

    let handling = table_after(&doc, "### Errors a client handles");
    let mut documented = Vec::new();
    for row in &handling {
        let code: u16 = row[0].parse().unwrap_or_else(|_| panic!("code cell {:?}", row[0]));
        assert_eq!(&format!("{:?}", ErrorCode::from_code(code)), &row[1], "code {code}");
        assert_eq!(
            row[2] == "retry",
            ErrorCode::from_code(code).is_retriable(),
            "code {code} ({}) class {:?}",
            row[1],
            row[2]
        );
        documented.push(code);
    }
    assert_eq!(documented, known, "the client table covers every code, in order");
}

/// The Rust client's `Consumer::commit` stays within the 1000-entry bound by
/// sending one request per 1000 partitions: a consumer of 1001 partitions
/// commits them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_of_more_than_1000_partitions_commits_them_all() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client
        .create_topic("wide", 1001, &[("segment_bytes", "4096")])
        .await
        .unwrap();
    let assignments: Vec<(String, u32)> = (0..1001).map(|p| ("wide".to_string(), p)).collect();
    let consumer = millrace_server::client_api::Consumer::subscribe(
        server.client().await,
        "g",
        assignments,
        millrace_server::client_api::ConsumerOptions::default(),
    )
    .await
    .unwrap();
    consumer.commit().await.unwrap();
    assert_eq!(client.committed_offsets("g", None).await.unwrap().len(), 1001);
    server.handle.shutdown().await.unwrap();
}
