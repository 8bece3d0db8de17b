//! Hostile input on the Kafka port (issue 21, item 5): the probes the native
//! port survives (`hostile.rs`), each followed by a real request on a fresh
//! connection that must still be answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use millrace_server::kafka::protocol::messages::api_versions::ApiVersionsRequest;
use millrace_server::kafka::protocol::messages::metadata::MetadataRequest;
use millrace_server::kafka::protocol::{
    decode_response_body, encode_request, ApiKey, Request, RequestHeader, Response,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::kafka_server;

/// A size-prefixed request frame.
fn frame(api_key: i16, api_version: i16, correlation_id: i32, request: &Request<'_>) -> Vec<u8> {
    let header = RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id: Some("hostile"),
    };
    let mut body = Vec::new();
    encode_request(&mut body, &header, request).unwrap();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

fn api_versions(correlation_id: i32) -> Vec<u8> {
    frame(
        ApiKey::ApiVersions.code(),
        2,
        correlation_id,
        &Request::ApiVersions(ApiVersionsRequest::default()),
    )
}

/// The next response frame's correlation id and body, or `None` when the
/// server closed the connection.
async fn response(stream: &mut TcpStream) -> Option<(i32, Vec<u8>)> {
    let mut size = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut size))
        .await
        .expect("the server answers or closes within 10 s");
    read.ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body).await.ok()?;
    let correlation = i32::from_be_bytes(body[..4].try_into().unwrap());
    Some((correlation, body[4..].to_vec()))
}

async fn is_closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A fresh connection still gets its ApiVersions answer.
async fn still_serves(addr: SocketAddr) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&api_versions(7)).await.unwrap();
    let (correlation, body) = response(&mut stream).await.expect("an ApiVersions answer");
    assert_eq!(correlation, 7);
    let Ok(Response::ApiVersions(answer)) = decode_response_body(ApiKey::ApiVersions, &body, 2) else {
        panic!("not an ApiVersions response");
    };
    assert_eq!(answer.error_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_negative_size_prefixes_close_before_allocation() {
    let (server, addr) = kafka_server(|_| {}).await;
    let over = millrace_server::frame::FRAME_BYTES_MAX_DEFAULT + 1;
    for prefix in [u32::MAX, 0x8000_0000, 0, over] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&prefix.to_be_bytes()).await.unwrap();
        // Whatever follows is not read into a buffer of that size.
        let _ = stream.write_all(&[0u8; 64]).await;
        assert!(is_closed(&mut stream).await, "size prefix {prefix:#x} was not refused");
    }
    still_serves(addr).await;
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_versions_and_malformed_bodies_close_the_connection() {
    let (server, addr) = kafka_server(|_| {}).await;
    let metadata = Request::Metadata(MetadataRequest::default());
    // A pipelined good request is answered before the bad one closes.
    let probes: Vec<(&str, Vec<u8>)> = vec![
        ("unknown API key", frame(999, 0, 2, &metadata)),
        ("unadvertised version", {
            let mut bytes = frame(ApiKey::Metadata.code(), 8, 2, &metadata);
            bytes[6..8].copy_from_slice(&99i16.to_be_bytes());
            bytes
        }),
        ("huge array count", {
            // Metadata v1: topics = i32::MAX entries, then nothing.
            let mut body = Vec::new();
            body.extend_from_slice(&ApiKey::Metadata.code().to_be_bytes());
            body.extend_from_slice(&1i16.to_be_bytes());
            body.extend_from_slice(&2i32.to_be_bytes());
            body.extend_from_slice(&(-1i16).to_be_bytes());
            body.extend_from_slice(&i32::MAX.to_be_bytes());
            let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(&body);
            bytes
        }),
        ("bytes after the body", {
            let mut bytes = frame(ApiKey::Metadata.code(), 1, 2, &metadata);
            bytes.push(0);
            let size = (bytes.len() - 4) as u32;
            bytes[..4].copy_from_slice(&size.to_be_bytes());
            bytes
        }),
        ("truncated header", {
            let mut bytes = 3u32.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0, 3, 0]);
            bytes
        }),
    ];
    for (what, probe) in probes {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut pipelined = api_versions(1);
        pipelined.extend_from_slice(&probe);
        stream.write_all(&pipelined).await.unwrap();
        let (correlation, _) = response(&mut stream)
            .await
            .unwrap_or_else(|| panic!("{what}: no answer to the first request"));
        assert_eq!(correlation, 1, "{what}");
        assert!(is_closed(&mut stream).await, "{what}: the connection stayed open");
    }
    still_serves(addr).await;
    server.handle.shutdown().await.unwrap();
}

