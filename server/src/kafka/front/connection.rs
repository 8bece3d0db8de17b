//! One Kafka connection: a reader that turns bytes into request frames
//! under the native front's limits (`frame_bytes_max` checked before
//! allocating, the per-connection and server-wide buffer budgets,
//! `in_flight_max` pipelined requests, the idle and slow-client timeouts),
//! and a worker that decodes and handles them one at a time, in arrival
//! order, and writes the responses in that order: plain produces on the
//! connection's task (their `Always` fsync awaited there, shared with the
//! produces queued behind), everything else off the async runtime. See
//! "Listener and cluster APIs" in `design/kafka.md`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use super::{dispatch, produce, Conn, Front};
use crate::kafka::protocol::{decode_request, encode_api_versions_fallback, ApiKey, Request, RequestError};
use crate::server::blocking::run_blocking;
use crate::server::connection::Shared;

/// Largest frame accepted before SASL authentication on a server with
/// tokens (ApiVersions, SaslHandshake and SaslAuthenticate are small): a
/// connection nobody authenticated cannot reserve `frame_bytes_max`.
pub(crate) const UNAUTHENTICATED_FRAME_BYTES_MAX: u32 = 64 * 1024;
/// Bytes asked of the socket per read of a body (read straight into the
/// frame's own buffer, reserved beforehand).
const READ_BYTES_MAX: usize = 1024 * 1024;
/// Bytes asked of the socket per read between frames: the next frames'
/// size prefixes and bodies, as many as the client pipelined, come in one
/// read instead of two reads per frame. What a connection holds outside the
/// buffer budgets is at most this (as the native front's reader).
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// After a protocol error: how long, and how many bytes, the reader keeps
/// draining the socket before closing, so that the close is not a reset
/// that destroys responses still in flight.
const LINGER: Duration = Duration::from_millis(200);
const LINGER_BYTES_MAX: usize = 1024 * 1024;

/// Frame buffers kept for reuse per connection, and the largest kept.
const SPARE_FRAMES_MAX: usize = 2;
const SPARE_FRAME_BYTES_MAX: usize = 2 * 1024 * 1024;

/// Frame buffers handed back by the worker once their requests are
/// answered, for the reader's next frames: a producing client's frames (up
/// to its batch size, ~1 MiB for librdkafka) reuse their allocations
/// instead of mapping and faulting in fresh pages for each request (as the
/// native session keeps its fetch buffer). At most [`SPARE_FRAMES_MAX`] of
/// at most [`SPARE_FRAME_BYTES_MAX`] each, for the connection's life.
#[derive(Debug, Default)]
struct Spares(std::sync::Mutex<Vec<Vec<u8>>>);

impl Spares {
    /// An empty buffer with room for `length` bytes.
    fn take(&self, length: usize) -> Vec<u8> {
        let mut frame = self.0.lock().ok().and_then(|mut spares| spares.pop()).unwrap_or_default();
        frame.clear();
        frame.reserve(length);
        frame
    }

    fn give(&self, mut frame: Vec<u8>) {
        if frame.capacity() > SPARE_FRAME_BYTES_MAX {
            return;
        }
        if let Ok(mut spares) = self.0.lock() {
            if spares.len() < SPARE_FRAMES_MAX {
                frame.clear();
                spares.push(frame);
            }
        }
    }
}

/// A frame's place in the budgets, held until its response is written.
#[derive(Debug)]
struct Admission {
    _slot: OwnedSemaphorePermit,
    _connection_bytes: OwnedSemaphorePermit,
    _server_bytes: crate::server::budget::BytePermit,
}

/// One received request frame (without its size prefix).
struct Job {
    frame: Vec<u8>,
    admission: Admission,
}

/// Why the read loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The peer closed, or the worker stopped (it closes the connection).
    Closed,
    /// A limit or a protocol error: close (after a short linger).
    Fatal,
    /// Server shutdown: stop reading, answer what was received.
    Shutdown,
}

