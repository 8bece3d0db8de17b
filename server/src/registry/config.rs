//! The schema registry front's settings: the `[registry]` table of the
//! server's TOML config and `--registry-listen` of `millrace serve`.

use std::net::SocketAddr;

use serde::Deserialize;

/// Default listen address of the registry (Confluent Schema Registry's port).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

/// The registry front's settings (TOML key: `listen`, an address or
/// `"off"`; unknown keys are errors).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Where to listen (`None`: the front is off).
    #[serde(deserialize_with = "crate::server::config::address_or_off")]
    pub listen: Option<SocketAddr>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            listen: DEFAULT_LISTEN.parse().ok(),
        }
    }
}

impl RegistryConfig {
    /// The front switched off (what [`crate::ServerConfig::default`] holds:
    /// embedders and tests opt in; `millrace serve` and TOML files default
    /// to [`DEFAULT_LISTEN`]).
    #[must_use]
    pub fn off() -> Self {
        RegistryConfig { listen: None }
    }
}
