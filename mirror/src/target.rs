//! The target cluster through librdkafka: the producer (transactional or
//! idempotent), topic creation, partition counts, and the progress topic
//! (its keys, and reading it read-committed to its end).

use crate::config::{MirrorConfig, Mode};
use crate::error::{MirrorError, Result};
use crate::stats::MirrorStats;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts failed deliveries by code.
pub(crate) struct Delivery {
    pub stats: Arc<MirrorStats>,
}

impl ClientContext for Delivery {
    /// An error librdkafka reports outside any call (authentication
    /// refused, every broker down): counted and kept, so the session's own
    /// error (often a bare timeout) can say why. Never holds a property
    /// value: librdkafka names the mechanism and user, not the password.
    fn error(&self, error: KafkaError, reason: &str) {
        let code = error
            .rdkafka_error_code()
            .map_or_else(|| "client".to_string(), |c| format!("{c:?}"));
        tracing::warn!(%error, reason, "target connection error");
        self.stats.client_error(&code, format!("{error}: {reason}"));
    }
}

impl ProducerContext for Delivery {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if let Err((e, message)) = result {
            let code = e
                .rdkafka_error_code()
                .map_or_else(|| "unknown".to_string(), |c| format!("{c:?}"));
            self.stats.error(
                &code,
                format!("delivery to {}/{} failed: {e}", message.topic(), message.partition()),
            );
        }
    }
}

/// A producer with rdkafka's polling thread. Its drop waits for that
/// thread, which polls 100 ms at a time: a session's end drops its
/// producers on a thread of its own ([`drop_aside`]). (A producer polled
/// in shorter steps stops sooner but costs CPU while idle: rdkafka 0.39's
/// `poll` spins through the last millisecond of each step, 10 % of a core
/// per producer at 10 ms steps.)
pub(crate) type MirrorProducer = ThreadedProducer<Delivery>;

/// Drop `value` (producers, an admin client) on a thread of its own, so
/// that its wait for rdkafka's polling thread (up to 100 ms each) is off
/// the caller's path; at a process's exit it may never finish, which
/// loses nothing (no transaction is open when producers are dropped).
pub(crate) fn drop_aside<T: Send + 'static>(value: T) {
    if let Err(e) = std::thread::Builder::new()
        .name("millrace-mirror-drop".to_string())
        .spawn(move || drop(value))
    {
        tracing::debug!(error = %e, "dropped in place");
    }
}

/// The producer's own settings (design/mirror.md, "Throughput"); any of
/// them can be overridden with `--to-config`.
const PRODUCER_DEFAULTS: [(&str, &str); 4] = [
    ("linger.ms", "1"),
    ("message.timeout.ms", "30000"),
    ("compression.type", "none"),
    ("transaction.timeout.ms", "60000"),
];

/// The client settings every connection of this mirror shares.
fn client_config(config: &MirrorConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.bootstrap)
        .set("client.id", format!("millrace-mirror-{}", config.edge_id))
        .set("socket.timeout.ms", "10000")
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "5000")
        // Connect to every broker the metadata names at once. With sparse
        // connections (librdkafka's default) a producer that finds no
        // connected broker when it looks for its transaction coordinator
        // often waits for its 500 ms coordinator timer before connecting
        // one: 4 of 4 session starts in one measurement (design/mirror.md,
        // "Throughput", s12).
        .set("enable.sparse.connections", "false");
    for (key, value) in &config.kafka {
        c.set(key, value);
    }
    c
}

