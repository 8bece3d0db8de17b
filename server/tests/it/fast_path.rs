//! The connection's fast path: requests that cannot block run inline on the
//! connection's task, the rest on the blocking pool. These tests pin what
//! must not change with that split: the order of execution and of answers on
//! one connection, independence of connections, the meaning of an `Always`
//! acknowledgement, and the exact bytes of a fetch response.

use crate::common::{self, stat};

use std::time::{Duration, Instant};

use common::{start_server, Raw};
use millrace::{Isolation as EngineIsolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use millrace_server::messages::{
    encode_request_into, encode_response, Fetch, Fetched, Isolation, Opcode, Position, Produce, Produced, Request,
    Response,
};
use millrace_server::server::start_with_store;
use millrace_server::{Client, ClientOptions};

fn produce(topic: &str, value: &[u8]) -> Request {
    Request::Produce(Produce {
        topic: topic.into(),
        partition: 0,
        producer: None,
        records: vec![Record::new(value.to_vec())],
    })
}

fn fetch(topic: &str, offset: u64, max_wait_ms: u32) -> Request {
    Request::Fetch(Fetch {
        topic: topic.into(),
        partition: 0,
        position: Position::Offset(offset),
        max_bytes: 1024 * 1024,
        max_records: 0,
        isolation: Isolation::ReadCommitted,
        max_wait_ms,
    })
}

/// Inline requests (appends to an `Os` topic, fetches that find data, pings)
/// and blocking ones (appends to an `Always` topic, a long poll) pipelined on
/// one connection are executed and answered in arrival order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_inline_and_blocking_requests_keep_their_order() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.create_topic("fast", 1, &[("durability", "os")]).await.unwrap();
    client
        .create_topic("slow", 1, &[("durability", "always")])
        .await
        .unwrap();
    let mut raw = Raw::hello(server.addr()).await;
    let requests = vec![
        produce("slow", b"s0"), // 2: blocking (fsync)
        fetch("slow", 0, 0),    // 3: inline, must see 2's record
        produce("fast", b"f0"), // 4: inline
        fetch("fast", 0, 0),    // 5: inline, sees 4
        fetch("fast", 1, 300),  // 6: long poll (blocking): nothing comes, 7 runs after it
        produce("fast", b"f1"), // 7: inline, offset 1
        Request::Ping,          // 8
        produce("slow", b"s1"), // 9: blocking, offset 1
        fetch("fast", 0, 0),    // 10: inline, sees f0 and f1
        fetch("slow", 1, 0),    // 11: inline, sees s1
    ];
    let mut burst = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        encode_request_into(&mut burst, 2 + i as u32, request);
    }
    let sent = Instant::now();
    raw.send(&burst).await;
    let mut results = Vec::new();
    for i in 0..requests.len() {
        let (frame, result) = raw.response().await.unwrap();
        assert_eq!(frame.header.request_id, 2 + i as u32, "answers come in request order");
        results.push(result.unwrap());
    }
    // The long poll waited its 300 ms before anything after it ran.
    assert!(sent.elapsed() >= Duration::from_millis(300));
    let values = |response: &Response| match response {
        Response::Fetched(Fetched { records, .. }) => records.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        other => panic!("not a fetch response: {other:?}"),
    };
    let offset = |response: &Response| match response {
        Response::Produced(Produced { base_offset, .. }) => *base_offset,
        other => panic!("not a produce response: {other:?}"),
    };
    assert_eq!(offset(&results[0]), 0);
    assert_eq!(values(&results[1]), vec![b"s0".to_vec()]);
    assert_eq!(offset(&results[2]), 0);
    assert_eq!(values(&results[3]), vec![b"f0".to_vec()]);
    assert_eq!(values(&results[4]), Vec::<Vec<u8>>::new());
    assert_eq!(offset(&results[5]), 1);
    assert_eq!(results[6], Response::Empty);
    assert_eq!(offset(&results[7]), 1);
    assert_eq!(values(&results[8]), vec![b"f0".to_vec(), b"f1".to_vec()]);
    assert_eq!(values(&results[9]), vec![b"s1".to_vec()]);
    server.handle.shutdown().await.unwrap();
}

