//! Requests pipelined on one connection: `Always` produces queued behind one
//! that waits for its fsync are appended before that wait (one fsync covers
//! them) and answered in arrival order; concurrent calls on one `Client`
//! share the connection's writes.

use crate::common::{self, stat};

use common::{start_server, Raw};
use millrace::Record;
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::{encode_request_into, Produce, Produced, Request, Response};

fn produce(topic: &str, value: &[u8]) -> Request {
    Request::Produce(Produce {
        topic: topic.into(),
        partition: 0,
        producer: None,
        records: vec![Record::new(value.to_vec())],
    })
}

fn offset(response: &Response) -> u64 {
    match response {
        Response::Produced(Produced { base_offset, .. }) => *base_offset,
        other => panic!("not a produce response: {other:?}"),
    }
}

/// A burst of `Always` produces in one write, with a produce that fails at
/// once, a produce to an `Os` topic and a ping among them: every answer in
/// request order with its own offset, and far fewer fsyncs than produces
/// (the produces queued behind a waiting one share its fsync; answered one
/// fsync at a time they would take one each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_produces_queued_behind_a_wait_share_its_fsync() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client
        .create_topic("slow", 1, &[("durability", "always")])
        .await
        .unwrap();
    client.create_topic("fast", 1, &[("durability", "os")]).await.unwrap();
    let fsyncs_before = stat(&client.stats().await.unwrap(), "millrace_fsyncs_total");
    let mut requests = Vec::new();
    for i in 0..60u32 {
        requests.push(match i {
            20 => produce("missing", b"m"),
            30 => produce("fast", b"f"),
            40 => Request::Ping,
            _ => produce("slow", &i.to_le_bytes()),
        });
    }
    let mut burst = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        encode_request_into(&mut burst, 2 + i as u32, request);
    }
    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&burst).await;
    let mut slow_offset = 0;
    for i in 0..requests.len() {
        let (frame, result) = raw.response().await.unwrap();
        assert_eq!(frame.header.request_id, 2 + i as u32, "answers come in request order");
        match i {
            20 => assert_eq!(result.unwrap_err().code, ErrorCode::TopicNotFound),
            30 => assert_eq!(offset(&result.unwrap()), 0),
            40 => assert_eq!(result.unwrap(), Response::Empty),
            _ => {
                assert_eq!(offset(&result.unwrap()), slow_offset, "request {i}");
                slow_offset += 1;
            }
        }
    }
    assert_eq!(slow_offset, 57);
    let fsyncs = stat(&client.stats().await.unwrap(), "millrace_fsyncs_total") - fsyncs_before;
    assert!(
        fsyncs <= 20,
        "{fsyncs} fsyncs for 57 pipelined Always produces in 4 runs"
    );
    let fetched = client.fetch("slow", 0, 0, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(fetched.records.len(), 57);
    server.handle.shutdown().await.unwrap();
}

/// Many tasks producing through one `Client` (one connection, requests
/// pipelined, their writes combined): each gets its own answer, and the
/// offsets handed out are exactly 0..N.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_on_one_client_each_get_their_answer() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client
        .create_topic("shared", 1, &[("durability", "always")])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for task in 0..16u32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..25u32 {
                let value = (task * 1000 + i).to_le_bytes().to_vec();
                let produced = client
                    .produce("shared", 0, vec![Record::new(value.clone())])
                    .await
                    .unwrap();
                mine.push((produced.base_offset, value));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    let offsets: Vec<u64> = all.iter().map(|(offset, _)| *offset).collect();
    assert_eq!(offsets, (0..400).collect::<Vec<u64>>());
    let fetched = client.fetch("shared", 0, 0, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(fetched.records.len(), 400);
    for ((_, value), record) in all.iter().zip(&fetched.records) {
        assert_eq!(&record.value, value, "the answer's offset holds the caller's record");
    }
    server.handle.shutdown().await.unwrap();
}

/// After a burst that shared its fsyncs, a lone `Always` produce on a quiet
/// partition is answered: its wait leads the next fsync and first gathers,
/// expecting as many produces as the last fsync covered, none of which
/// comes (nobody else produces). The engine's gathering has no timer; the
/// server's ends it. Without it this produce would wait forever: the
/// timeout below only turns such a hang into a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_produce_after_a_shared_fsync_is_answered() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client
        .create_topic("slow", 1, &[("durability", "always")])
        .await
        .unwrap();
    let mut burst = Vec::new();
    for i in 0..10u32 {
        encode_request_into(&mut burst, 2 + i, &produce("slow", &i.to_le_bytes()));
    }
    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&burst).await;
    for i in 0..10u64 {
        let (_, result) = raw.response().await.unwrap();
        assert_eq!(offset(&result.unwrap()), i);
    }
    for (lone, at) in (0..3u32).zip(10u64..) {
        let mut request = Vec::new();
        encode_request_into(&mut request, 100 + lone, &produce("slow", b"lone"));
        raw.send(&request).await;
        let answered = tokio::time::timeout(std::time::Duration::from_secs(60), raw.response()).await;
        let (frame, result) = answered.expect("the lone produce is answered").unwrap();
        assert_eq!(frame.header.request_id, 100 + lone);
        assert_eq!(offset(&result.unwrap()), at);
    }
    let fetched = client.fetch("slow", 0, 0, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(fetched.records.len(), 13);
    server.handle.shutdown().await.unwrap();
}