/// The shard's producer `lane`: transactional (`transactional.id =
/// millrace-mirror/<edge>/<shard>[/<lane>]`, initialised: any earlier
/// instance is fenced and its open transaction aborted) or idempotent.
pub(crate) fn producer(
    config: &MirrorConfig,
    shard: u32,
    lane: u32,
    stats: Arc<MirrorStats>,
) -> Result<MirrorProducer> {
    let mut c = client_config(config);
    for (key, value) in PRODUCER_DEFAULTS {
        c.set(key, value);
    }
    // The operator's properties win over the defaults above (the ones the
    // guarantees depend on are refused by `MirrorConfig::validate`).
    for (key, value) in &config.kafka {
        c.set(key, value);
    }
    c.set("enable.idempotence", "true").set("acks", "all");
    if config.mode == Mode::ExactlyOnce {
        c.set("transactional.id", config.transactional_id(shard, lane));
    }
    let began = Instant::now();
    let producer: MirrorProducer = c.create_with_context(Delivery { stats })?;
    if config.mode == Mode::ExactlyOnce {
        rdkafka::producer::Producer::init_transactions(&producer, config.request_timeout)?;
    }
    tracing::debug!(shard, lane, us = began.elapsed().as_micros(), "lane initialised");
    Ok(producer)
}

/// An admin client of the target: topic metadata and creation. Dropped
/// on a thread of its own ([`drop_aside`]): rdkafka's `AdminClient` waits
/// for its polling thread when dropped, which polls 100 ms at a time
/// (rdkafka 0.39), so each topic creation took 100 ms longer than the
/// creation itself.
pub(crate) struct Admin {
    client: Option<AdminClient<DefaultClientContext>>,
    runtime: tokio::runtime::Runtime,
}

impl Admin {
    pub(crate) fn new(config: &MirrorConfig) -> Result<Admin> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| MirrorError::Target(format!("admin runtime: {e}")))?;
        Ok(Admin {
            client: Some(client_config(config).create()?),
            runtime,
        })
    }

    fn client(&self) -> Result<&AdminClient<DefaultClientContext>> {
        self.client
            .as_ref()
            .ok_or_else(|| MirrorError::Target("admin client dropped".to_string()))
    }

    /// Partition count of `topic` on the target (`None`: it does not exist).
    pub(crate) fn partition_count(&self, topic: &str, timeout: Duration) -> Result<Option<u32>> {
        let metadata = self.client()?.inner().fetch_metadata(Some(topic), timeout)?;
        let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Ok(None);
        };
        match t.error() {
            None => Ok(Some(u32::try_from(t.partitions().len()).unwrap_or(u32::MAX))),
            Some(e) if RDKafkaErrorCode::from(e) == RDKafkaErrorCode::UnknownTopicOrPartition => Ok(None),
            Some(e) => Err(MirrorError::Target(format!(
                "topic {topic}: {}",
                RDKafkaErrorCode::from(e)
            ))),
        }
    }

    /// Create `topic` with `partitions` partitions (the cluster's
    /// replication factor), and `compact` as its cleanup policy when asked
    /// and the target takes it (a target that refuses the config, as
    /// Millrace's Kafka front does, gets the topic without it). Existing
    /// already is fine; `true` when this call created it.
    pub(crate) fn create_topic(
        &self,
        config: &MirrorConfig,
        topic: &str,
        partitions: u32,
        compact: bool,
    ) -> Result<bool> {
        let admin = self.client()?;
        let options = AdminOptions::new().operation_timeout(Some(config.request_timeout));
        let count = i32::try_from(partitions).unwrap_or(i32::MAX);
        let attempt = |with_compaction: bool| {
            let mut new = NewTopic::new(topic, count, TopicReplication::Fixed(-1));
            if with_compaction {
                new = new.set("cleanup.policy", "compact");
            }
            self.runtime.block_on(admin.create_topics([&new], &options))
        };
        let mut results = attempt(compact)?;
        if compact && matches!(results.first(), Some(Err((_, RDKafkaErrorCode::InvalidConfig)))) {
            tracing::info!(
                topic,
                "the target refused cleanup.policy=compact: progress topic created without compaction"
            );
            results = attempt(false)?;
        }
        match results.first() {
            Some(Ok(_)) => Ok(true),
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => Ok(false),
            Some(Err((_, code))) => Err(MirrorError::Target(format!("create topic {topic}: {code}"))),
        }
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop_aside(client);
        }
    }
}

