//! The blocking client, for synchronous code: one plain-TCP connection, one
//! request at a time, written and read on the calling thread with blocking
//! `write` and `read`. No runtime, no read task and no readiness wait: a
//! response wakes the caller once, inside its `read`, where the async
//! [`Client`](super::Client) on a caller's current-thread runtime costs a
//! `write`, an `epoll_wait` and a `read` per request plus the runtime's
//! bookkeeping (design/performance.md, issue 26).
//!
//! Use it for a thread that sends a request and waits for its answer (a
//! synchronous producer); use [`Client`](super::Client) to pipeline many
//! requests on one connection, from many tasks, or over TLS.
//!
//! As with [`Client::call`](super::Client::call), a request is never re-sent
//! once written. A connection that failed (an I/O error, a timeout, a frame
//! it cannot read) is dropped; the next call opens a new one, with the same
//! backoff and attempts as [`ClientOptions`] give the async client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use millrace::Record;

use super::connection::{ClientError, ClientOptions};
use crate::error_code::WireError;
use crate::frame::{FrameDecoder, FRAME_BYTES_MAX_HIGHEST};
use crate::messages::{
    decode_response_parts, encode_produce_into, encode_request_into, HelloResponse, Produced, Request, Response,
};

/// Bytes asked of the socket per read: at least this (a small response and
/// whatever follows it arrive in one read), at most [`READ_BYTES_MAX`].
const READ_BYTES_MIN: usize = 4 * 1024;
const READ_BYTES_MAX: usize = 1024 * 1024;

/// A blocking connection to a server (see the module documentation).
#[derive(Debug)]
pub struct BlockingClient {
    addr: SocketAddr,
    options: ClientOptions,
    /// `None` after a failure: the next call reconnects.
    stream: Option<Open>,
    next_request_id: u32,
    /// The request being written, reused from call to call.
    out: Vec<u8>,
}

#[derive(Debug)]
struct Open {
    stream: TcpStream,
    decoder: FrameDecoder,
    hello: HelloResponse,
    /// The read timeout set on the socket, so it is set only when it changes.
    read_timeout: Duration,
}

impl BlockingClient {
    /// Connect and handshake now (fails fast on a bad address or token).
    /// TLS is not spoken here: `options.tls` set is an error.
    pub fn connect(addr: SocketAddr, options: ClientOptions) -> Result<BlockingClient, ClientError> {
        if options.tls.is_some() {
            return Err(ClientError::Io {
                addr,
                source: std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "the blocking client speaks plain TCP; use the async client for TLS",
                ),
            });
        }
        let mut client = BlockingClient {
            addr,
            options,
            stream: None,
            next_request_id: 1,
            out: Vec::new(),
        };
        client.open_with_retries()?;
        Ok(client)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server announced in its `Hello` response (of the current
    /// connection; `None` while there is none).
    pub fn server_hello(&self) -> Option<&HelloResponse> {
        self.stream.as_ref().map(|open| &open.hello)
    }

    /// Send one request and wait for its response.
    pub fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        let extra_wait = match request {
            Request::Fetch(fetch) => Duration::from_millis(u64::from(fetch.max_wait_ms)),
            _ => Duration::ZERO,
        };
        let request_id = self.next_id();
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        encode_request_into(&mut out, request_id, request);
        let answer = self.exchange(request_id, &out, extra_wait);
        self.out = out;
        answer?.map_err(ClientError::Server)
    }

    /// Append `records` to one partition (the topic's durability) and wait
    /// for the acknowledgement. The records are encoded where they are: no
    /// copy is made to build the request.
    pub fn produce(&mut self, topic: &str, partition: u32, records: &[Record]) -> Result<Produced, ClientError> {
        let request_id = self.next_id();
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        encode_produce_into(&mut out, request_id, topic, partition, records);
        let answer = self.exchange(request_id, &out, Duration::ZERO);
        self.out = out;
        match answer?.map_err(ClientError::Server)? {
            Response::Produced(produced) => Ok(produced),
            other => Err(ClientError::Protocol(format!("unexpected response {other:?}"))),
        }
    }

