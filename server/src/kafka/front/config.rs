//! The Kafka front's settings: the `[kafka]` table of the server's TOML
//! config and the `--kafka-*` flags of `millrace serve`.

use std::net::SocketAddr;

use serde::Deserialize;

use crate::server::config::ConfigError;

/// Default listen address of the Kafka front.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9092";
/// Most partitions of an auto-created topic (the engine's own bound on a
/// topic's partitions applies too).
pub const AUTO_CREATE_PARTITIONS_HIGHEST: u32 = 1024;

/// Default of [`KafkaConfig::anonymous_producers_max`].
pub const ANONYMOUS_PRODUCERS_MAX_DEFAULT: u32 = 10_000;
/// Highest [`KafkaConfig::anonymous_producers_max`]: the engine's registry
/// holds at most 100 000 producers of every kind.
pub const ANONYMOUS_PRODUCERS_MAX_HIGHEST: u32 = 50_000;
/// Default of [`KafkaConfig::producer_id_expiration_ms`]: Kafka's
/// `producer.id.expiration.ms`, 1 day.
pub const PRODUCER_ID_EXPIRATION_MS_DEFAULT: u64 = 24 * 3600 * 1000;

/// The Kafka front's settings (TOML keys: `listen`, `advertised`, `node_id`,
/// `auto_create_topics`, `auto_create_partitions`,
/// `anonymous_producers_max`, `producer_id_expiration_ms`; unknown keys are
/// errors).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Where to listen (`None`: the front is off; `"off"` in TOML).
    #[serde(deserialize_with = "crate::server::config::address_or_off")]
    pub listen: Option<SocketAddr>,
    /// The host and port Metadata tells clients to connect to (`None`: the
    /// bound address). `"host:port"` in TOML.
    #[serde(deserialize_with = "host_port_opt")]
    pub advertised: Option<(String, u16)>,
    /// The node id of this broker in Metadata and FindCoordinator answers.
    pub node_id: i32,
    /// Create a topic the first time a client's Metadata or Produce names it.
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic.
    pub auto_create_partitions: u32,
    /// Most live producer ids handed out by InitProducerId without a
    /// transactional id (idempotent producers) per principal (one pool for
    /// a server without tokens, and one for admin tokens); past it
    /// InitProducerId answers THROTTLING_QUOTA_EXCEEDED.
    pub anonymous_producers_max: u32,
    /// Such a producer id idle this long is forgotten (Kafka's
    /// `producer.id.expiration.ms`); its next Produce answers
    /// UNKNOWN_PRODUCER_ID. The store's `anonymous_producer_idle_expiry`.
    pub producer_id_expiration_ms: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            listen: DEFAULT_LISTEN.parse().ok(),
            advertised: None,
            node_id: 0,
            auto_create_topics: false,
            auto_create_partitions: 1,
            anonymous_producers_max: ANONYMOUS_PRODUCERS_MAX_DEFAULT,
            producer_id_expiration_ms: PRODUCER_ID_EXPIRATION_MS_DEFAULT,
        }
    }
}

/// Parses `host:port` (the host a name, an IPv4 address or a bracketed
/// IPv6 address; the port 1..=65535).
pub fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?}: expected host:port"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{text:?}: the port must be 1..=65535"))?;
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let valid = !bare.is_empty()
        && bare.len() <= 253
        && bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'));
    if !valid {
        return Err(format!("{text:?}: expected host:port with a host name or IP address"));
    }
    Ok((bare.to_string(), port))
}

fn host_port_opt<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<(String, u16)>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_host_port(&text).map(Some).map_err(serde::de::Error::custom)
}

impl KafkaConfig {
    /// The front switched off (what [`crate::ServerConfig::default`] holds:
    /// embedders and tests opt in; `millrace serve` and TOML files default to
    /// [`DEFAULT_LISTEN`]).
    #[must_use]
    pub fn off() -> Self {
        KafkaConfig {
            listen: None,
            ..KafkaConfig::default()
        }
    }

