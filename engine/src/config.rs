//! Store and topic configuration, and the topic metadata file.

use crate::error::{CorruptionKind, Error, Result};
use std::path::Path;
use std::time::Duration;

mod keys;

pub use keys::{topic_config_key, topic_config_key_of_kafka, TopicConfigKey, KAFKA_PREFIX, TOPIC_CONFIG_KEYS};

/// Hard upper bound on one batch, checked before anything is allocated
/// (`log::batch` re-exports it; a topic's sizes are bounded by it).
pub const BATCH_BYTES_MAX: u32 = 64 * 1024 * 1024;

/// When an append is acknowledged, and when its records become visible.
/// See `design/durability.md` for the one-sentence guarantee of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledge after fdatasync. Concurrent appenders share one fsync.
    Always,
    /// Acknowledge after write(2); a background fdatasync runs every `ms`
    /// milliseconds; records become visible after that fdatasync.
    Interval {
        /// Milliseconds between background fdatasyncs.
        ms: u64,
    },
    /// Acknowledge after write(2); the OS decides when to write back.
    /// Records are visible at once. Segments are still fsync'd when sealed.
    Os,
}

impl Durability {
    /// Parse `always`, `os` or `interval:<ms>` (the CLI and config file spelling).
    pub fn parse(text: &str) -> Result<Durability> {
        match text {
            "always" => Ok(Durability::Always),
            "os" => Ok(Durability::Os),
            other => {
                let ms = other
                    .strip_prefix("interval:")
                    .and_then(|ms| ms.strip_suffix("ms").unwrap_or(ms).parse::<u64>().ok())
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| {
                        Error::invalid(
                            "durability",
                            format!("{other:?}: expected `always`, `os` or `interval:<ms>` (e.g. interval:100)"),
                        )
                    })?;
                Ok(Durability::Interval { ms })
            }
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Durability::Always => write!(f, "always"),
            Durability::Interval { ms } => write!(f, "interval:{ms}"),
            Durability::Os => write!(f, "os"),
        }
    }
}

/// What recovery may do with corruption found before the last valid batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Truncate only a torn tail; report any other corruption as an error.
    #[default]
    TornTailOnly,
    /// Operator-requested: truncate the last segment at the first invalid
    /// batch even if valid batches follow (they are lost).
    TruncateCorruptTail,
}

/// Largest `TopicConfig::segment_bytes` (1 GiB).
pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;
/// Smallest `TopicConfig::segment_bytes` (4 KiB).
pub const SEGMENT_BYTES_MIN: u64 = 4096;

/// Options for a whole store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Default durability for topics that do not set their own.
    pub durability: Durability,
    /// Store-wide byte quota over all segment and index files; `None` = unlimited.
    pub quota_bytes: Option<u64>,
    /// What recovery may cut at open (default: only a torn tail).
    pub recovery: RecoveryMode,
    /// How often the background thread enforces retention and age-based rolls.
    pub maintenance_interval: Duration,
    /// Run the background thread (interval flushes, retention). Tests that
    /// drive everything by hand turn it off.
    pub background: bool,
    /// Batches remembered per producer and partition to answer retries as
    /// duplicates (1..=1000). A retry older than this is `OutOfOrderSequence`.
    pub producer_dedup_batches: u32,
    /// A producer with no init or append for this long is forgotten; its next
    /// append fails with `UnknownProducer`.
    pub producer_idle_expiry: Duration,
    /// The idle expiry of anonymous producers (`Producers::init_anonymous`,
    /// Kafka's `InitProducerId` without a transactional id): Kafka's
    /// `producer.id.expiration.ms`, 1 day by default. They have no name to
    /// resume, so they are forgotten then even if partitions remember them.
    pub anonymous_producer_idle_expiry: Duration,
    /// An open transaction older than this cannot commit (it is aborted):
    /// the timeout of [`Store::begin_transaction`](crate::Store::begin_transaction).
    /// At most `transaction_timeout_max` (checked at open).
    pub transaction_timeout: Duration,
    /// The largest per-transaction timeout
    /// [`Store::begin_transaction_with_timeout`](crate::Store::begin_transaction_with_timeout)
    /// accepts (Kafka's `transaction.max.timeout.ms`; 15 minutes by default).
    pub transaction_timeout_max: Duration,
    /// `Always`: a thread whose append waits for a group fsync that another
    /// thread runs keeps its CPU (yielding it in a loop) instead of sleeping,
    /// for up to three of the partition's recent fsync times, as long as
    /// those three fit in this bound; else, and with `Duration::ZERO`, it
    /// sleeps at once. Only in groups of 8 or more appends, where the
    /// wake-ups add up. Spinning trades idle CPU for throughput: on the
    /// benchmark machine 16 appenders did 1.2–1.6 × the appends per second,
    /// using both vCPUs instead of one (design/performance.md, run 10).
    /// At most `GROUP_COMMIT_SPIN_MAX`.
    pub group_commit_spin: Duration,
    /// Most consumer groups with committed offsets: a commit that would add
    /// one more is refused with [`crate::Error::GroupLimit`] (delete groups
    /// with [`crate::Store::delete_group`]). The store's own groups (`__*`)
    /// are never refused. Bounds what a consume token can make the store
    /// keep (memory, disk, listing sizes).
    pub groups_max: usize,
}

