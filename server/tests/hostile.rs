//! Bad and hostile clients over loopback: oversize length prefix (4 GiB),
//! truncated frames, malformed bodies, unknown opcodes, requests before the
//! handshake, wrong versions, slowloris, idle clients, and a connection flood
//! beyond the limit. Each test also checks that another client is served
//! meanwhile and afterwards: the server stays up.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use common::{hello_frame, start_server, Raw};
use millrace_server::connection::HELLO_FRAME_BYTES_MAX;
use millrace_server::error_code::ErrorCode;
use millrace_server::frame::{encode_frame, FrameHeader, FRAME_BYTES_MAX_DEFAULT};
use millrace_server::messages::*;
use tokio::io::AsyncWriteExt;

async fn expect_fatal(raw: &mut Raw, code: ErrorCode) -> (u16, u32, Vec<u64>) {
    let (frame, result) = raw.response().await.expect("an error frame before close");
    let error = result.expect_err("an error");
    assert_eq!(error.code, code, "{error}");
    assert!(raw.is_closed().await, "connection closed after {code:?}");
    (frame.header.opcode, frame.header.request_id, error.details)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_gib_length_prefix_is_refused_before_allocation() {
    let server = start_server(|_| {}).await;
    let healthy = server.client().await;
    let mut raw = Raw::connect(server.addr()).await;
    // Length 0xFFFF_FFFF, then a little of a header; nothing else is ever sent.
    raw.send(&[0xff, 0xff, 0xff, 0xff, 0x01, 0x00]).await;
    let (opcode, request_id, details) = expect_fatal(&mut raw, ErrorCode::FrameTooLarge).await;
    assert_eq!((opcode, request_id), (0, 0));
    // Before the handshake the limit is the Hello frame's.
    assert_eq!(details, vec![u64::from(u32::MAX), u64::from(HELLO_FRAME_BYTES_MAX)]);
    // Also after a handshake, and just one byte over the limit.
    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&(FRAME_BYTES_MAX_DEFAULT + 1).to_le_bytes()).await;
    expect_fatal(&mut raw, ErrorCode::FrameTooLarge).await;
    // Below the 8-byte minimum.
    let mut raw = Raw::connect(server.addr()).await;
    raw.send(&3u32.to_le_bytes()).await;
    expect_fatal(&mut raw, ErrorCode::Malformed).await;
    healthy.ping().await.unwrap();
    assert_eq!(
        server
            .handle
            .metrics()
            .frames_malformed
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frames() {
    let server = start_server(|c| c.slow_client_timeout_ms = 300).await;
    let healthy = server.client().await;

    // 1. A frame cut off by the client closing: the server just closes.
    let mut raw = Raw::hello(server.addr()).await;
    let frame = encode_request(
        2,
        &Request::CreateTopic(CreateTopic {
            name: "t".into(),
            partitions: 1,
            config: vec![],
        }),
    );
    raw.send(&frame[..frame.len() - 3]).await;
    raw.stream.shutdown().await.unwrap();
    assert!(raw.frame().await.is_none());

    // 2. A frame cut off and then silence: slow-client timeout.
    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&frame[..frame.len() - 3]).await;
    let started = Instant::now();
    expect_fatal(&mut raw, ErrorCode::Timeout).await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // 3. A whole frame whose body is truncated (length field agrees with the
    //    bytes, the fields do not): Malformed, echoing the request id.
    let mut raw = Raw::hello(server.addr()).await;
    let body = frame[12..frame.len() - 3].to_vec();
    raw.send(&encode_frame(
        FrameHeader::request(Opcode::CreateTopic.code(), 77),
        &body,
    ))
    .await;
    let (opcode, request_id, _) = expect_fatal(&mut raw, ErrorCode::Malformed).await;
    assert_eq!((opcode, request_id), (Opcode::CreateTopic.code(), 77));

    // 4. Trailing garbage after a valid body.
    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&encode_frame(FrameHeader::request(Opcode::Ping.code(), 5), &[1, 2, 3]))
        .await;
    expect_fatal(&mut raw, ErrorCode::Malformed).await;

    healthy.ping().await.unwrap();
    assert!(
        healthy.list_topics().await.unwrap().is_empty(),
        "the truncated create did nothing"
    );
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_opcode_bad_flags_no_handshake_bad_version() {
    let server = start_server(|_| {}).await;
    let healthy = server.client().await;

    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&encode_frame(FrameHeader::request(0x7777, 9), b"whatever"))
        .await;
    let (opcode, request_id, details) = expect_fatal(&mut raw, ErrorCode::UnknownOpcode).await;
    assert_eq!((opcode, request_id, details), (0x7777, 9, vec![0x7777]));

    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&encode_frame(
        FrameHeader {
            opcode: Opcode::Ping.code(),
            flags: 0x0100,
            request_id: 3,
        },
        &[],
    ))
    .await;
    expect_fatal(&mut raw, ErrorCode::Malformed).await;

    // A request before Hello.
    let mut raw = Raw::connect(server.addr()).await;
    raw.request(1, &Request::ListTopics).await;
    expect_fatal(&mut raw, ErrorCode::HandshakeRequired).await;

    // A Hello with a wrong magic.
    let mut raw = Raw::connect(server.addr()).await;
    let mut hello = hello_frame(1);
    hello[12] ^= 0xff;
    raw.send(&hello).await;
    expect_fatal(&mut raw, ErrorCode::Malformed).await;

    // Versions the server does not speak.
    let mut raw = Raw::connect(server.addr()).await;
    raw.request(
        1,
        &Request::Hello(Hello {
            version_min: 7,
            version_max: 9,
            client_name: "future".into(),
            token: None,
        }),
    )
    .await;
    let (_, _, details) = expect_fatal(&mut raw, ErrorCode::UnsupportedVersion).await;
    assert_eq!(details, vec![1, 1]);

    // A second Hello is an error but not fatal.
    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&hello_frame(2)).await;
    let (_, result) = raw.response().await.unwrap();
    assert_eq!(result.unwrap_err().code, ErrorCode::InvalidInput);
    raw.request(3, &Request::Ping).await;
    assert_eq!(raw.response().await.unwrap().1, Ok(Response::Empty));

    healthy.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// A client that sends one byte every 200 ms is cut off at the slow-client
