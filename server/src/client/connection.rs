// Over 600 lines: the pipelined connection (request matching, timeouts, reconnection) is one state machine.
//! The Rust client: one TCP connection with pipelined requests (many calls in
//! flight, matched to responses by request id), per-request timeouts, and
//! reconnection with exponential backoff.
//!
//! A request is never re-sent by [`Client::call`] once it was written: the
//! server may have executed it. Exactly-once produce through a dropped
//! connection needs an idempotent producer (producer id, epoch, sequence),
//! which retries with the same sequence; it arrives with the engine's
//! producer state.
//!
//! From synchronous code, let each calling thread drive its client with a
//! current-thread runtime of its own (`Builder::new_current_thread`,
//! `block_on`): the connection's read task then runs on the caller's thread
//! and a response wakes it once. `block_on` on a shared multi-thread runtime
//! works too but costs a second thread wake-up per response (a worker reads
//! it, then wakes the caller): ~10 % of a single durable producer's rate
//! over loopback (design/performance.md, "Current figures").

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::error_code::WireError;
use crate::frame::{Frame, FrameDecoder, FRAME_BYTES_MAX_HIGHEST};
use crate::messages::{
    decode_fetch_response_view, decode_response, encode_request, encode_request_into, Fetch, FetchedView, Hello,
    HelloResponse, Request, Response, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("I/O error talking to {addr}: {source}")]
    Io {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("connection lost before the response arrived; the request may or may not have been executed")]
    Disconnected,
    #[error("server error: {0}")]
    Server(#[from] WireError),
    #[error("protocol violation by the server: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The server's error code, if the server answered with an error.
    pub fn code(&self) -> Option<crate::error_code::ErrorCode> {
        match self {
            ClientError::Server(error) => Some(error.code),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub client_name: String,
    pub token: Option<Vec<u8>>,
    pub connect_timeout: Duration,
    /// Per request; a long-poll fetch adds its `max_wait_ms`.
    pub request_timeout: Duration,
    pub reconnect_backoff_initial: Duration,
    pub reconnect_backoff_max: Duration,
    /// Connection attempts per call before giving up (at least 1).
    pub connect_attempts_max: u32,
    /// Speak TLS; `None` = plain TCP.
    pub tls: Option<crate::tls::ClientTls>,
}

impl ClientOptions {
    /// The `Hello` a connection opens with: the protocol versions this
    /// client speaks, its name and token.
    pub(crate) fn hello(&self) -> Request {
        Request::Hello(Hello {
            version_min: PROTOCOL_VERSION_MIN,
            version_max: PROTOCOL_VERSION_MAX,
            client_name: self.client_name.clone(),
            token: self.token.clone(),
        })
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            client_name: format!("millrace-client/{}", env!("CARGO_PKG_VERSION")),
            token: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            reconnect_backoff_initial: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(2),
            connect_attempts_max: 5,
            tls: None,
        }
    }
}

type Reply = Result<Result<Response, WireError>, ClientError>;

/// Who waits for a response, and in which form it wants it.
pub(super) enum Pending {
    /// Decoded into a [`Response`] on the connection's read task.
    Decoded(oneshot::Sender<Reply>),
    /// A `Fetch` response as a [`FetchedView`], parsed by the caller's task
    /// (the read task only hands the frame over).
    View(oneshot::Sender<Result<Frame, ClientError>>),
}

impl Pending {
    fn fail(self, error: ClientError) {
        match self {
            Pending::Decoded(sender) => {
                let _ = sender.send(Err(error));
            }
            Pending::View(sender) => {
                let _ = sender.send(Err(error));
            }
        }
    }
}

type BoxedRead = Box<dyn AsyncRead + Send + Unpin>;
type BoxedWrite = Box<dyn AsyncWrite + Send + Unpin>;

struct Connection {
    writer: tokio::sync::Mutex<BoxedWrite>,
    /// Encoded requests not written yet. A caller appends its frame here,
    /// then takes the writer: whoever holds it writes everything queued
    /// meanwhile in one `write`, so concurrent calls on one connection share
    /// a system call (a caller that finds its frame already taken is done).
    outbox: Mutex<Vec<u8>>,
    pending: Mutex<HashMap<u32, Pending>>,
    closed: AtomicBool,
    hello: HelloResponse,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("closed", &self.closed)
            .field("hello", &self.hello)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn fail_all(&self, error: impl Fn() -> ClientError) {
        self.closed.store(true, Ordering::Release);
        let pending: Vec<_> = self.pending.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (_, waiter) in pending {
            waiter.fail(error());
        }
    }

    /// Append a request's frame to the outbox (encoded in place).
    fn queue(&self, encode: impl FnOnce(&mut Vec<u8>)) {
        encode(&mut self.outbox.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Write what the outbox holds, once this task has the writer. The
    /// frames queued while another task was writing go out together; when
    /// that task already took this caller's frame, nothing is left to write.
    /// A failed write fails the connection, whoever's frames it carried.
    async fn write_queued(&self) -> std::io::Result<()> {
        let mut writer = self.writer.lock().await;
        let mut queued = std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|p| p.into_inner()));
        if queued.is_empty() {
            return Ok(());
        }
        writer.write_all(&queued).await?;
        // The written buffer becomes the outbox again if nothing was queued
        // meanwhile: no allocation per request. A large one (a big batch) is
        // not kept.
        if queued.capacity() <= OUTBOX_KEPT_BYTES_MAX {
            let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
            if outbox.is_empty() {
                queued.clear();
                *outbox = queued;
            }
        }
        Ok(())
    }

    fn take_pending(&self, request_id: u32) -> Option<Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&request_id)
    }
}

