//! The mirror's errors.

/// What stopped a mirror shard's round (it backs off and starts again) or
/// refused its configuration (it does not start).
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The configuration cannot be honoured.
    #[error("mirror configuration: {0}")]
    Config(String),
    /// The edge store refused (closed, poisoned, a damaged partition).
    #[error("edge store: {0}")]
    Store(#[from] millrace::Error),
    /// The target cluster refused or could not be reached.
    #[error("target cluster: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The target holds something the mirror cannot use (a topic with
    /// fewer partitions than its source, an unreadable progress record).
    #[error("target cluster: {0}")]
    Target(String),
    /// A schema id could not be translated (`--registry-to`): unknown to
    /// the edge's registry, or refused by the central one.
    #[error("schema id translation: {0}")]
    Schema(String),
    /// Asked to stop.
    #[error("stopped")]
    Stopped,
}

/// The mirror's results.
pub type Result<T> = std::result::Result<T, MirrorError>;
