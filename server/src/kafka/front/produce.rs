//! Produce (v3–8): each partition's one record batch checked
//! ([`records::produce_batch`]) and written through the service: a plain
//! batch with [`Service::append`](crate::server::service::Service::append),
//! an idempotent one with the stamp of [`producers::stamp`], its records
//! borrowed from the request ([`records::produced_records`]: the engine
//! copies each once, into its batch); a transactional one, borrowed the
//! same way, into its producer's transaction ([`txn::append`]: encoded
//! once, into the transaction's part).
//!
//! Acknowledgement (design/kafka.md, "Produce and fetch"): acks=0 gets no
//! response frame; acks=1 and acks=-1 are answered once the service
//! acknowledges the write, which on an `Always` topic is after the fsync that
//! covers it ([`Appended::Owed`]: the front makes no durability decision of
//! its own), bounded by the request's `timeout_ms` (REQUEST_TIMED_OUT).

use std::time::{Duration, Instant};

use millrace::ProducerAppend;

use super::errors::{self, code_of};
use super::{producers, respond, txn, Conn, Front, Handled};
use crate::auth::{Permission, Permissions};
use crate::kafka::protocol::messages::produce::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, ProduceRequest, ProduceRequestPartition, ProduceResponse,
    TopicProduceResponse,
};
use crate::kafka::protocol::primitives::Uuid;
use crate::kafka::protocol::{RequestHeader, Response};
use crate::kafka::records::{self, RecordsError};
use crate::server::service::{Appended, ServiceError, ServiceResult};

/// What one partition of a Produce request is answered.
#[derive(Debug)]
struct Outcome {
    code: i16,
    base_offset: i64,
    /// The append time of a log-append-time topic's batch, else -1.
    log_append_time_ms: i64,
    log_start_offset: i64,
    /// v8 `error_message`.
    message: Option<String>,
    /// v8 `record_errors`: the index of the refused record in the batch.
    record: Option<i32>,
}

impl Outcome {
    fn error(code: i16) -> Self {
        Outcome {
            code,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            message: None,
            record: None,
        }
    }

    fn with_message(code: i16, message: String) -> Self {
        Outcome {
            message: Some(message),
            ..Outcome::error(code)
        }
    }

    fn service(error: &ServiceError) -> Self {
        // A contract's refusal names its record (v8 `record_errors`).
        let record = match error {
            ServiceError::Engine(millrace::Error::ContractViolation { index, .. }) => i32::try_from(*index).ok(),
            _ => None,
        };
        Outcome {
            record,
            ..Outcome::with_message(code_of(error), service_message(error))
        }
    }

    fn records(error: &RecordsError) -> Self {
        Outcome {
            record: record_index(error),
            ..Outcome::with_message(error.kafka_code(), error.to_string())
        }
    }

    fn written(append: &ProducerAppend) -> Self {
        Outcome {
            code: errors::NONE,
            base_offset: i64::try_from(append.base_offset).unwrap_or(-1),
            // A retry (duplicate) answers -1, as Kafka does.
            log_append_time_ms: append.log_append_time_ms.unwrap_or(-1),
            log_start_offset: -1,
            message: None,
            record: None,
        }
    }
}

fn service_message(error: &ServiceError) -> String {
    match error {
        ServiceError::Engine(engine) => engine.to_string(),
        ServiceError::InvalidInput(message)
        | ServiceError::PermissionDenied(message)
        | ServiceError::Internal(message) => message.clone(),
        ServiceError::TokenGroupLimit { group, groups_max, .. } => {
            format!("group {group:?} would pass the token's groups_max {groups_max}")
        }
    }
}

/// The record a [`RecordsError`] names, for Produce v8's `record_errors`.
fn record_index(error: &RecordsError) -> Option<i32> {
    match error {
        RecordsError::RecordLengthMismatch { index, .. }
        | RecordsError::HeaderKeyNotUtf8 { index, .. }
        | RecordsError::OffsetDeltaOutOfOrder { index, .. }
        | RecordsError::TimestampOverflow { index } => i32::try_from(*index).ok(),
        _ => None,
    }
}