#[derive(Debug)]
struct Inner {
    addr: SocketAddr,
    options: ClientOptions,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    next_request_id: AtomicU32,
}

/// A handle to a server; cheap to clone, clones share the connection.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connect and handshake now (fails fast on a bad address or token).
    pub async fn connect(addr: SocketAddr, options: ClientOptions) -> Result<Client, ClientError> {
        let client = Client {
            inner: Arc::new(Inner {
                addr,
                options,
                connection: tokio::sync::Mutex::new(None),
                next_request_id: AtomicU32::new(1),
            }),
        };
        client.connection().await?;
        Ok(client)
    }

    /// What the server announced in its `Hello` response.
    pub async fn server_hello(&self) -> Result<HelloResponse, ClientError> {
        Ok(self.connection().await?.hello.clone())
    }

    fn next_id(&self) -> u32 {
        loop {
            let id = self.inner.next_request_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }

    /// The live connection, reconnecting with backoff if there is none.
    async fn connection(&self) -> Result<Arc<Connection>, ClientError> {
        let mut slot = self.inner.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            if !connection.closed.load(Ordering::Acquire) {
                return Ok(connection.clone());
            }
        }
        *slot = None;
        let options = &self.inner.options;
        let mut backoff = options.reconnect_backoff_initial;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.open().await {
                Ok(connection) => {
                    *slot = Some(connection.clone());
                    return Ok(connection);
                }
                // A refusal by the server itself (bad token, version) will not heal by retrying.
                Err(error @ ClientError::Server(_)) => return Err(error),
                Err(error) if attempt >= options.connect_attempts_max.max(1) => return Err(error),
                Err(error) => {
                    tracing::debug!(%error, attempt, ?backoff, "reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(options.reconnect_backoff_max);
                }
            }
        }
    }

    async fn open(&self) -> Result<Arc<Connection>, ClientError> {
        let addr = self.inner.addr;
        let options = &self.inner.options;
        let io = |source| ClientError::Io { addr, source };
        let stream = tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout(options.connect_timeout))?
            .map_err(io)?;
        let _ = stream.set_nodelay(true);
        // Plain TCP only: under TLS the bytes still to come on the socket
        // are not the body's plaintext bytes (rustls may hold some already).
        let low_water = options
            .tls
            .is_none()
            .then(|| LowWater::new(std::os::fd::AsRawFd::as_raw_fd(&stream)));
        let (mut read_half, mut write_half): (BoxedRead, BoxedWrite) = match &options.tls {
            None => {
                let (read_half, write_half) = stream.into_split();
                (Box::new(read_half), Box::new(write_half))
            }
            Some(tls) => {
                // A TLS set-up failure is reported as an I/O error on the address.
                let (connector, name) = tls.connector().map_err(|e| io(std::io::Error::other(e)))?;
                let stream = tokio::time::timeout(options.connect_timeout, connector.connect(name, stream))
                    .await
                    .map_err(|_| ClientError::Timeout(options.connect_timeout))?
                    .map_err(io)?;
                let (read_half, write_half) = tokio::io::split(stream);
                (Box::new(read_half), Box::new(write_half))
            }
        };
        let hello = options.hello();
        let request_id = self.next_id();
        let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_HIGHEST);
        let handshake = async {
            write_half
                .write_all(&encode_request(request_id, &hello))
                .await
                .map_err(io)?;
            let frame = read_frame(&mut read_half, &mut decoder, None).await.map_err(io)?;
            let Some(frame) = frame else {
                return Err(ClientError::Disconnected);
            };
            match decode_response(&frame).map_err(|e| ClientError::Protocol(e.to_string()))? {
                Ok(Response::Hello(hello)) => Ok(hello),
                Ok(other) => Err(ClientError::Protocol(format!(
                    "expected a Hello response, got {other:?}"
                ))),
                Err(error) => Err(ClientError::Server(error)),
            }
        };
        let hello = tokio::time::timeout(options.connect_timeout, handshake)
            .await
            .map_err(|_| ClientError::Timeout(options.connect_timeout))??;
        let connection = Arc::new(Connection {
            writer: tokio::sync::Mutex::new(write_half),
            outbox: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            hello,
        });
        tokio::spawn(read_loop(read_half, decoder, low_water, Arc::downgrade(&connection)));
        Ok(connection)
    }

    /// Send one request and wait for its response. Safe to call concurrently
    /// from many tasks: requests are pipelined on one connection.
    pub async fn call(&self, request: Request) -> Result<Response, ClientError> {
        let reply = self.send(request, Pending::Decoded).await?;
        reply?.map_err(ClientError::Server)
    }

    /// As [`Client::fetch_with`], but the records stay in the response's
    /// buffer and are read in place ([`FetchedView::iter`]): no allocation or
    /// copy per record. For consumers that scan many records.
    pub async fn fetch_view(&self, fetch: Fetch) -> Result<FetchedView, ClientError> {
        let frame = self.send(Request::Fetch(fetch), Pending::View).await??;
        decode_fetch_response_view(frame)
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .map_err(ClientError::Server)
    }

    /// Send `request` and wait for what the read task sends the waiter that
    /// `waiter` makes (the response, decoded or raw).
    async fn send<T>(
        &self,
        request: Request,
        waiter: impl FnOnce(oneshot::Sender<T>) -> Pending,
    ) -> Result<T, ClientError> {
        let extra_wait = match &request {
            Request::Fetch(fetch) => Duration::from_millis(u64::from(fetch.max_wait_ms)),
            _ => Duration::ZERO,
        };
        self.send_encoded(
            extra_wait,
            |out, request_id| encode_request_into(out, request_id, &request),
            waiter,
        )
        .await
    }

    /// As [`Client::send`], the request written into the outbox by `encode`
    /// (given the buffer and the request id) from whatever it borrows.
    pub(super) async fn send_encoded<T>(
        &self,
        extra_wait: Duration,
        encode: impl FnOnce(&mut Vec<u8>, u32),
        waiter: impl FnOnce(oneshot::Sender<T>) -> Pending,
    ) -> Result<T, ClientError> {
        let timeout = self.inner.options.request_timeout + extra_wait;
        let connection = self.connection().await?;
        let request_id = self.next_id();
        let (sender, receiver) = oneshot::channel();
        connection
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request_id, waiter(sender));
        connection.queue(|out| encode(out, request_id));
        match tokio::time::timeout(timeout, connection.write_queued()).await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                connection.fail_all(|| ClientError::Disconnected);
                return Err(ClientError::Io {
                    addr: self.inner.addr,
                    source,
                });
            }
            Err(_) => {
                // A partial frame may be on the wire: the connection is unusable.
                connection.fail_all(|| ClientError::Disconnected);
                return Err(ClientError::Timeout(timeout));
            }
        }
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(ClientError::Disconnected),
            Err(_) => {
                connection.take_pending(request_id);
                Err(ClientError::Timeout(timeout))
            }
        }
    }
}

