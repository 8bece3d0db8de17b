//! Millrace TCP protocol server and Rust client, in three wings:
//!
//! - [`protocol`]: the native protocol's wire types (`design/protocol.md`):
//!   frame, primitive codec, messages, error codes. No engine calls;
//! - [`server`]: the TCP server ([`serve`], [`server::start`]): listener,
//!   connection, handler, durability waits, auth, config, TLS, metrics;
//! - [`registry`]: the schema registry's REST front (Confluent Schema
//!   Registry subset, `--registry-listen`), over the service layer;
//! - [`client`]: the Rust client ([`Client`]), its consumer-group,
//!   transaction and DLQ calls, the remote [`Consumer`] and [`Producer`].
//!
//! The modules below the wings are also re-exported at their paths from
//! before the wings (`millrace_server::messages`, `millrace_server::auth`, …).

pub mod client;
#[doc(hidden)]
pub mod fuzzing;
pub mod kafka;
pub mod protocol;
pub mod registry;
pub mod server;

// Paths from before the wings (public API; cli/, tests/ and fuzz/ use them).
pub use client::{api as client_api, listing as client_listing, producer};
pub use protocol::{error_code, frame, messages, text, wire};
pub use server::{
    auth, budget, config, connection, contract_admin, durable, group_budget, handler, handshake_budget, internal,
    listing, metrics, tls,
};
// Crate-internal paths from before the wings.
pub(crate) use server::metrics_http;

pub use client::{AuditPages, LagPages, NameListing, NamePages, OffsetPages};
pub use client::{BlockingClient, BlockingProducer, Client, ClientError, ClientOptions, ProduceAnswer};
pub use client::{Consumer, ConsumerOptions, StartFrom, Transaction};
pub use config::ServerConfig;
pub use producer::{Producer, ProducerOptions};
pub use server::{serve, ServeError, ServerHandle};
