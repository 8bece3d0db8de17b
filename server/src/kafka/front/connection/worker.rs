//! The writing half of a Kafka connection: executes its requests in
//! arrival order (plain and idempotent produces on the connection's task,
//! everything else off the async runtime) and writes the responses in that
//! order.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{Admission, Job, Spares};
use crate::kafka::front::{dispatch, produce, Conn, Front};
use crate::kafka::protocol::{decode_request, encode_api_versions_fallback, ApiKey, Request, RequestError};
use crate::server::blocking::run_blocking;
use crate::server::connection::{write_within, Shared};

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
        ApiKey::DescribeConfigs,
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
                crate::kafka::front::refuse_version(&header, &produce, out).map_err(|error| error.to_string())
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
/// A plain or idempotent Produce ([`produce::runs_inline`]) is written right here on the
/// connection's task and its `Always` acknowledgement awaited here (the
/// engine's durable wait, no thread hop); the Produce requests already
/// queued behind it are written before that wait, so that one fsync covers
/// them and their answers go out in the same write ([`produce_run`]).
/// Every other request runs off the async runtime ([`run_blocking`]).
pub(super) async fn worker<W: AsyncWrite + Unpin>(
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
                    shared
                        .metrics
                        .kafka
                        .record_error(api_key, crate::kafka::front::metrics::CLOSED);
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
        if !produce::runs_inline(self.front, self.conn, &request) {
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
                self.shared
                    .metrics
                    .kafka
                    .record_error(api_key, crate::kafka::front::metrics::CLOSED);
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

/// [`flush`] of an output buffer, giving the client the write timeout to
/// take it (`write_within`, the native front's write).
async fn write_out<W: AsyncWrite + Unpin>(
    writer: &mut W,
    out: &mut Vec<u8>,
    answered: &mut Vec<Admission>,
    write_timeout: Duration,
) -> bool {
    if !out.is_empty() {
        if !write_within(writer, out, write_timeout).await {
            tracing::info!("closing Kafka connection: client does not read its responses");
            return false;
        }
        out.clear();
    }
    answered.clear();
    true
}
