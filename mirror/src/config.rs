//! A mirror's settings (`millrace mirror` flags, `[[mirror]]` sections).

use crate::error::{MirrorError, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// Default progress topic on the target (compacted when the target allows).
pub const PROGRESS_TOPIC_DEFAULT: &str = "__millrace_mirror_progress";
/// Default topic selection: every user topic (DLQs only when selected).
pub const TOPICS_DEFAULT: &str = "[^_].*";

/// How records reach the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Kafka transactions: each carries a batch and the progress record of
    /// every partition in it; resume reads the progress read-committed.
    ExactlyOnce,
    /// Idempotent producer, no transactions (targets without them): the
    /// position is kept on the edge only after every record of a batch is
    /// acknowledged; a crash between the two sends the batch again
    /// (dedupe downstream with the provenance headers).
    AtLeastOnce,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Mode, String> {
        match text {
            "exactly-once" => Ok(Mode::ExactlyOnce),
            "at-least-once" => Ok(Mode::AtLeastOnce),
            other => Err(format!("{other:?}: expected exactly-once or at-least-once")),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::ExactlyOnce => "exactly-once",
            Mode::AtLeastOnce => "at-least-once",
        })
    }
}

/// Default most key and value bytes of one transaction (`--batch-bytes`):
/// 768 KiB works against every Millrace target (one last opened by a build
/// before 2026-12-07 refuses commit records of 1 MiB or more), and larger
/// transactions measured no faster (design/mirror.md, "Throughput").
pub const BATCH_BYTES_DEFAULT: usize = 768 * 1024;
/// Highest `--batch-bytes`: a Millrace target writes a whole Kafka
/// transaction as one commit record of its `__transactions` topic, whose
/// record limit is 32 MiB; a transaction's records also need headers and
/// the progress records, so this stays below it.
pub const BATCH_BYTES_MAX: usize = 24 * 1024 * 1024;

/// Whether librdkafka property `key` holds a secret (a password, a private
/// key, a token): its value is never printed (logs, `Debug`, errors).
pub fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas",
        "token",
        "key.pem",
        "keystore",
        "credential",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// Everything one mirror needs. Its `Debug` shows the values of secret
/// target properties ([`is_secret_property`]) as `<redacted>`.
#[derive(Clone)]
pub struct MirrorConfig {
    /// Its name: its positions on the edge are the group `__mirror.<name>`.
    pub name: String,
    /// Target bootstrap servers.
    pub bootstrap: String,
    /// Topics mirrored: a regular expression matched against the whole name.
    pub topics: String,
    /// Prefix of target topic names.
    pub prefix: String,
    /// This edge's id (transactional ids, progress keys, provenance).
    pub edge_id: String,
    /// Exactly once (default) or at least once.
    pub mode: Mode,
    /// Shards: each a producer (and transactional id) for a share of the
    /// partitions.
    pub shards: u32,
    /// Exactly once: transactional producers per shard taking turns (1 or
    /// 2, default 2): with 2 a batch is sent while the one before commits
    /// (design/mirror.md, "Two lanes, one order"), which pays on a link
    /// with latency and costs some CPU on both sides.
    pub lanes: u32,
    /// Most key and value bytes per second (0: no limit).
    pub rate_limit_bytes: u64,
    /// Progress topic on the target.
    pub progress_topic: String,
    /// Create missing target topics (same partition count) and the progress topic.
    pub create_topics: bool,
    /// Most records in one transaction (or at-least-once batch).
    pub batch_records: usize,
    /// Most key and value bytes in one transaction (`--batch-bytes`),
    /// [`BATCH_BYTES_DEFAULT`], at most [`BATCH_BYTES_MAX`]. A Millrace
    /// target writes a whole Kafka transaction as one commit record of its
    /// `__transactions` topic: a store last opened by a build before
    /// 2026-12-07 had a 1 MiB record limit there (raised at its next
    /// commit by newer builds), hence the default.
    pub batch_bytes: usize,
    /// First and longest wait before reconnecting after a failure.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Timeout of each call to the target (init, commit, metadata).
    pub request_timeout: Duration,
    /// Extra librdkafka properties of every connection to the target
    /// (`--to-config KEY=VALUE`, `to_config` in `[[mirror]]`): SASL, TLS,
    /// producer tuning. They override the mirror's own settings, except
    /// those exactly once depends on (`transactional.id`,
    /// `enable.idempotence`, `acks`, `isolation.level`), which are refused.
    pub kafka: BTreeMap<String, String>,
    /// The central schema registry (`http://host:port`): keys and values in
    /// Confluent wire format get their schema id translated to it
    /// (`registry.rs`). `None`: bytes copied unchanged.
    pub registry_to: Option<String>,
}

