//! The reading half of a connection: bytes to requests under the limits
//! (frame size, in-flight requests, buffer budgets, handshake/idle timeouts),
//! the handshake, and the header-only permission check.

use super::*;
use crate::auth::required;

pub(super) struct Reader<R> {
    pub(super) read_half: R,
    pub(super) jobs: mpsc::UnboundedSender<Job>,
    pub(super) in_flight: Arc<Semaphore>,
    pub(super) buffered_bytes: Arc<Semaphore>,
    pub(super) shared: Arc<Shared>,
    pub(super) shutdown: watch::Receiver<bool>,
    /// `None` until the handshake succeeded.
    pub(super) principal: Option<Principal>,
    /// A fatal answer to send only after a back-off (a failed authentication).
    pub(super) delayed: Option<(Duration, Job)>,
    pub(super) peer: SocketAddr,
    /// The place in the pre-handshake budget, until the handshake succeeded.
    pub(super) ticket: Option<crate::handshake_budget::HandshakeTicket>,
    /// One of the `connections_max` slots, once the handshake succeeded.
    pub(super) slot: Option<OwnedSemaphorePermit>,
    /// The budget of the frame being received, taken once its length is in.
    pub(super) reserved: Option<Reservation>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn send(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }

    #[expect(
        clippy::too_many_lines,
        reason = "debt: the read side of a connection; to split with the service layer (issue 20)"
    )]
    pub(super) async fn read_loop(&mut self) -> Outcome {
        let shared = self.shared.clone();
        let config = &shared.config;
        let started = Instant::now();
        let handshake_deadline = started + config.handshake_timeout();
        let mut decoder = FrameDecoder::new(HELLO_FRAME_BYTES_MAX.min(config.frame_bytes_max));
        let mut last_frame_at = started;
        let mut frame_started_at: Option<Instant> = None;
        // One timer for the connection's life, armed at `armed`: a request
        // moves the idle deadline later without touching the timer wheel;
        // when the timer fires before the deadline it is moved to it (at
        // most once per idle timeout), and it is moved earlier at once
        // when the deadline is (a frame that started arriving).
        let mut armed = handshake_deadline;
        let timer = tokio::time::sleep_until(armed.into());
        tokio::pin!(timer);
        // Shutdown and the worker's end, waited for across reads (each a
        // waiter registered once, not once per read).
        let mut shutdown = self.shutdown.clone();
        let jobs = self.jobs.clone();
        let stop = async move {
            tokio::select! {
                _ = shutdown.changed() => Event::Shutdown,
                () = jobs.closed() => Event::Closed,
            }
        };
        tokio::pin!(stop);
        loop {
            // Hand out every complete frame before reading more.
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => {
                        let received = Instant::now();
                        last_frame_at = received;
                        frame_started_at = None;
                        let bytes = frame.body.len() + crate::frame::FRAME_HEADER_BYTES;
                        let permit = match self.admit(bytes).await {
                            Ok(permit) => permit,
                            Err(outcome) => return outcome,
                        };
                        self.shared.metrics.request_bytes.fetch_add(bytes as u64, Relaxed);
                        let handshaking = self.principal.is_none();
                        if let Some(outcome) = self.process(frame, permit, received) {
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
            if deadline < armed {
                armed = deadline;
                timer.as_mut().reset(armed.into());
            }
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
                // `biased`: the read first (it is what wakes the task
                // almost every time), no random start per wait.
                tokio::select! {
                    biased;
                    read = limited.read_buf(target) => match read {
                        Ok(0) | Err(_) => Event::Closed,
                        Ok(_) => Event::Read,
                    },
                    event = &mut stop => event,
                    () = evicted => Event::Evicted,
                    () = &mut timer => Event::Deadline,
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
                    let now = Instant::now();
                    if now < deadline {
                        // Armed for an earlier deadline that has moved on.
                        armed = deadline;
                        timer.as_mut().reset(armed.into());
                        continue;
                    }
                    // Fired: armed again at the next deadline computed.
                    armed = now + config.idle_timeout().max(config.slow_client_timeout());
                    timer.as_mut().reset(armed.into());
                    let idle = self.principal.is_some() && frame_started_at.is_none();
                    let answering = self.in_flight.available_permits() < config.in_flight_max as usize;
                    if idle && answering {
                        // Not idle: the client waits for an answer (a long
                        // request). Count idleness from now on.
                        last_frame_at = now;
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
        // Almost always both budgets have room: taken without registering
        // a waiter anywhere.
        if let Ok(connection_bytes) = self.buffered_bytes.clone().try_acquire_many_owned(permits) {
            if let Some(server_bytes) = self.shared.buffered_bytes.try_reserve(permits) {
                return Ok(Reservation {
                    bytes,
                    _connection_bytes: connection_bytes,
                    _server_bytes: server_bytes,
                });
            }
        }
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
        if let Ok(slot) = self.in_flight.clone().try_acquire_owned() {
            return Ok(Admission {
                _slot: slot,
                _bytes: reservation,
            });
        }
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
    fn process(&mut self, frame: crate::frame::Frame, permit: Admission, received: Instant) -> Option<Outcome> {
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
        let request = match decode_incoming(frame) {
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
        let job = if let Incoming::Request(Request::Hello(_)) = request {
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
        } else if let Some(error) = self.principal.as_ref().and_then(|principal| match &request {
            Incoming::Request(request) => crate::internal::denied(request, principal.permissions),
            Incoming::Produce(_) => None,
        }) {
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
                received,
                _permit: permit,
            }
        };
        if self.send(job) {
            None
        } else {
            Some(Outcome::Closed)
        }
    }

    fn handshake(&mut self, request_id: u32, request: Incoming, permit: Admission) -> Option<Outcome> {
        let opcode = request.opcode().code();
        let Incoming::Request(Request::Hello(hello)) = request else {
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
    pub(super) async fn linger(&mut self) {
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