/// Serve one Kafka connection (plain TCP or TLS) until it closes, breaks a
/// limit, or the server shuts down. `slot` is its place in
/// `connections_max`, shared with the native front.
pub(crate) async fn run<S>(
    stream: S,
    peer: SocketAddr,
    front: Arc<Front>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    slot: OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (read_half, write_half) = tokio::io::split(stream);
    let authenticated = Arc::new(AtomicBool::new(!shared.auth.is_enabled()));
    let conn = if shared.auth.is_enabled() {
        Conn::unauthenticated(peer)
    } else {
        Conn::new(peer)
    };
    let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
    let spares = Arc::new(Spares::default());
    let worker = tokio::spawn(worker(
        write_half,
        jobs_rx,
        front,
        shared.clone(),
        conn,
        authenticated.clone(),
        spares.clone(),
    ));
    let mut reader = Reader {
        read_half,
        jobs: jobs_tx,
        in_flight: Arc::new(Semaphore::new(shared.config.in_flight_max as usize)),
        connection_bytes: Arc::new(Semaphore::new(shared.config.connection_buffered_bytes_max as usize)),
        shared,
        shutdown,
        authenticated,
        peer,
        buffered: Vec::new(),
        taken: 0,
        spares,
    };
    let outcome = reader.read_loop().await;
    tracing::debug!(%peer, ?outcome, "Kafka connection reader finished");
    if outcome == Outcome::Fatal {
        reader.linger().await;
    }
    drop(reader);
    let _ = worker.await;
    drop(slot);
}

struct Reader<R> {
    read_half: R,
    jobs: mpsc::UnboundedSender<Job>,
    in_flight: Arc<Semaphore>,
    connection_bytes: Arc<Semaphore>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    authenticated: Arc<AtomicBool>,
    peer: SocketAddr,
    /// Bytes read past the frames taken so far (from `taken` on): the start
    /// of the next frames. At most [`READ_CHUNK_BYTES`].
    buffered: Vec<u8>,
    taken: usize,
    /// Frame buffers back from the worker.
    spares: Arc<Spares>,
}

/// What ended one wait of the read loop.
enum Event {
    Read,
    Closed,
    Shutdown,
    Deadline,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Read one chunk into `target` (at most `room` bytes), or stop at the
    /// deadline, at shutdown or when the worker is gone. Cancel-safe.
    async fn read_some(&mut self, target: &mut Vec<u8>, room: usize, deadline: Instant) -> Event {
        let mut limited = (&mut self.read_half).take(room as u64);
        tokio::select! {
            read = limited.read_buf(target) => match read {
                Ok(0) | Err(_) => Event::Closed,
                Ok(_) => Event::Read,
            },
            _ = tokio::time::sleep_until(deadline.into()) => Event::Deadline,
            _ = self.shutdown.changed() => Event::Shutdown,
            _ = self.jobs.closed() => Event::Closed,
        }
    }

    fn answering(&self) -> bool {
        self.in_flight.available_permits() < self.shared.config.in_flight_max as usize
    }

    /// The next frame's size prefix: idle until its first byte (not while
    /// an answer is pending), slow after; before SASL, within the handshake
    /// deadline.
    async fn read_size(&mut self, last_frame_at: &mut Instant, handshake_deadline: Instant) -> Result<i32, Outcome> {
        let idle_timeout = self.shared.config.idle_timeout();
        let slow_client_timeout = self.shared.config.slow_client_timeout();
        // Bytes of the prefix already read with the previous frames.
        let mut frame_started_at = (self.buffered.len() > self.taken).then(Instant::now);
        if self.buffered.len() < self.taken + 4 {
            // Keep only the prefix's first bytes, at the start.
            self.buffered.drain(..self.taken);
            self.taken = 0;
        }
        while self.buffered.len() < self.taken + 4 {
            let authenticated = self.authenticated.load(Relaxed);
            let mut deadline = match frame_started_at {
                Some(at) => at + slow_client_timeout,
                None => *last_frame_at + idle_timeout,
            };
            if !authenticated {
                deadline = deadline.min(handshake_deadline);
            }
            let room = READ_CHUNK_BYTES - self.buffered.len();
            // `read_buf` reads into spare capacity only.
            self.buffered.reserve(room);
            let mut buffered = std::mem::take(&mut self.buffered);
            let event = self.read_some(&mut buffered, room, deadline).await;
            self.buffered = buffered;
            match event {
                Event::Read => {
                    frame_started_at.get_or_insert_with(Instant::now);
                }
                Event::Closed => return Err(Outcome::Closed),
                Event::Shutdown => return Err(Outcome::Shutdown),
                Event::Deadline => {
                    if !authenticated {
                        tracing::info!(peer = %self.peer, "closing Kafka connection: SASL not completed in time");
                        return Err(Outcome::Closed);
                    }
                    if frame_started_at.is_none() && self.answering() {
                        // Not idle: the client waits for an answer.
                        *last_frame_at = Instant::now();
                        continue;
                    }
                    let what = if frame_started_at.is_some() {
                        "frame not completed in time (slow client)"
                    } else {
                        "idle"
                    };
                    tracing::info!(peer = %self.peer, what, "closing Kafka connection: timeout");
                    return Err(Outcome::Closed);
                }
            }
        }
        let mut size = [0u8; 4];
        let prefix = self.buffered.get(self.taken..self.taken + 4).ok_or(Outcome::Fatal)?;
        size.copy_from_slice(prefix);
        self.taken += 4;
        Ok(i32::from_be_bytes(size))
    }