/// KIP-511: an ApiVersions of a version not served gets the v0 answer with
/// UNSUPPORTED_VERSION and the ranges, and the connection stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_of_an_unserved_version_gets_the_fallback() {
    let (server, addr) = kafka_server(|_| {}).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // v3 (flexible: request header v2), as librdkafka sends first.
    let v3 = frame(
        ApiKey::ApiVersions.code(),
        3,
        5,
        &Request::ApiVersions(ApiVersionsRequest::default()),
    );
    stream.write_all(&v3).await.unwrap();
    let (correlation, body) = response(&mut stream).await.expect("the fallback answer");
    assert_eq!(correlation, 5);
    let Ok(Response::ApiVersions(answer)) = decode_response_body(ApiKey::ApiVersions, &body, 0) else {
        panic!("not an ApiVersions v0 response");
    };
    assert_eq!(answer.error_code, 35);
    assert!(answer.api_keys.iter().any(|k| k.api_key == ApiKey::Metadata.code()));
    // Still open: the retry at v2 is answered.
    stream.write_all(&api_versions(6)).await.unwrap();
    assert_eq!(response(&mut stream).await.map(|r| r.0), Some(6));
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_truncated_frames_are_cut_off() {
    let (server, addr) = kafka_server(|c| c.slow_client_timeout_ms = 500).await;
    // Half a size prefix, then silence.
    let mut half_prefix = TcpStream::connect(addr).await.unwrap();
    half_prefix.write_all(&[0, 0]).await.unwrap();
    // A whole prefix, half the body, then silence.
    let mut half_body = TcpStream::connect(addr).await.unwrap();
    let whole = api_versions(1);
    half_body.write_all(&whole[..whole.len() / 2]).await.unwrap();
    let started = Instant::now();
    assert!(is_closed(&mut half_prefix).await);
    assert!(is_closed(&mut half_body).await);
    assert!(started.elapsed() < Duration::from_secs(10));
    // A truncated frame and EOF: the server just drops it.
    let mut truncated = TcpStream::connect(addr).await.unwrap();
    truncated.write_all(&whole[..whole.len() - 3]).await.unwrap();
    truncated.shutdown().await.unwrap();
    assert!(is_closed(&mut truncated).await);
    still_serves(addr).await;
    server.handle.shutdown().await.unwrap();
}

