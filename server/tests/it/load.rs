//! A bounded load test over loopback (a few seconds): many concurrent
//! idempotent producers, each on its own connection and partition set, and
//! consumers long-polling every partition at the same time. At the end every
//! produced value is in the log exactly once, in per-producer order, and the
//! consumers saw exactly what the log holds.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::start_server;
use millrace::Record;
use millrace_server::{Producer, ProducerOptions};

const PRODUCERS: u32 = 16;
const PARTITIONS: u32 = 4;
const BATCHES_PER_PRODUCER: u32 = 200;
const RECORDS_PER_BATCH: u32 = 10;

fn value(producer: u32, index: u32) -> Vec<u8> {
    let mut v = producer.to_le_bytes().to_vec();
    v.extend_from_slice(&index.to_le_bytes());
    v.extend_from_slice(&[0xab; 100]);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_producers_and_consumers_lose_and_duplicate_nothing() {
    let server = start_server(|c| c.in_flight_max = 16).await;
    let admin = server.client().await;
    admin.create_topic("load", PARTITIONS, &[]).await.unwrap();
    let total_per_partition: HashMap<u32, usize> = (0..PARTITIONS)
        .map(|p| {
            let producers = (0..PRODUCERS).filter(|i| i % PARTITIONS == p).count();
            (p, producers * (BATCHES_PER_PRODUCER * RECORDS_PER_BATCH) as usize)
        })
        .collect();
    let started = Instant::now();

    let mut consumers = Vec::new();
    for partition in 0..PARTITIONS {
        let client = server.client().await;
        let expected = total_per_partition[&partition];
        consumers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut offset = 0;
            let deadline = Instant::now() + Duration::from_secs(30);
            while seen.len() < expected {
                assert!(
                    Instant::now() < deadline,
                    "consumer {partition} stuck at {}",
                    seen.len()
                );
                let fetched = client
                    .fetch("load", partition, offset, Duration::from_millis(200))
                    .await
                    .unwrap();
                for record in &fetched.records {
                    assert_eq!(record.offset, seen.len() as u64, "dense offsets");
                    seen.push(record.value.clone());
                }
                offset = fetched.next_offset;
            }
            seen
        }));
    }

    let mut producers = Vec::new();
    for id in 0..PRODUCERS {
        let client = server.client().await;
        producers.push(tokio::spawn(async move {
            let partition = id % PARTITIONS;
            let mut producer = Producer::init(client, &format!("producer-{id}"), ProducerOptions::default())
                .await
                .unwrap();
            for batch in 0..BATCHES_PER_PRODUCER {
                let records = (0..RECORDS_PER_BATCH)
                    .map(|i| Record::new(value(id, batch * RECORDS_PER_BATCH + i)))
                    .collect();
                let produced = producer.send("load", partition, records).await.unwrap();
                assert!(!produced.duplicate);
            }
        }));
    }
    for producer in producers {
        producer.await.unwrap();
    }
    let mut by_partition = Vec::new();
    for consumer in consumers {
        by_partition.push(consumer.await.unwrap());
    }
    let elapsed = started.elapsed();

    for (partition, seen) in by_partition.iter().enumerate() {
        // The log agrees with what the consumer saw.
        let mut log = Vec::new();
        let mut offset = 0;
        loop {
            let fetched = admin
                .fetch("load", partition as u32, offset, Duration::ZERO)
                .await
                .unwrap();
            if fetched.records.is_empty() {
                break;
            }
            log.extend(fetched.records.into_iter().map(|r| r.value));
            offset = fetched.next_offset;
        }
        assert_eq!(&log, seen, "partition {partition}");
        // Each producer's values appear once each, in order.
        let mut next_index: HashMap<u32, u32> = HashMap::new();
        for v in seen {
            let producer = u32::from_le_bytes(v[0..4].try_into().unwrap());
            let index = u32::from_le_bytes(v[4..8].try_into().unwrap());
            let expected = next_index.entry(producer).or_insert(0);
            assert_eq!(index, *expected, "producer {producer} on partition {partition}");
            *expected += 1;
        }
        for (producer, count) in next_index {
            assert_eq!(count, BATCHES_PER_PRODUCER * RECORDS_PER_BATCH, "producer {producer}");
        }
    }
    let records = PRODUCERS * BATCHES_PER_PRODUCER * RECORDS_PER_BATCH;
    eprintln!("load: {records} records through {PRODUCERS} producers and {PARTITIONS} consumers in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(30));
    server.handle.shutdown().await.unwrap();
}