/// The key of a progress record.
pub(crate) fn progress_key(edge: &str, topic: &str, partition: u32) -> String {
    format!("{edge}/{topic}/{partition}")
}

/// Parse a progress record of edge `edge` (others' are `None`).
pub(crate) fn parse_progress(edge: &str, key: &[u8], value: Option<&[u8]>) -> Option<((String, u32), Option<u64>)> {
    let key = std::str::from_utf8(key).ok()?;
    let rest = key.strip_prefix(edge)?.strip_prefix('/')?;
    let (topic, partition) = rest.rsplit_once('/')?;
    let partition = partition.parse().ok()?;
    let offset = value.and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
    Some(((topic.to_string(), partition), offset))
}

/// Edge `edge`'s progress on the target: the last committed next-offset per
/// source partition, read read-committed to the end the topic had when the
/// read began (call after `init_transactions`, which settles this shard's
/// own last transaction). `None` for a target without the topic.
pub(crate) fn read_progress(config: &MirrorConfig) -> Result<BTreeMap<(String, u32), u64>> {
    let mut c = client_config(config);
    c.set("group.id", format!("millrace-mirror-progress-{}", config.edge_id))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true");
    let consumer: BaseConsumer = c.create()?;
    let topic = config.progress_topic.as_str();
    let metadata = consumer.fetch_metadata(Some(topic), config.request_timeout)?;
    let Some(t) = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
    else {
        return Ok(BTreeMap::new());
    };
    let mut list = TopicPartitionList::new();
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for p in t.partitions() {
        let (low, high) = consumer.fetch_watermarks(topic, p.id(), config.request_timeout)?;
        if high > low {
            ends.insert(p.id(), high);
            list.add_partition_offset(topic, p.id(), Offset::Beginning)?;
        }
    }
    let mut progress = BTreeMap::new();
    if ends.is_empty() {
        return Ok(progress);
    }
    consumer.assign(&list)?;
    let deadline = Instant::now() + config.request_timeout * 3;
    let mut done: BTreeMap<i32, bool> = ends.keys().map(|p| (*p, false)).collect();
    while done.values().any(|d| !d) {
        if Instant::now() > deadline {
            return Err(MirrorError::Target(format!(
                "progress topic {topic}: not read to its end within {:?} (an open transaction of another writer?)",
                config.request_timeout * 3
            )));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                if let Some(key) = m.key() {
                    if let Some((source, offset)) = parse_progress(&config.edge_id, key, m.payload()) {
                        match offset {
                            Some(offset) => progress.insert(source, offset),
                            None => progress.remove(&source),
                        };
                    }
                }
                if ends.get(&m.partition()).is_some_and(|end| m.offset() + 1 >= *end) {
                    done.insert(m.partition(), true);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                // Read-committed EOF is the last stable offset: done once it
                // reached the end seen at the start.
                let position = consumer.position()?;
                let at = position
                    .find_partition(topic, p)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    })
                    .unwrap_or(0);
                if ends.get(&p).is_some_and(|end| at >= *end) {
                    done.insert(p, true);
                }
            }
            Some(Err(e)) => return Err(e.into()),
        }
    }
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_keys_round_trip_and_other_edges_are_ignored() {
        let key = progress_key("edge-1", "__dlq.orders", 7);
        assert_eq!(key, "edge-1/__dlq.orders/7");
        assert_eq!(
            parse_progress("edge-1", key.as_bytes(), Some(b"42")),
            Some((("__dlq.orders".to_string(), 7), Some(42)))
        );
        assert_eq!(parse_progress("edge-2", key.as_bytes(), Some(b"42")), None);
        assert_eq!(
            parse_progress("edge", key.as_bytes(), Some(b"42")),
            None,
            "a prefix of another id"
        );
        assert_eq!(
            parse_progress("edge-1", key.as_bytes(), Some(b"x")),
            Some((("__dlq.orders".to_string(), 7), None))
        );
    }
}