/// The connection's one timer (armed at the farthest deadline, moved when
/// it fires early): a connection that keeps sending is never taken for
/// idle, through several idle timeouts, and one that stops is closed at
/// the idle timeout after its last frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_connection_outlives_the_idle_timeout_and_an_idle_one_is_closed() {
    let (server, addr) = kafka_server(|c| {
        c.idle_timeout_ms = 1_500;
        c.slow_client_timeout_ms = 1_000;
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut correlation = 0;
    let mut last_answer = Instant::now();
    // About three idle timeouts of requests, one every 300 ms.
    while started.elapsed() < Duration::from_millis(4_500) {
        correlation += 1;
        stream.write_all(&api_versions(correlation)).await.unwrap();
        let (answered, _) = response(&mut stream)
            .await
            .unwrap_or_else(|| panic!("closed while busy, request {correlation} at {:?}", started.elapsed()));
        assert_eq!(answered, correlation);
        last_answer = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(correlation >= 10, "{correlation} requests");
    // Then silence: closed (the 10 s of `is_closed` are several idle timeouts).
    assert!(is_closed(&mut stream).await, "an idle connection is closed");
    let quiet = last_answer.elapsed();
    assert!(
        quiet >= Duration::from_millis(1_000),
        "not long before its idle timeout: {quiet:?}"
    );
    still_serves(addr).await;
    server.handle.shutdown().await.unwrap();
}

/// Kafka connections share `connections_max` with the native ones: past it
/// they are closed at once, and slots come back when connections close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_beyond_the_limit() {
    let limit = 4;
    let (server, addr) = kafka_server(|c| c.connections_max = limit).await;
    let mut held = Vec::new();
    for i in 0..limit {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&api_versions(i as i32)).await.unwrap();
        assert!(response(&mut stream).await.is_some());
        held.push(stream);
    }
    for _ in 0..50 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let _ = stream.write_all(&api_versions(1)).await;
        assert!(
            is_closed(&mut stream).await,
            "a connection past connections_max was served"
        );
    }
    let rejected = server
        .handle
        .metrics()
        .connections_rejected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(rejected, 50);
    // The held ones still work.
    held[0].write_all(&api_versions(9)).await.unwrap();
    assert_eq!(response(&mut held[0]).await.map(|r| r.0), Some(9));
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let _ = stream.write_all(&api_versions(3)).await;
        if response(&mut stream).await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "slots were not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.handle.shutdown().await.unwrap();
}

/// On a server with tokens, nothing but ApiVersions and SASL before
/// authentication, and no large frame either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_sasl_only_the_handshake_is_served() {
    let (server, addr) = kafka_server(|c| {
        c.tokens = vec![millrace_server::config::TokenConfig {
            name: Some("admin".into()),
            token: "admin-token-0123456789".into(),
            permissions: vec![millrace_server::config::Permission::Admin],
            groups: Vec::new(),
            groups_max: None,
        }];
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut pipelined = api_versions(1);
    pipelined.extend_from_slice(&frame(
        ApiKey::Metadata.code(),
        1,
        2,
        &Request::Metadata(MetadataRequest::default()),
    ));
    stream.write_all(&pipelined).await.unwrap();
    assert_eq!(response(&mut stream).await.map(|r| r.0), Some(1));
    assert!(is_closed(&mut stream).await, "Metadata before SASL was served");
    // A frame over 64 KiB before authentication.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&(100_000u32).to_be_bytes()).await.unwrap();
    assert!(is_closed(&mut stream).await);
    still_serves(addr).await;
    server.handle.shutdown().await.unwrap();
}

/// Produce v0–2 is advertised (old librdkafka keeps its codecs on only
/// then) but refused: each partition gets UNSUPPORTED_VERSION, nothing is
/// written, and the connection goes on serving.
#[tokio::test]
async fn produce_below_v3_is_answered_per_partition_and_the_connection_stays() {
    use millrace_server::kafka::protocol::messages::produce::{
        ProduceRequest, ProduceRequestPartition, ProduceRequestTopic,
    };
    let (server, addr) = kafka_server(|_| {}).await;
    let request = Request::Produce(ProduceRequest {
        acks: 1,
        timeout_ms: 1000,
        topic_data: vec![ProduceRequestTopic {
            name: "t",
            partition_data: vec![
                ProduceRequestPartition {
                    index: 0,
                    records: Some(b"not a batch"),
                },
                ProduceRequestPartition {
                    index: 1,
                    records: None,
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&frame(ApiKey::Produce.code(), 2, 11, &request))
        .await
        .unwrap();
    stream.write_all(&api_versions(12)).await.unwrap();
    let (correlation, body) = response(&mut stream).await.expect("a Produce answer, not a close");
    assert_eq!(correlation, 11);
    let Ok(Response::Produce(answer)) = decode_response_body(ApiKey::Produce, &body, 2) else {
        panic!("not a Produce response");
    };
    let codes: Vec<i16> = answer
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
        .collect();
    assert_eq!(codes, [35, 35]);
    let (correlation, _) = response(&mut stream).await.expect("the next request is answered");
    assert_eq!(correlation, 12);
    server.handle.shutdown().await.unwrap();
}