/// Largest written request buffer kept as the next outbox.
const OUTBOX_KEPT_BYTES_MAX: usize = 1024 * 1024;

/// Most bytes asked of the socket per read; a large response (a fetch) is
/// read straight into the decoder's buffer in reads of up to this size.
const READ_BYTES_MAX: usize = 1024 * 1024;
const READ_BYTES_MIN: usize = 64 * 1024;

/// Most a large body's reads wait for at once (see [`LowWater`]).
const LOW_WATER_MAX: usize = 512 * 1024;

/// The socket's receive low-water mark (`SO_RCVLOWAT`), raised while a large
/// response body is read: the reader is then woken once the body's next
/// `LOW_WATER_MAX` bytes (or all it still needs, if fewer) have arrived,
/// instead of once per segment the kernel queues (64 KiB on loopback, ~64
/// wake-ups per 4 MiB fetch, each also costing the sending server a remote
/// wake-up). The mark never exceeds what the current frame still has to
/// send, so it is always reached, and it is back at 1 byte before anything
/// else is read (Linux signals readiness at once when it is lowered).
#[derive(Debug)]
struct LowWater {
    fd: std::os::fd::RawFd,
    current: usize,
}

impl LowWater {
    fn new(fd: std::os::fd::RawFd) -> Self {
        LowWater { fd, current: 1 }
    }