/// Target properties the mirror sets itself and does not let an operator
/// change: exactly once (and at-least-once's ordering) depend on them.
const RESERVED_PROPERTIES: [&str; 5] = [
    "transactional.id",
    "enable.idempotence",
    "acks",
    "isolation.level",
    "bootstrap.servers",
];

/// The target properties with every secret value replaced.
pub fn redacted(properties: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    properties
        .iter()
        .map(|(k, v)| {
            let shown = if is_secret_property(k) {
                "<redacted>"
            } else {
                v.as_str()
            };
            (k.as_str(), shown)
        })
        .collect()
}

impl std::fmt::Debug for MirrorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorConfig")
            .field("name", &self.name)
            .field("bootstrap", &self.bootstrap)
            .field("topics", &self.topics)
            .field("prefix", &self.prefix)
            .field("edge_id", &self.edge_id)
            .field("mode", &self.mode)
            .field("shards", &self.shards)
            .field("lanes", &self.lanes)
            .field("rate_limit_bytes", &self.rate_limit_bytes)
            .field("progress_topic", &self.progress_topic)
            .field("create_topics", &self.create_topics)
            .field("batch_records", &self.batch_records)
            .field("batch_bytes", &self.batch_bytes)
            .field("backoff_min", &self.backoff_min)
            .field("backoff_max", &self.backoff_max)
            .field("request_timeout", &self.request_timeout)
            .field("kafka", &redacted(&self.kafka))
            .field("registry_to", &self.registry_to.as_deref().map(redact_url))
            .finish()
    }
}

/// A URL with its `user:password@` part's password hidden.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if !userinfo.contains('/') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:<redacted>@{host}")
        }
        _ => url.to_string(),
    }
}

impl MirrorConfig {
    /// A mirror of the user topics to `bootstrap` with the defaults.
    pub fn new(name: &str, bootstrap: &str, edge_id: &str) -> MirrorConfig {
        MirrorConfig {
            name: name.to_string(),
            bootstrap: bootstrap.to_string(),
            topics: TOPICS_DEFAULT.to_string(),
            prefix: String::new(),
            edge_id: edge_id.to_string(),
            mode: Mode::ExactlyOnce,
            shards: 1,
            lanes: 2,
            rate_limit_bytes: 0,
            progress_topic: PROGRESS_TOPIC_DEFAULT.to_string(),
            create_topics: true,
            batch_records: 5_000,
            batch_bytes: BATCH_BYTES_DEFAULT,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            kafka: BTreeMap::new(),
            registry_to: None,
        }
    }

    /// The compiled topic selection (anchored: the whole name must match).
    pub fn selection(&self) -> Result<regex::Regex> {
        regex::Regex::new(&format!("^(?:{})$", self.topics))
            .map_err(|e| MirrorError::Config(format!("--topics {:?}: {e}", self.topics)))
    }

    /// Refuse what cannot work, before anything starts.
    pub fn validate(&self) -> Result<()> {
        millrace::names::validate_group_name(&self.name)
            .map_err(|e| MirrorError::Config(format!("mirror name {:?}: {e}", self.name)))?;
        if self.bootstrap.trim().is_empty() {
            return Err(MirrorError::Config("--to: give the target's bootstrap servers".into()));
        }
        let edge_ok = !self.edge_id.is_empty()
            && self.edge_id.len() <= 100
            && self
                .edge_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
        if !edge_ok {
            return Err(MirrorError::Config(format!(
                "edge id {:?}: use 1 to 100 characters of A-Z a-z 0-9 . _ -",
                self.edge_id
            )));
        }
        if self.shards == 0 || self.shards > 256 {
            return Err(MirrorError::Config(format!(
                "shards {}: must be in 1..=256",
                self.shards
            )));
        }
        if !(1..=2).contains(&self.lanes) {
            return Err(MirrorError::Config(format!("lanes {}: must be 1 or 2", self.lanes)));
        }
        if self.batch_records == 0 || self.batch_bytes == 0 {
            return Err(MirrorError::Config(
                "batch_records and batch_bytes must be positive".into(),
            ));
        }
        if self.batch_bytes > BATCH_BYTES_MAX {
            return Err(MirrorError::Config(format!(
                "batch_bytes {}: at most {BATCH_BYTES_MAX} (a Millrace target's transaction commit record is at most 32 MiB)",
                self.batch_bytes
            )));
        }
        for key in self.kafka.keys() {
            if RESERVED_PROPERTIES.contains(&key.as_str()) {
                return Err(MirrorError::Config(format!(
                    "target property {key}: set by the mirror (its delivery guarantee depends on it)"
                )));
            }
        }
        if self.progress_topic.is_empty() {
            return Err(MirrorError::Config("progress topic: give a name".into()));
        }
        self.selection()?;
        if let Some(url) = &self.registry_to {
            crate::registry::RegistryUrl::parse(url)?;
        }
        Ok(())
    }

