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

use crate::auth::{required, Authenticator, Principal};
use crate::config::ServerConfig;
use crate::error_code::{ErrorCode, WireError};
use crate::frame::{FrameDecoder, FLAGS_KNOWN};
use crate::frame::{FrameError, FRAME_LENGTH_BYTES};
use crate::handler::{handle, handle_inline, Inline};
use crate::messages::{
    decode_error_code, decode_request, encode_response_split, HelloResponse, Opcode, Request, Response,
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
        request: Request,
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

/// Serve one connection (plain TCP or TLS) until it closes, fails a limit,
/// or the server shuts down.
///
/// `ticket` is the connection's place in the pre-handshake budget; it is
/// given back when `Hello` succeeds (the connection then takes one of the
/// `connections_max` slots) or the connection closes.
pub async fn run<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    ticket: crate::handshake_budget::HandshakeTicket,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (read_half, write_half) = tokio::io::split(stream);
    let in_flight = Arc::new(Semaphore::new(shared.config.in_flight_max as usize));
    let buffered_bytes = Arc::new(Semaphore::new(shared.config.connection_buffered_bytes_max as usize));
    let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
    let worker = tokio::spawn(worker(write_half, jobs_rx, shared.clone(), Session::new(peer)));
    let mut reader = Reader {
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

struct Reader<R> {
    read_half: R,
    jobs: mpsc::UnboundedSender<Job>,
    in_flight: Arc<Semaphore>,
    buffered_bytes: Arc<Semaphore>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    /// `None` until the handshake succeeded.
    principal: Option<Principal>,
    /// A fatal answer to send only after a back-off (a failed authentication).
    delayed: Option<(Duration, Job)>,
    peer: SocketAddr,
    /// The place in the pre-handshake budget, until the handshake succeeded.
    ticket: Option<crate::handshake_budget::HandshakeTicket>,
    /// One of the `connections_max` slots, once the handshake succeeded.
    slot: Option<OwnedSemaphorePermit>,
    /// The budget of the frame being received, taken once its length is in.
    reserved: Option<Reservation>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn send(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }

    async fn read_loop(&mut self) -> Outcome {
        let shared = self.shared.clone();
        let config = &shared.config;
        let started = Instant::now();
        let handshake_deadline = started + config.handshake_timeout();
        let mut decoder = FrameDecoder::new(HELLO_FRAME_BYTES_MAX.min(config.frame_bytes_max));
        let mut last_frame_at = started;
        let mut frame_started_at: Option<Instant> = None;
        loop {
            // Hand out every complete frame before reading more.
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => {
                        last_frame_at = Instant::now();
                        frame_started_at = None;
                        let bytes = frame.body.len() + crate::frame::FRAME_HEADER_BYTES;
                        let permit = match self.admit(bytes).await {
                            Ok(permit) => permit,
                            Err(outcome) => return outcome,
                        };
                        self.shared.metrics.request_bytes.fetch_add(bytes as u64, Relaxed);
                        let handshaking = self.principal.is_none();
                        if let Some(outcome) = self.process(frame, permit) {
                            if let Some((delay, job)) = self.delayed.take() {
                                tokio::time::sleep(delay).await;
                                self.send(job);
                            }
                            return outcome;
                        }
                        if handshaking && self.principal.is_some() {
                            decoder.set_frame_bytes_max(config.frame_bytes_max);
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        self.shared.metrics.frames_malformed.fetch_add(1, Relaxed);
                        let wire = match error {
                            FrameError::TooLarge {
                                length,
                                frame_bytes_max,
                            } => WireError::new(ErrorCode::FrameTooLarge, error.to_string())
                                .with_details(vec![u64::from(length), u64::from(frame_bytes_max)]),
                            FrameError::TooShort { .. } => WireError::new(ErrorCode::Malformed, error.to_string()),
                        };
                        tracing::info!(peer = %self.peer, %error, "closing connection: bad frame");
                        self.send(fatal(0, 0, wire));
                        return Outcome::Fatal;
                    }
                }
            }
            // Reserve the whole frame before reading its body: bytes a client
            // sent but never completed count against the budgets too.
            if self.reserved.is_none() {
                if let Some(bytes) = decoder.frame_bytes_pending() {
                    match self.reserve(bytes).await {
                        Ok(reservation) => self.reserved = Some(reservation),
                        Err(outcome) => return outcome,
                    }
                    // Waiting for the budget is not the client's slowness.
                    frame_started_at = Some(Instant::now());
                }
            }
            if decoder.is_mid_frame() {
                frame_started_at.get_or_insert_with(Instant::now);
            }
            let deadline = if self.principal.is_none() {
                handshake_deadline
            } else if let Some(at) = frame_started_at {
                at + config.slow_client_timeout()
            } else {
                last_frame_at + config.idle_timeout()
            };
            // A large body is read into its own buffer, sized by the length
            // just reserved; anything else into the stream buffer, one chunk
            // at most.
            let room = match decoder.large_body_remaining() {
                Some(left) => left.min(LARGE_READ_BYTES_MAX),
                None => READ_CHUNK_BYTES,
            };
            let event = {
                let target = decoder.read_buffer(room);
                let ticket = self.ticket.as_ref();
                let evicted = async move {
                    match ticket {
                        Some(ticket) => ticket.evicted().await,
                        None => std::future::pending().await,
                    }
                };
                let mut limited = (&mut self.read_half).take(room as u64);
                tokio::select! {
                    read = limited.read_buf(target) => match read {
                        Ok(0) | Err(_) => Event::Closed,
                        Ok(_) => Event::Read,
                    },
                    () = evicted => Event::Evicted,
                    _ = tokio::time::sleep_until(deadline.into()) => Event::Deadline,
                    _ = self.shutdown.changed() => Event::Shutdown,
                    _ = self.jobs.closed() => Event::Closed,
                }
            };
            match event {
                Event::Read => {}
                Event::Closed => return Outcome::Closed,
                Event::Shutdown => return Outcome::Shutdown,
                Event::Evicted => {
                    self.shared.metrics.connections_rejected.fetch_add(1, Relaxed);
                    tracing::info!(peer = %self.peer, "closing connection: handshake budget full, newer connection admitted");
                    self.send(fatal(0, 0, too_many_connections(config.handshake_connections_max)));
                    return Outcome::Fatal;
                }
                Event::Deadline => {
                    let idle = self.principal.is_some() && frame_started_at.is_none();
                    let answering = self.in_flight.available_permits() < config.in_flight_max as usize;
                    if idle && answering {
                        // Not idle: the client waits for an answer (a long
                        // request). Count idleness from now on.
                        last_frame_at = Instant::now();
                        continue;
                    }
                    let what = if self.principal.is_none() {
                        "handshake not completed in time"
                    } else if frame_started_at.is_some() {
                        "frame not completed in time (slow client)"
                    } else {
                        "idle"
                    };
                    tracing::info!(peer = %self.peer, what, "closing connection: timeout");
                    self.send(fatal(0, 0, WireError::new(ErrorCode::Timeout, what)));
                    return Outcome::Fatal;
                }
            }
        }
    }

    /// Wait for the buffer budgets of a frame of `bytes` (the socket is not
    /// read meanwhile). `Err` ends the read loop (worker gone, shutdown).
    async fn reserve(&mut self, bytes: usize) -> Result<Reservation, Outcome> {
        // A frame is at most frame_bytes_max, which both budgets are at least.
        let permits = u32::try_from(bytes).unwrap_or(u32::MAX).max(1);
        let connection = self.buffered_bytes.clone();
        let server = self.shared.buffered_bytes.clone();
        let acquire = async move {
            let connection_bytes = connection.acquire_many_owned(permits).await.ok()?;
            let server_bytes = server.reserve(permits).await;
            Some(Reservation {
                bytes,
                _connection_bytes: connection_bytes,
                _server_bytes: server_bytes,
            })
        };
        tokio::select! {
            reservation = acquire => reservation.ok_or(Outcome::Closed),
            _ = self.jobs.closed() => Err(Outcome::Closed),
            _ = self.shutdown.changed() => Err(Outcome::Shutdown),
        }
    }

    /// Wait for an in-flight slot and the buffer budgets (reserved while the
    /// frame arrived, or now) of a whole frame of `bytes`.
    async fn admit(&mut self, bytes: usize) -> Result<Admission, Outcome> {
        let reservation = match self.reserved.take() {
            Some(reservation) if reservation.bytes == bytes => reservation,
            other => {
                drop(other);
                self.reserve(bytes).await?
            }
        };
        let in_flight = self.in_flight.clone();
        tokio::select! {
            slot = in_flight.acquire_owned() => match slot {
                Ok(slot) => Ok(Admission { _slot: slot, _bytes: reservation }),
                Err(_) => Err(Outcome::Closed),
            },
            _ = self.jobs.closed() => Err(Outcome::Closed),
        }
    }

    /// Handle one frame; `Some` ends the read loop.
    fn process(&mut self, frame: crate::frame::Frame, permit: Admission) -> Option<Outcome> {
        let header = frame.header;
        if self.principal.is_none() && header.opcode != Opcode::Hello.code() {
            // Whatever else the frame is (an unknown opcode, a body that does
            // not decode), it is not the Hello the handshake needs.
            self.send(fatal(
                header.opcode,
                header.request_id,
                WireError::new(ErrorCode::HandshakeRequired, "the first frame must be Hello"),
            ));
            return Some(Outcome::Fatal);
        }
        // Decide from the header alone what needs no body: an opcode the
        // token may not call is refused without decoding its body.
        let flags_valid = header.flags & !FLAGS_KNOWN == 0 && !header.is_response();
        if let (true, Some(opcode), Some(principal)) = (flags_valid, Opcode::from_u16(header.opcode), &self.principal) {
            if !principal.permissions.contains(required(opcode)) {
                let job = Job::Reply {
                    opcode: header.opcode,
                    request_id: header.request_id,
                    result: Err(WireError::new(
                        ErrorCode::PermissionDenied,
                        format!("the connection's token may not call {opcode:?}"),
                    )),
                    close: false,
                    client_name: None,
                    principal: None,
                    _permit: Some(permit),
                };
                return (!self.send(job)).then_some(Outcome::Closed);
            }
        }
        let request = match decode_request(&frame) {
            Ok(request) => request,
            Err(error) => {
                self.shared.metrics.frames_malformed.fetch_add(1, Relaxed);
                let mut wire = WireError::new(decode_error_code(&error), error.to_string());
                if let DecodeError::UnknownOpcode { opcode } = error {
                    wire = wire.with_details(vec![u64::from(opcode)]);
                }
                tracing::info!(peer = %self.peer, %error, "closing connection: malformed request");
                self.send(fatal(header.opcode, header.request_id, wire));
                return Some(Outcome::Fatal);
            }
        };
        let opcode = request.opcode();
        if self.principal.is_none() {
            return self.handshake(header.request_id, request, permit);
        }
        let job = if let Request::Hello(_) = request {
            Job::Reply {
                opcode: header.opcode,
                request_id: header.request_id,
                result: Err(WireError::new(
                    ErrorCode::InvalidInput,
                    "Hello is only valid as the first frame",
                )),
                close: false,
                client_name: None,
                principal: None,
                _permit: Some(permit),
            }
        } else if let Some(error) = self
            .principal
            .as_ref()
            .and_then(|principal| crate::internal::denied(&request, principal.permissions))
        {
            Job::Reply {
                opcode: header.opcode,
                request_id: header.request_id,
                result: Err(error),
                close: false,
                client_name: None,
                principal: None,
                _permit: Some(permit),
            }
        } else {
            Job::Execute {
                opcode,
                request_id: header.request_id,
                request,
                received: Instant::now(),
                _permit: permit,
            }
        };
        if self.send(job) {
            None
        } else {
            Some(Outcome::Closed)
        }
    }

    fn handshake(&mut self, request_id: u32, request: Request, permit: Admission) -> Option<Outcome> {
        let opcode = request.opcode().code();
        let Request::Hello(hello) = request else {
            self.send(fatal(
                opcode,
                request_id,
                WireError::new(ErrorCode::HandshakeRequired, "the first frame must be Hello"),
            ));
            return Some(Outcome::Fatal);
        };
        let version = hello.version_max.min(PROTOCOL_VERSION_MAX);
        if version < hello.version_min.max(PROTOCOL_VERSION_MIN) {
            self.send(fatal(
                opcode,
                request_id,
                WireError::new(
                    ErrorCode::UnsupportedVersion,
                    format!(
                        "client speaks {}..={}, server {PROTOCOL_VERSION_MIN}..={PROTOCOL_VERSION_MAX}",
                        hello.version_min, hello.version_max
                    ),
                )
                .with_details(vec![u64::from(PROTOCOL_VERSION_MIN), u64::from(PROTOCOL_VERSION_MAX)]),
            ));
            return Some(Outcome::Fatal);
        }
        let Some(principal) = self.shared.auth.authenticate(hello.token.as_deref()) else {
            // The client name is the client's choice: logged escaped (`?`).
            let verdict = self.shared.metrics.failed_authentications.record(Instant::now());
            if let Some(suppressed) = verdict.log {
                tracing::info!(
                    peer = %self.peer,
                    client = ?hello.client_name,
                    failures_not_logged = suppressed,
                    "closing connection: bad token"
                );
            }
            let job = fatal(
                opcode,
                request_id,
                WireError::new(ErrorCode::Unauthenticated, "a valid token is required"),
            );
            self.delayed = Some((verdict.delay, job));
            return Some(Outcome::Fatal);
        };
        let Ok(slot) = self.shared.connection_slots.clone().try_acquire_owned() else {
            let connections_max = self.shared.config.connections_max;
            self.shared.metrics.connections_rejected.fetch_add(1, Relaxed);
            tracing::warn!(peer = %self.peer, connections_max, "refusing connection: too many connections");
            self.send(fatal(0, 0, too_many_connections(connections_max)));
            return Some(Outcome::Fatal);
        };
        self.slot = Some(slot);
        self.ticket = None;
        tracing::debug!(peer = %self.peer, client = ?hello.client_name, principal = ?principal.name, version, "handshake");
        let session_principal = principal.clone();
        self.principal = Some(principal);
        let response = HelloResponse {
            version,
            server_name: self.shared.config.server_name.clone(),
            frame_bytes_max: self.shared.config.frame_bytes_max,
            in_flight_max: self.shared.config.in_flight_max,
        };
        let sent = self.send(Job::Reply {
            opcode,
            request_id,
            result: Ok(Response::Hello(response)),
            close: false,
            client_name: Some(hello.client_name.clone()),
            principal: Some(session_principal),
            _permit: Some(permit),
        });
        if sent {
            None
        } else {
            Some(Outcome::Closed)
        }
    }

    /// Drain (and discard) what the client still sends, briefly, so that our
    /// close does not turn into a reset that destroys the error frame in flight.
    async fn linger(&mut self) {
        let deadline = tokio::time::Instant::now() + LINGER;
        let mut buf = vec![0u8; 16 * 1024];
        let mut drained = 0usize;
        while drained < LINGER_BYTES_MAX {
            match tokio::time::timeout_at(deadline, self.read_half.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => drained += n,
                _ => break,
            }
        }
    }
}

/// Executes jobs one at a time, in arrival order, and writes the responses in
/// the same order.
///
/// A request that cannot block for long ([`handle_inline`]) runs right here on
/// the connection's task; anything that may wait (an `Always` fsync, a long
/// poll, transactions, admin) runs on tokio's blocking pool while this task
/// awaits it, so the order of execution and of responses is the arrival
/// order either way. Responses of inline requests that are already queued
/// back to back are written together; before a blocking request starts,
/// everything answered so far is written (a long poll never holds back an
/// earlier answer).
async fn worker<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    shared: Arc<Shared>,
    session: Session,
) {
    // Moved into each blocking call and back; `None` after a handler panic,
    // which closes the connection (its transactions are then aborted).
    let mut session = Some(session);
    let mut output = Output {
        out: Vec::new(),
        answered: Vec::new(),
        write_timeout: shared.config.slow_client_timeout(),
    };
    let frame_bytes_max = shared.config.frame_bytes_max;
    loop {
        // Take the next job without waiting while answers are buffered; when
        // none is queued, send the buffered answers, then wait.
        let job = match jobs.try_recv() {
            Ok(job) => job,
            Err(mpsc::error::TryRecvError::Empty) => {
                if !output.flush(&mut writer).await {
                    return;
                }
                match jobs.recv().await {
                    Some(job) => job,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        // `budget`: a fetch response's place in the response budget, until written.
        let (opcode, request_id, result, close, permit, budget) = match job {
            Job::Execute {
                opcode,
                request_id,
                request,
                received,
                _permit,
            } => {
                let Some(mut taken) = session.take() else {
                    return;
                };
                // A fetch's response is counted in the response budget
                // until written: kept to fetch again if it must wait.
                let refetch = match &request {
                    Request::Fetch(fetch) => Some(fetch.clone()),
                    _ => None,
                };
                let context = shared.context.clone();
                let inline = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle_inline(&context, &mut taken, request)
                }));
                let (result, close) = match inline {
                    Ok(Inline::Done(result)) => {
                        session = Some(taken);
                        (result, false)
                    }
                    Ok(Inline::Durable {
                        appended,
                        topic,
                        partition,
                    }) => {
                        session = Some(taken);
                        // Answers so far go out before the fsync wait.
                        if !output.flush(&mut writer).await {
                            return;
                        }
                        let waited = context.acknowledged(appended, &topic, partition).await;
                        (waited.map(crate::handler::produced).map_err(WireError::from), false)
                    }
                    Ok(Inline::Blocking(request)) => {
                        if !output.flush(&mut writer).await {
                            return;
                        }
                        let call = run_blocking(move || {
                            let result = handle(&context, &mut taken, request);
                            (taken, result)
                        });
                        match call.await {
                            Ok((returned, result)) => {
                                session = Some(returned);
                                (result, false)
                            }
                            Err(_panic) => {
                                tracing::error!(?opcode, "request handler failed");
                                (Err(handler_failed()), true)
                            }
                        }
                    }
                    Err(_panic) => {
                        // The session may be half-updated: it is dropped
                        // (aborting its transactions) with the connection.
                        tracing::error!(?opcode, "request handler panicked");
                        (Err(handler_failed()), true)
                    }
                };
                let (result, budget) = match refetch {
                    Some(fetch) if !close => {
                        match within_response_budget(&shared, &mut output, &mut writer, &mut session, fetch, result)
                            .await
                        {
                            Some(answer) => answer,
                            None => return,
                        }
                    }
                    _ => (result, None),
                };
                shared.metrics.record_request(opcode, received.elapsed());
                (opcode.code(), request_id, result, close, Some(_permit), budget)
            }
            Job::Reply {
                opcode,
                request_id,
                result,
                close,
                client_name,
                principal,
                _permit,
            } => {
                if let (Some(name), Some(session)) = (client_name, session.as_mut()) {
                    session.client_name = name;
                }
                if let (Some(principal), Some(session)) = (principal, session.as_mut()) {
                    session.principal = principal;
                }
                (opcode, request_id, result, close, _permit, None)
            }
        };
        let tail = output.encode(opcode, request_id, result, frame_bytes_max, &shared.metrics);
        output.answered.extend(permit);
        if !tail.is_empty() {
            // A fetch: its records go out right behind the frame head, without
            // being copied into the output buffer.
            let sent = output.flush(&mut writer).await && output.write(&mut writer, &tail).await;
            if let Some(session) = session.as_mut() {
                session.recycle_fetch_buffer(tail);
            }
            if !sent {
                return;
            }
        }
        drop(budget);
        if close {
            if output.flush(&mut writer).await {
                let _ = tokio::time::timeout(output.write_timeout, writer.shutdown()).await;
            }
            return;
        }
    }
    if output.flush(&mut writer).await {
        let _ = tokio::time::timeout(output.write_timeout, writer.shutdown()).await;
    }
}

