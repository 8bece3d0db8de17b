//! The `[[mirror]]` sections of the server configuration: mirrors of this
//! store into a Kafka cluster that `millrace serve` runs in-process
//! (design/mirror.md). The server only parses them (unknown keys are
//! errors, as everywhere in the file); the mirror itself is the
//! `millrace-mirror` crate, which the `millrace` binary links with its
//! `mirror` feature: the server and the engine stay free of librdkafka.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One `[[mirror]]` section (TOML keys as the fields).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorSection {
    /// The mirror's name: its positions on this store are the internal
    /// group `__mirror.<name>` (retention floors). Default `default`.
    #[serde(default = "default_name")]
    pub name: String,
    /// Bootstrap servers of the target cluster (`host:port[,host:port]`).
    pub to: String,
    /// Which topics: a regular expression matched against the whole name.
    /// Default `[^_].*` (every user topic); DLQs (`__dlq.<topic>`) only when
    /// it selects them.
    #[serde(default)]
    pub topics: Option<String>,
    /// Prefix of the target topic names (`<prefix><topic>`).
    #[serde(default)]
    pub prefix: String,
    /// This edge's id in transactional ids, progress keys and provenance
    /// headers. Default: the host name.
    #[serde(default)]
    pub edge_id: Option<String>,
    /// `exactly-once` (default: transactions) or `at-least-once`
    /// (idempotent producer; duplicates possible after a crash).
    #[serde(default)]
    pub mode: Option<String>,
    /// Progress topic on the target (default `__millrace_mirror_progress`;
    /// a Millrace target needs a name without the leading `__`).
    #[serde(default)]
    pub progress_topic: Option<String>,
    /// Most bytes of record values and keys sent per second (0 = no limit).
    #[serde(default)]
    pub rate_limit_bytes: u64,
    /// Extra librdkafka properties for the target (SASL, TLS, ...).
    #[serde(default)]
    pub kafka: BTreeMap<String, String>,
    /// The central schema registry (`http://host:port`): schema ids of
    /// records in Confluent wire format are translated to it.
    #[serde(default)]
    pub registry_to: Option<String>,
}

fn default_name() -> String {
    "default".to_string()
}