    /// A frame body of `length` bytes (its budgets reserved), within the
    /// slow-client timeout.
    async fn read_body(&mut self, length: usize) -> Result<Vec<u8>, Outcome> {
        let deadline = Instant::now() + self.shared.config.slow_client_timeout();
        let mut frame = self.spares.take(length);
        // What came with the previous read first, then straight from the socket.
        let available = self.buffered.get(self.taken..).unwrap_or_default();
        let from_buffer = available.len().min(length);
        frame.extend_from_slice(available.get(..from_buffer).unwrap_or_default());
        self.taken += from_buffer;
        if self.taken == self.buffered.len() {
            self.buffered.clear();
            self.taken = 0;
        }
        while frame.len() < length {
            let room = (length - frame.len()).min(READ_BYTES_MAX);
            match self.read_some(&mut frame, room, deadline).await {
                Event::Read => {}
                Event::Closed => return Err(Outcome::Closed),
                Event::Shutdown => return Err(Outcome::Shutdown),
                Event::Deadline => {
                    tracing::info!(peer = %self.peer, "closing Kafka connection: frame not completed in time (slow client)");
                    return Err(Outcome::Closed);
                }
            }
        }
        Ok(frame)
    }

    async fn read_loop(&mut self) -> Outcome {
        match self.read_frames().await {
            Ok(never) => match never {},
            Err(outcome) => outcome,
        }
    }

    /// Reads frames and queues them for the worker until something ends the
    /// connection (the `Err`).
    async fn read_frames(&mut self) -> Result<std::convert::Infallible, Outcome> {
        if *self.shutdown.borrow() {
            return Err(Outcome::Shutdown);
        }
        let frame_bytes_max = self.shared.config.frame_bytes_max;
        // On a server with tokens: SASL must succeed within the handshake timeout.
        let handshake_deadline = Instant::now() + self.shared.config.handshake_timeout();
        let mut last_frame_at = Instant::now();
        loop {
            let size = self.read_size(&mut last_frame_at, handshake_deadline).await?;
            let limit = if self.authenticated.load(Relaxed) {
                frame_bytes_max
            } else {
                UNAUTHENTICATED_FRAME_BYTES_MAX.min(frame_bytes_max)
            };
            let length = match u32::try_from(size) {
                Ok(length) if length > 0 && length <= limit => length,
                _ => {
                    self.shared.metrics.frames_malformed.fetch_add(1, Relaxed);
                    tracing::info!(peer = %self.peer, size, limit, "closing Kafka connection: frame size out of range");
                    return Err(Outcome::Fatal);
                }
            };
            // Reserve the whole frame before reading its body (waiting for
            // the budget is not the client's slowness).
            let (connection_bytes, server_bytes) = self.reserve(length).await?;
            let frame = self.read_body(length as usize).await?;
            last_frame_at = Instant::now();
            let metrics = &self.shared.metrics;
            metrics.request_bytes.fetch_add(u64::from(length) + 4, Relaxed);
            metrics.kafka.request_bytes.fetch_add(u64::from(length) + 4, Relaxed);
            // Pipelining: at most in_flight_max requests wait for answers.
            let in_flight = self.in_flight.clone();
            let slot = tokio::select! {
                slot = in_flight.acquire_owned() => slot.map_err(|_| Outcome::Closed)?,
                _ = self.jobs.closed() => return Err(Outcome::Closed),
            };
            let job = Job {
                frame,
                admission: Admission {
                    _slot: slot,
                    _connection_bytes: connection_bytes,
                    _server_bytes: server_bytes,
                },
            };
            if self.jobs.send(job).is_err() {
                return Err(Outcome::Closed);
            }
        }
    }