/// timeout; one that never says Hello at the handshake timeout; one that goes
/// quiet at the idle timeout. Another client sees normal latency throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_clients_are_cut_off() {
    let server = start_server(|c| {
        c.slow_client_timeout_ms = 1_000;
        c.handshake_timeout_ms = 1_000;
        c.idle_timeout_ms = 1_500;
    })
    .await;
    let healthy = server.client().await;
    let addr = server.addr();

    let slow_frame = tokio::spawn(async move {
        let mut raw = Raw::hello(addr).await;
        let frame = encode_request(2, &Request::ListTopics);
        let started = Instant::now();
        for byte in frame.iter().cycle().take(100) {
            if raw.stream.write_all(std::slice::from_ref(byte)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            if started.elapsed() > Duration::from_secs(6) {
                break;
            }
        }
        started.elapsed()
    });
    let slow_hello = tokio::spawn(async move {
        let mut raw = Raw::connect(addr).await;
        let started = Instant::now();
        raw.send(&hello_frame(1)[..5]).await;
        let (_, result) = raw.response().await.unwrap();
        (result.unwrap_err().code, started.elapsed())
    });
    let idle = tokio::spawn(async move {
        let mut raw = Raw::hello(addr).await;
        let started = Instant::now();
        let (_, result) = raw.response().await.unwrap();
        (result.unwrap_err().code, started.elapsed())
    });

    // Meanwhile the healthy client is served promptly.
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        healthy.ping().await.unwrap();
        worst = worst.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Generous bound: CI shares two cores with other test binaries.
    assert!(worst < Duration::from_millis(1_500), "healthy ping took {worst:?}");

    let slow_for = slow_frame.await.unwrap();
    assert!(slow_for < Duration::from_secs(4), "slowloris lasted {slow_for:?}");
    let (code, after) = slow_hello.await.unwrap();
    assert_eq!(code, ErrorCode::Timeout);
    assert!(after < Duration::from_secs(3), "{after:?}");
    let (code, after) = idle.await.unwrap();
    assert_eq!(code, ErrorCode::Timeout);
    assert!(
        after >= Duration::from_millis(1_000) && after < Duration::from_secs(4),
        "{after:?}"
    );
    // The healthy client was not idle: it pinged. Give it a fresh call after the others are gone.
    healthy.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// Connections beyond the limit get `TooManyConnections` and are closed; the
/// clients already connected are served, and new ones are accepted once the
/// flood is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_beyond_the_limit() {
    let limit = 8;
    let server = start_server(|c| c.connections_max = limit).await;
    let healthy = server.client().await;
    let mut held = Vec::new();
    for _ in 1..limit {
        held.push(Raw::hello(server.addr()).await);
    }
    let mut refused = 0;
    for _ in 0..100 {
        let mut raw = Raw::connect(server.addr()).await;
        let _ = raw.stream.write_all(&hello_frame(1)).await;
        if let Some((frame, result)) = raw.response().await {
            assert_eq!(frame.header.request_id, 0);
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::TooManyConnections);
            assert_eq!(error.details, vec![u64::from(limit)]);
        }
        assert!(raw.is_closed().await);
        refused += 1;
        if refused % 10 == 0 {
            healthy.ping().await.unwrap();
        }
    }
    assert_eq!(refused, 100);
    let rejected = server
        .handle
        .metrics()
        .connections_rejected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(rejected, 100);
    drop(held);
    // Slots free up as the server notices the closes.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut raw = Raw::connect(server.addr()).await;
        raw.send(&hello_frame(1)).await;
        if let Some((_, Ok(Response::Hello(_)))) = raw.response().await {
            break;
        }
        assert!(Instant::now() < deadline, "slots were not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    healthy.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// A client that pipelines far more than the in-flight limit and never reads
/// is throttled by TCP back-pressure, then cut off by the slow-client
/// timeout; the server's buffering for it stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_is_cut_off() {
    let server = start_server(|c| {
        c.in_flight_max = 4;
        c.slow_client_timeout_ms = 500;
    })
    .await;
    let healthy = server.client().await;
    healthy.create_topic("big", 1, &[]).await.unwrap();
    healthy
        .produce("big", 0, vec![millrace::Record::new(vec![7u8; 512 * 1024])])
        .await
        .unwrap();
    let mut raw = Raw::hello(server.addr()).await;
    let fetch = Request::Fetch(Fetch {
        topic: "big".into(),
        partition: 0,
        position: Position::Offset(0),
        max_bytes: 1 << 20,
        max_records: 0,
        isolation: Isolation::ReadCommitted,
        max_wait_ms: 0,
    });
    let mut burst = Vec::new();
    for id in 0..64u32 {
        encode_request_into(&mut burst, id + 2, &fetch);
    }
    // Write without reading: the server must stop reading and time the client out.
    let started = Instant::now();
    let write = tokio::time::timeout(Duration::from_secs(10), raw.stream.write_all(&burst)).await;
    assert!(
        write.is_ok(),
        "write neither finished nor failed: no back-pressure resolution"
    );
    healthy.ping().await.unwrap();
    // Now the socket is closed by the server (reset, since unread responses are dropped).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let open = server
        .handle
        .metrics()
        .connections_open
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(open, 1, "only the healthy client remains after {:?}", started.elapsed());
    server.handle.shutdown().await.unwrap();
}

