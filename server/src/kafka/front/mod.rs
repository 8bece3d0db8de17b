//! The Kafka front (issue 21, `design/kafka.md`): a listener beside the
//! native one whose connections decode Kafka requests
//! ([`crate::kafka::protocol`]), call the service layer
//! ([`crate::server::service`]) with engine types, and encode the answers.
//! No second copy of auth, limits, durability waiting or engine calls: those
//! are the service's.
//!
//! - [`config`]: the `[kafka]` settings (listen and advertised address, ...);
//! - `dispatch`: the one table from a decoded request to its handler;
//! - one module per area, each owning its handlers and its shared state:
//!   `cluster` (ApiVersions, Metadata, CreateTopics, DeleteTopics, SASL),
//!   `produce` (Produce), `fetch` (Fetch, ListOffsets), `producers`
//!   (idempotent producers: InitProducerId without a transactional id),
//!   `groups` (the classic group coordinator and committed offsets), `txn`
//!   (transactions keyed by producer id).
//!
//! Handlers are synchronous: the connection runs each request in arrival
//! order and writes the response frames in that order, off the async
//! runtime except a plain produce (as the native front's inline produce),
//! which is written on the connection's task and awaits its fsync there
//! (`produce::start`, `produce::finish`).

pub mod config;
mod connection;
mod dispatch;
pub mod errors;
pub(crate) mod listener;
pub mod metrics;
#[cfg(test)]
mod test_support;

mod alter_configs;
mod cluster;
mod configs;
mod fetch;
mod groups;
mod produce;
mod producers;
mod sasl;
mod txn;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::KafkaConfig;
pub use dispatch::handle;
pub use produce::refuse_version;

use crate::kafka::protocol::{encode_response, ApiKey, EncodeError, RequestHeader, Response};
use crate::server::service::{Service, Session};

/// What every Kafka connection shares: the service and each area's state.
#[derive(Debug)]
pub struct Front {
    pub service: Arc<Service>,
    pub config: KafkaConfig,
    /// The cluster id Metadata names: the store's (`Store::cluster_id`,
    /// kept in the data directory).
    pub cluster_id: String,
    /// The server's tokens (SASL/PLAIN checks them; empty: auth is off).
    pub(crate) auth: crate::server::auth::Authenticator,
    /// The classic group coordinator (`groups`).
    pub(crate) groups: groups::Coordinator,
    /// Open transactions by producer id (`txn`).
    pub(crate) transactions: txn::Coordinator,
    /// Idempotent producers' registrations (`producers`).
    #[expect(dead_code, reason = "skeleton: the area's handlers read it once they are served")]
    pub(crate) producers: producers::Producers,
}

impl Front {
    /// The host and port Metadata names for this broker (the listener
    /// fills `config.advertised` with the bound address when unset).
    pub fn advertised(&self) -> (&str, u16) {
        match &self.config.advertised {
            Some((host, port)) => (host.as_str(), *port),
            None => ("127.0.0.1", self.config.listen.map_or(9092, |a| a.port())),
        }
    }

    pub fn new(service: Arc<Service>, config: KafkaConfig) -> Self {
        Front {
            cluster_id: service.store.cluster_id(),
            auth: crate::server::auth::Authenticator::default(),
            service,
            config,
            groups: groups::Coordinator::default(),
            transactions: txn::Coordinator::default(),
            producers: producers::Producers::default(),
        }
    }
}

/// One Kafka connection's state.
#[derive(Debug)]
pub struct Conn {
    /// Who is connected (the principal after SASL) and its native state.
    pub session: Session,
    /// False on a server with tokens until SASL succeeded: until then only
    /// ApiVersions, SaslHandshake and SaslAuthenticate are served.
    pub authenticated: bool,
    /// Where the connection is in the SASL exchange.
    pub(crate) sasl: sasl::SaslState,
}

impl Conn {
    /// A connection to a server without tokens: the anonymous principal,
    /// authenticated from the start.
    pub fn new(peer: SocketAddr) -> Self {
        Conn {
            session: Session::new(peer),
            authenticated: true,
            sasl: sasl::SaslState::Done,
        }
    }

    /// A connection to a server with tokens: nothing but the SASL exchange
    /// until it authenticates.
    pub fn unauthenticated(peer: SocketAddr) -> Self {
        let mut conn = Conn::new(peer);
        conn.session.principal.permissions = crate::server::auth::Permissions::NONE;
        conn.authenticated = false;
        conn.sasl = sasl::SaslState::Start;
        conn
    }
}

/// Why a request got no response frame.
#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    /// The response could not be encoded (a bug, or a response over 2 GiB).
    #[error("cannot encode the response: {0}")]
    Encode(#[from] EncodeError),
    /// The request's API is not served yet: the connection is closed.
    #[error("{0:?} is not served yet")]
    NotServed(ApiKey),
    /// The connection must be closed (the message says why; logged).
    #[error("{0}")]
    Close(String),
}

/// What a handler returns: the response was appended to the output, or the
/// connection closes.
pub type Handled = Result<(), FrontError>;

/// Appends `response` as the answer to `header`'s request.
pub(crate) fn respond(out: &mut Vec<u8>, header: &RequestHeader<'_>, response: &Response<'_>) -> Handled {
    encode_response(out, header.correlation_id, header.api_version, response)?;
    Ok(())
}