/// A long poll occupies the blocking pool, never the connection tasks: with a
/// single runtime worker thread, another connection's inline produces and
/// fetches go through while it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn long_poll_does_not_stall_another_connection() {
    let server = start_server(|c| c.durability = "interval:5".into()).await;
    let setup = server.client().await;
    setup.create_topic("idle", 1, &[]).await.unwrap();
    setup.create_topic("busy", 1, &[]).await.unwrap();
    let poller = server.client().await;
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let fetched = poller.fetch("idle", 0, 0, Duration::from_millis(3000)).await.unwrap();
        (fetched.records.len(), started.elapsed())
    });
    // Let the long poll start.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let producer = server.client().await;
    let started = Instant::now();
    for i in 0..50u32 {
        let produced = producer
            .produce("busy", 0, vec![Record::new(i.to_le_bytes().to_vec())])
            .await
            .unwrap();
        assert_eq!(produced.base_offset, u64::from(i));
    }
    producer.flush().await.unwrap();
    let fetched = producer.fetch("busy", 0, 0, Duration::ZERO).await.unwrap();
    assert_eq!(fetched.records.len(), 50);
    let busy = started.elapsed();
    assert!(!poll.is_finished(), "the long poll is still waiting");
    assert!(busy < Duration::from_millis(2500), "{busy:?}");
    let (records, waited) = poll.await.unwrap();
    assert_eq!(records, 0);
    assert!(waited >= Duration::from_millis(2900), "{waited:?}");
    server.handle.shutdown().await.unwrap();
}

/// A produce to an `Always` topic is acknowledged only once an fsync covered
/// it: one producer awaiting each answer sees at least one more fsync per
/// acknowledgement; a produce to an `Os` topic (inline) does not fsync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_produce_is_acknowledged_after_its_fsync() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client
        .create_topic("durable", 1, &[("durability", "always")])
        .await
        .unwrap();
    client
        .create_topic("relaxed", 1, &[("durability", "os")])
        .await
        .unwrap();
    let fsyncs = || async { stat(&client.stats().await.unwrap(), "millrace_fsyncs_total") };
    let before = fsyncs().await;
    for i in 0..10u64 {
        client
            .produce("durable", 0, vec![Record::new(b"d".to_vec())])
            .await
            .unwrap();
        let now = fsyncs().await;
        assert!(
            now > before + i,
            "ack {i}: {now} fsyncs, {before} before the first append"
        );
    }
    let before = fsyncs().await;
    for _ in 0..10 {
        client
            .produce("relaxed", 0, vec![Record::new(b"r".to_vec())])
            .await
            .unwrap();
    }
    assert_eq!(fsyncs().await, before, "an Os append does not fsync");
    server.handle.shutdown().await.unwrap();
}

