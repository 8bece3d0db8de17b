//! Server configuration: defaults, TOML loading (unknown keys rejected), and
//! validation that rejects out-of-range values instead of clamping them.

// Over 600 lines: one configuration (flags and TOML tables of every front) checked as a whole; splitting per front is an open item.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::frame::{FRAME_BYTES_MAX_DEFAULT, FRAME_BYTES_MAX_HIGHEST, FRAME_BYTES_MAX_LOWEST};
use crate::kafka::front::KafkaConfig;
use crate::registry::RegistryConfig;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A config file that holds tokens and that other users may read.
    #[error("config file {path} holds tokens or mirror secrets and is readable by its group or by others (mode {mode:03o}); make it readable by its owner only: chmod 600 {}", path.display())]
    Exposed { path: PathBuf, mode: u32 },
    #[error("config value {key} = {value}: {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: String,
    },
}

/// What a token may do; [`crate::auth::PERMISSIONS`] maps each opcode to the
/// one it requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Produce,
    Consume,
    Admin,
}

/// One authentication token and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The principal: recorded as the actor of offset resets and as the
    /// owner of the producers the token registers. 1..=64 bytes of
    /// `A-Z a-z 0-9 . _ -`, unique. Absent: `token-<n>`, its position in
    /// the list from 1 (name tokens: reordering the list renames them).
    #[serde(default)]
    pub name: Option<String>,
    /// The secret the client sends in `Hello`.
    pub token: String,
    pub permissions: Vec<Permission>,
    /// Groups the token may commit offsets to: `"name"` exactly or
    /// `"prefix*"`. Default: none (admin tokens: every group).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Most groups the token's `groups` patterns may reach: a commit that
    /// would add a group is refused with GroupLimit once this many
    /// (non-internal) groups matching them exist. 1 ..= `GROUPS_MAX_HIGHEST`;
    /// absent = no limit but the store's `groups_max`. Not for admin tokens.
    /// See `crate::group_budget`.
    #[serde(default)]
    pub groups_max: Option<u32>,
}

/// Longest token name.
pub const TOKEN_NAME_BYTES_MAX: usize = 64;

impl TokenConfig {
    /// The principal name of the token at `index` (0-based) in the list.
    pub fn principal_name(&self, index: usize) -> String {
        self.name.clone().unwrap_or_else(|| format!("token-{}", index + 1))
    }
}

