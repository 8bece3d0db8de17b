//! The client's consumer and transaction helpers over loopback: a consumer
//! reads every record of its assigned partitions once, commits, and a new
//! consumer of the same group resumes after the committed positions; a
//! consume-transform-produce step commits its output and its input offsets
//! in one transaction.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::start_server;
use millrace::Record;
use millrace_server::{Consumer, ConsumerOptions, Producer, ProducerOptions, StartFrom};

fn options() -> ConsumerOptions {
    ConsumerOptions {
        max_wait: Duration::from_millis(100),
        ..ConsumerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reads_commits_and_resumes() {
    let server = start_server(|_| {}).await;
    let admin = server.client().await;
    admin.create_topic("c", 2, &[]).await.unwrap();
    for partition in 0..2u32 {
        let records = (0..10u32)
            .map(|i| Record::new((partition * 100 + i).to_le_bytes().to_vec()))
            .collect();
        admin.produce("c", partition, records).await.unwrap();
    }
    let assignments = vec![("c".to_string(), 0), ("c".to_string(), 1)];
    let mut consumer = Consumer::subscribe(server.client().await, "g", assignments.clone(), options())
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    for _ in 0..10 {
        for (_, _, record) in consumer.poll().await.unwrap() {
            assert!(seen.insert(u32::from_le_bytes(record.value.as_slice().try_into().unwrap())));
        }
        if seen.len() == 20 {
            break;
        }
    }
    assert_eq!(seen.len(), 20);
    assert!(consumer.poll().await.unwrap().is_empty(), "nothing more");
    consumer.commit().await.unwrap();
    assert_eq!(consumer.position("c", 1), Some(10));

    admin
        .produce("c", 1, vec![Record::new(999u32.to_le_bytes().to_vec())])
        .await
        .unwrap();
    let mut resumed = Consumer::subscribe(server.client().await, "g", assignments.clone(), options())
        .await
        .unwrap();
    let records = resumed.poll().await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].2.offset, 10);
    // Seek back and read again.
    resumed.seek("c", 0, 5);
    let again = resumed.poll().await.unwrap();
    assert_eq!((again[0].1, again[0].2.offset), (0, 5));

    // A new group starting at the latest offsets sees nothing old.
    let latest = Consumer::subscribe(
        server.client().await,
        "fresh",
        assignments,
        ConsumerOptions {
            start_from: StartFrom::Latest,
            ..options()
        },
    )
    .await
    .unwrap();
    assert_eq!((latest.position("c", 0), latest.position("c", 1)), (Some(10), Some(11)));
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transform_step_commits_output_and_offsets_together() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.create_topic("src", 1, &[]).await.unwrap();
    client.create_topic("dst", 1, &[]).await.unwrap();
    let input = (0..6u8).map(|i| Record::new(vec![i])).collect();
    client.produce("src", 0, input).await.unwrap();

    let producer = Producer::init(client.clone(), "transform", ProducerOptions::default())
        .await
        .unwrap();
    let mut consumer = Consumer::subscribe(server.client().await, "t", vec![("src".into(), 0)], options())
        .await
        .unwrap();
    let batch = consumer.poll().await.unwrap();
    assert_eq!(batch.len(), 6);
    let txn = client
        .begin_transaction(producer.producer_id(), producer.epoch())
        .await
        .unwrap();
    let doubled = batch
        .iter()
        .map(|(_, _, r)| Record::new(vec![r.value[0] * 2]))
        .collect();
    txn.append("dst", 0, doubled).await.unwrap();
    txn.commit_offsets("t", &[("src", 0, 6)]).await.unwrap();
    let committed = txn.commit().await.unwrap();
    assert_eq!(committed.parts.len(), 1);
    assert_eq!(client.committed_offsets("t", Some("src")).await.unwrap()[0].offset, 6);
    let out = client.fetch("dst", 0, 0, Duration::ZERO).await.unwrap();
    assert_eq!(
        out.records.iter().map(|r| r.value[0]).collect::<Vec<u8>>(),
        vec![0, 2, 4, 6, 8, 10]
    );
    assert_eq!(client.lag("t", Some("src")).await.unwrap()[0].lag, 0);

    // An aborted step changes nothing.
    let txn = client
        .begin_transaction(producer.producer_id(), producer.epoch())
        .await
        .unwrap();
    txn.append("dst", 0, vec![Record::new(vec![99])]).await.unwrap();
    txn.commit_offsets("t", &[("src", 0, 0)]).await.unwrap();
    txn.abort().await.unwrap();
    assert_eq!(client.committed_offsets("t", Some("src")).await.unwrap()[0].offset, 6);
    assert_eq!(
        client.fetch("dst", 0, 0, Duration::ZERO).await.unwrap().records.len(),
        6
    );
    server.handle.shutdown().await.unwrap();
}