/// Buffers reused across the partitions of one request.
#[derive(Debug, Default)]
struct Scratch {
    decompressed: Vec<u8>,
}

pub(crate) fn produce(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: ProduceRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let mut started = start(front, conn, &request);
    let owed = started.take_owed();
    let settled = wait_owed(owed, started.deadline);
    finish(front, header, &request, started, settled, out)
}

/// A Produce request whose batches are written, some perhaps still owed
/// their fsync: what [`finish`] answers once they are settled. Owns no
/// borrow of the request, so that the connection can await the owed
/// acknowledgements on its task ([`Started::take_owed`]) while the frame
/// stays where it is.
#[derive(Debug)]
pub(crate) struct Started {
    acks: i16,
    deadline: Instant,
    outcomes: Vec<Vec<Outcome>>,
    /// Each owed append under its (topic, partition) position.
    owed: Vec<((usize, usize), Appended)>,
}

impl Started {
    /// The owed acknowledgements (an `Always` topic's appends), to await
    /// with [`crate::server::durable::acknowledged_all`] until
    /// [`Started::deadline`]; none for acks=0 (they are settled by a task of
    /// their own) or when nothing is owed.
    pub(crate) fn take_owed(&mut self) -> Vec<((usize, usize), Appended)> {
        let owed = std::mem::take(&mut self.owed);
        if self.acks == 0 {
            settle_unanswered(owed);
            return Vec::new();
        }
        owed
    }

    /// Does an acknowledgement wait for an fsync?
    pub(crate) fn owes(&self) -> bool {
        !self.owed.is_empty()
    }

