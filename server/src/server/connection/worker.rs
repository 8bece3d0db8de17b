//! The writing half of a connection: executes requests in arrival order
//! through the handler and writes the responses.

use std::future::Future;
use std::task::Poll;

use super::*;

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
/// earlier answer). An `Always` produce awaits its fsync on this task; the
/// produces already queued behind it are appended first (`append_behind`)
/// and answered right after it, so a pipelining client's produces share
/// fsyncs and writes.
#[expect(
    clippy::too_many_lines,
    reason = "debt: the response writer; to split with the service layer (issue 20)"
)]
pub(super) async fn worker<W: AsyncWrite + Unpin>(
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
    // Produces appended behind an `Always` one while it waits (see
    // `append_behind`), answered right after it; and the job that ended
    // that run, to take next.
    let mut behind: Vec<Behind> = Vec::new();
    let mut carry: Option<Job> = None;
    loop {
        // Take the next job without waiting while answers are buffered; when
        // none is queued, send the buffered answers, then wait.
        let next = match carry.take() {
            Some(job) => Ok(job),
            None => jobs.try_recv(),
        };
        let job = match next {
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
                    Incoming::Request(Request::Fetch(fetch)) => Some(fetch.clone()),
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
                    Ok(Inline::Durable { appended }) => {
                        // Produces already queued behind this one are
                        // appended before the wait: the fsync it waits for
                        // covers them too, and their answers go out with its.
                        carry = append_behind(&context, &mut taken, &mut jobs, &mut behind);
                        session = Some(taken);
                        // Answers so far go out before the fsync wait.
                        if !output.flush(&mut writer).await {
                            return;
                        }
                        let waited = context.acknowledged(appended).await;
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
        for produce in behind.drain(..) {
            let result = match produce.answer {
                Answer::Done(result) => result,
                Answer::Owed(appended) => shared
                    .context
                    .acknowledged(appended)
                    .await
                    .map(crate::handler::produced)
                    .map_err(WireError::from),
            };
            shared
                .metrics
                .record_request(produce.opcode, produce.received.elapsed());
            // A produce's answer has no tail.
            let _ = output.encode(
                produce.opcode.code(),
                produce.request_id,
                result,
                frame_bytes_max,
                &shared.metrics,
            );
            output.answered.push(produce.permit);
        }
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

/// A produce appended while the one before it waited for its fsync.
struct Behind {
    opcode: Opcode,
    request_id: u32,
    received: Instant,
    permit: Admission,
    answer: Answer,
}

enum Answer {
    Done(Result<Response, WireError>),
    Owed(crate::server::service::Appended),
}

/// Append the produces queued right now (a pipelining client's) into
/// `behind`, in arrival order, up to the first job that is not a produce
/// that runs inline; that job is returned, to be taken next. Executing them
/// before the answer of the one waiting is only a matter of when: execution
/// and answers keep the arrival order.
fn append_behind(
    context: &Service,
    session: &mut Session,
    jobs: &mut mpsc::UnboundedReceiver<Job>,
    behind: &mut Vec<Behind>,
) -> Option<Job> {
    loop {
        let Ok(job) = jobs.try_recv() else {
            return None;
        };
        let Job::Execute {
            opcode,
            request_id,
            request: request @ Incoming::Produce(_),
            received,
            _permit,
        } = job
        else {
            return Some(job);
        };
        let inline = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle_inline(context, session, request)
        }));
        let answer = match inline {
            Ok(Inline::Done(result)) => Answer::Done(result),
            Ok(Inline::Durable { appended }) => Answer::Owed(appended),
            Ok(Inline::Blocking(request)) => {
                return Some(Job::Execute {
                    opcode,
                    request_id,
                    request: Incoming::Request(request),
                    received,
                    _permit,
                })
            }
            Err(_panic) => {
                // As in the worker: the session may be half-updated, the
                // connection closes after this answer.
                tracing::error!(?opcode, "request handler panicked");
                behind.push(Behind {
                    opcode,
                    request_id,
                    received,
                    permit: _permit,
                    answer: Answer::Done(Err(handler_failed())),
                });
                return Some(Job::Reply {
                    opcode: 0,
                    request_id: 0,
                    result: Err(handler_failed()),
                    close: true,
                    client_name: None,
                    principal: None,
                    _permit: None,
                });
            }
        };
        behind.push(Behind {
            opcode,
            request_id,
            received,
            permit: _permit,
            answer,
        });
    }
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

    /// Write `bytes`, giving the client `write_timeout` to take them.
    async fn write<W: AsyncWrite + Unpin>(&self, writer: &mut W, bytes: &[u8]) -> bool {
        let written = write_within(writer, bytes, self.write_timeout).await;
        if !written {
            tracing::info!("closing connection: client does not read its responses");
        }
        written
    }
}

/// Write all of `bytes`, giving the client `timeout` to take them; false if
/// the write failed or timed out. The timer is armed only when the socket
/// cannot take them at once (almost every write completes in its first
/// poll). Both fronts write their answers through it.
pub(crate) async fn write_within<W: AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8], timeout: Duration) -> bool {
    let mut write = std::pin::pin!(writer.write_all(bytes));
    let first = std::future::poll_fn(|cx| match write.as_mut().poll(cx) {
        Poll::Ready(written) => Poll::Ready(Some(written)),
        Poll::Pending => Poll::Ready(None),
    })
    .await;
    match first {
        Some(written) => written.is_ok(),
        None => matches!(tokio::time::timeout(timeout, write).await, Ok(Ok(()))),
    }
}
