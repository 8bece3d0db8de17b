//! The TCP server: [`listener`] accepts connections ([`serve`], [`start`]),
//! [`connection`] turns bytes into requests under the limits, [`handler`]
//! executes them against the engine, [`durable`] waits for `Always` fsyncs
//! off the request path. [`config`], [`auth`], [`tls`], [`metrics`] and the
//! budgets are the server's settings and bookkeeping.

pub mod auth;
mod blocking;
pub mod budget;
pub mod config;
pub mod connection;
pub mod convert;
pub mod durable;
pub mod group_budget;
pub mod handler;
pub mod handshake_budget;
pub mod internal;
pub mod listener;
pub mod listing;
pub mod metrics;
pub(crate) mod metrics_http;
pub mod service;
pub mod tls;

pub use listener::{serve, start, start_with_store, ServeError, ServerHandle};
