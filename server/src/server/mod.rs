//! The TCP server, in two layers:
//!
//! - the native protocol's front: [`listener`] accepts connections ([`serve`],
//!   [`start`]), [`connection`] turns bytes into requests under the limits
//!   (and checks each opcode against the token, [`auth`], [`internal`]),
//!   [`handler`] dispatches each request through the service, and
//!   [`convert`] holds every engine↔wire mapping; [`listing`] answers the
//!   listings (what fits in a response, through the service);
//! - the [`service`] layer, which a second protocol front reuses: the checks
//!   that depend on the principal, the request limits, [`group_budget`], the
//!   one decision of which appends owe an fsync and the wait for it
//!   ([`durable`]), long polls, and the engine calls. It never names a wire
//!   type: it refuses with a `ServiceError`, which each front maps.
//!
//! [`config`], [`tls`], [`metrics`] and the budgets are the server's settings
//! and bookkeeping; `blocking` runs a call that may block from a task.
//! Imports go front → service → engine; `blocking` and `durable` import
//! neither the connection nor the handler (`durable` still names the
//! service's error type).

pub mod auth;
pub(crate) mod blocking;
pub mod budget;
pub mod config;
pub mod connection;
pub mod contract_admin;
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
pub mod mirror_config;
pub mod service;
pub mod tls;

pub use listener::{serve, start, start_with_store, ServeError, ServerHandle};