    /// Wait for the connection's and the server's buffer budgets of a frame
    /// of `bytes` (at most `frame_bytes_max`, which both are at least).
    async fn reserve(
        &mut self,
        bytes: u32,
    ) -> Result<(OwnedSemaphorePermit, crate::server::budget::BytePermit), Outcome> {
        let connection = self.connection_bytes.clone();
        let server = self.shared.buffered_bytes.clone();
        let acquire = async move {
            let connection_bytes = connection.acquire_many_owned(bytes).await.ok()?;
            let server_bytes = server.reserve(bytes).await;
            Some((connection_bytes, server_bytes))
        };
        tokio::select! {
            permits = acquire => permits.ok_or(Outcome::Closed),
            _ = self.jobs.closed() => Err(Outcome::Closed),
            _ = self.shutdown.changed() => Err(Outcome::Shutdown),
        }
    }

    /// Drain what the client still sends, briefly, so that the close does
    /// not reset the connection before it read the answers already sent.
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

/// APIs whose handlers answer at once (no long poll, fsync wait, rebalance
/// or engine write): answers to them may stay buffered behind the next
/// request, so that pipelined answers go out in one write.
fn answers_at_once(api_key: i16) -> bool {
    [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::ListOffsets,
        ApiKey::FindCoordinator,
        ApiKey::Heartbeat,
        ApiKey::DescribeGroups,
        ApiKey::ListGroups,
        ApiKey::OffsetFetch,
        ApiKey::SaslHandshake,
        ApiKey::SaslAuthenticate,
    ]
    .iter()
    .any(|api| api.code() == api_key)
}

/// Decode one frame and run its handler, appending the response to `out`.
/// `Err` closes the connection (the reason is logged).
fn serve_frame(front: &Front, conn: &mut Conn, frame: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    match decode_request(frame) {
        Ok((header, request)) => {
            let api = request.api_key();
            let before_sasl = matches!(
                api,
                ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
            );
            if !conn.authenticated && !before_sasl {
                // As Kafka: a request before authentication closes the connection.
                return Err(format!("{api:?} before SASL authentication"));
            }
            dispatch::handle(front, conn, &header, request, out).map_err(|error| error.to_string())
        }
        Err(RequestError::UnsupportedVersion { header, .. }) if header.api() == Some(ApiKey::ApiVersions) => {
            // KIP-511: the client retries with the highest version we name.
            encode_api_versions_fallback(out, header.correlation_id).map_err(|error| error.to_string())
        }
        // Produce v0–2 is advertised (old librdkafka needs it to keep its
        // codecs on) but refused: UNSUPPORTED_VERSION for each partition.
        Err(RequestError::UnsupportedVersion {
            header,
            refused: Some(request),
        }) if conn.authenticated => match *request {
            Request::Produce(produce) => {
                super::refuse_version(&header, &produce, out).map_err(|error| error.to_string())
            }
            other => Err(format!("{:?} v{} is not served", other.api_key(), header.api_version)),
        },
        // As Kafka: an unknown API, a version it does not serve, a header or
        // body that does not decode: the connection is closed.
        Err(error) => Err(error.to_string()),
    }
}

/// The API key of a frame (`-1` when it is too short to say).
fn api_key_of(frame: &[u8]) -> i16 {
    match frame {
        [high, low, ..] => i16::from_be_bytes([*high, *low]),
        _ => -1,
    }
}

/// Executes requests one at a time, in arrival order, and writes their
/// responses in the same order.
///
/// A plain Produce ([`produce::runs_inline`]) is written right here on the
/// connection's task and its `Always` acknowledgement awaited here (the
/// engine's durable wait, no thread hop); the Produce requests already
/// queued behind it are written before that wait, so that one fsync covers
/// them and their answers go out in the same write ([`produce_run`]).
/// Every other request runs off the async runtime ([`run_blocking`]).
async fn worker<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    front: Arc<Front>,
    shared: Arc<Shared>,
    conn: Conn,
    authenticated: Arc<AtomicBool>,
    spares: Arc<Spares>,
) {
    let write_timeout = shared.config.slow_client_timeout();
    let mut state = Some((conn, Vec::new()));
    // Admissions of the requests whose answers are in the output buffer.
    let mut answered: Vec<Admission> = Vec::new();
    // The job that ended a run of inline produces, to take next.
    let mut carry: Option<Job> = None;
    let mut close = false;
    while !close {
        let next = match carry.take() {
            Some(job) => Ok(job),
            None => jobs.try_recv(),
        };
        let mut job = match next {
            Ok(job) => job,
            Err(mpsc::error::TryRecvError::Empty) => {
                if !flush(&mut writer, &mut state, &mut answered, write_timeout).await {
                    return;
                }
                match jobs.recv().await {
                    Some(job) => job,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        let api_key = api_key_of(&job.frame);
        if api_key == ApiKey::Produce.code() {
            let Some((mut conn, mut out)) = state.take() else {
                return;
            };
            let mut run = Run {
                front: &front,
                shared: &shared,
                conn: &mut conn,
                out: &mut out,
                answered: &mut answered,
                spares: &spares,
                write_timeout,
            };
            let ran = run.produce_run(job, &mut jobs, &mut writer).await;
            state = Some((conn, out));
            match ran {
                Ran::Done(next) => {
                    carry = next;
                    continue;
                }
                Ran::Close => {
                    close = true;
                    continue;
                }
                Ran::Gone => return,
                Ran::NotInline(back) => job = back,
            }
        }
        if !answers_at_once(api_key) && !flush(&mut writer, &mut state, &mut answered, write_timeout).await {
            return;
        }
        let Some((mut conn, mut out)) = state.take() else {
            return;
        };
        shared.metrics.kafka.record_request(api_key);
        let written = out.len();
        let front = front.clone();
        let frame = job.frame;
        let call = run_blocking(move || {
            let served = serve_frame(&front, &mut conn, &frame, &mut out);
            (conn, out, served, frame)
        });
        match call.await {
            Ok((conn, out, served, frame)) => {
                spares.give(frame);
                let bytes = out.len().saturating_sub(written) as u64;
                shared.metrics.response_bytes.fetch_add(bytes, Relaxed);
                shared.metrics.kafka.response_bytes.fetch_add(bytes, Relaxed);
                authenticated.store(conn.authenticated, Relaxed);
                if let Err(reason) = served {
                    let peer = conn.session.peer;
                    tracing::info!(%peer, api_key, %reason, "closing Kafka connection");
                    shared.metrics.kafka.record_error(api_key, super::metrics::CLOSED);
                    close = true;
                }
                state = Some((conn, out));
            }
            Err(_panic) => {
                // The connection's state may be half-updated: it is dropped.
                tracing::error!(api_key, "Kafka request handler panicked");
                return;
            }
        }
        answered.push(job.admission);
    }
    if flush(&mut writer, &mut state, &mut answered, write_timeout).await {
        let _ = tokio::time::timeout(write_timeout, writer.shutdown()).await;
    }
}

/// How a run of inline produces ended.
enum Ran {
    /// Answered (into the output buffer); the job that ended the run, if
    /// one did, is next.
    Done(Option<Job>),
    /// Not a plain produce: the job goes the blocking way.
    NotInline(Job),
    /// Answered what it could; the connection closes (logged).
    Close,
    /// The client does not take its answers, or a handler panicked: the
    /// connection is dropped.
    Gone,
}

/// What a run of inline produces works with: the worker's state, lent.
struct Run<'w> {
    front: &'w Front,
    shared: &'w Shared,
    conn: &'w mut Conn,
    out: &'w mut Vec<u8>,
    answered: &'w mut Vec<Admission>,
    spares: &'w Spares,
    write_timeout: Duration,
}

impl Run<'_> {
    /// Write `frame`'s produce here if it is a plain one: `None` when it is
    /// not (or it does not decode: the blocking way answers that),
    /// `Some(Err)` when the handler panicked.
    fn start(&mut self, frame: &[u8]) -> Option<Result<produce::Started, ()>> {
        if !self.conn.authenticated {
            return None;
        }
        let Ok((_, Request::Produce(request))) = decode_request(frame) else {
            return None;
        };
        if !produce::runs_inline(self.front, &request) {
            return None;
        }
        let (front, conn) = (self.front, &mut *self.conn);
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| produce::start(front, conn, &request)));
        self.shared.metrics.kafka.record_request(ApiKey::Produce.code());
        Some(started.map_err(|_| tracing::error!("Kafka produce handler panicked")))
    }

    /// Write `first` (a Produce) and the produces queued right behind it
    /// when it waits for an fsync, then await their acknowledgements in
    /// order and answer each.
    async fn produce_run<W: AsyncWrite + Unpin>(
        &mut self,
        first: Job,
        jobs: &mut mpsc::UnboundedReceiver<Job>,
        writer: &mut W,
    ) -> Ran {
        let started = match self.start(&first.frame) {
            None => return Ran::NotInline(first),
            Some(Err(())) => return Ran::Gone,
            Some(Ok(started)) => started,
        };
        let waits = started.owes();
        let mut run = vec![(first, started)];
        let mut carry = None;
        if waits {
            // Written before the wait: the fsync it waits for covers them.
            while let Ok(next) = jobs.try_recv() {
                if api_key_of(&next.frame) != ApiKey::Produce.code() {
                    carry = Some(next);
                    break;
                }
                match self.start(&next.frame) {
                    None => {
                        carry = Some(next);
                        break;
                    }
                    Some(Err(())) => return Ran::Gone,
                    Some(Ok(started)) => run.push((next, started)),
                }
            }
            // The answers so far go out before the fsync wait.
            if !write_out(writer, self.out, self.answered, self.write_timeout).await {
                return Ran::Gone;
            }
        }
        for (job, mut started) in run {
            let owed = started.take_owed();
            let settled = if owed.is_empty() {
                Vec::new()
            } else {
                crate::server::durable::acknowledged_all(owed, Some(started.deadline())).await
            };
            let written = self.out.len();
            let answered = match decode_request(&job.frame) {
                Ok((header, Request::Produce(request))) => {
                    produce::finish(self.front, &header, &request, started, settled, self.out)
                        .map_err(|error| error.to_string())
                }
                _ => Err("the produce no longer decodes".to_owned()),
            };
            let bytes = self.out.len().saturating_sub(written) as u64;
            self.shared.metrics.response_bytes.fetch_add(bytes, Relaxed);
            self.shared.metrics.kafka.response_bytes.fetch_add(bytes, Relaxed);
            self.answered.push(job.admission);
            self.spares.give(job.frame);
            if let Err(reason) = answered {
                let peer = self.conn.session.peer;
                let api_key = ApiKey::Produce.code();
                tracing::info!(%peer, api_key, %reason, "closing Kafka connection");
                self.shared.metrics.kafka.record_error(api_key, super::metrics::CLOSED);
                return Ran::Close;
            }
        }
        Ran::Done(carry)
    }
}

/// Write the buffered answers and release their requests' admissions.
/// False when the client does not take them (the connection closes).
async fn flush<W: AsyncWrite + Unpin>(
    writer: &mut W,
    state: &mut Option<(Conn, Vec<u8>)>,
    answered: &mut Vec<Admission>,
    write_timeout: Duration,
) -> bool {
    match state.as_mut() {
        Some((_, out)) => write_out(writer, out, answered, write_timeout).await,
        None => {
            answered.clear();
            true
        }
    }
}

/// [`flush`] of an output buffer.
async fn write_out<W: AsyncWrite + Unpin>(
    writer: &mut W,
    out: &mut Vec<u8>,
    answered: &mut Vec<Admission>,
    write_timeout: Duration,
) -> bool {
    if !out.is_empty() {
        match tokio::time::timeout(write_timeout, writer.write_all(out)).await {
            Ok(Ok(())) => out.clear(),
            Ok(Err(_)) | Err(_) => {
                tracing::info!("closing Kafka connection: client does not read its responses");
                return false;
            }
        }
    }
    answered.clear();
    true
}
