//! The Kafka front's settings: the `[kafka]` table of the server's TOML
//! config and the `--kafka-*` flags of `millrace serve`.

use std::net::SocketAddr;

/// Default listen address of the Kafka front.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9092";

/// The Kafka front's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Where to listen (`None`: the front is off).
    pub listen: Option<SocketAddr>,
    /// The host and port Metadata tells clients to connect to (`None`: the
    /// bound address).
    pub advertised: Option<(String, u16)>,
    /// The node id of this broker in Metadata and FindCoordinator answers.
    pub node_id: i32,
    /// Create a topic the first time a client's Metadata or Produce names it.
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic.
    pub auto_create_partitions: u32,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            listen: DEFAULT_LISTEN.parse().ok(),
            advertised: None,
            node_id: 0,
            auto_create_topics: false,
            auto_create_partitions: 1,
        }
    }
}
