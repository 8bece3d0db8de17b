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

use crate::auth::{required, Authenticator, Permissions};
use crate::config::ServerConfig;
use crate::error_code::{ErrorCode, WireError};
use crate::frame::FrameDecoder;
use crate::frame::{FrameError, FRAME_LENGTH_BYTES};
use crate::handler::{handle, handle_inline, Context, Inline, Session};
use crate::messages::{
    decode_error_code, decode_request, encode_response_split, HelloResponse, Opcode, Request, Response,
    PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN,
};
use crate::metrics::ServerMetrics;
use crate::wire::DecodeError;

/// Bytes asked of the socket per read. With one frame being assembled this
/// bounds a connection's read buffer to `frame_bytes_max + READ_CHUNK_BYTES`.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// After a fatal error: how long, and how many bytes, the reader keeps
/// draining the socket so that closing does not reset the connection before
/// the client has read the error frame.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES_MAX: usize = 4 * 1024 * 1024;

/// What every connection shares.
pub struct Shared {
    pub config: ServerConfig,
    pub context: Arc<Context>,
    pub auth: Authenticator,
    pub metrics: Arc<ServerMetrics>,
    /// `buffered_bytes_max` over all connections.
    pub buffered_bytes: Arc<Semaphore>,
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

/// What a received request holds until it is answered: an in-flight slot,
/// and its bytes in the connection's and the server's buffer budgets.
#[derive(Debug)]
struct Admission {
    _slot: OwnedSemaphorePermit,
    _connection_bytes: OwnedSemaphorePermit,
    _server_bytes: OwnedSemaphorePermit,
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
        _permit: None,
    }
}

/// Serve one connection (plain TCP or TLS) until it closes, fails a limit,
/// or the server shuts down.
pub async fn run<S>(stream: S, peer: SocketAddr, shared: Arc<Shared>, shutdown: watch::Receiver<bool>)
where
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
        permissions: None,
        peer,
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

struct Reader<R> {
    read_half: R,
    jobs: mpsc::UnboundedSender<Job>,
    in_flight: Arc<Semaphore>,
    buffered_bytes: Arc<Semaphore>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    /// `None` until the handshake succeeded.
    permissions: Option<Permissions>,
    peer: SocketAddr,
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
        let mut decoder = FrameDecoder::new(config.frame_bytes_max);
        let mut buf = vec![0u8; READ_CHUNK_BYTES];
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
                        let Some(permit) = self.admit(bytes).await else {
                            return Outcome::Closed;
                        };
                        self.shared.metrics.request_bytes.fetch_add(bytes as u64, Relaxed);
                        if let Some(outcome) = self.process(frame, permit) {
                            return outcome;
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
            if decoder.is_mid_frame() {
                frame_started_at.get_or_insert_with(Instant::now);
            }
            let deadline = if self.permissions.is_none() {
                handshake_deadline
            } else if let Some(at) = frame_started_at {
                at + config.slow_client_timeout()
            } else {
                last_frame_at + config.idle_timeout()
            };
            tokio::select! {
                read = self.read_half.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return Outcome::Closed,
                    Ok(n) => decoder.feed(buf.get(..n).unwrap_or_default()),
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let idle = self.permissions.is_some() && frame_started_at.is_none();
                    let answering = self.in_flight.available_permits() < config.in_flight_max as usize;
                    if idle && answering {
                        // Not idle: the client waits for an answer (a long
                        // request). Count idleness from now on.
                        last_frame_at = Instant::now();
                        continue;
                    }
                    let what = if self.permissions.is_none() {
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
                _ = self.shutdown.changed() => return Outcome::Shutdown,
                _ = self.jobs.closed() => return Outcome::Closed,
            }
        }
    }