/// Everything `millrace serve` can be told. Field names are the TOML keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Protocol listener. Loopback by default: exposing it is a decision.
    pub listen: SocketAddr,
    /// Prometheus text endpoint (`GET /metrics`); `None` = off (`"off"` in TOML).
    #[serde(deserialize_with = "address_or_off")]
    pub metrics_listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    /// Store default durability: `always`, `os` or `interval:<ms>`.
    pub durability: String,
    pub quota_bytes: Option<u64>,
    pub frame_bytes_max: u32,
    /// Connections that completed `Hello`.
    pub connections_max: u32,
    /// Connections that have not completed `Hello` yet (a separate budget:
    /// they hold no slot of `connections_max`). When full, the oldest is
    /// evicted to make room for a new one.
    pub handshake_connections_max: u32,
    /// The same from one source IP address (at most `handshake_connections_max`).
    pub handshake_connections_per_address_max: u32,
    pub in_flight_max: u32,
    /// Bytes of received, not yet answered requests one connection may hold
    /// (at least `frame_bytes_max`). Past it the server stops reading that socket.
    pub connection_buffered_bytes_max: u32,
    /// The same over all connections together (at least `frame_bytes_max`),
    /// counting frames being received from the moment their length is in.
    pub buffered_bytes_max: u32,
    /// Bytes of fetch responses encoded and not yet taken by their clients,
    /// over all connections (at least `frame_bytes_max`). Past it a fetch
    /// waits before it reads.
    pub response_buffered_bytes_max: u32,
    pub idle_timeout_ms: u64,
    pub slow_client_timeout_ms: u64,
    pub handshake_timeout_ms: u64,
    /// Cap on `Fetch.max_wait_ms`; larger requests are refused.
    pub fetch_wait_max_ms: u32,
    /// How long shutdown waits for in-flight requests before closing anyway.
    pub shutdown_grace_ms: u64,
    /// After this long without traffic, give memory back once: the pages of
    /// memory-mapped sealed segments, sealed segments' index entries and the
    /// allocator's free memory. 0 = never.
    pub memory_release_idle_ms: u64,
    /// Empty = no authentication. Otherwise every connection must present one.
    pub tokens: Vec<TokenConfig>,
    /// Name announced in the `Hello` response.
    pub server_name: String,
    /// PEM certificate chain and private key: both set = TLS (rustls) on the
    /// protocol port; neither = plain TCP.
    pub tls_cert_path: Option<PathBuf>,
    pub tls_key_path: Option<PathBuf>,
    /// Allow `listen` on a non-loopback address without tokens or without
    /// TLS (refused otherwise: tokens and records would cross the network
    /// in clear, or anyone reaching the port could do anything).
    pub insecure: bool,
    /// When set, the metrics port answers only requests that carry
    /// `Authorization: Bearer <metrics_token>` (at least 16 bytes).
    pub metrics_token: Option<String>,
    /// Serve the metrics port over TLS, with `tls_cert_path` and `tls_key_path`.
    pub metrics_tls: bool,
    /// Most per-group and per-topic series in one scrape; the rest are
    /// counted in `millrace_metrics_series_dropped`.
    pub metrics_series_max: u32,
    /// Most consumer groups the store keeps (`StoreOptions::groups_max`).
    pub groups_max: u32,
    /// The Kafka front (`[kafka]` table). A file without the table gets
    /// [`KafkaConfig::default`] (listening on 127.0.0.1:9092), as
    /// `millrace serve` does; [`ServerConfig::default`] (embedders, tests)
    /// leaves it off ([`KafkaConfig::off`]).
    #[serde(default = "KafkaConfig::default")]
    pub kafka: KafkaConfig,
    /// `[[mirror]]` sections: mirrors `millrace serve` runs in-process
    /// when built with its `mirror` feature (design/mirror.md).
    pub mirror: Vec<crate::server::mirror_config::MirrorSection>,
    /// The schema registry's REST front (`[registry]` table): as `kafka`, a
    /// file without the table listens on 127.0.0.1:8081,
    /// [`ServerConfig::default`] leaves it off ([`RegistryConfig::off`]).
    #[serde(default = "RegistryConfig::default")]
    pub registry: RegistryConfig,
}

pub const LISTEN_DEFAULT: &str = "127.0.0.1:7878";
pub const METRICS_LISTEN_DEFAULT: &str = "127.0.0.1:7879";
pub const CONNECTIONS_MAX_HIGHEST: u32 = 65_536;
/// At most the engine's largest de-duplication window: the server opens its
/// store with a window of at least `in_flight_max` batches, so that an
/// idempotent producer that pipelined up to `in_flight_max` batches to a
/// partition can retry them all after a dropped connection (each answered
/// `duplicate`, none `OutOfOrderSequence`).
pub const IN_FLIGHT_MAX_HIGHEST: u32 = millrace::producer_state::DEDUP_BATCHES_MAX;
pub const FETCH_WAIT_MAX_HIGHEST_MS: u32 = 300_000;
pub const METRICS_SERIES_MAX_DEFAULT: u32 = 10_000;
pub const METRICS_SERIES_MAX_HIGHEST: u32 = 1_000_000;
pub const GROUPS_MAX_HIGHEST: u32 = 10_000_000;

