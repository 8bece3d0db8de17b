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

/// Everything one mirror needs.
#[derive(Debug, Clone)]
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
    /// Most key and value bytes per second (0: no limit).
    pub rate_limit_bytes: u64,
    /// Progress topic on the target.
    pub progress_topic: String,
    /// Create missing target topics (same partition count) and the progress topic.
    pub create_topics: bool,
    /// Most records in one transaction (or at-least-once batch).
    pub batch_records: usize,
    /// Most key and value bytes in one transaction. Default 768 KiB: a
    /// Millrace target writes a whole Kafka transaction as one commit
    /// record of its `__transactions` topic, whose record limit was 1 MiB
    /// before 2026-12-07 (a larger one failed at EndTxn with
    /// MESSAGE_TOO_LARGE there).
    pub batch_bytes: usize,
    /// First and longest wait before reconnecting after a failure.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Timeout of each call to the target (init, commit, metadata).
    pub request_timeout: Duration,
    /// Extra librdkafka properties (SASL, TLS, ...).
    pub kafka: BTreeMap<String, String>,
    /// The central schema registry (`http://host:port`): keys and values in
    /// Confluent wire format get their schema id translated to it
    /// (`registry.rs`). `None`: bytes copied unchanged.
    pub registry_to: Option<String>,
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
            rate_limit_bytes: 0,
            progress_topic: PROGRESS_TOPIC_DEFAULT.to_string(),
            create_topics: true,
            batch_records: 5_000,
            batch_bytes: 768 * 1024,
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
        if self.batch_records == 0 || self.batch_bytes == 0 {
            return Err(MirrorError::Config(
                "batch_records and batch_bytes must be positive".into(),
            ));
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

    /// The transactional id of shard `shard`.
    pub fn transactional_id(&self, shard: u32) -> String {
        format!("millrace-mirror/{}/{}", self.edge_id, shard)
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
    fn edge_ids_are_checked() {
        let mut config = MirrorConfig::new("m", "localhost:9092", "edge/1");
        assert!(config.validate().is_err());
        config.edge_id = "edge-1".into();
        assert!(config.validate().is_ok());
        assert_eq!(config.transactional_id(3), "millrace-mirror/edge-1/3");
    }
}
