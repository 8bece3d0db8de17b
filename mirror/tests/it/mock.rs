//! Unit-level behaviour against the mock cluster: a round trip exactly
//! once with keys, headers, timestamps and provenance; one transaction per
//! batch of records (no empty one after the last); resuming from the
//! target's progress (not the edge's); aborting and sending again after a
//! failed transaction; the edge's positions as retention floors.

use millrace::{Record, Store, StoreOptions, TopicConfig};
use millrace_mirror::{Mirror, MirrorConfig, Mode};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One record read back from the target.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    partition: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: Option<i64>,
    headers: BTreeMap<String, Vec<u8>>,
}

fn edge(dir: &std::path::Path, partitions: u32) -> Store {
    let store = Store::open(dir, StoreOptions::default()).expect("open the edge");
    if !store.list_topics().contains(&"orders".to_string()) {
        store
            .create_topic(
                "orders",
                TopicConfig {
                    partitions,
                    ..TopicConfig::default()
                },
            )
            .expect("create");
    }
    store
}

/// Append `n` records to each partition, numbered from `from`.
fn append(store: &Store, partitions: u32, from: u64, n: u64) {
    for p in 0..partitions {
        let records: Vec<Record> = (from..from + n)
            .map(|i| {
                Record::new(format!("p{p}-{i}").into_bytes())
                    .with_key(format!("k{i}").into_bytes())
                    .with_timestamp(1_700_000_000_000 + i as i64)
                    .with_header("h", b"v".to_vec())
            })
            .collect();
        store.append("orders", p, &records).expect("append");
    }
}

fn config(cluster: &MockCluster<'_, DefaultProducerContext>) -> MirrorConfig {
    let mut config = MirrorConfig::new("central", &cluster.bootstrap_servers(), "edge-1");
    config.prefix = "edge1.".into();
    config.progress_topic = "mirror_progress".into();
    config.batch_records = 37;
    config.backoff_min = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(500);
    config.request_timeout = Duration::from_secs(5);
    config
}

fn cluster(partitions: i32) -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster
        .create_topic("edge1.orders", partitions, 1)
        .expect("target topic");
    cluster.create_topic("mirror_progress", 1, 1).expect("progress topic");
    cluster
}

/// Every record of `topic` on the target, read committed, until `want`
/// arrived or 20 s passed.
fn read_target(bootstrap: &str, topic: &str, partitions: i32, want: usize) -> Vec<Got> {
    read_target_as(bootstrap, topic, partitions, want, "read_committed")
}

fn read_target_as(bootstrap: &str, topic: &str, partitions: i32, want: usize, isolation: &str) -> Vec<Got> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "check")
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning).expect("offset");
    }
    consumer.assign(&list).expect("assign");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Anything past `want` is a duplicate: look a little longer for it.
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|s| Instant::now() < s) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
            let mut headers = BTreeMap::new();
            if let Some(h) = m.headers() {
                for header in h.iter() {
                    headers.insert(header.key.to_string(), header.value.unwrap_or_default().to_vec());
                }
            }
            got.push(Got {
                partition: m.partition(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                timestamp: m.timestamp().to_millis(),
                headers,
            });
        }
        if got.len() >= want && settle.is_none() {
            settle = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    got
}

