//! One client connection: a reader that turns bytes into requests under the
//! limits (frame size, in-flight requests, handshake/idle/slow-client
//! timeouts), and a worker that executes requests in arrival order and writes
//! the responses. See "Connection lifecycle" and "Limits" in
//! `design/protocol.md`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

mod reader;
mod worker;
pub(crate) use worker::write_within;

use crate::auth::{Authenticator, Principal};
use crate::config::ServerConfig;
use crate::error_code::{ErrorCode, WireError};
use crate::frame::{FrameDecoder, FLAGS_KNOWN};
use crate::frame::{FrameError, FRAME_LENGTH_BYTES};
use crate::handler::{handle, handle_inline, Inline};
use crate::messages::{
    decode_error_code, decode_incoming, encode_response_split, HelloResponse, Incoming, Opcode, Request, Response,
    PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN,
};
use crate::metrics::ServerMetrics;
use crate::server::blocking::run_blocking;
use crate::server::service::{Service, Session};
use crate::wire::DecodeError;

/// Bytes asked of the socket per read, at most. A frame's whole size is
/// reserved from the buffer budgets as soon as its length prefix is in, and
/// a large body is read straight into its own buffer, so what a connection
/// holds outside the budgets is at most one read of small frames.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Bytes asked of the socket per read of a large body (read straight into
/// the frame's own buffer).
const LARGE_READ_BYTES_MAX: usize = 1024 * 1024;
/// Largest frame accepted before the handshake completed (a `Hello` is a few
/// hundred bytes plus the token): a connection nobody authenticated cannot
/// reserve `frame_bytes_max` of the server's buffer budget.
pub const HELLO_FRAME_BYTES_MAX: u32 = 64 * 1024;
const _: () = assert!(HELLO_FRAME_BYTES_MAX <= crate::frame::FRAME_BYTES_MAX_LOWEST * 16);
/// After a fatal error: how long, and how many bytes, the reader keeps
/// draining the socket so that closing does not reset the connection before
/// the client has read the error frame.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES_MAX: usize = 4 * 1024 * 1024;

/// What every connection shares.
pub struct Shared {
    pub config: ServerConfig,
    pub context: Arc<Service>,
    pub auth: Authenticator,
    pub metrics: Arc<ServerMetrics>,
    /// `buffered_bytes_max` over all connections.
    pub buffered_bytes: Arc<crate::budget::ByteBudget>,
    /// `response_buffered_bytes_max` over all connections.
    pub response_bytes: Arc<crate::budget::ByteBudget>,
    /// `connections_max`: taken when `Hello` succeeds.
    pub connection_slots: Arc<Semaphore>,
    /// Connections that have not completed `Hello` yet.
    pub handshakes: Arc<crate::handshake_budget::HandshakeBudget>,
    /// Set when the server speaks TLS.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A frame's bytes in the connection's and the server's buffer budgets,
/// reserved before its body is read.
#[derive(Debug)]
struct Reservation {
    bytes: usize,
    _connection_bytes: OwnedSemaphorePermit,
    _server_bytes: crate::budget::BytePermit,
}

/// What a received request holds until it is answered: an in-flight slot,
/// and its bytes in the buffer budgets.
#[derive(Debug)]
struct Admission {
    _slot: OwnedSemaphorePermit,
    _bytes: Reservation,
}

enum Job {
    Execute {
        opcode: Opcode,
        request_id: u32,
        request: Incoming,
        received: Instant,
        _permit: Admission,
    },
    Reply {
        opcode: u16,
        request_id: u32,
        result: Result<Response, WireError>,
        /// Close the connection after this response.
        close: bool,
        /// Set by a successful `Hello`.
        client_name: Option<String>,
        principal: Option<Principal>,
        _permit: Option<Admission>,
    },
}

fn fatal(opcode: u16, request_id: u32, error: WireError) -> Job {
    Job::Reply {
        opcode,
        request_id,
        result: Err(error),
        close: true,
        client_name: None,
        principal: None,
        _permit: None,
    }
}

/// Serve one connection (plain TCP or TLS, given as its read and write
/// halves) until it closes, fails a limit, or the server shuts down. A TCP
/// stream comes split by `TcpStream::into_split` (each half polls the socket
/// without a lock); a TLS stream, whose halves share one session, by
/// `tokio::io::split`.
///
/// `ticket` is the connection's place in the pre-handshake budget; it is
/// given back when `Hello` succeeds (the connection then takes one of the
/// `connections_max` slots) or the connection closes.
pub async fn run<R, W>(
    (read_half, write_half): (R, W),
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    ticket: crate::handshake_budget::HandshakeTicket,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let in_flight = Arc::new(Semaphore::new(shared.config.in_flight_max as usize));
    let buffered_bytes = Arc::new(Semaphore::new(shared.config.connection_buffered_bytes_max as usize));
    let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
    let worker = tokio::spawn(worker::worker(write_half, jobs_rx, shared.clone(), Session::new(peer)));
    let mut reader = reader::Reader {
        read_half,
        jobs: jobs_tx,
        in_flight,
        buffered_bytes,
        shared,
        shutdown,
        principal: None,
        delayed: None,
        peer,
        ticket: Some(ticket),
        slot: None,
        reserved: None,
    };
    let outcome = reader.read_loop().await;
    tracing::debug!(%peer, ?outcome, "connection reader finished");
    if outcome == Outcome::Fatal {
        reader.linger().await;
    }
    drop(reader);
    let _ = worker.await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Peer closed, or the worker stopped (write failure).
    Closed,
    /// A fatal error was queued for the client.
    Fatal,
    /// Server shutdown: stop reading, finish what was queued.
    Shutdown,
}

/// What ended one wait of the read loop.
enum Event {
    Read,
    Closed,
    Shutdown,
    Evicted,
    Deadline,
}

/// The error a connection over `connections_max` (or evicted from the
/// handshake budget) gets before it is closed.
pub fn too_many_connections(limit: u32) -> WireError {
    WireError::new(ErrorCode::TooManyConnections, "too many connections").with_details(vec![u64::from(limit)])
}