/// The error a connection over `connections_max` (or evicted from the
/// handshake budget) gets before it is closed.
pub fn too_many_connections(limit: u32) -> WireError {
    WireError::new(ErrorCode::TooManyConnections, "too many connections").with_details(vec![u64::from(limit)])
}

/// Count a fetch's response in the server's response budget. When the
/// budget cannot take it now, the response is dropped (a waiting fetch holds
/// no memory), the fetch waits for the budget, then is answered again at
/// once within the bytes granted. `None` when the connection must close.
async fn within_response_budget<W: AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    output: &mut Output,
    writer: &mut W,
    session: &mut Option<Session>,
    fetch: crate::messages::Fetch,
    result: Result<Response, WireError>,
) -> Option<(Result<Response, WireError>, Option<crate::budget::BytePermit>)> {
    let Ok(Response::FetchedEncoded(encoded)) = result else {
        return Some((result, None));
    };
    let bytes = crate::server::service::fetch_response_bytes(encoded.records.len());
    // At most frame_bytes_max, which the budget is at least.
    let permits = u32::try_from(bytes).unwrap_or(u32::MAX);
    if let Some(permit) = shared.response_bytes.try_reserve(permits) {
        return Some((Ok(Response::FetchedEncoded(encoded)), Some(permit)));
    }
    shared.metrics.fetches_waiting_for_budget.fetch_add(1, Relaxed);
    drop(encoded);
    let mut taken = session.take()?;
    // Answers so far go out (and free their budgets) before the wait.
    if !output.flush(writer).await {
        return None;
    }
    let permit = shared.response_bytes.reserve(permits).await;
    let context = shared.context.clone();
    let call = run_blocking(move || {
        let result = crate::handler::fetch_within(&context, &mut taken, &fetch, bytes);
        (taken, result)
    });
    match call.await {
        Ok((returned, result)) => {
            *session = Some(returned);
            Some((result, Some(permit)))
        }
        Err(_panic) => {
            tracing::error!("fetch handler failed");
            None
        }
    }
}