    /// Until when the owed acknowledgements are waited for (`timeout_ms`).
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Can [`start`] run `request` on the connection's task without blocking:
/// every partition's batch transactional from a producer the session may
/// use as it is ([`staged_in_memory`]: the batch is only staged in its
/// transaction), plain (no producer id), or idempotent from a producer id
/// that is live at the batch's epoch and
/// usable by the session without a producer registry write
/// ([`Service::producer_live_at`](crate::server::service::Service::producer_live_at):
/// no readmission of an expired id, no epoch bump, no claim of an id
/// without an owner), and its topic known (no auto-creation)? A first look
/// at its header, not checked: the checks are `start`'s, once; an id that
/// expires in between is readmitted there, as on the blocking way. The
/// write itself is `Store::append_pending` (a `write(2)` into the page
/// cache; a retried idempotent batch is found a duplicate and answered its
/// original offsets, as anywhere), as the native front's inline produce;
/// an `Always` topic's fsync is then awaited on the task. Anything else
/// runs where blocking is allowed, through [`produce`].
pub(crate) fn runs_inline(front: &Front, conn: &Conn, request: &ProduceRequest<'_>) -> bool {
    request.topic_data.iter().all(|topic| {
        topic.partition_data.iter().all(|data| {
            // A batch too short to say is refused by `start` (no write).
            let writable = data.records.and_then(records::RecordBatch::peek_producer).is_none_or(
                |(attributes, producer_id, epoch)| {
                    if attributes.is_transactional() {
                        staged_in_memory(front, conn, producer_id)
                    } else {
                        producer_id < 0 || live_at(front, conn, producer_id, epoch)
                    }
                },
            );
            writable
                && u32::try_from(data.index)
                    .ok()
                    .is_some_and(|partition| front.service.offsets(topic.name, partition).is_ok())
        })
    })
}

/// Is a transactional batch's producer usable by the session without a
/// producer registry write ([`Service::may_append_inline`](crate::server::service::Service::may_append_inline):
/// no claim of an id without an owner)? Then adding the batch to its open
/// transaction ([`txn::append`]) is in memory: the checks of the producer
/// and its epoch, the sequence admission, and the engine's staging, which
/// encodes the records once into the transaction's part; nothing is
/// written before EndTxn, which runs where blocking is allowed. (A
/// contract's dead letters may create the topic's DLQ on their first
/// staging, as the inline plain produce may route to it.)
fn staged_in_memory(front: &Front, conn: &Conn, producer_id: i64) -> bool {
    u64::try_from(producer_id)
        .is_ok_and(|producer_id| front.service.may_append_inline(&conn.session, Some(producer_id)))
}

/// Is the idempotent producer of a batch live at the batch's epoch, usable
/// by the session as it is?
fn live_at(front: &Front, conn: &Conn, producer_id: i64, epoch: i16) -> bool {
    match (u64::try_from(producer_id), u16::try_from(epoch)) {
        (Ok(producer_id), Ok(epoch)) => front.service.producer_live_at(&conn.session, producer_id, epoch),
        _ => false,
    }
}

/// Write every partition's batch of `request` (checks, mapping, append);
/// the acknowledgements of `Always` topics are owed ([`Started`]).
pub(crate) fn start(front: &Front, conn: &mut Conn, request: &ProduceRequest<'_>) -> Started {
    let deadline = Instant::now() + Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    let acks = request.acks;
    let may_produce = conn
        .session
        .principal
        .permissions
        .contains(Permissions::of(&[Permission::Produce]));
    let mut scratch = Scratch::default();
    let mut owed = Vec::new();
    let mut outcomes: Vec<Vec<Outcome>> = Vec::with_capacity(request.topic_data.len());
    for (t, topic) in request.topic_data.iter().enumerate() {
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for (p, data) in topic.partition_data.iter().enumerate() {
            let outcome = if !(-1..=1).contains(&acks) {
                Outcome::error(errors::INVALID_REQUIRED_ACKS)
            } else if !may_produce {
                Outcome::with_message(
                    errors::TOPIC_AUTHORIZATION_FAILED,
                    "the connection's token lacks the produce permission".into(),
                )
            } else if millrace::names::is_internal(topic.name) {
                // The store's own topics (a DLQ too) are read-only for every
                // token; Kafka answers the same for its internal topics.
                Outcome::with_message(
                    errors::INVALID_TOPIC_EXCEPTION,
                    format!("{:?} is one of the store's own topics: no client writes it", topic.name),
                )
            } else {
                match produce_partition(front, conn, topic.name, data, &mut scratch) {
                    Ok(Written::Now(outcome)) => outcome,
                    Ok(Written::Owed(appended)) => {
                        owed.push(((t, p), appended));
                        // Answered once the wait settles.
                        Outcome::error(errors::REQUEST_TIMED_OUT)
                    }
                    Err(outcome) => outcome,
                }
            };
            partitions.push(outcome);
        }
        outcomes.push(partitions);
    }
    Started {
        acks,
        deadline,
        outcomes,
        owed,
    }
}

/// Answer `request` (nothing for acks=0) once its owed acknowledgements
/// are `settled`.
pub(crate) fn finish(
    front: &Front,
    header: &RequestHeader<'_>,
    request: &ProduceRequest<'_>,
    started: Started,
    settled: Vec<Settled>,
    out: &mut Vec<u8>,
) -> Handled {
    if started.acks == 0 {
        // No response at all. An owed fsync still runs now (driven by a
        // task, not waited for): until it does, readers do not see the batch.
        settle_unanswered(started.owed);
        return Ok(());
    }
    let mut outcomes = started.outcomes;
    for (slot, acknowledged) in settled {
        let Some(outcome) = outcomes.get_mut(slot.0).and_then(|topic| topic.get_mut(slot.1)) else {
            continue;
        };
        *outcome = match acknowledged {
            Some(Ok(append)) => Outcome::written(&append),
            Some(Err(error)) => Outcome::service(&error),
            None => Outcome::with_message(
                errors::REQUEST_TIMED_OUT,
                format!("the fsync did not complete within timeout_ms {}", request.timeout_ms),
            ),
        };
    }
    if header.api_version >= 5 {
        for (topic, partitions) in request.topic_data.iter().zip(outcomes.iter_mut()) {
            for (data, outcome) in topic.partition_data.iter().zip(partitions.iter_mut()) {
                if outcome.code == errors::NONE {
                    outcome.log_start_offset = log_start(front, topic.name, data.index);
                }
            }
        }
    }
    respond(out, header, &Response::Produce(response(request, &outcomes)))
}

/// Answers a Produce request of a version below the served ones (v0–2,
/// decoded and refused by the codec): UNSUPPORTED_VERSION for every
/// partition, nothing for acks=0. For the connection, which gets these
/// requests as `RequestError::UnsupportedVersion { refused }`.
pub fn refuse_version(header: &RequestHeader<'_>, request: &ProduceRequest<'_>, out: &mut Vec<u8>) -> Handled {
    if request.acks == 0 {
        return Ok(());
    }
    let outcomes: Vec<Vec<Outcome>> = request
        .topic_data
        .iter()
        .map(|topic| {
            topic
                .partition_data
                .iter()
                .map(|_| Outcome::error(errors::UNSUPPORTED_VERSION))
                .collect()
        })
        .collect();
    respond(out, header, &Response::Produce(response(request, &outcomes)))
}

fn response<'a>(request: &ProduceRequest<'a>, outcomes: &'a [Vec<Outcome>]) -> ProduceResponse<'a> {
    let responses = request
        .topic_data
        .iter()
        .zip(outcomes)
        .map(|(topic, partitions)| TopicProduceResponse {
            name: topic.name,
            topic_id: Uuid::default(),
            partition_responses: topic
                .partition_data
                .iter()
                .zip(partitions)
                .map(|(data, outcome)| PartitionProduceResponse {
                    index: data.index,
                    error_code: outcome.code,
                    base_offset: outcome.base_offset,
                    // -1 for a CreateTime topic, as Kafka.
                    log_append_time_ms: outcome.log_append_time_ms,
                    log_start_offset: outcome.log_start_offset,
                    record_errors: outcome
                        .record
                        .map(|index| BatchIndexAndErrorMessage {
                            batch_index: index,
                            batch_index_error_message: outcome.message.as_deref(),
                        })
                        .into_iter()
                        .collect(),
                    error_message: outcome.message.as_deref(),
                })
                .collect(),
        })
        .collect();
    ProduceResponse {
        responses,
        throttle_time_ms: 0,
    }
}

fn log_start(front: &Front, topic: &str, partition: i32) -> i64 {
    u32::try_from(partition)
        .ok()
        .and_then(|partition| front.service.offsets(topic, partition).ok())
        .and_then(|(start, _)| i64::try_from(start).ok())
        .unwrap_or(-1)
}

/// A partition's write: answered now, or owed an fsync.
enum Written {
    Now(Outcome),
    Owed(Appended),
}

fn produce_partition(
    front: &Front,
    conn: &mut Conn,
    topic: &str,
    data: &ProduceRequestPartition<'_>,
    scratch: &mut Scratch,
) -> Result<Written, Outcome> {
    let partition = u32::try_from(data.index).map_err(|_| Outcome::error(errors::UNKNOWN_TOPIC_OR_PARTITION))?;
    let bytes = data.records.ok_or_else(|| {
        Outcome::with_message(
            errors::CORRUPT_MESSAGE,
            "records: null where one batch is required".into(),
        )
    })?;
    let batch = records::produce_batch(bytes).map_err(|error| Outcome::records(&error))?;
    // A batch decompresses to at most a frame's worth: what a native
    // produce of the same records could carry.
    let decompressed_max = front.service.frame_bytes_max as usize;
    let header = &batch.header;
    if header.attributes.is_transactional() {
        // Staged from the request's bytes: the transaction encodes each
        // record into its part from where it is (no owned record).
        let mut produced = Vec::new();
        records::produced_records(&batch, &mut scratch.decompressed, decompressed_max, &mut produced)
            .map_err(|error| Outcome::records(&error))?;
        // Its offsets are known at commit only: -1 (Kafka answers the
        // offset in the log, which here does not exist before the commit).
        return txn::append(front, conn, topic, partition, header, &produced)
            .map(|append_time| {
                Written::Now(Outcome {
                    log_append_time_ms: append_time.unwrap_or(-1),
                    ..Outcome::error(errors::NONE)
                })
            })
            .map_err(Outcome::error);
    }
    let mut produced = Vec::new();
    records::produced_records(&batch, &mut scratch.decompressed, decompressed_max, &mut produced)
        .map_err(|error| Outcome::records(&error))?;
    let stamp = if header.producer_id >= 0 {
        Some(producers::stamp(front, conn, topic, partition, header).map_err(Outcome::error)?)
    } else {
        None
    };
    let appended = match append(front, conn, topic, partition, &produced, stamp) {
        Ok(appended) => appended,
        Err(error) => return Err(Outcome::service(&error)),
    };
    match appended {
        // With records the topic's contract sent to its DLQ, the offsets are
        // those of the records appended (one batch, in order): base_offset
        // is the first of them (design/contracts.md, "Idempotent batches").
        Appended::Acknowledged(append) => Ok(Written::Now(Outcome::written(&append))),
        owed @ Appended::Owed(_) => Ok(Written::Owed(owed)),
    }
}

/// [`Service::append`](crate::server::service::Service::append), creating
/// the topic first when it is unknown and the front auto-creates topics.
fn append<R: millrace::AppendRecord>(
    front: &Front,
    conn: &Conn,
    topic: &str,
    partition: u32,
    records: &[R],
    stamp: Option<millrace::ProducerStamp>,
) -> ServiceResult<Appended> {
    let service = &front.service;
    match service.append(&conn.session, topic, partition, records, stamp) {
        // Auto-creation is CreateTopic: it needs admin, as the native
        // CreateTopic and the Metadata handler's auto-creation do.
        Err(ServiceError::Engine(millrace::Error::TopicNotFound(_)))
            if front.config.auto_create_topics && conn.session.principal.permissions.is_admin() =>
        {
            auto_create(front, topic)?;
            service.append(&conn.session, topic, partition, records, stamp)
        }
        written => written,
    }
}

/// Create `topic` with the front's auto-create settings (a concurrent
/// creation of the same topic is no error).
pub(crate) fn auto_create(front: &Front, topic: &str) -> ServiceResult<()> {
    let config = millrace::TopicConfig::with_partitions(front.config.auto_create_partitions);
    match front
        .service
        .create_topic("kafka produce (auto-create)", topic, config, false)
    {
        Err(ServiceError::Engine(millrace::Error::TopicExists(_))) | Ok(()) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Let the owed acknowledgements of an acks=0 request complete without
/// waiting for them: one task drives their fsyncs when a runtime is at
/// hand, else they complete here.
fn settle_unanswered(owed: Vec<((usize, usize), Appended)>) {
    if owed.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        for ((topic, partition), appended) in owed {
            if let Err(error) = appended.wait() {
                tracing::warn!(
                    ?error,
                    topic_index = topic,
                    partition_index = partition,
                    "kafka produce with acks=0: the fsync failed"
                );
            }
        }
        return;
    };
    runtime.spawn(async move {
        for ((topic, partition), settled) in crate::server::durable::acknowledged_all(owed, None).await {
            if let Some(Err(error)) = settled {
                tracing::warn!(
                    ?error,
                    topic_index = topic,
                    partition_index = partition,
                    "kafka produce with acks=0: the fsync failed"
                );
            }
        }
    });
}

/// An owed acknowledgement's slot in the request and its outcome (`None`:
/// not acknowledged by the deadline).
pub(crate) type Settled = ((usize, usize), Option<ServiceResult<ProducerAppend>>);

/// Wait for each owed acknowledgement until `deadline`: `None` for those
/// not acknowledged by then. The service's one durable wait
/// ([`crate::server::durable::acknowledged_all`]) driven on this thread
/// (the handler runs where blocking is allowed) when a runtime is at hand,
/// else each waits here in turn.
fn wait_owed(owed: Vec<((usize, usize), Appended)>, deadline: Instant) -> Vec<Settled> {
    if owed.is_empty() {
        return Vec::new();
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return owed
            .into_iter()
            .map(|(slot, appended)| (slot, Some(appended.wait())))
            .collect();
    };
    runtime.block_on(crate::server::durable::acknowledged_all(owed, Some(deadline)))
}

#[cfg(test)]
#[path = "produce_tests.rs"]
pub(crate) mod tests;
