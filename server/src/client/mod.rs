//! The Rust client: [`connection`] (the [`Client`], one multiplexed
//! connection), [`api`] (consumer-group, transaction and DLQ calls and the
//! remote [`Consumer`]) and [`producer`] (the idempotent remote
//! [`Producer`]). These are remote handles: the engine's own `Producer`,
//! `Consumer` and `Transaction` live in `millrace::`.

pub mod api;
mod calls;
pub mod connection;
pub mod listing;
pub mod producer;

pub use api::{Consumer, ConsumerOptions, StartFrom, Transaction};
pub use connection::*;
pub use listing::{AuditPages, LagPages, NameListing, NamePages, OffsetPages};
pub use producer::{Producer, ProducerOptions};