fn handler_failed() -> WireError {
    WireError::new(ErrorCode::Internal, "request handler failed; see server log")
}

/// Encoded responses not yet written, and the admissions of their requests
/// (released once the response is written).
struct Output {
    out: Vec<u8>,
    answered: Vec<Admission>,
    write_timeout: Duration,
}

impl Output {
    /// Append the response frame to `out`; returns the bytes that must be
    /// sent right after `out` (a fetch's records), usually empty.
    fn encode(
        &mut self,
        opcode: u16,
        request_id: u32,
        mut result: Result<Response, WireError>,
        frame_bytes_max: u32,
        metrics: &ServerMetrics,
    ) -> Vec<u8> {
        let start = self.out.len();
        let (length, mut tail) = encode_response_split(&mut self.out, opcode, request_id, &mut result);
        if length > frame_bytes_max {
            let error = WireError::new(
                ErrorCode::InvalidInput,
                format!(
                    "response of {} bytes exceeds frame_bytes_max {frame_bytes_max}; ask for fewer bytes",
                    u64::from(length) + FRAME_LENGTH_BYTES as u64
                ),
            );
            result = Err(error);
            self.out.truncate(start);
            tail.clear();
            encode_response_split(&mut self.out, opcode, request_id, &mut result);
        }
        if let Err(error) = &result {
            metrics.record_error(error.code);
        }
        let bytes = self.out.len() - start + tail.len();
        metrics.response_bytes.fetch_add(bytes as u64, Relaxed);
        tail
    }

    /// Write what is buffered and release the admissions of those requests.
    /// False when the client does not take it (the connection must close).
    async fn flush<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> bool {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            let written = self.write(writer, &out).await;
            self.out = out;
            self.out.clear();
            if !written {
                return false;
            }
        }
        self.answered.clear();
        true
    }

    async fn write<W: AsyncWrite + Unpin>(&self, writer: &mut W, bytes: &[u8]) -> bool {
        match tokio::time::timeout(self.write_timeout, writer.write_all(bytes)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) | Err(_) => {
                tracing::info!("closing connection: client does not read its responses");
                false
            }
        }
    }
}