    /// Refuse values out of range, and a listen address clients could not
    /// be told about.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id < 0 {
            return Err(ConfigError::Invalid {
                key: "kafka.node_id",
                value: self.node_id.to_string(),
                expected: "0 or more".into(),
            });
        }
        if !(1..=AUTO_CREATE_PARTITIONS_HIGHEST).contains(&self.auto_create_partitions) {
            return Err(ConfigError::Invalid {
                key: "kafka.auto_create_partitions",
                value: self.auto_create_partitions.to_string(),
                expected: format!("1..={AUTO_CREATE_PARTITIONS_HIGHEST}"),
            });
        }
        if !(1..=ANONYMOUS_PRODUCERS_MAX_HIGHEST).contains(&self.anonymous_producers_max) {
            return Err(ConfigError::Invalid {
                key: "kafka.anonymous_producers_max",
                value: self.anonymous_producers_max.to_string(),
                expected: format!("1..={ANONYMOUS_PRODUCERS_MAX_HIGHEST}"),
            });
        }
        // At most a year: i64 milliseconds, and an expiry nobody means as "never".
        if !(1..=365 * PRODUCER_ID_EXPIRATION_MS_DEFAULT).contains(&self.producer_id_expiration_ms) {
            return Err(ConfigError::Invalid {
                key: "kafka.producer_id_expiration_ms",
                value: self.producer_id_expiration_ms.to_string(),
                expected: format!("1..={}", 365 * PRODUCER_ID_EXPIRATION_MS_DEFAULT),
            });
        }
        if let (Some(listen), None) = (self.listen, &self.advertised) {
            if listen.ip().is_unspecified() {
                return Err(ConfigError::Invalid {
                    key: "kafka.listen",
                    value: listen.to_string(),
                    expected: "a specific address, or set kafka.advertised (--kafka-advertised HOST:PORT): \
                               clients connect to the advertised address, and an unspecified one names no host"
                        .into(),
                });
            }
        }
        Ok(())
    }

    /// The host and port Metadata names, given the address actually bound.
    #[must_use]
    pub fn advertised_or(&self, bound: SocketAddr) -> (String, u16) {
        match &self.advertised {
            Some((host, port)) => (host.clone(), *port),
            None => (bound.ip().to_string(), bound.port()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("broker.example:9092"),
            Ok(("broker.example".into(), 9092))
        );
        assert_eq!(parse_host_port("[::1]:9093"), Ok(("::1".into(), 9093)));
        assert!(parse_host_port("nohost").is_err());
        assert!(parse_host_port(":9092").is_err());
        assert!(parse_host_port("h:0").is_err());
        assert!(parse_host_port("h o:1").is_err());
    }

    #[test]
    fn the_kafka_table_of_the_toml_file() {
        use crate::ServerConfig;
        let path = std::path::Path::new("t.toml");
        let defaulted = ServerConfig::from_toml_str("", path).unwrap();
        assert_eq!(defaulted.kafka, KafkaConfig::default());
        assert_eq!(defaulted.kafka.listen, DEFAULT_LISTEN.parse().ok());
        assert_eq!(ServerConfig::default().kafka.listen, None);
        let set = ServerConfig::from_toml_str(
            "[kafka]\nlisten = \"127.0.0.1:19092\"\nadvertised = \"broker:19092\"\nauto_create_topics = true\nauto_create_partitions = 3\n",
            path,
        )
        .unwrap();
        assert_eq!(set.kafka.listen, "127.0.0.1:19092".parse().ok());
        assert_eq!(set.kafka.advertised, Some(("broker".to_string(), 19092)));
        assert!(set.kafka.auto_create_topics);
        assert_eq!(set.kafka.auto_create_partitions, 3);
        let off = ServerConfig::from_toml_str("[kafka]\nlisten = \"off\"\n", path).unwrap();
        assert_eq!(off.kafka.listen, None);
        let unknown = ServerConfig::from_toml_str("[kafka]\ncolour = \"blue\"\n", path).unwrap_err();
        assert!(unknown.to_string().contains("colour"), "{unknown}");
        let exposed = ServerConfig::from_toml_str("[kafka]\nlisten = \"10.1.2.3:9092\"\n", path).unwrap_err();
        assert!(exposed.to_string().contains("kafka.listen"), "{exposed}");
        let unnamed =
            ServerConfig::from_toml_str("insecure = true\n[kafka]\nlisten = \"0.0.0.0:9092\"\n", path).unwrap_err();
        assert!(unnamed.to_string().contains("kafka.advertised"), "{unnamed}");
        let producers = ServerConfig::from_toml_str(
            "[kafka]\nanonymous_producers_max = 7\nproducer_id_expiration_ms = 1500\n",
            path,
        )
        .unwrap();
        assert_eq!(
            (
                producers.kafka.anonymous_producers_max,
                producers.kafka.producer_id_expiration_ms
            ),
            (7, 1500)
        );
        for bad in ["anonymous_producers_max = 0", "producer_id_expiration_ms = 0"] {
            let error = ServerConfig::from_toml_str(&format!("[kafka]\n{bad}\n"), path).unwrap_err();
            assert!(error.to_string().contains(bad.split(' ').next().unwrap()), "{error}");
        }
        let partitions = ServerConfig::from_toml_str("[kafka]\nauto_create_partitions = 0\n", path).unwrap_err();
        assert!(
            partitions.to_string().contains("auto_create_partitions"),
            "{partitions}"
        );
    }
}