    /// Wait for `bytes` (clamped to 1..=LOW_WATER_MAX) before the socket
    /// reads as ready. An error fails the connection rather than leave a
    /// raised mark in place.
    fn set(&mut self, bytes: usize) -> std::io::Result<()> {
        let bytes = bytes.clamp(1, LOW_WATER_MAX);
        if bytes == self.current {
            return Ok(());
        }
        Self::set_socket(self.fd, bytes)?;
        self.current = bytes;
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[expect(unsafe_code, reason = "setsockopt has no safe wrapper in std or tokio")]
    fn set_socket(fd: std::os::fd::RawFd, bytes: usize) -> std::io::Result<()> {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: the option value points at a live `c_int` and the length
        // passed is its size; the kernel only reads that many bytes. `fd`
        // is the connection's socket, open for as long as its read half
        // (which this low-water mark travels with) lives; were it not, the
        // call would fail with EBADF, not touch memory.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn set_socket(_fd: std::os::fd::RawFd, _bytes: usize) -> std::io::Result<()> {
        Ok(())
    }
}

/// Read until one whole frame is decoded; `None` on a clean EOF.
async fn read_frame<R: AsyncRead + Unpin>(
    read_half: &mut R,
    decoder: &mut FrameDecoder,
    mut low_water: Option<&mut LowWater>,
) -> std::io::Result<Option<Frame>> {
    loop {
        match decoder.next_frame() {
            Ok(Some(frame)) => return Ok(Some(frame)),
            Ok(None) => {}
            Err(error) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error)),
        }
        if let Some(low_water) = low_water.as_deref_mut() {
            low_water.set(decoder.large_body_remaining().unwrap_or(1))?;
        }
        let room = decoder.wanted().clamp(READ_BYTES_MIN, READ_BYTES_MAX);
        let buffer = decoder.read_buffer(room);
        let n = (&mut *read_half).take(room as u64).read_buf(buffer).await?;
        if n == 0 {
            return Ok(None);
        }
    }
}

/// Dispatch responses to their callers until the connection ends.
async fn read_loop(
    mut read_half: BoxedRead,
    mut decoder: FrameDecoder,
    mut low_water: Option<LowWater>,
    connection: std::sync::Weak<Connection>,
) {
    loop {
        let frame = read_frame(&mut read_half, &mut decoder, low_water.as_mut()).await;
        let Some(connection) = connection.upgrade() else {
            return;
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => {
                connection.fail_all(|| ClientError::Disconnected);
                return;
            }
        };
        if frame.header.request_id != 0 {
            match connection.take_pending(frame.header.request_id) {
                Some(Pending::Decoded(sender)) => {
                    let reply = decode_response(&frame).map_err(|e| ClientError::Protocol(e.to_string()));
                    let _ = sender.send(reply);
                }
                Some(Pending::View(sender)) => {
                    let _ = sender.send(Ok(frame));
                }
                None => {}
            }
            continue;
        }
        // An error not tied to a request: the server is closing the connection.
        let error = match decode_response(&frame) {
            Ok(Err(error)) => ClientError::Server(error),
            Ok(Ok(_)) => ClientError::Protocol("success response with request id 0".into()),
            Err(error) => ClientError::Protocol(error.to_string()),
        };
        let message = error.to_string();
        connection.fail_all(|| match &error {
            ClientError::Server(e) => ClientError::Server(e.clone()),
            _ => ClientError::Protocol(message.clone()),
        });
        return;
    }
}