    /// Write a `Produce` of `records` and return its request id without
    /// waiting for the answer ([`BlockingProducer`](super::BlockingProducer)
    /// keeps count of what is in flight). Opens a connection if there is
    /// none; a failure drops the connection.
    pub(crate) fn produce_write(
        &mut self,
        topic: &str,
        partition: u32,
        records: &[Record],
    ) -> Result<u32, ClientError> {
        if self.stream.is_none() {
            self.open_with_retries()?;
        }
        let request_id = self.next_id();
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        encode_produce_into(&mut out, request_id, topic, partition, records);
        let addr = self.addr;
        let timeout = self.options.request_timeout;
        let written = match self.stream.as_mut() {
            Some(open) => open.write_frame(addr, &out, timeout),
            None => Err(ClientError::Disconnected),
        };
        self.out = out;
        if written.is_err() {
            self.stream = None;
        }
        written.map(|()| request_id)
    }

    /// Read the answer to `request_id`, written by [`Self::produce_write`]
    /// on the live connection; the server's refusal is the inner `Err`. A
    /// failure drops the connection.
    pub(crate) fn produce_read(&mut self, request_id: u32) -> Result<Result<Produced, WireError>, ClientError> {
        let addr = self.addr;
        let timeout = self.options.request_timeout;
        let Some(open) = self.stream.as_mut() else {
            return Err(ClientError::Disconnected);
        };
        let answer = match open.read_answer(addr, request_id, timeout) {
            Ok(Ok(Response::Produced(produced))) => Ok(Ok(produced)),
            Ok(Ok(other)) => Err(ClientError::Protocol(format!("unexpected response {other:?}"))),
            Ok(Err(error)) => Ok(Err(error)),
            Err(error) => Err(error),
        };
        if answer.is_err() {
            self.stream = None;
        }
        answer
    }

    /// Close the connection (the next call opens a new one): answers still
    /// due on it would otherwise be read as the next call's.
    pub(crate) fn disconnect(&mut self) {
        self.stream = None;
    }

    fn next_id(&mut self) -> u32 {
        let id = self.next_request_id;
        // 0 is the server's "not tied to a request".
        self.next_request_id = self.next_request_id.checked_add(1).unwrap_or(1);
        id
    }

    /// Write one encoded request on the live connection (opened if needed)
    /// and read its answer. Any failure drops the connection.
    fn exchange(
        &mut self,
        request_id: u32,
        frame: &[u8],
        extra_wait: Duration,
    ) -> Result<Result<Response, WireError>, ClientError> {
        if self.stream.is_none() {
            self.open_with_retries()?;
        }
        let addr = self.addr;
        let timeout = self.options.request_timeout + extra_wait;
        let Some(open) = self.stream.as_mut() else {
            return Err(ClientError::Disconnected);
        };
        let answer = open.exchange(addr, request_id, frame, timeout);
        if answer.is_err() {
            self.stream = None;
        }
        answer
    }

    fn open_with_retries(&mut self) -> Result<(), ClientError> {
        let mut backoff = self.options.reconnect_backoff_initial;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.open() {
                Ok(open) => {
                    self.stream = Some(open);
                    return Ok(());
                }
                // A refusal by the server itself (bad token, version) will not heal by retrying.
                Err(error @ ClientError::Server(_)) => return Err(error),
                Err(error) if attempt >= self.options.connect_attempts_max.max(1) => return Err(error),
                Err(error) => {
                    tracing::debug!(%error, attempt, ?backoff, "reconnecting");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.options.reconnect_backoff_max);
                }
            }
        }
    }

    fn open(&mut self) -> Result<Open, ClientError> {
        let addr = self.addr;
        let options = &self.options;
        let io = |source| ClientError::Io { addr, source };
        let stream = TcpStream::connect_timeout(&addr, options.connect_timeout).map_err(io)?;
        let _ = stream.set_nodelay(true);
        stream.set_write_timeout(Some(options.request_timeout)).map_err(io)?;
        stream.set_read_timeout(Some(options.connect_timeout)).map_err(io)?;
        let mut open = Open {
            stream,
            decoder: FrameDecoder::new(FRAME_BYTES_MAX_HIGHEST),
            hello: HelloResponse {
                version: 0,
                server_name: String::new(),
                frame_bytes_max: 0,
                in_flight_max: 0,
            },
            read_timeout: options.connect_timeout,
        };
        let hello = options.hello();
        let request_id = self.next_id();
        let mut frame = Vec::new();
        encode_request_into(&mut frame, request_id, &hello);
        match open.exchange(addr, request_id, &frame, self.options.connect_timeout)? {
            Ok(Response::Hello(hello)) => {
                open.hello = hello;
                Ok(open)
            }
            Ok(other) => Err(ClientError::Protocol(format!(
                "expected a Hello response, got {other:?}"
            ))),
            Err(error) => Err(ClientError::Server(error)),
        }
    }
}

