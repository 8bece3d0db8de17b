//! The pipelining `BlockingProducer` against a server: sends past its window
//! hand back the oldest answers in order with consecutive offsets, a refusal
//! is that request's answer on a connection that goes on, a dropped
//! connection fails one call (nothing left in flight) and the next send
//! reconnects, `into_client` with answers due gives a client whose next call
//! reads its own answer, and a window of 0 or above the maximum is refused.

use crate::common::start_server;

use millrace::Record;
use millrace_server::client::blocking_producer::WINDOW_MAX;
use millrace_server::error_code::ErrorCode;
use millrace_server::{BlockingClient, BlockingProducer, ClientError, ClientOptions, ProduceAnswer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_producer_pipelines_in_order_and_recovers() {
    // Idle connections are closed after 200 ms: the producer's connection is
    // dropped under it between two sends.
    let server = start_server(|config| config.idle_timeout_ms = 200).await;
    let client = server.client().await;
    client.create_topic("t", 1, &[("durability", "always")]).await.unwrap();
    let addr = server.addr();
    let outcome = tokio::task::spawn_blocking(move || {
        for window in [0, WINDOW_MAX + 1] {
            let connected = BlockingClient::connect(addr, ClientOptions::default()).unwrap();
            let refused = BlockingProducer::new(connected, window).unwrap_err();
            assert!(
                matches!(&refused, ClientError::Io { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput),
                "{refused:?}"
            );
        }
        let connected = BlockingClient::connect(addr, ClientOptions::default()).unwrap();
        let mut producer = BlockingProducer::new(connected, 4).unwrap();
        let mut answers: Vec<ProduceAnswer> = Vec::new();
        for i in 0..10u8 {
            // The fifth send is refused by the server: its own answer says so.
            let topic = if i == 4 { "missing" } else { "t" };
            if let Some(answer) = producer.send(topic, 0, &[Record::new(vec![i])]).unwrap() {
                answers.push(answer);
            }
            assert!(producer.in_flight() <= 4);
        }
        // A full window of 4: sends 5..=10 each handed back the oldest answer.
        assert_eq!(answers.len(), 6);
        assert_eq!(producer.in_flight(), 4);
        producer.flush(|answer| answers.push(answer)).unwrap();
        assert_eq!(producer.in_flight(), 0);
        assert!(producer.receive().unwrap().is_none());
        // Past the idle timeout (and the server's linger) the connection is
        // gone: a send and the receive after it fail once, with nothing left
        // in flight, and the next send reconnects.
        std::thread::sleep(std::time::Duration::from_millis(1_500));
        let dropped = producer
            .send("t", 0, &[Record::new(b"lost".to_vec())])
            .and_then(|_| producer.receive());
        assert_eq!(producer.in_flight(), 0);
        let mut after = Vec::new();
        producer.send("t", 0, &[Record::new(b"after".to_vec())]).unwrap();
        producer.flush(|answer| after.push(answer)).unwrap();
        // Answers still due when the client is taken back: their connection
        // is closed, so the client's next call reads its own answer.
        for _ in 0..3 {
            producer.send("t", 0, &[Record::new(b"maybe".to_vec())]).unwrap();
        }
        let mut blocking = producer.into_client();
        let last = blocking.produce("t", 0, &[Record::new(b"last".to_vec())]);
        (answers, dropped, after, last)
    })
    .await
    .unwrap();
    let (answers, dropped, after, last) = outcome;
    assert_eq!(answers.len(), 10);
    let ids: Vec<u32> = answers.iter().map(|a| a.request_id).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "answers out of order: {ids:?}"
    );
    let refused = answers[4].result.as_ref().unwrap_err();
    assert_eq!(refused.code, ErrorCode::TopicNotFound);
    let offsets: Vec<(u64, u64)> = answers
        .iter()
        .filter_map(|a| a.result.as_ref().ok())
        .map(|p| (p.base_offset, p.next_offset))
        .collect();
    let expected: Vec<(u64, u64)> = (0..9).map(|o| (o, o + 1)).collect();
    assert_eq!(offsets, expected);
    assert!(
        matches!(
            dropped,
            Err(ClientError::Server(_) | ClientError::Io { .. } | ClientError::Disconnected)
        ),
        "{dropped:?}"
    );
    assert_eq!(after.len(), 1);
    let after_offset = after[0].result.as_ref().unwrap().base_offset;
    // The lost record may or may not have been appended before the drop.
    assert!((9..=10).contains(&after_offset), "{after_offset}");
    let last = last.unwrap();
    assert!(last.base_offset > after_offset, "{last:?}");
    let fetched = client.fetch("t", 0, 0, std::time::Duration::ZERO).await.unwrap();
    let values: Vec<&[u8]> = fetched.records.iter().take(9).map(|r| r.value.as_slice()).collect();
    assert_eq!(values, [&[0u8][..], &[1], &[2], &[3], &[5], &[6], &[7], &[8], &[9]]);
    // "last" went on a new connection, after the three given up; it is
    // there once, wherever the server put those three.
    assert_eq!(fetched.records.iter().filter(|r| r.value == b"last").count(), 1);
}