/// Default of [`StoreOptions::groups_max`].
pub const GROUPS_MAX_DEFAULT: usize = 10_000;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Always,
            quota_bytes: None,
            recovery: RecoveryMode::TornTailOnly,
            maintenance_interval: Duration::from_secs(1),
            background: true,
            producer_dedup_batches: 5,
            producer_idle_expiry: Duration::from_secs(7 * 24 * 3600),
            anonymous_producer_idle_expiry: Duration::from_secs(24 * 3600),
            transaction_timeout: Duration::from_secs(60),
            transaction_timeout_max: Duration::from_secs(15 * 60),
            group_commit_spin: Duration::from_micros(500),
            groups_max: GROUPS_MAX_DEFAULT,
        }
    }
}

/// Which time a topic's records carry (Kafka's `message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's timestamp (the append time when it gave none).
    #[default]
    Create,
    /// The append time, whatever the producer gave: every record of a batch
    /// carries the time the partition appended it (a transaction's, the time
    /// its commit applies it).
    LogAppend,
}

impl TimestampType {
    /// Parse `create` / `log-append`, or Kafka's `CreateTime` / `LogAppendTime`.
    pub fn parse(text: &str) -> Option<TimestampType> {
        match text {
            "create" | "CreateTime" => Some(TimestampType::Create),
            "log-append" | "LogAppendTime" => Some(TimestampType::LogAppend),
            _ => None,
        }
    }

    /// Kafka's name: `CreateTime` or `LogAppendTime`.
    pub fn kafka_name(self) -> &'static str {
        match self {
            TimestampType::Create => "CreateTime",
            TimestampType::LogAppend => "LogAppendTime",
        }
    }
}

impl std::fmt::Display for TimestampType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimestampType::Create => "create",
            TimestampType::LogAppend => "log-append",
        })
    }
}

/// Configuration of one topic, stored in `topic.meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// Number of partitions (1..=`PARTITIONS_MAX`); fixed at creation.
    pub partitions: u32,
    /// `None` = the store's default.
    pub durability: Option<Durability>,
    /// A segment is sealed and a new one started past this size.
    pub segment_bytes: u64,
    /// Roll the active segment once it is this old (and not empty).
    pub segment_age_ms: Option<u64>,
    /// Sealed segments older than this are deleted; `None` keeps them.
    pub retention_ms: Option<u64>,
    /// Per-partition retention by total bytes.
    pub retention_bytes: Option<u64>,
    /// Largest record (key, value and headers encoded), refused above.
    pub record_bytes_max: u32,
    /// Bytes of log between two index entries.
    pub index_interval_bytes: u32,
    /// Routing rule: a record refused by producer-side validation (too large
    /// for `record_bytes_max`, bad header) goes to the topic's DLQ with stage
    /// `produce` instead of failing the append (`Store::append_routed`).
    pub route_invalid_to_dlq: bool,
    /// Which time records carry: the producer's (default) or the append time.
    pub timestamp_type: TimestampType,
    /// The topic's byte quota over all its partitions' segment files (as
    /// the store quota counts them): an append that would take the topic
    /// past it is refused with `QuotaExceeded` naming the topic, and
    /// nothing is written (JetStream's `max_bytes` with discard=new).
    /// Retention still deletes as configured. `None`: only the store quota.
    pub quota_bytes: Option<u64>,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            partitions: 1,
            durability: None,
            segment_bytes: 64 * 1024 * 1024,
            segment_age_ms: None,
            retention_ms: None,
            retention_bytes: None,
            record_bytes_max: 1024 * 1024,
            index_interval_bytes: 4096,
            route_invalid_to_dlq: false,
            timestamp_type: TimestampType::Create,
            quota_bytes: None,
        }
    }
}