/// The fetch response encoded from record views is byte for byte the
/// encoding of what `Store::read_with` returns, for keys, headers,
/// timestamps, budgets and both isolation levels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_response_bytes_match_the_owned_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            durability: millrace::Durability::Os,
            // The server needs a window of at least in_flight_max batches.
            producer_dedup_batches: millrace_server::ServerConfig::default().producer_dedup_batches(),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store.create_topic("t", TopicConfig::with_partitions(1)).unwrap();
    for i in 0..40u32 {
        let mut batch = Vec::new();
        for j in 0..(i % 5 + 1) {
            let mut record = Record::new(vec![i as u8; (i * 37 + j * 101) as usize % 3000]);
            if i % 2 == 0 {
                record = record.with_key(format!("k{i}-{j}").into_bytes());
            }
            if i % 3 == 0 {
                record = record
                    .with_header("h1", b"v1".to_vec())
                    .with_header("é", vec![j as u8; 70]);
            }
            if i % 4 == 0 {
                record = record.with_timestamp(1_700_000_000_000 + i64::from(i));
            }
            batch.push(record);
        }
        store.append("t", 0, &batch).unwrap();
        if i == 20 {
            store.roll("t", 0).unwrap();
        }
    }
    let engine = store.clone();
    let config = common::test_config(dir.path());
    let handle = start_with_store(config, store).await.unwrap();
    let mut raw = Raw::hello(handle.local_addr()).await;
    let mut request_id = 10;
    for isolation in [Isolation::ReadCommitted, Isolation::ReadUncommitted] {
        for (max_bytes, max_records) in [(1, 0), (100, 0), (5000, 3), (1024 * 1024, 0), (7000, 0)] {
            for offset in [0u64, 1, 7, 50, 99] {
                request_id += 1;
                let request = Request::Fetch(Fetch {
                    topic: "t".into(),
                    partition: 0,
                    position: Position::Offset(offset),
                    max_bytes,
                    max_records,
                    isolation,
                    max_wait_ms: 0,
                });
                raw.request(request_id, &request).await;
                let frame = raw.frame().await.unwrap();
                let read = engine
                    .read_with(
                        "t",
                        0,
                        offset,
                        ReadOptions {
                            max_bytes: max_bytes as usize,
                            max_records: if max_records == 0 {
                                usize::MAX
                            } else {
                                max_records as usize
                            },
                        },
                        match isolation {
                            Isolation::ReadCommitted => EngineIsolation::ReadCommitted,
                            Isolation::ReadUncommitted => EngineIsolation::ReadUncommitted,
                        },
                    )
                    .unwrap();
                assert!(!read.records.is_empty() || offset >= 99);
                let expected = encode_response(
                    Opcode::Fetch as u16,
                    request_id,
                    &Ok(Response::Fetched(Fetched {
                        next_offset: read.next_offset,
                        high_watermark: read.high_watermark,
                        last_stable_offset: read.last_stable_offset,
                        records: read.records,
                    })),
                );
                assert_eq!(
                    &expected[12..],
                    &frame.body[..],
                    "offset {offset} max_bytes {max_bytes}"
                );
            }
        }
    }
    // An error (offset past the end) is still an error, answered in order.
    raw.request(1000, &fetch("t", 10_000, 0)).await;
    let (frame, result) = raw.response().await.unwrap();
    assert_eq!(frame.header.request_id, 1000);
    assert!(result.is_err(), "{result:?}");
    // The Rust client decodes the same records.
    let client = Client::connect(handle.local_addr(), ClientOptions::default())
        .await
        .unwrap();
    let fetched = client.fetch("t", 0, 0, Duration::ZERO).await.unwrap();
    let read = engine.read(
        "t",
        0,
        0,
        ReadOptions {
            max_bytes: 1024 * 1024,
            max_records: usize::MAX,
        },
    );
    assert_eq!(fetched.records, read.unwrap().records);
    // Read in place through `fetch_view`, in small fetches across the whole
    // log (both segments): the same records as the owned fetch, one by one.
    let (mut offset, mut seen) = (0u64, 0usize);
    loop {
        let request = Fetch {
            topic: "t".into(),
            partition: 0,
            position: Position::Offset(offset),
            max_bytes: 4000,
            max_records: 0,
            isolation: Isolation::ReadCommitted,
            max_wait_ms: 0,
        };
        let view = client.fetch_view(request.clone()).await.unwrap();
        let owned = client.fetch_with(request).await.unwrap();
        assert_eq!(view.to_fetched(), owned);
        assert_eq!(view.len(), owned.records.len());
        for (record, stored) in view.iter().zip(&owned.records) {
            assert_eq!(record.offset, stored.offset);
            assert_eq!(record.key, stored.key.as_deref());
            assert_eq!(record.value, stored.value.as_slice());
            let headers: Vec<(String, Vec<u8>)> = record
                .headers()
                .map(|(name, value)| (name.to_string(), value.to_vec()))
                .collect();
            assert_eq!(headers, stored.headers);
        }
        seen += view.len();
        offset = view.next_offset;
        if offset >= view.high_watermark {
            break;
        }
    }
    let appended: u32 = (0..40u32).map(|i| i % 5 + 1).sum();
    assert_eq!(seen, appended as usize, "every record read through views exactly once");
    // An error answer comes back as the server's error.
    let past_end = client
        .fetch_view(Fetch {
            topic: "t".into(),
            partition: 0,
            position: Position::Offset(10_000),
            max_bytes: 4000,
            max_records: 0,
            isolation: Isolation::ReadCommitted,
            max_wait_ms: 0,
        })
        .await;
    assert!(past_end.unwrap_err().code().is_some());
    handle.shutdown().await.unwrap();
}

