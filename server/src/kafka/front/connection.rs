//! One Kafka connection: a reader that turns bytes into request frames
//! under the native front's limits (`frame_bytes_max` checked before
//! allocating, the per-connection and server-wide buffer budgets,
//! `in_flight_max` pipelined requests, the idle and slow-client timeouts),
//! and a worker that decodes and handles them one at a time, in arrival
//! order, and writes the responses in that order: plain produces on the
//! connection's task (their `Always` fsync awaited there, shared with the
//! produces queued behind), everything else off the async runtime. See
//! "Listener and cluster APIs" in `design/kafka.md`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use super::{Conn, Front};
use crate::server::connection::Shared;

mod worker;
use worker::worker;

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

/// Frame buffers kept for reuse per connection, the largest kept, and the
/// most bytes of capacity they hold together, per connection and in the
/// whole process ([`SPARE_BYTES_HELD`]).
const SPARE_FRAMES_MAX: usize = 32;
const SPARE_FRAME_BYTES_MAX: usize = 2 * 1024 * 1024;
const SPARE_BYTES_MAX: usize = 32 * 1024 * 1024;
const SPARE_BYTES_PROCESS_MAX: usize = 128 * 1024 * 1024;
/// A new frame buffer of at least this many bytes gets its frame's length
/// rounded up to a multiple of it, so that the next frames of about the
/// same size (a producer's batches) fit in it as a spare.
const SPARE_GRANULE: usize = 64 * 1024;

/// Bytes of capacity held by every connection's [`Spares`].
static SPARE_BYTES_HELD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Frame buffers handed back by the worker once their requests are
/// answered, for the reader's next frames: a producing client's frames (up
/// to its batch size, ~1 MiB for librdkafka) reuse their allocations
/// instead of mapping and faulting in fresh pages for each request (as the
/// native session keeps its fetch buffer). librdkafka pipelines its
/// produces (up to `in_flight_max` wait while one fsync covers them), so
/// as many frames as were in flight are kept: at most [`SPARE_FRAMES_MAX`]
/// of at most [`SPARE_FRAME_BYTES_MAX`] each, [`SPARE_BYTES_MAX`] per
/// connection and [`SPARE_BYTES_PROCESS_MAX`] for all connections, for the
/// connection's life. With two kept (before s14) most of a pipelining
/// producer's frames were fresh pages: 130–230 page faults per 1,000
/// produced 1 KiB records against the native front's 3, a fifth of the
/// server's CPU (benches/results/2026-12-07-s14-kafka/).
#[derive(Debug, Default)]
struct Spares(std::sync::Mutex<Vec<Vec<u8>>>);

impl Spares {
    /// An empty buffer with room for `length` bytes: the smallest spare
    /// large enough, else a new one (a large one's capacity rounded up to [`SPARE_GRANULE`]).
    fn take(&self, length: usize) -> Vec<u8> {
        let spare = self.0.lock().ok().and_then(|mut spares| {
            // The smallest that fits: a small request leaves the large
            // spares to the batches.
            let (at, _) = spares
                .iter()
                .enumerate()
                .filter(|(_, spare)| spare.capacity() >= length)
                .min_by_key(|(_, spare)| spare.capacity())?;
            Some(spares.swap_remove(at))
        });
        match spare {
            Some(mut frame) => {
                SPARE_BYTES_HELD.fetch_sub(frame.capacity(), Relaxed);
                frame.clear();
                frame
            }
            // Small frames (not a producer's batches) get what they need.
            None if length < SPARE_GRANULE => Vec::with_capacity(length),
            None => Vec::with_capacity(length.div_ceil(SPARE_GRANULE).saturating_mul(SPARE_GRANULE).max(length)),
        }
    }

