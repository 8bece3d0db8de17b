//! Exactly-once produce through cut connections: a TCP proxy between client
//! and server cuts the connection either in the middle of a request (the
//! server never sees the whole batch) or right after the server answered (the
//! batch is appended, the answer is lost). The producer re-sends with the same
//! sequence; the log must hold every record exactly once, in order. Also:
//! fencing of an older instance and resumption of sequences after re-init.

use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::start_server;
use millrace::Record;
use millrace_server::error_code::ErrorCode;
use millrace_server::{Client, ClientError, ClientOptions, Producer, ProducerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CUT_NONE: u8 = 0;
/// Forward half of the next client→server chunk, then cut.
const CUT_REQUEST: u8 = 1;
/// Drop the next server→client chunk and cut.
const CUT_RESPONSE: u8 = 2;

/// A loopback proxy whose next connection cut is armed by the test.
async fn proxy(server: SocketAddr, cut: Arc<AtomicU8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client_side, _)) = listener.accept().await {
            let Ok(server_side) = TcpStream::connect(server).await else {
                continue;
            };
            let cut = cut.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client_side.into_split();
                let (mut server_read, mut server_write) = server_side.into_split();
                let upstream_cut = cut.clone();
                let upstream = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if upstream_cut
                            .compare_exchange(CUT_REQUEST, CUT_NONE, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok()
                        {
                            let _ = server_write.write_all(&buf[..n / 2]).await;
                            return;
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let downstream = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if cut
                            .compare_exchange(CUT_RESPONSE, CUT_NONE, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok()
                        {
                            return;
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                // Whichever side ends first closes both.
                tokio::select! {
                    _ = upstream => {}
                    _ = downstream => {}
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_neither_lose_nor_duplicate() {
    let server = start_server(|_| {}).await;
    let admin = server.client().await;
    admin.create_topic("once", 1, &[]).await.unwrap();
    let cut = Arc::new(AtomicU8::new(CUT_NONE));
    let proxy_addr = proxy(server.addr(), cut.clone()).await;
    let client = Client::connect(
        proxy_addr,
        ClientOptions {
            reconnect_backoff_initial: Duration::from_millis(5),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    let mut producer = Producer::init(client, "stage-1", ProducerOptions::default())
        .await
        .unwrap();
    let batches = 40u32;
    let mut duplicates = 0;
    for batch in 0..batches {
        match batch % 5 {
            1 => cut.store(CUT_RESPONSE, Ordering::SeqCst),
            3 => cut.store(CUT_REQUEST, Ordering::SeqCst),
            _ => {}
        }
        let records = (0..3u32)
            .map(|i| Record::new((batch * 3 + i).to_le_bytes().to_vec()))
            .collect();
        let produced = producer.send("once", 0, records).await.unwrap();
        assert_eq!(produced.base_offset, u64::from(batch * 3), "batch {batch}");
        if produced.duplicate {
            duplicates += 1;
        }
    }
    assert_eq!(duplicates, 8, "every response cut was retried as a duplicate");
    let fetched = admin.fetch("once", 0, 0, Duration::ZERO).await.unwrap();
    let values: Vec<u32> = fetched
        .records
        .iter()
        .map(|r| u32::from_le_bytes(r.value.as_slice().try_into().unwrap()))
        .collect();
    assert_eq!(values, (0..batches * 3).collect::<Vec<u32>>());
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinit_fences_the_old_instance_and_resumes_sequences() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.create_topic("f", 2, &[]).await.unwrap();
    let mut first = Producer::init(client.clone(), "p", ProducerOptions::default())
        .await
        .unwrap();
    first
        .send("f", 1, vec![Record::new(b"a".to_vec()), Record::new(b"b".to_vec())])
        .await
        .unwrap();
    let mut second = Producer::init(server.client().await, "p", ProducerOptions::default())
        .await
        .unwrap();
    assert_eq!(second.producer_id(), first.producer_id());
    assert!(second.epoch() > first.epoch());
    assert_eq!(second.next_sequence("f", 1), 2);
    assert_eq!(second.next_sequence("f", 0), 0);
    let fenced = first.send("f", 1, vec![Record::new(b"late".to_vec())]).await;
    match fenced {
        Err(ClientError::Server(error)) => {
            assert_eq!(error.code, ErrorCode::Fenced);
            assert_eq!(error.details.len(), 3);
        }
        other => panic!("expected Fenced, got {other:?}"),
    }
    let produced = second.send("f", 1, vec![Record::new(b"c".to_vec())]).await.unwrap();
    assert_eq!((produced.base_offset, produced.duplicate), (2, false));
    server.handle.shutdown().await.unwrap();
}

/// An idempotent producer pipelines `in_flight_max` (32) batches to one
/// partition, the connection drops before it reads an answer, and it
/// resumes on a new connection by re-sending every one of them with the same
/// stamps: each is answered `duplicate` with its original offsets (the
/// server's de-duplication window covers `in_flight_max` batches), nothing
/// is appended twice. The documented bound, just above: a retry of a batch
/// `in_flight_max + 1` batches back is `OutOfOrderSequence`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_retried_after_a_dropped_connection_are_duplicates() {
    use common::Raw;
    use millrace_server::messages::{encode_request_into, InitProducer, Produce, ProducerStamp, Request, Response};
    let server = start_server(|_| {}).await;
    let depth = millrace_server::ServerConfig::default().in_flight_max;
    assert_eq!(depth, 32);
    let client = server.client().await;
    client.create_topic("pipe", 1, &[]).await.unwrap();
    let mut raw = Raw::hello(server.addr()).await;
    raw.request(2, &Request::InitProducer(InitProducer { name: "pipe".into() }))
        .await;
    let Some((_, Ok(Response::ProducerInit(init)))) = raw.response().await else {
        panic!("InitProducer failed")
    };
    let batch = |sequence: u32| {
        Request::Produce(Produce {
            topic: "pipe".into(),
            partition: 0,
            producer: Some(ProducerStamp {
                producer_id: init.producer_id,
                epoch: init.epoch,
                base_sequence: sequence,
            }),
            records: vec![Record::new(format!("r{sequence}").into_bytes())],
        })
    };
    let mut burst = Vec::new();
    for sequence in 0..depth {
        encode_request_into(&mut burst, 10 + sequence, &batch(sequence));
    }
    raw.send(&burst).await;
    let end = || async { client.describe_topic("pipe").await.unwrap().partitions[0].end_offset };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while end().await < u64::from(depth) {
        assert!(std::time::Instant::now() < deadline, "batches not appended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(raw); // every answer lost

    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&burst).await;
    for sequence in 0..depth {
        let (frame, result) = raw.response().await.unwrap();
        assert_eq!(frame.header.request_id, 10 + sequence);
        let Ok(Response::Produced(produced)) = result else {
            panic!("retry of batch {sequence}: {result:?}")
        };
        assert!(produced.duplicate, "batch {sequence} appended twice");
        assert_eq!(produced.base_offset, u64::from(sequence));
    }
    assert_eq!(end().await, u64::from(depth));

    // One batch more, then a retry of the batch now `depth + 1` back.
    raw.request(100, &batch(depth)).await;
    let (_, result) = raw.response().await.unwrap();
    assert!(
        matches!(result, Ok(Response::Produced(ref p)) if !p.duplicate),
        "{result:?}"
    );
    raw.request(101, &batch(0)).await;
    let (_, result) = raw.response().await.unwrap();
    assert_eq!(result.unwrap_err().code, ErrorCode::OutOfOrderSequence);
    server.handle.shutdown().await.unwrap();
}