/// Wait until mirror `name`'s positions on the edge reach `end` everywhere.
fn wait_positions(store: &Store, name: &str, partitions: u32, end: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let positions = store.consumer_groups().mirror_positions(name).expect("positions");
        let done = (0..partitions).all(|p| {
            positions
                .iter()
                .any(|((t, q), c)| t == "orders" && *q == p && c.offset >= end)
        });
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "mirror did not reach {end}: {positions:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Per partition, the source offsets (provenance header) in arrival order.
fn offsets_by_partition(got: &[Got]) -> BTreeMap<i32, Vec<u64>> {
    let mut by: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    for g in got {
        let offset = g
            .headers
            .get("millrace.source.offset")
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .expect("provenance offset header");
        by.entry(g.partition).or_default().push(offset);
    }
    by
}

#[test]
fn mirrors_exactly_once_with_keys_headers_timestamps_and_provenance_across_restarts() {
    let cluster = cluster(2);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = edge(dir.path(), 2);
    append(&store, 2, 0, 100);
    let mirror = Mirror::start(&store, config(&cluster)).expect("start");
    wait_positions(&store, "central", 2, 100);
    mirror.stop();
    append(&store, 2, 100, 50);
    let mirror = Mirror::start(&store, config(&cluster)).expect("start again");
    wait_positions(&store, "central", 2, 150);
    let counters = mirror.stats().counters();
    mirror.stop();
    assert_eq!(counters.records, 300, "counters carry over a restart: {counters:?}");

    let got = read_target(&cluster.bootstrap_servers(), "edge1.orders", 2, 300);
    assert_eq!(got.len(), 300, "each record once");
    let by = offsets_by_partition(&got);
    for p in 0..2 {
        assert_eq!(
            by.get(&p),
            Some(&(0..150).collect::<Vec<u64>>()),
            "partition {p} in order, 1:1"
        );
    }
    let first = got.iter().find(|g| g.partition == 1).expect("a record of partition 1");
    assert_eq!(first.value.as_deref(), Some(&b"p1-0"[..]));
    assert_eq!(first.key.as_deref(), Some(&b"k0"[..]));
    assert_eq!(first.timestamp, Some(1_700_000_000_000));
    assert_eq!(first.headers.get("h").map(Vec::as_slice), Some(&b"v"[..]));
    assert_eq!(
        first.headers.get("millrace.edge").map(Vec::as_slice),
        Some(&b"edge-1"[..])
    );
}

#[test]
fn each_transaction_carries_records_none_is_only_a_progress_record_again() {
    // 111 records in batches of 37: three transactions. The batch read
    // after the third (nothing new) used to commit a fourth, empty one
    // carrying the third's progress record again.
    let cluster = cluster(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = edge(dir.path(), 1);
    append(&store, 1, 0, 111);
    let mirror = Mirror::start(&store, config(&cluster)).expect("start");
    wait_positions(&store, "central", 1, 111);
    let stats = mirror.stats().clone();
    mirror.stop();
    let counters = stats.counters();
    assert_eq!(counters.records, 111, "{counters:?}");
    assert_eq!(
        counters.transactions, 3,
        "one transaction per batch of records: {counters:?}"
    );
    let got = read_target(&cluster.bootstrap_servers(), "edge1.orders", 1, 111);
    assert_eq!(
        offsets_by_partition(&got).get(&0),
        Some(&(0..111).collect::<Vec<u64>>()),
        "each record once, in order"
    );
}

#[test]
fn resumes_from_the_targets_progress_not_the_edges() {
    let cluster = cluster(1);
    // The target says partition 0 was delivered up to 40 (a transaction
    // committed before a crash that kept the edge from recording it).
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("transactional.id", "seed")
        .create()
        .expect("producer");
    producer.init_transactions(Duration::from_secs(5)).expect("init");
    producer.begin_transaction().expect("begin");
    producer
        .send(
            BaseRecord::<str, str>::to("mirror_progress")
                .partition(0)
                .key("edge-1/orders/0")
                .payload("40"),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    producer.commit_transaction(Duration::from_secs(5)).expect("commit");

    let dir = tempfile::tempdir().expect("tempdir");
    let store = edge(dir.path(), 1);
    append(&store, 1, 0, 100);
    let mirror = Mirror::start(&store, config(&cluster)).expect("start");
    wait_positions(&store, "central", 1, 100);
    mirror.stop();
    let got = read_target(&cluster.bootstrap_servers(), "edge1.orders", 1, 60);
    assert_eq!(
        offsets_by_partition(&got).get(&0),
        Some(&(40..100).collect::<Vec<u64>>()),
        "exactly the records after the target's progress"
    );
}

#[test]
fn a_failed_transaction_is_aborted_and_sent_again_once() {
    let cluster = cluster(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = edge(dir.path(), 1);
    append(&store, 1, 0, 100);
    // The first produce requests fail for good: the transaction cannot
    // commit. Two, fewer than the aborts a session retries in a row, so the
    // session goes on from its committed positions: it never reads the
    // target's progress again (the mock shows aborted progress records to
    // read-committed consumers, which a real broker never does).
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 2],
    );
    let mut config = config(&cluster);
    config.mode = Mode::ExactlyOnce;
    let mirror = Mirror::start(&store, config).expect("start");
    wait_positions(&store, "central", 1, 100);
    let counters = mirror.stats().counters();
    mirror.stop();
    assert!(counters.aborts >= 1, "the failed transaction was counted: {counters:?}");
    assert!(!counters.errors.is_empty(), "and its error, by code: {counters:?}");
    // librdkafka's mock broker keeps no aborted-transaction index (its
    // read-committed consumers see aborted records, or stall): read the log
    // as written. It holds what the aborted attempts left (if anything),
    // then every record once from the last committed progress (0). Against
    // a broker that hides aborted records, cli/tests/it/mirror_e2e.rs
    // checks exactly once end to end.
    let got = read_target_as(&cluster.bootstrap_servers(), "edge1.orders", 1, 100, "read_uncommitted");
    let offsets = offsets_by_partition(&got).remove(&0).unwrap_or_default();
    let restart = offsets
        .iter()
        .rposition(|o| *o == 0)
        .unwrap_or_else(|| panic!("offset 0 arrived: {} records, offsets {offsets:?}", got.len()));
    let (aborted, committed) = offsets.split_at(restart);
    assert_eq!(
        committed,
        (0..100).collect::<Vec<u64>>().as_slice(),
        "resent once, in order"
    );
    assert!(
        aborted.iter().all(|o| *o < 100),
        "before it, only records of aborted attempts: {aborted:?}"
    );
}

#[test]
fn the_mirror_position_is_a_retention_floor_and_status_reports_it() {
    let cluster = cluster(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = edge(dir.path(), 1);
    append(&store, 1, 0, 10);
    let mirror = Mirror::start(&store, config(&cluster)).expect("start");
    wait_positions(&store, "central", 1, 10);
    mirror.stop();
    let floor = store.consumer_groups().retention_floor("orders", 0).expect("floor");
    assert_eq!(floor, Some(10));
    append(&store, 1, 10, 5);
    let status = millrace_mirror::status(&store, "central").expect("status");
    let p = status.partitions.first().expect("one partition");
    assert_eq!((p.position, p.end, p.lag_records), (10, 15, 5));
    assert!(p.lag_seconds > 0, "records from 2023 are old: {p:?}");
    assert_eq!(status.counters.records, 10);
}