/// Most partitions a topic may have.
pub const PARTITIONS_MAX: u32 = 4096;

impl TopicConfig {
    /// The default configuration with `partitions` partitions.
    pub fn with_partitions(partitions: u32) -> Self {
        TopicConfig {
            partitions,
            ..TopicConfig::default()
        }
    }

    /// Largest batch (header included) a partition of this topic accepts:
    /// a batch never spans segments, and no batch exceeds the format's bound.
    pub fn batch_bytes_max(&self) -> u64 {
        self.segment_bytes.min(u64::from(BATCH_BYTES_MAX))
    }

    /// Reject (never clamp) configuration the engine cannot honour.
    pub fn validate(&self) -> Result<()> {
        if self.partitions == 0 || self.partitions > PARTITIONS_MAX {
            return Err(Error::invalid(
                "partitions",
                format!("{} (must be 1..={PARTITIONS_MAX})", self.partitions),
            ));
        }
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&self.segment_bytes) {
            return Err(Error::invalid(
                "segment_bytes",
                format!(
                    "{} (must be {SEGMENT_BYTES_MIN}..={SEGMENT_BYTES_MAX})",
                    self.segment_bytes
                ),
            ));
        }
        if self.record_bytes_max == 0 || self.record_bytes_max > BATCH_BYTES_MAX / 2 {
            return Err(Error::invalid(
                "record_bytes_max",
                format!("{} (must be 1..={})", self.record_bytes_max, BATCH_BYTES_MAX / 2),
            ));
        }
        if self.index_interval_bytes == 0 {
            return Err(Error::invalid("index_interval_bytes", "must be positive"));
        }
        if self.quota_bytes == Some(0) {
            return Err(Error::invalid("quota_bytes", "0 (must be at least 1, or `none`)"));
        }
        if let Some(Durability::Interval { ms: 0 }) = self.durability {
            return Err(Error::invalid("durability", "interval must be positive"));
        }
        Ok(())
    }

    /// `key=value` lines, then `crc32=<hex>` over everything before it.
    pub fn encode(&self) -> Vec<u8> {
        let mut text = String::new();
        text.push_str("format=1\n");
        text.push_str(&format!("partitions={}\n", self.partitions));
        for key in &TOPIC_CONFIG_KEYS {
            if key.written_only_when_set && key.is_absent(self) {
                continue;
            }
            text.push_str(&format!("{}={}\n", key.key, key.print(self)));
        }
        let crc = crc32fast::hash(text.as_bytes());
        text.push_str(&format!("crc32={crc:08x}\n"));
        text.into_bytes()
    }

    /// Rebuild a damaged `topic.meta` (`millrace repair`): each line that
    /// still parses to a valid value is kept, except retention, which becomes
    /// "forever" (a guessed retention could delete records); `partitions` is
    /// the number of partition directories on disk.
    pub fn salvage(bytes: &[u8], partitions_on_disk: u32) -> TopicConfig {
        let mut config = TopicConfig {
            partitions: partitions_on_disk.clamp(1, PARTITIONS_MAX),
            ..TopicConfig::default()
        };
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            // Retention is never salvaged (see above); `partitions` is the disk's.
            if matches!(key, "retention_ms" | "retention_bytes") {
                continue;
            }
            let mut candidate = config.clone();
            let parsed = topic_config_key(key).is_some_and(|k| k.set(&mut candidate, value).is_ok());
            if parsed && candidate.validate().is_ok() {
                config = candidate;
            }
        }
        config
    }

    /// Decode a `topic.meta` file read from `path` (its checksum and fields checked).
    pub fn decode(bytes: &[u8], path: &Path) -> Result<TopicConfig> {
        let bad = || Error::corruption(path, 0, CorruptionKind::BadMetadata);
        let text = std::str::from_utf8(bytes).map_err(|_| bad())?;
        let body_end = text.rfind("crc32=").ok_or_else(bad)?;
        let (body, crc_line) = text.split_at(body_end);
        let crc = u32::from_str_radix(crc_line.trim_start_matches("crc32=").trim(), 16).map_err(|_| bad())?;
        if crc32fast::hash(body.as_bytes()) != crc {
            return Err(bad());
        }
        let mut config = TopicConfig::default();
        for line in body.lines() {
            let (key, value) = line.split_once('=').ok_or_else(bad)?;
            match key {
                "format" if value == "1" => {}
                "partitions" => config.partitions = value.parse().map_err(|_| bad())?,
                key => topic_config_key(key)
                    .ok_or_else(bad)?
                    .set(&mut config, value)
                    .map_err(|_| bad())?,
            }
        }
        config.validate().map_err(|_| bad())?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_roundtrip_and_crc() {
        let config = TopicConfig {
            partitions: 3,
            durability: Some(Durability::Interval { ms: 50 }),
            retention_ms: Some(1000),
            ..TopicConfig::default()
        };
        let bytes = config.encode();
        let path = Path::new("topic.meta");
        assert_eq!(TopicConfig::decode(&bytes, path).unwrap(), config);
        let mut bad = bytes.clone();
        bad[12] ^= 1;
        assert!(matches!(
            TopicConfig::decode(&bad, path),
            Err(Error::Corruption {
                kind: CorruptionKind::BadMetadata,
                ..
            })
        ));
    }

    /// `topic.meta` is written from the key table byte for byte as format 1
    /// was: every key in its order, `route_invalid_to_dlq` only when set.
    #[test]
    fn meta_text_is_format_1() {
        let text = String::from_utf8(TopicConfig::default().encode()).unwrap();
        let body = "format=1\npartitions=1\ndurability=default\nsegment_bytes=67108864\nsegment_age_ms=none\n\
                    retention_ms=none\nretention_bytes=none\nrecord_bytes_max=1048576\nindex_interval_bytes=4096\n";
        assert_eq!(text, format!("{body}crc32={:08x}\n", crc32fast::hash(body.as_bytes())));
        let routed = TopicConfig {
            route_invalid_to_dlq: true,
            ..TopicConfig::default()
        };
        let text = String::from_utf8(routed.encode()).unwrap();
        assert!(
            text.contains("index_interval_bytes=4096\nroute_invalid_to_dlq=true\ncrc32="),
            "{text}"
        );
    }

    /// A log-append-time topic writes one more line; a file without it
    /// (every older store) reads as create time.
    #[test]
    fn timestamp_type_is_written_only_for_log_append_and_absent_reads_as_create() {
        let config = TopicConfig {
            timestamp_type: TimestampType::LogAppend,
            ..TopicConfig::default()
        };
        let text = String::from_utf8(config.encode()).unwrap();
        assert!(
            text.contains("index_interval_bytes=4096\ntimestamp_type=log-append\ncrc32="),
            "{text}"
        );
        let path = Path::new("topic.meta");
        assert_eq!(TopicConfig::decode(text.as_bytes(), path).unwrap(), config);
        let old = TopicConfig::default().encode();
        assert_eq!(
            TopicConfig::decode(&old, path).unwrap().timestamp_type,
            TimestampType::Create
        );
        let mut kafka = TopicConfig::default();
        kafka.set("timestamp_type", "LogAppendTime").unwrap();
        assert_eq!(kafka.timestamp_type, TimestampType::LogAppend);
    }

    #[test]
    fn durability_parse() {
        assert_eq!(Durability::parse("always").unwrap(), Durability::Always);
        assert_eq!(
            Durability::parse("interval:20").unwrap(),
            Durability::Interval { ms: 20 }
        );
        assert!(Durability::parse("interval:0").is_err());
        assert!(Durability::parse("sometimes").is_err());
    }
}