pub(crate) fn address_or_off<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text == "off" {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}; expected host:port or \"off\"")))
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 7879))),
            data_dir: PathBuf::from("./millrace-data"),
            durability: "always".into(),
            quota_bytes: None,
            frame_bytes_max: FRAME_BYTES_MAX_DEFAULT,
            connections_max: 1024,
            handshake_connections_max: 128,
            handshake_connections_per_address_max: 16,
            in_flight_max: 32,
            connection_buffered_bytes_max: 2 * FRAME_BYTES_MAX_DEFAULT,
            buffered_bytes_max: 256 * 1024 * 1024,
            response_buffered_bytes_max: 256 * 1024 * 1024,
            idle_timeout_ms: 300_000,
            slow_client_timeout_ms: 30_000,
            handshake_timeout_ms: 5_000,
            fetch_wait_max_ms: 30_000,
            shutdown_grace_ms: 10_000,
            memory_release_idle_ms: 10_000,
            tokens: Vec::new(),
            server_name: format!("millrace/{}", env!("CARGO_PKG_VERSION")),
            tls_cert_path: None,
            tls_key_path: None,
            insecure: false,
            metrics_token: None,
            metrics_tls: false,
            metrics_series_max: METRICS_SERIES_MAX_DEFAULT,
            groups_max: millrace::config::GROUPS_MAX_DEFAULT as u32,
            kafka: KafkaConfig::off(),
            mirror: Vec::new(),
            registry: RegistryConfig::off(),
        }
    }
}

