//! Millrace TCP protocol server and Rust client. The protocol is specified in
//! `design/protocol.md`; modules follow its sections:
//!
//! - [`frame`]: the length-prefixed envelope and an incremental stream decoder;
//! - [`wire`]: primitive encodings (integers, bytes, strings, options, lists);
//! - [`messages`]: opcodes, requests, responses;
//! - [`error_code`]: error codes on the wire and their mapping from engine errors;
//! - [`server`]: the TCP server ([`serve`], [`server::start`]), with [`config`],
//!   [`auth`], [`connection`], [`handler`] and [`metrics`];
//! - [`client`]: the Rust client, [`client_api`]: its consumer-group,
//!   transaction and DLQ calls and the [`Consumer`], and [`producer`]: the
//!   idempotent producer on it.

pub mod auth;
pub mod budget;
pub mod client;
pub mod client_api;
pub mod config;
pub mod connection;
pub mod durable;
pub mod error_code;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod handler;
pub mod handshake_budget;
pub mod internal;
pub mod messages;
pub mod metrics;
mod metrics_http;
pub mod producer;
pub mod server;
pub mod text;
pub mod tls;
pub mod wire;

pub use client::{Client, ClientError, ClientOptions};
pub use client_api::{Consumer, ConsumerOptions, StartFrom, Transaction};
pub use config::ServerConfig;
pub use producer::{Producer, ProducerOptions};
pub use server::{serve, ServeError, ServerHandle};