/// Many connections producing to an `Always` topic at once go through the
/// group commit (each task parked until an fsync covers it, `server::durable`)
/// and share fsyncs: every answer is right (dense, distinct
/// offsets per partition; an idempotent retry is a duplicate with the
/// original's offsets), every acknowledged record is already visible to a
/// read-committed fetch (which under `Always` sees only fsynced data), and
/// there are fewer fsyncs than acknowledgements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_always_produces_share_fsyncs_and_are_visible_when_acknowledged() {
    use millrace_server::messages::ProducerStamp as WireStamp;
    let server = start_server(|_| {}).await;
    let admin = server.client().await;
    admin
        .create_topic("durable", 2, &[("durability", "always")])
        .await
        .unwrap();
    let fsyncs_before = stat(&admin.stats().await.unwrap(), "millrace_fsyncs_total");
    const PRODUCERS: u32 = 16;
    const EACH: u32 = 40;
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let client = server.client().await;
        tasks.push(tokio::spawn(async move {
            let partition = p % 2;
            // Half the producers are idempotent and retry every fifth batch.
            let stamp = if p % 4 < 2 {
                let init = client
                    .call(Request::InitProducer(millrace_server::messages::InitProducer {
                        name: format!("p{p}"),
                    }))
                    .await
                    .unwrap();
                match init {
                    Response::ProducerInit(init) => Some((init.producer_id, init.epoch)),
                    other => panic!("{other:?}"),
                }
            } else {
                None
            };
            let mut acked = Vec::new();
            for i in 0..EACH {
                let value = format!("{p}-{i}").into_bytes();
                let request = Request::Produce(Produce {
                    topic: "durable".into(),
                    partition,
                    producer: stamp.map(|(producer_id, epoch)| WireStamp {
                        producer_id,
                        epoch,
                        base_sequence: i,
                    }),
                    records: vec![Record::new(value.clone())],
                });
                let produced = match client.call(request.clone()).await.unwrap() {
                    Response::Produced(produced) => produced,
                    other => panic!("{other:?}"),
                };
                assert!(!produced.duplicate);
                assert_eq!(produced.next_offset, produced.base_offset + 1);
                if stamp.is_some() && i % 5 == 0 {
                    let Response::Produced(retry) = client.call(request).await.unwrap() else {
                        panic!("not a produce answer");
                    };
                    assert!(retry.duplicate, "a retry is answered as a duplicate");
                    assert_eq!(retry.base_offset, produced.base_offset);
                }
                // Acknowledged under `Always`: visible (= fsynced) right now.
                let fetched = client
                    .fetch("durable", partition, produced.base_offset, Duration::ZERO)
                    .await
                    .unwrap();
                assert_eq!(fetched.records.first().map(|r| r.value.clone()), Some(value));
                acked.push((partition, produced.base_offset));
            }
            acked
        }));
    }
    let mut offsets: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for task in tasks {
        for (partition, offset) in task.await.unwrap() {
            offsets[partition as usize].push(offset);
        }
    }
    for (partition, mut got) in offsets.into_iter().enumerate() {
        got.sort_unstable();
        let want: Vec<u64> = (0..u64::from(PRODUCERS / 2 * EACH)).collect();
        assert_eq!(got, want, "partition {partition}: dense, distinct offsets");
    }
    let fsyncs = stat(&admin.stats().await.unwrap(), "millrace_fsyncs_total") - fsyncs_before;
    let acks = u64::from(PRODUCERS * EACH);
    assert!(
        fsyncs > 0 && fsyncs < acks,
        "{fsyncs} fsyncs for {acks} acknowledgements"
    );
    server.handle.shutdown().await.unwrap();
}