    /// Wait for an in-flight slot and buffer budget for a request of `bytes`
    /// (the socket is not read meanwhile). `None` when the worker is gone.
    async fn admit(&self, bytes: usize) -> Option<Admission> {
        // A frame is at most frame_bytes_max, which both budgets are at least.
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX).max(1);
        let acquire = async {
            let slot = self.in_flight.clone().acquire_owned().await.ok()?;
            let connection_bytes = self.buffered_bytes.clone().acquire_many_owned(bytes).await.ok()?;
            let server_bytes = self
                .shared
                .buffered_bytes
                .clone()
                .acquire_many_owned(bytes)
                .await
                .ok()?;
            Some(Admission {
                _slot: slot,
                _connection_bytes: connection_bytes,
                _server_bytes: server_bytes,
            })
        };
        tokio::select! {
            admission = acquire => admission,
            _ = self.jobs.closed() => None,
        }
    }

    /// Handle one frame; `Some` ends the read loop.
    fn process(&mut self, frame: crate::frame::Frame, permit: Admission) -> Option<Outcome> {
        let header = frame.header;
        if self.permissions.is_none() && header.opcode != Opcode::Hello.code() {
            // Whatever else the frame is (an unknown opcode, a body that does
            // not decode), it is not the Hello the handshake needs.
            self.send(fatal(
                header.opcode,
                header.request_id,
                WireError::new(ErrorCode::HandshakeRequired, "the first frame must be Hello"),
            ));
            return Some(Outcome::Fatal);
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
        let Some(permissions) = self.permissions else {
            return self.handshake(header.request_id, request, permit);
        };
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
                _permit: Some(permit),
            }
        } else if !permissions.contains(required(opcode)) {
            Job::Reply {
                opcode: header.opcode,
                request_id: header.request_id,
                result: Err(WireError::new(
                    ErrorCode::PermissionDenied,
                    format!("the connection's token may not call {opcode:?}"),
                )),
                close: false,
                client_name: None,
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
        let Some(permissions) = self.shared.auth.authenticate(hello.token.as_deref()) else {
            tracing::info!(peer = %self.peer, client = %hello.client_name, "closing connection: bad token");
            self.send(fatal(
                opcode,
                request_id,
                WireError::new(ErrorCode::Unauthenticated, "a valid token is required"),
            ));
            return Some(Outcome::Fatal);
        };
        self.permissions = Some(permissions);
        tracing::debug!(peer = %self.peer, client = %hello.client_name, version, "handshake");
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

/// Run `call`, which may block (an `Always` fsync, a long poll), without
/// stalling the runtime. On the multi-threaded runtime (`millrace serve`) it
/// runs right here under `block_in_place`: the runtime hands this worker's
/// other tasks to another thread while the request needs no hop to the
/// blocking pool and back (two thread wake-ups on its latency path). Elsewhere
/// (a current-thread runtime, as in some tests) it goes to the blocking pool.
/// A panic in `call` comes back as the `Err` either way.
pub(crate) async fn run_blocking<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Box<dyn std::any::Any + Send>> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)))
    } else {
        tokio::task::spawn_blocking(call).await.map_err(|join_error| {
            let panic: Box<dyn std::any::Any + Send> = Box::new(join_error.to_string());
            panic
        })
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
        let (opcode, request_id, result, close, permit) = match job {
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
                        pending,
                        topic,
                        partition,
                    }) => {
                        session = Some(taken);
                        // Answers so far go out before the fsync wait.
                        if !output.flush(&mut writer).await {
                            return;
                        }
                        let waited = context.syncer.wait(pending, &topic, partition).await;
                        (waited.map(crate::handler::produced), false)
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
                shared.metrics.record_request(opcode, received.elapsed());
                (opcode.code(), request_id, result, close, Some(_permit))
            }
            Job::Reply {
                opcode,
                request_id,
                result,
                close,
                client_name,
                _permit,
            } => {
                if let (Some(name), Some(session)) = (client_name, session.as_mut()) {
                    session.client_name = name;
                }
                (opcode, request_id, result, close, _permit)
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