    fn give(&self, mut frame: Vec<u8>) {
        let bytes = frame.capacity();
        if bytes > SPARE_FRAME_BYTES_MAX {
            return;
        }
        if let Ok(mut spares) = self.0.lock() {
            let held: usize = spares.iter().map(Vec::capacity).sum();
            if spares.len() >= SPARE_FRAMES_MAX || held + bytes > SPARE_BYTES_MAX {
                return;
            }
            let kept = SPARE_BYTES_HELD.fetch_update(Relaxed, Relaxed, |all| {
                (all + bytes <= SPARE_BYTES_PROCESS_MAX).then_some(all + bytes)
            });
            if kept.is_ok() {
                frame.clear();
                spares.push(frame);
            }
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        let spares = self.0.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        let held: usize = spares.iter().map(Vec::capacity).sum();
        SPARE_BYTES_HELD.fetch_sub(held, Relaxed);
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

/// Serve one Kafka connection (plain TCP or TLS, given as its read and
/// write halves) until it closes, breaks a limit, or the server shuts down.
/// A TCP stream comes split by `TcpStream::into_split` (each half polls the
/// socket without a lock), a TLS stream by `tokio::io::split`, as on the
/// native front. `slot` is its place in `connections_max`, shared with the
/// native front.
pub(crate) async fn run<R, W>(
    (read_half, write_half): (R, W),
    peer: SocketAddr,
    front: Arc<Front>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    slot: OwnedSemaphorePermit,
) where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let authenticated = Arc::new(AtomicBool::new(!shared.auth.is_enabled()));
    let conn = if shared.auth.is_enabled() {
        Conn::unauthenticated(peer)
    } else {
        Conn::new(peer)
    };
    let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
    let spares = Arc::new(Spares::default());
    // Shutdown and the worker's end, waited for across reads (each a
    // waiter registered once, not once per read).
    let stop: Pin<Box<dyn Future<Output = Event> + Send>> = {
        let mut shutdown = shutdown.clone();
        let jobs = jobs_tx.clone();
        Box::pin(async move {
            tokio::select! {
                _ = shutdown.changed() => Event::Shutdown,
                () = jobs.closed() => Event::Closed,
            }
        })
    };
    // The connection's one timer, armed at the farthest deadline a read can
    // have: each read moves it earlier only when its deadline is earlier.
    let armed = Instant::now() + shared.config.idle_timeout().max(shared.config.slow_client_timeout());
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
        timer: Box::pin(tokio::time::sleep_until(armed.into())),
        armed,
        stop,
        stopped: None,
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
    /// One timer for the connection's life, armed at `armed`: a request
    /// moves the idle deadline later without touching the timer wheel;
    /// when the timer fires before the deadline it is moved to it (at most
    /// once per idle timeout), and it is moved earlier at once when a
    /// read's deadline is earlier (a frame that started arriving), as the
    /// native front's reader (design/performance.md, step 9).
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: Instant,
    /// Shutdown or the worker's end ([`Event::Shutdown`], [`Event::Closed`]).
    stop: Pin<Box<dyn Future<Output = Event> + Send>>,
    /// What `stop` answered, once it did (it is not polled again).
    stopped: Option<Event>,
}

/// What ended one wait of the read loop.
#[derive(Debug, Clone, Copy)]
enum Event {
    Read,
    Closed,
    Shutdown,
    Deadline,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Read one chunk into `target` (at most `room` bytes), or stop at the
    /// deadline, at shutdown or when the worker is gone. Cancel-safe. No
    /// timer or waiter is registered per read: the connection's own
    /// ([`Reader::timer`], [`Reader::stop`]) are moved or polled again.
    async fn read_some(&mut self, target: &mut Vec<u8>, room: usize, deadline: Instant) -> Event {
        if let Some(event) = self.stopped {
            return event;
        }
        if deadline < self.armed {
            self.armed = deadline;
            self.timer.as_mut().reset(deadline.into());
        }
        loop {
            let mut limited = (&mut self.read_half).take(room as u64);
            // `biased`: the read first (it is what wakes the task almost
            // every time), no random start per wait.
            let event = tokio::select! {
                biased;
                read = limited.read_buf(target) => match read {
                    Ok(0) | Err(_) => Event::Closed,
                    Ok(_) => Event::Read,
                },
                event = &mut self.stop => {
                    self.stopped = Some(event);
                    event
                }
                () = &mut self.timer => Event::Deadline,
            };
            if let Event::Deadline = event {
                let now = Instant::now();
                if now < deadline {
                    // Armed for an earlier deadline that has moved on.
                    self.armed = deadline;
                    self.timer.as_mut().reset(deadline.into());
                    continue;
                }
                // Fired: armed again at the farthest deadline a read can have.
                let config = &self.shared.config;
                self.armed = now + config.idle_timeout().max(config.slow_client_timeout());
                self.timer.as_mut().reset(self.armed.into());
            }
            return event;
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
        let mut deadline = None;
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
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + self.shared.config.slow_client_timeout());
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
            let slot = match self.in_flight.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    let in_flight = self.in_flight.clone();
                    tokio::select! {
                        slot = in_flight.acquire_owned() => slot.map_err(|_| Outcome::Closed)?,
                        _ = self.jobs.closed() => return Err(Outcome::Closed),
                    }
                }
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
        // Almost always both budgets have room: taken without registering
        // a waiter anywhere.
        if let Ok(connection_bytes) = self.connection_bytes.clone().try_acquire_many_owned(bytes) {
            if let Some(server_bytes) = self.shared.buffered_bytes.try_reserve(bytes) {
                return Ok((connection_bytes, server_bytes));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::{Spares, SPARE_BYTES_MAX, SPARE_FRAMES_MAX, SPARE_GRANULE};

    #[test]
    fn a_producers_next_frames_reuse_the_buffers_it_handed_back() {
        let spares = Spares::default();
        // librdkafka's batches vary by a record around batch.size.
        let first = spares.take(1_000_000);
        assert_eq!(first.capacity() % SPARE_GRANULE, 0, "rounded up to the granule");
        let second = spares.take(999_000);
        let (a, b) = (first.as_ptr(), second.as_ptr());
        spares.give(first);
        spares.give(second);
        // A slightly larger frame still fits in a spare: no new allocation.
        let third = spares.take(1_000_300);
        let fourth = spares.take(1_000_100);
        for frame in [&third, &fourth] {
            assert!(frame.is_empty());
            assert!(frame.as_ptr() == a || frame.as_ptr() == b, "a spare is reused");
        }
        assert_ne!(third.as_ptr(), fourth.as_ptr());
        // A frame larger than every spare gets a buffer of its own.
        spares.give(third);
        let large = spares.take(1_600_000);
        assert!(large.capacity() >= 1_600_000);
        assert!(large.as_ptr() != a && large.as_ptr() != b);
        // A small request takes the smallest spare that fits, not a batch's.
        let mixed = Spares::default();
        let small = mixed.take(100);
        assert_eq!(small.capacity(), 100, "a small frame is not rounded up");
        let small_at = small.as_ptr();
        mixed.give(large);
        mixed.give(small);
        let again = mixed.take(60);
        assert_eq!(again.as_ptr(), small_at);
    }

    #[test]
    fn the_spares_kept_are_bounded_in_number_and_bytes() {
        let spares = Spares::default();
        let small: Vec<Vec<u8>> = (0..SPARE_FRAMES_MAX + 3).map(|_| spares.take(100)).collect();
        for frame in small {
            spares.give(frame);
        }
        assert_eq!(spares.0.lock().map(|held| held.len()).unwrap_or(0), SPARE_FRAMES_MAX);
        let spares = Spares::default();
        let large: Vec<Vec<u8>> = (0..SPARE_FRAMES_MAX).map(|_| spares.take(2 * 1024 * 1024)).collect();
        for frame in large {
            spares.give(frame);
        }
        let held: usize = spares
            .0
            .lock()
            .map(|held| held.iter().map(Vec::capacity).sum())
            .unwrap_or(usize::MAX);
        assert!(held <= SPARE_BYTES_MAX, "{held} bytes kept");
        assert!(held > 0);
    }
}
