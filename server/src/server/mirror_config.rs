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
    /// librdkafka properties of the connections to the target (SASL,
    /// TLS, producer tuning), e.g. `to_config = { "security.protocol" =
    /// "SASL_SSL", "sasl.password" = "..." }`. `kafka` is its older name.
    /// A file whose sections hold a secret here must be private to its
    /// owner, as one with tokens ([`MirrorSection::holds_secret`]).
    #[serde(default, alias = "kafka")]
    pub to_config: BTreeMap<String, String>,
    /// Most records per transaction (default 5000).
    #[serde(default)]
    pub batch_records: Option<usize>,
    /// Exactly once: transactional producers per shard taking turns, 1 or
    /// 2 (default 2).
    #[serde(default)]
    pub lanes: Option<u32>,
    /// Most key and value bytes per transaction (default 768 KiB, at most 24 MiB).
    #[serde(default)]
    pub batch_bytes: Option<u64>,
    /// The central schema registry (`http://host:port`): schema ids of
    /// records in Confluent wire format are translated to it.
    #[serde(default)]
    pub registry_to: Option<String>,
}

impl MirrorSection {
    /// Whether its target properties hold a secret (a password, a private
    /// key, a token), or its registry URL a password: then the file must
    /// not be readable by others. The same words as the mirror crate's
    /// `is_secret_property` (the server does not link that crate).
    pub fn holds_secret(&self) -> bool {
        let secret_key = |key: &str| {
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
        };
        let registry_password = self
            .registry_to
            .as_deref()
            .and_then(|url| url.split_once("://"))
            .and_then(|(_, rest)| rest.split_once('@'))
            .is_some_and(|(userinfo, _)| userinfo.contains(':'));
        self.to_config.keys().any(|k| secret_key(k)) || registry_password
    }
}

fn default_name() -> String {
    "default".to_string()
}