/// While a large response body is read the client raises its socket's
/// receive low-water mark (fewer wake-ups per fetch); it must be back at one
/// byte before the next response, or a small answer behind a large one
/// would wait for bytes that never come. Large fetches (read in place and
/// owned) alternate with small answers, in sequence and pipelined, and
/// every answer arrives, right, within the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_answers_behind_large_fetches_arrive() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.create_topic("big", 1, &[("durability", "os")]).await.unwrap();
    // 3 MiB of 8 KiB records in one partition.
    let value: Vec<u8> = (0..8192u32).map(|i| (i % 253) as u8).collect();
    for _ in 0..12 {
        let batch = (0..32).map(|_| Record::new(value.clone())).collect();
        client.produce("big", 0, batch).await.unwrap();
    }
    let whole = |offset| Fetch {
        topic: "big".into(),
        partition: 0,
        position: Position::Offset(offset),
        max_bytes: 4 * 1024 * 1024,
        max_records: 0,
        isolation: Isolation::ReadCommitted,
        max_wait_ms: 0,
    };
    let rounds = async {
        for round in 0..20u64 {
            // In sequence: a large answer, then small ones.
            let view = client.fetch_view(whole(round)).await.unwrap();
            // From `round`: the large records left, then the small ones so far.
            assert_eq!(view.len(), 384);
            for record in view.iter() {
                let expected: &[u8] = if record.offset < 384 { &value } else { b"small" };
                assert_eq!(record.value, expected, "offset {}", record.offset);
            }
            client.ping().await.unwrap();
            let produced = client
                .produce("big", 0, vec![Record::new(b"small".to_vec())])
                .await
                .unwrap();
            assert_eq!(produced.base_offset, 384 + round);
            // Pipelined: a small request sent behind a large one.
            let (owned, pong) = tokio::join!(client.fetch_with(whole(0)), client.ping());
            assert!(owned.unwrap().records.len() >= 384);
            pong.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(20), rounds)
        .await
        .expect("an answer behind a large fetch did not arrive");
}

/// A fetch whose records do not all fit in a response frame stops before
/// the record that would take the records past `frame_bytes_max - 1024`
/// bytes (design/protocol.md, "Limits"; the first record is always taken):
/// the response is byte for byte the engine's records up to there, and
/// `next_offset` is the offset after the last one. The record that did not
/// fit is encoded, then taken back (`FetchedEncoded::push_within`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_at_the_frame_limit_stops_before_the_record_that_does_not_fit() {
    const FRAME: u32 = 64 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            durability: millrace::Durability::Os,
            producer_dedup_batches: millrace_server::ServerConfig::default().producer_dedup_batches(),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store
        .create_topic(
            "t",
            TopicConfig {
                record_bytes_max: 16 * 1024,
                ..TopicConfig::with_partitions(1)
            },
        )
        .unwrap();
    let records: Vec<Record> = (0..120u32)
        .map(|i| {
            let mut record = Record::new(vec![i as u8; (i as usize * 211) % 4000]);
            if i % 3 == 0 {
                record = record.with_key(format!("key-{i}").into_bytes());
            }
            if i % 4 == 0 {
                record = record.with_header("h", vec![7; (i as usize * 13) % 500]);
            }
            record
        })
        .collect();
    store.append("t", 0, &records).unwrap();
    let engine = store.clone();
    let mut config = common::test_config(dir.path());
    config.frame_bytes_max = FRAME;
    let handle = start_with_store(config, store).await.unwrap();
    let mut raw = Raw::hello(handle.local_addr()).await;
    let room = (FRAME - 1024) as usize;
    let mut request_id = 1;
    for offset in [0u64, 5, 31, 100] {
        request_id += 1;
        raw.request(
            request_id,
            &Request::Fetch(Fetch {
                topic: "t".into(),
                partition: 0,
                position: Position::Offset(offset),
                max_bytes: FRAME - 1024,
                max_records: 0,
                isolation: Isolation::ReadCommitted,
                max_wait_ms: 0,
            }),
        )
        .await;
        let frame = raw.frame().await.unwrap();
        let read = engine
            .read(
                "t",
                0,
                offset,
                ReadOptions {
                    max_bytes: usize::MAX,
                    max_records: usize::MAX,
                },
            )
            .unwrap();
        // The longest prefix whose encoded records fit in the room (at least one).
        let encoded = |n: usize| {
            encode_response(
                Opcode::Fetch as u16,
                request_id,
                &Ok(Response::Fetched(Fetched {
                    next_offset: read
                        .records
                        .get(..n)
                        .and_then(<[_]>::last)
                        .map_or(offset, |r| r.offset + 1),
                    high_watermark: read.high_watermark,
                    last_stable_offset: read.last_stable_offset,
                    records: read.records[..n].to_vec(),
                })),
            )
        };
        let head = encoded(0).len();
        let mut taken = 1;
        while taken < read.records.len() && encoded(taken + 1).len() - head <= room {
            taken += 1;
        }
        assert!(
            offset >= 100 || taken < read.records.len(),
            "offset {offset}: the records must not all fit"
        );
        assert_eq!(
            &encoded(taken)[12..],
            &frame.body[..],
            "offset {offset}: {taken} records"
        );
    }
    handle.shutdown().await.unwrap();
}