/// Pipelined requests larger in total than the connection's buffer budget are
/// all answered, in order: the budget throttles reading, it never deadlocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_budget_throttles_without_deadlock() {
    let server = start_server(|c| {
        c.frame_bytes_max = 8 * 1024;
        c.connection_buffered_bytes_max = 8 * 1024;
        c.buffered_bytes_max = 16 * 1024;
    })
    .await;
    let healthy = server.client().await;
    healthy.create_topic("b", 1, &[]).await.unwrap();
    let mut raw = Raw::hello(server.addr()).await;
    let produce = Request::Produce(Produce {
        topic: "b".into(),
        partition: 0,
        producer: None,
        records: vec![millrace::Record::new(vec![1u8; 6 * 1024])],
    });
    let mut burst = Vec::new();
    for id in 0..50u32 {
        encode_request_into(&mut burst, id + 2, &produce);
    }
    // 300 KiB of requests against an 8 KiB budget: the server reads as
    // answers free the budget; the answers are small, so nothing blocks.
    tokio::time::timeout(Duration::from_secs(20), raw.send(&burst))
        .await
        .expect("the server keeps reading as it answers");
    for id in 0..50u32 {
        let (frame, result) = raw.response().await.unwrap();
        assert_eq!(frame.header.request_id, id + 2);
        let Ok(Response::Produced(produced)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(produced.base_offset, u64::from(id));
    }
    healthy.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// A client waiting for a slow answer (a long poll longer than the idle
/// timeout) is not idle: it gets its answer, not a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_an_answer_is_not_idle() {
    let server = start_server(|c| c.idle_timeout_ms = 300).await;
    let client = server.client().await;
    client.create_topic("w", 1, &[]).await.unwrap();
    let started = Instant::now();
    let fetched = client.fetch("w", 0, 0, Duration::from_millis(1_000)).await.unwrap();
    assert!(fetched.records.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    client.ping().await.unwrap();
    let accepted = server
        .handle
        .metrics()
        .connections_accepted
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(accepted, 1, "the client never had to reconnect");
    server.handle.shutdown().await.unwrap();
}

/// Sockets that never say Hello fill only the pre-handshake budget
/// (`handshake_connections_max`), never the `connections_max` slots; one more
/// than the budget evicts the oldest of them (`TooManyConnections`, then
/// close), so a valid client still connects and works while they stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_never_say_hello_do_not_lock_clients_out() {
    let budget = 8u32;
    let server = start_server(|c| {
        c.connections_max = 4;
        c.handshake_connections_max = budget;
        c.handshake_connections_per_address_max = budget;
        c.handshake_timeout_ms = 60_000;
    })
    .await;
    let accepted = || {
        server
            .handle
            .metrics()
            .connections_accepted
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    // More silent sockets than connection slots, exactly the handshake budget.
    let mut silent = Vec::new();
    for _ in 0..budget {
        silent.push(Raw::connect(server.addr()).await);
        // Admitted in this order: the first is the oldest.
        let deadline = Instant::now() + Duration::from_secs(5);
        while accepted() < silent.len() as u64 {
            assert!(Instant::now() < deadline, "server did not accept");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // A valid client connects (evicting the oldest silent socket) and works.
    let client = tokio::time::timeout(Duration::from_secs(5), server.client())
        .await
        .expect("a valid client connects while silent sockets fill the handshake budget");
    client.create_topic("t", 1, &[]).await.unwrap();
    client
        .produce("t", 0, vec![millrace::Record::new(b"x".to_vec())])
        .await
        .unwrap();
    // The probe just above the budget: the oldest silent socket was told why.
    let mut oldest = silent.remove(0);
    let (opcode, request_id, details) = expect_fatal(&mut oldest, ErrorCode::TooManyConnections).await;
    assert_eq!((opcode, request_id, details), (0, 0, vec![u64::from(budget)]));
    // The other silent sockets are still open, and still hold no slot:
    // connections_max - 1 more clients get in.
    let mut clients = Vec::new();
    for _ in 1..4 {
        clients.push(Raw::hello(server.addr()).await);
    }
    // The fifth handshaken connection is over connections_max.
    let mut over = Raw::connect(server.addr()).await;
    over.send(&hello_frame(1)).await;
    let (_, _, details) = expect_fatal(&mut over, ErrorCode::TooManyConnections).await;
    assert_eq!(details, vec![4]);
    client.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}