    /// The transactional id of shard `shard`'s producer `lane` (exactly
    /// once runs two per shard taking turns, design/mirror.md "Exactly
    /// once"): lane 0 keeps the id of a mirror with one producer per shard
    /// (`millrace-mirror/<edge>/<shard>`), lane 1 adds `/1`.
    pub fn transactional_id(&self, shard: u32, lane: u32) -> String {
        match lane {
            0 => format!("millrace-mirror/{}/{}", self.edge_id, shard),
            _ => format!("millrace-mirror/{}/{}/{}", self.edge_id, shard, lane),
        }
    }

    /// The target topic of source topic `topic`.
    pub fn target_topic(&self, topic: &str) -> String {
        format!("{}{}", self.prefix, topic)
    }

    /// Whether source topic `topic` is mirrored: selected, and a user topic
    /// or a DLQ (the store's other internal topics never are).
    pub fn selects(&self, selection: &regex::Regex, topic: &str) -> bool {
        let eligible = !millrace::names::is_internal(topic) || topic.starts_with("__dlq.");
        eligible && selection.is_match(topic)
    }

    /// The shard that mirrors a partition (a stable hash of topic and
    /// partition: the same across restarts with the same shard count).
    pub fn shard_of(&self, topic: &str, partition: u32) -> u32 {
        let mut hash: u32 = 0x811c_9dc5;
        for b in topic.bytes().chain(partition.to_le_bytes()) {
            hash ^= u32::from(b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        hash % self.shards.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_is_anchored_and_keeps_internal_topics_out() {
        let config = MirrorConfig::new("m", "localhost:9092", "edge-1");
        let selection = config.selection().expect("default compiles");
        assert!(config.selects(&selection, "orders"));
        assert!(!config.selects(&selection, "__dlq.orders"), "DLQs only when selected");
        assert!(!config.selects(&selection, "__offsets"));
        let all = MirrorConfig {
            topics: ".*".into(),
            ..config.clone()
        };
        let selection = all.selection().expect("compiles");
        assert!(all.selects(&selection, "__dlq.orders"));
        assert!(!all.selects(&selection, "__offsets"), "the store's own topics never");
        let some = MirrorConfig {
            topics: "ord".into(),
            ..config
        };
        let selection = some.selection().expect("compiles");
        assert!(!some.selects(&selection, "orders"), "the whole name must match");
    }

    #[test]
    fn secrets_never_show_in_debug_and_reserved_properties_are_refused() {
        let mut config = MirrorConfig::new("m", "localhost:9092", "edge-1");
        config.kafka.insert("sasl.username".into(), "admin".into());
        config
            .kafka
            .insert("sasl.password".into(), "hunter2-secret-value".into());
        config.kafka.insert("ssl.key.password".into(), "pem-pass-value".into());
        config.registry_to = Some("http://u:reg-pass-value@h:8081".into());
        let shown = format!("{config:?}");
        assert!(shown.contains("admin"), "{shown}");
        for secret in ["hunter2-secret-value", "pem-pass-value", "reg-pass-value"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(config.validate().is_ok());
        config.kafka.insert("enable.idempotence".into(), "false".into());
        assert!(config.validate().is_err());
        config.kafka.remove("enable.idempotence");
        config.batch_bytes = BATCH_BYTES_MAX + 1;
        assert!(config.validate().is_err());
    }

    #[test]
    fn edge_ids_are_checked() {
        let mut config = MirrorConfig::new("m", "localhost:9092", "edge/1");
        assert!(config.validate().is_err());
        config.edge_id = "edge-1".into();
        assert!(config.validate().is_ok());
        assert_eq!(config.transactional_id(3, 0), "millrace-mirror/edge-1/3");
        assert_eq!(config.transactional_id(3, 1), "millrace-mirror/edge-1/3/1");
    }
}