/// Refuse a file of secrets that its group or others may read (or write).
fn check_private(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::Exposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

impl ServerConfig {
    /// Parse TOML text; keys not in [`ServerConfig`] are an error naming the key.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<ServerConfig, ConfigError> {
        let config: ServerConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Read and parse a TOML file. A file that holds tokens must be private
    /// to its owner (no group or other permission bits): else
    /// [`ConfigError::Exposed`].
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = ServerConfig::from_toml_str(&text, path)?;
        if !config.tokens.is_empty()
            || config.metrics_token.is_some()
            || config
                .mirror
                .iter()
                .any(crate::server::mirror_config::MirrorSection::holds_secret)
        {
            check_private(path)?;
        }
        Ok(config)
    }

    /// Reject values the server cannot honour. Never clamps.
    #[expect(
        clippy::too_many_lines,
        reason = "one check per configuration field, in the order of the documentation"
    )]
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn range<T: PartialOrd + std::fmt::Display + Copy>(
            key: &'static str,
            value: T,
            low: T,
            high: T,
        ) -> Result<(), ConfigError> {
            if value < low || value > high {
                return Err(ConfigError::Invalid {
                    key,
                    value: value.to_string(),
                    expected: format!("must be in {low}..={high}"),
                });
            }
            Ok(())
        }
        range(
            "frame_bytes_max",
            self.frame_bytes_max,
            FRAME_BYTES_MAX_LOWEST,
            FRAME_BYTES_MAX_HIGHEST,
        )?;
        range("connections_max", self.connections_max, 1, CONNECTIONS_MAX_HIGHEST)?;
        range(
            "handshake_connections_max",
            self.handshake_connections_max,
            1,
            CONNECTIONS_MAX_HIGHEST,
        )?;
        range(
            "handshake_connections_per_address_max",
            self.handshake_connections_per_address_max,
            1,
            self.handshake_connections_max,
        )?;
        range("in_flight_max", self.in_flight_max, 1, IN_FLIGHT_MAX_HIGHEST)?;
        range(
            "connection_buffered_bytes_max",
            self.connection_buffered_bytes_max,
            self.frame_bytes_max,
            u32::MAX,
        )?;
        range(
            "buffered_bytes_max",
            self.buffered_bytes_max,
            self.frame_bytes_max,
            u32::MAX,
        )?;
        range(
            "response_buffered_bytes_max",
            self.response_buffered_bytes_max,
            self.frame_bytes_max,
            u32::MAX,
        )?;
        range("idle_timeout_ms", self.idle_timeout_ms, 100, 86_400_000)?;
        range("slow_client_timeout_ms", self.slow_client_timeout_ms, 100, 3_600_000)?;
        range("handshake_timeout_ms", self.handshake_timeout_ms, 100, 3_600_000)?;
        range(
            "fetch_wait_max_ms",
            self.fetch_wait_max_ms,
            0,
            FETCH_WAIT_MAX_HIGHEST_MS,
        )?;
        range("shutdown_grace_ms", self.shutdown_grace_ms, 0, 3_600_000)?;
        if self.memory_release_idle_ms != 0 {
            range("memory_release_idle_ms", self.memory_release_idle_ms, 100, 86_400_000)?;
        }
        range(
            "metrics_series_max",
            self.metrics_series_max,
            1,
            METRICS_SERIES_MAX_HIGHEST,
        )?;
        if let Some(token) = &self.metrics_token {
            if token.len() < 16 {
                return Err(ConfigError::Invalid {
                    key: "metrics_token",
                    value: format!("({} bytes)", token.len()),
                    expected: "tokens must be at least 16 bytes".into(),
                });
            }
        }
        if self.metrics_tls && self.tls_cert_path.is_none() {
            return Err(ConfigError::Invalid {
                key: "metrics_tls",
                value: "true".into(),
                expected: "needs tls_cert_path and tls_key_path".into(),
            });
        }
        self.store_durability()?;
        if self.tls_cert_path.is_some() != self.tls_key_path.is_some() {
            return Err(ConfigError::Invalid {
                key: "tls_cert_path",
                value: format!("{:?} / tls_key_path {:?}", self.tls_cert_path, self.tls_key_path),
                expected: "set both tls_cert_path and tls_key_path, or neither".into(),
            });
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, token) in self.tokens.iter().enumerate() {
            if token.token.len() < 16 {
                return Err(ConfigError::Invalid {
                    key: "tokens.token",
                    value: format!("(token #{i}, {} bytes)", token.token.len()),
                    expected: "tokens must be at least 16 bytes".into(),
                });
            }
            let name = token.principal_name(i);
            let name_ok = (1..=TOKEN_NAME_BYTES_MAX).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !name_ok {
                return Err(ConfigError::Invalid {
                    key: "tokens.name",
                    value: format!("{name:?} (token #{i})"),
                    expected: format!("1 to {TOKEN_NAME_BYTES_MAX} bytes of A-Z a-z 0-9 . _ -"),
                });
            }
            if !names.insert(name.clone()) {
                return Err(ConfigError::Invalid {
                    key: "tokens.name",
                    value: format!("{name:?} (token #{i})"),
                    expected: "token names must be unique".into(),
                });
            }
            if let Some(groups_max) = token.groups_max {
                let expected = if token.permissions.contains(&crate::auth::Permission::Admin) {
                    Some(
                        "no groups_max on an admin token: admin manages every group (the store's groups_max bounds it)"
                            .to_string(),
                    )
                } else if !(1..=GROUPS_MAX_HIGHEST).contains(&groups_max) {
                    Some(format!("1 ..= {GROUPS_MAX_HIGHEST}"))
                } else {
                    None
                };
                if let Some(expected) = expected {
                    return Err(ConfigError::Invalid {
                        key: "tokens.groups_max",
                        value: format!("{groups_max} (token {name})"),
                        expected,
                    });
                }
            }
            for pattern in &token.groups {
                let literal = pattern.strip_suffix('*').unwrap_or(pattern);
                if pattern.is_empty() || pattern.len() > 255 || literal.contains('*') {
                    return Err(ConfigError::Invalid {
                        key: "tokens.groups",
                        value: format!("{pattern:?} (token {name})"),
                        expected: "a group name, or a prefix followed by one final `*`".into(),
                    });
                }
            }
        }
        self.kafka.validate()?;
        self.check_exposure()
    }

    /// A listener reachable from other hosts needs tokens and TLS, unless
    /// `insecure` says the operator accepts the risk.
    fn check_exposure(&self) -> Result<(), ConfigError> {
        self.check_exposure_of("listen", self.listen)?;
        if let Some(kafka) = self.kafka.listen {
            self.check_exposure_of("kafka.listen", kafka)?;
        }
        match self.registry.listen {
            Some(registry) => self.check_exposure_of("registry.listen", registry),
            None => Ok(()),
        }
    }

    fn check_exposure_of(&self, key: &'static str, listen: SocketAddr) -> Result<(), ConfigError> {
        if self.insecure || listen.ip().is_loopback() {
            return Ok(());
        }
        let missing = match (self.tokens.is_empty(), self.tls_cert_path.is_none()) {
            (true, true) => "neither tokens nor TLS: anyone who reaches it may do anything, in clear text",
            (true, false) => "no tokens: anyone who reaches it may do anything",
            (false, true) => "no TLS: tokens and records cross the network in clear text",
            (false, false) => return Ok(()),
        };
        Err(ConfigError::Invalid {
            key,
            value: listen.to_string(),
            expected: format!(
                "a non-loopback address with {missing}; configure [[tokens]] and tls_cert_path/tls_key_path, \
                 or set `insecure = true` (`--insecure`) to accept that"
            ),
        })
    }

    /// "auth on (N tokens), TLS on" for the start-up line.
    pub fn security_summary(&self) -> String {
        format!(
            "auth {}, TLS {}{}",
            if self.tokens.is_empty() {
                "off".to_string()
            } else {
                format!(
                    "on ({} token{})",
                    self.tokens.len(),
                    if self.tokens.len() == 1 { "" } else { "s" }
                )
            },
            if self.tls_cert_path.is_some() { "on" } else { "off" },
            if self.insecure
                && !self.listen.ip().is_loopback()
                && (self.tokens.is_empty() || self.tls_cert_path.is_none())
            {
                ", INSECURE"
            } else {
                ""
            }
        )
    }

    /// The store's de-duplication window the server needs: at least
    /// `in_flight_max` batches per producer and partition.
    pub fn producer_dedup_batches(&self) -> u32 {
        self.in_flight_max
            .max(millrace::StoreOptions::default().producer_dedup_batches)
    }

    pub fn store_durability(&self) -> Result<millrace::Durability, ConfigError> {
        millrace::Durability::parse(&self.durability).map_err(|e| ConfigError::Invalid {
            key: "durability",
            value: self.durability.clone(),
            expected: e.to_string(),
        })
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    pub fn slow_client_timeout(&self) -> Duration {
        Duration::from_millis(self.slow_client_timeout_ms)
    }
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
    /// `None` when idle memory release is off.
    pub fn memory_release_idle(&self) -> Option<Duration> {
        (self.memory_release_idle_ms != 0).then(|| Duration::from_millis(self.memory_release_idle_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_loopback() {
        let config = ServerConfig::default();
        config.validate().unwrap();
        assert!(config.listen.ip().is_loopback());
        assert_eq!(config.listen.to_string(), LISTEN_DEFAULT);
        assert_eq!(
            config.metrics_listen.map(|a| a.to_string()).as_deref(),
            Some(METRICS_LISTEN_DEFAULT)
        );
    }

    #[test]
    fn toml_with_tokens() {
        let text = r#"
            listen = "127.0.0.1:9000"
            data_dir = "/tmp/x"
            frame_bytes_max = 65536
            [[tokens]]
            token = "0123456789abcdef"
            permissions = ["produce", "consume"]
        "#;
        let config = ServerConfig::from_toml_str(text, Path::new("t.toml")).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(
            config.tokens[0].permissions,
            vec![Permission::Produce, Permission::Consume]
        );
        assert_eq!(config.in_flight_max, ServerConfig::default().in_flight_max);
    }

    #[test]
    fn metrics_can_be_turned_off() {
        let config = ServerConfig::from_toml_str("metrics_listen = \"off\"", Path::new("t.toml")).unwrap();
        assert_eq!(config.metrics_listen, None);
        let config = ServerConfig::from_toml_str("metrics_listen = \"127.0.0.1:9\"", Path::new("t.toml")).unwrap();
        assert_eq!(config.metrics_listen.map(|a| a.port()), Some(9));
        assert!(ServerConfig::from_toml_str("metrics_listen = \"nope\"", Path::new("t.toml")).is_err());
    }

    #[test]
    fn unknown_key_is_named() {
        let error = ServerConfig::from_toml_str("listne = \"127.0.0.1:1\"", Path::new("t.toml")).unwrap_err();
        assert!(error.to_string().contains("listne"), "{error}");
    }

    #[test]
    fn out_of_range_is_rejected_not_clamped() {
        let error = ServerConfig::from_toml_str("frame_bytes_max = 1", Path::new("t.toml")).unwrap_err();
        assert!(error.to_string().contains("frame_bytes_max"), "{error}");
        let error = ServerConfig::from_toml_str("durability = \"sometimes\"", Path::new("t.toml")).unwrap_err();
        assert!(error.to_string().contains("durability"), "{error}");
        let error = ServerConfig::from_toml_str(
            "[[tokens]]\ntoken = \"short\"\npermissions = [\"admin\"]",
            Path::new("t.toml"),
        )
        .unwrap_err();
        assert!(error.to_string().contains("16 bytes"), "{error}");
    }

    #[test]
    fn token_names_and_group_patterns_are_checked() {
        let two = "[[tokens]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\npermissions = [\"admin\"]\n\
                   [[tokens]]\nname = \"a\"\ntoken = \"0123456789abcdeg\"\npermissions = [\"admin\"]\n";
        let error = ServerConfig::from_toml_str(two, Path::new("t.toml")).unwrap_err();
        assert!(error.to_string().contains("unique"), "{error}");
        let bad_name = "[[tokens]]\nname = \"a b\"\ntoken = \"0123456789abcdef\"\npermissions = [\"admin\"]\n";
        assert!(ServerConfig::from_toml_str(bad_name, Path::new("t.toml")).is_err());
        let limited = "[[tokens]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\npermissions = [\"consume\"]\ngroups = [\"a-*\"]\ngroups_max = 3\n";
        let config = ServerConfig::from_toml_str(limited, Path::new("t.toml")).unwrap();
        assert_eq!(config.tokens[0].groups_max, Some(3));
        for bad in [
            limited.replace("groups_max = 3", "groups_max = 0"),
            limited.replace("\"consume\"", "\"admin\""),
        ] {
            let error = ServerConfig::from_toml_str(&bad, Path::new("t.toml")).unwrap_err();
            assert!(error.to_string().contains("tokens.groups_max"), "{error}");
        }
        let bad_pattern = "[[tokens]]\ntoken = \"0123456789abcdef\"\npermissions = [\"consume\"]\ngroups = [\"a*b\"]\n";
        let error = ServerConfig::from_toml_str(bad_pattern, Path::new("t.toml")).unwrap_err();
        assert!(error.to_string().contains("tokens.groups"), "{error}");
    }

    #[test]
    fn exposed_listener_needs_tokens_and_tls_or_insecure() {
        let error = ServerConfig::from_toml_str("listen = \"0.0.0.0:7878\"", Path::new("t.toml")).unwrap_err();
        assert!(error.to_string().contains("insecure"), "{error}");
        let tokens = "listen = \"0.0.0.0:7878\"\n[[tokens]]\ntoken = \"0123456789abcdef\"\npermissions = [\"admin\"]\n";
        let error = ServerConfig::from_toml_str(tokens, Path::new("t.toml")).unwrap_err();
        assert!(error.to_string().contains("no TLS"), "{error}");
        let insecure =
            ServerConfig::from_toml_str("listen = \"0.0.0.0:7878\"\ninsecure = true", Path::new("t.toml")).unwrap();
        assert!(insecure.security_summary().contains("INSECURE"));
        assert_eq!(ServerConfig::default().security_summary(), "auth off, TLS off");
    }
}