impl Open {
    fn exchange(
        &mut self,
        addr: SocketAddr,
        request_id: u32,
        frame: &[u8],
        timeout: Duration,
    ) -> Result<Result<Response, WireError>, ClientError> {
        self.write_frame(addr, frame, timeout)?;
        self.read_answer(addr, request_id, timeout)
    }

    /// Write one whole encoded request (one `write` unless the socket's
    /// buffer is full).
    fn write_frame(&mut self, addr: SocketAddr, frame: &[u8], timeout: Duration) -> Result<(), ClientError> {
        self.stream
            .write_all(frame)
            .map_err(|source| failed(addr, timeout, source))
    }

    /// Read the answer to `request_id`, the next frame on the connection
    /// (answers come in the order of the requests). One `read` fills the
    /// buffer with whatever has arrived, so the answers of pipelined requests
    /// behind it are decoded later without another `read`.
    fn read_answer(
        &mut self,
        addr: SocketAddr,
        request_id: u32,
        timeout: Duration,
    ) -> Result<Result<Response, WireError>, ClientError> {
        if timeout != self.read_timeout {
            // A zero timeout means "none" to the socket: at least 1 ms.
            self.stream
                .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
                .map_err(|source| failed(addr, timeout, source))?;
            self.read_timeout = timeout;
        }
        loop {
            // Decoded where it was read: no copy of the body, no allocation
            // for a `Produced` answer.
            let (id, answer) = match self
                .decoder
                .next_frame_with(|header, body| (header.request_id, decode_response_parts(header, body)))
            {
                Ok(Some(decoded)) => decoded,
                Ok(None) => {
                    self.read_some().map_err(|source| failed(addr, timeout, source))?;
                    continue;
                }
                Err(error) => return Err(ClientError::Protocol(error.to_string())),
            };
            let answer = answer.map_err(|e| ClientError::Protocol(e.to_string()))?;
            if id == request_id {
                return Ok(answer);
            }
            // Answers come in order: any other id is either the server
            // closing the connection (id 0, with its reason) or a confused
            // stream.
            return Err(match (id, answer) {
                (0, Err(error)) => ClientError::Server(error),
                (id, _) => ClientError::Protocol(format!("response to request {id} while waiting for {request_id}")),
            });
        }
    }

    /// One `read` into the decoder's buffer; EOF is an error (a response was due).
    fn read_some(&mut self) -> std::io::Result<()> {
        let room = self.decoder.wanted().clamp(READ_BYTES_MIN, READ_BYTES_MAX);
        let buffer = self.decoder.read_buffer(room);
        // Only the free capacity the decoder reserved is zeroed and read into.
        let filled = buffer.len();
        let room = room.min(buffer.capacity() - filled).max(1);
        buffer.resize(filled + room, 0);
        let read = buffer.get_mut(filled..).map_or(Ok(0), |free| self.stream.read(free));
        let n = *read.as_ref().unwrap_or(&0);
        buffer.truncate(filled + n);
        match read {
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )),
            Ok(_) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// A socket error as the client reports it: a timed-out read or write is a
/// [`ClientError::Timeout`].
fn failed(addr: SocketAddr, timeout: Duration, source: std::io::Error) -> ClientError {
    match source.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ClientError::Timeout(timeout),
        _ => ClientError::Io { addr, source },
    }
}
