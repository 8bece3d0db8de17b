//! The Rust client: [`connection`] (the [`Client`], one multiplexed
//! connection), [`blocking`] (the [`BlockingClient`], one request at a time
//! on the calling thread), [`blocking_producer`] (the [`BlockingProducer`],
//! produces pipelined from one thread), [`api`] (consumer-group, transaction and DLQ calls and the
//! remote [`Consumer`]) and [`producer`] (the idempotent remote
//! [`Producer`]). These are remote handles: the engine's own `Producer`,
//! `Consumer` and `Transaction` live in `millrace::`.

pub mod api;
pub mod blocking;
pub mod blocking_producer;
mod calls;
pub mod connection;
pub mod listing;
pub mod producer;

pub use api::{Consumer, ConsumerOptions, StartFrom, Transaction};
pub use blocking::BlockingClient;
pub use blocking_producer::{BlockingProducer, ProduceAnswer};
pub use connection::*;
pub use listing::{AuditPages, LagPages, NameListing, NamePages, OffsetPages};
pub use producer::{Producer, ProducerOptions};
