//! Transactions keyed by producer id (design/kafka.md, "Transactions"):
//! InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit, EndTxn, and [`append`], the seam the
//! Produce handler calls for a transactional batch.
//!
//! A Kafka transaction is one engine `Transaction`, held in the
//! [`Coordinator`] under its producer id (not by connection: clients reach
//! the transaction coordinator, the group coordinator and the partition
//! leader over different connections). Its records and offset commits are
//! buffered until EndTxn(commit) writes one durable commit record and makes
//! them visible together; an abort, a newer epoch, the timeout or a restart
//! drops them without a trace.

mod state;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

pub(crate) use state::Coordinator;
use state::{lock, Admission, Open, State, TxnProducer, LOST};

use super::errors::{self, code_of};
use super::{respond, Conn, Front, Handled};
use crate::kafka::protocol::messages::txn::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnPartitionResult, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, AddPartitionsToTxnTopicResult, EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
    InitProducerIdResponse, TxnOffsetCommitRequest, TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition,
    TxnOffsetCommitResponseTopic,
};
use crate::kafka::protocol::{RequestHeader, Response};
use crate::server::service::{ServiceError, KAFKA_EPOCH_MAX};

/// The fencing code of a transaction API at `version`: PRODUCER_FENCED from
/// v2 on; INVALID_PRODUCER_EPOCH before, which older clients know (as
/// Kafka answers since KIP-588).
fn fenced_code(version: i16) -> i16 {
    if version >= 2 {
        errors::PRODUCER_FENCED
    } else {
        errors::INVALID_PRODUCER_EPOCH
    }
}

/// The Kafka code of a refusal by the service on a transaction API.
fn txn_code_of(error: &ServiceError, fenced: i16) -> i16 {
    match error {
        ServiceError::PermissionDenied(_) => errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ServiceError::Engine(millrace::Error::Fenced { .. }) => fenced,
        ServiceError::Engine(millrace::Error::UnknownProducer { .. }) => LOST,
        // Past its timeout (or the server's transaction size limit).
        ServiceError::Engine(millrace::Error::InvalidInput {
            what: "transaction", ..
        }) => LOST,
        ServiceError::Engine(millrace::Error::InvalidInput {
            what: "transaction_timeout",
            ..
        }) => errors::INVALID_TRANSACTION_TIMEOUT,
        other => code_of(other),
    }
}

/// The producer a transaction request names, checked: owned by the
/// session's principal, at its current epoch (else `fenced`), initialised
/// in this server run with that transactional id (else [`LOST`]: its
/// transaction may have been lost with a restart). `f` runs under the
/// producer's lock; an open transaction past its timeout is aborted first.
fn with_producer<R>(
    front: &Front,
    conn: &Conn,
    transactional_id: Option<&str>,
    producer_id: i64,
    epoch: i16,
    fenced: i16,
    f: impl FnOnce(&mut TxnProducer) -> Result<R, i16>,
) -> Result<R, i16> {
    let producer_id = u64::try_from(producer_id).map_err(|_| errors::INVALID_PRODUCER_ID_MAPPING)?;
    let epoch = u16::try_from(epoch).map_err(|_| errors::INVALID_PRODUCER_EPOCH)?;
    let service = &front.service;
    service
        .kafka_txn_check_producer(&conn.session, producer_id)
        .map_err(|e| txn_code_of(&e, fenced))?;
    match service.kafka_txn_current_epoch(producer_id) {
        None => return Err(LOST),
        Some(current) if epoch < current => return Err(fenced),
        Some(current) if epoch > current => return Err(errors::INVALID_PRODUCER_EPOCH),
        Some(_) => {}
    }
    let entry = front.transactions.get(producer_id).ok_or(LOST)?;
    let mut producer = lock(&entry);
    if epoch < producer.epoch {
        return Err(fenced);
    }
    if epoch != producer.epoch || transactional_id.is_some_and(|id| id != producer.transactional_id) {
        return Err(LOST);
    }
    producer.expire(Instant::now());
    f(&mut producer)
}

/// Begins the producer's transaction if none is open; the open one.
fn open<'p>(
    front: &Front,
    conn: &Conn,
    producer_id: i64,
    producer: &'p mut TxnProducer,
    fenced: i16,
) -> Result<&'p mut Open, i16> {
    if let State::Ready = producer.state {
        let id = millrace::ProducerId::new(u64::try_from(producer_id).map_err(|_| LOST)?, producer.epoch);
        let transaction = front
            .service
            .kafka_txn_begin(&conn.session, id, producer.timeout)
            .map_err(|e| txn_code_of(&e, fenced))?;
        producer.state = State::Open(Box::new(Open::new(transaction, producer.timeout)));
    }
    match &mut producer.state {
        State::Open(open) => Ok(open),
        State::AbortOnly { code } => Err(*code),
        State::Ready => Err(errors::INVALID_TXN_STATE),
    }
}

pub(crate) fn init_producer_id(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: InitProducerIdRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let response = match init(front, conn, &request) {
        Ok((producer_id, epoch)) => InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code: errors::NONE,
            producer_id: i64::try_from(producer_id).unwrap_or(-1),
            producer_epoch: i16::try_from(epoch).unwrap_or(-1),
        },
        Err(code) => InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code: code,
            producer_id: -1,
            producer_epoch: -1,
        },
    };
    respond(out, header, &Response::InitProducerId(response))
}

/// Registers (or bumps the epoch of) `kafka.txn/<transactional id>`, which
/// fences the previous instance, and drops its open transaction.
fn init(front: &Front, conn: &Conn, request: &InitProducerIdRequest<'_>) -> Result<(u64, u16), i16> {
    let transactional_id = request.transactional_id.ok_or(errors::INVALID_REQUEST)?;
    if transactional_id.is_empty() {
        return Err(errors::INVALID_REQUEST);
    }
    let service = &front.service;
    let timeout = u64::try_from(request.transaction_timeout_ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .filter(|timeout| *timeout <= service.kafka_txn_timeout_max())
        .ok_or(errors::INVALID_TRANSACTION_TIMEOUT)?;
    front.transactions.expire(Instant::now());
    let session = service
        .kafka_txn_init(&conn.session, transactional_id)
        .map_err(|e| txn_code_of(&e, errors::INVALID_PRODUCER_EPOCH))?;
    if session.epoch > KAFKA_EPOCH_MAX {
        return Err(errors::INVALID_PRODUCER_EPOCH);
    }
    front
        .transactions
        .install(session.producer_id, transactional_id, session.epoch, timeout);
    Ok((session.producer_id, session.epoch))
}

pub(crate) fn add_partitions_to_txn(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: AddPartitionsToTxnRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let fenced = fenced_code(header.api_version);
    // Every partition is checked first; if any fails, none is added and the
    // others answer OPERATION_NOT_ATTEMPTED (as Kafka).
    let mut codes: Vec<Vec<i16>> = request
        .topics
        .iter()
        .map(|topic| {
            topic
                .partitions
                .iter()
                .map(|partition| match u32::try_from(*partition) {
                    // The store's own topics are read-only (as Produce).
                    Ok(_) if millrace::names::is_internal(topic.name) => errors::INVALID_TOPIC_EXCEPTION,
                    Ok(partition) => front
                        .service
                        .kafka_txn_partition(topic.name, partition)
                        .map_or_else(|e| code_of(&e), |()| errors::NONE),
                    Err(_) => errors::UNKNOWN_TOPIC_OR_PARTITION,
                })
                .collect()
        })
        .collect();
    let failed = codes.iter().flatten().any(|code| *code != errors::NONE);
    let added = if failed {
        Err(errors::OPERATION_NOT_ATTEMPTED)
    } else {
        with_producer(
            front,
            conn,
            Some(request.transactional_id),
            request.producer_id,
            request.producer_epoch,
            fenced,
            |producer| {
                let open = open(front, conn, request.producer_id, producer, fenced)?;
                for topic in &request.topics {
                    for partition in &topic.partitions {
                        let partition = u32::try_from(*partition).map_err(|_| errors::UNKNOWN_TOPIC_OR_PARTITION)?;
                        if open.partitions.len() >= state::PARTITIONS_PER_TRANSACTION_MAX
                            && !open.partitions.contains(&(topic.name.to_string(), partition))
                        {
                            return Err(errors::POLICY_VIOLATION);
                        }
                        open.partitions.insert((topic.name.to_string(), partition));
                    }
                }
                Ok(())
            },
        )
    };
    if let Err(code) = added {
        for topic_codes in &mut codes {
            for partition_code in topic_codes.iter_mut() {
                if *partition_code == errors::NONE {
                    *partition_code = code;
                }
            }
        }
    }
    let results_by_topic = request
        .topics
        .iter()
        .zip(codes)
        .map(|(topic, codes)| AddPartitionsToTxnTopicResult {
            name: topic.name,
            results_by_partition: topic
                .partitions
                .iter()
                .zip(codes)
                .map(|(partition, code)| AddPartitionsToTxnPartitionResult {
                    partition_index: *partition,
                    partition_error_code: code,
                })
                .collect(),
        })
        .collect();
    let response = AddPartitionsToTxnResponse {
        throttle_time_ms: 0,
        results_by_topic,
    };
    respond(out, header, &Response::AddPartitionsToTxn(response))
}

pub(crate) fn add_offsets_to_txn(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: AddOffsetsToTxnRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let fenced = fenced_code(header.api_version);
    let added = with_producer(
        front,
        conn,
        Some(request.transactional_id),
        request.producer_id,
        request.producer_epoch,
        fenced,
        |producer| {
            let open = open(front, conn, request.producer_id, producer, fenced)?;
            if open.groups.contains(request.group_id) {
                return Ok(());
            }
            if open.groups.len() >= state::GROUPS_PER_TRANSACTION_MAX {
                return Err(errors::POLICY_VIOLATION);
            }
            front
                .service
                .kafka_txn_stage_group(&conn.session, request.group_id, &mut open.staged_groups)
                .map_err(|e| match e {
                    ServiceError::PermissionDenied(_) => errors::GROUP_AUTHORIZATION_FAILED,
                    other => code_of(&other),
                })?;
            open.groups.insert(request.group_id.to_string());
            Ok(())
        },
    );
    // librdkafka takes INVALID_PRODUCER_ID_MAPPING on AddOffsetsToTxn for an
    // abortable error without an epoch bump: it aborts and sends the next
    // transaction with the same lost producer, for ever. The fenced code is
    // fatal there (and in kafka-python), so the application makes a new
    // producer and inits again, which is what a lost transaction needs.
    let response = AddOffsetsToTxnResponse {
        throttle_time_ms: 0,
        error_code: match added {
            Ok(()) => errors::NONE,
            Err(LOST) => fenced,
            Err(code) => code,
        },
    };
    respond(out, header, &Response::AddOffsetsToTxn(response))
}

/// The Kafka code of a refused offset commit.
fn offset_commit_code(error: &ServiceError, fenced: i16) -> i16 {
    match error {
        ServiceError::PermissionDenied(_) => errors::GROUP_AUTHORIZATION_FAILED,
        ServiceError::Engine(millrace::Error::InvalidInput { what: "metadata", .. }) => {
            errors::OFFSET_METADATA_TOO_LARGE
        }
        ServiceError::Engine(millrace::Error::InvalidInput { what: "group", .. }) => errors::INVALID_GROUP_ID,
        other => txn_code_of(other, fenced),
    }
}

pub(crate) fn txn_offset_commit(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: TxnOffsetCommitRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let fenced = fenced_code(header.api_version);
    let committed = with_producer(
        front,
        conn,
        Some(request.transactional_id),
        request.producer_id,
        request.producer_epoch,
        fenced,
        |producer| {
            let State::Open(open) = &mut producer.state else {
                return Err(match producer.state {
                    State::AbortOnly { code } => code,
                    _ => errors::INVALID_TXN_STATE,
                });
            };
            if !open.groups.contains(request.group_id) {
                return Err(errors::INVALID_TXN_STATE);
            }
            let mut commits = Vec::new();
            for topic in &request.topics {
                for partition in &topic.partitions {
                    let (Ok(index), Ok(offset)) = (
                        u32::try_from(partition.partition_index),
                        u64::try_from(partition.committed_offset),
                    ) else {
                        return Err(errors::INVALID_REQUEST);
                    };
                    let metadata = partition.committed_metadata.unwrap_or("").as_bytes();
                    commits.push((topic.name, index, offset, metadata));
                }
            }
            let staged = front.service.kafka_txn_commit_offsets(
                &conn.session,
                &mut open.transaction,
                request.group_id,
                &commits,
            );
            // A commit refused half-way leaves part of it staged: the
            // transaction can only be aborted.
            staged.map_err(|e| {
                let code = offset_commit_code(&e, fenced);
                producer.state = State::AbortOnly { code };
                code
            })
        },
    );
    let code = committed.err().unwrap_or(errors::NONE);
    let topics = request
        .topics
        .iter()
        .map(|topic| TxnOffsetCommitResponseTopic {
            name: topic.name,
            partitions: topic
                .partitions
                .iter()
                .map(|partition| TxnOffsetCommitResponsePartition {
                    partition_index: partition.partition_index,
                    error_code: code,
                })
                .collect(),
        })
        .collect();
    let response = TxnOffsetCommitResponse {
        throttle_time_ms: 0,
        topics,
    };
    respond(out, header, &Response::TxnOffsetCommit(response))
}

pub(crate) fn end_txn(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: EndTxnRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let fenced = fenced_code(header.api_version);
    let ended = with_producer(
        front,
        conn,
        Some(request.transactional_id),
        request.producer_id,
        request.producer_epoch,
        fenced,
        |producer| end(front, conn, producer, request.committed, fenced),
    );
    let code = match ended {
        // An abort of a transaction this run never saw (the server restarted
        // since the producer's init): nothing of it was written. The
        // producer may go on at its epoch with a new transaction.
        Err(LOST) if !request.committed => abort_lost(front, &request),
        Err(code) => code,
        Ok(()) => errors::NONE,
    };
    let response = EndTxnResponse {
        throttle_time_ms: 0,
        error_code: code,
        producer_id: -1,
        producer_epoch: -1,
    };
    respond(out, header, &Response::EndTxn(response))
}

/// EndTxn of a known producer: commit (one durable commit record, then all
/// of it visible) or abort (dropped); a retry of the last outcome is NONE.
fn end(front: &Front, conn: &Conn, producer: &mut TxnProducer, commit: bool, fenced: i16) -> Result<(), i16> {
    match std::mem::take(&mut producer.state) {
        State::Open(open) if commit => {
            let open = *open;
            producer.last_end = None;
            front
                .service
                .kafka_txn_commit(&conn.session, open.transaction, &open.staged_groups)
                .map_err(|e| txn_code_of(&e, fenced))?;
            producer.last_end = Some(true);
            Ok(())
        }
        State::Open(_) | State::AbortOnly { .. } if !commit => {
            producer.last_end = Some(false);
            Ok(())
        }
        State::AbortOnly { code } => {
            producer.state = State::AbortOnly { code };
            Err(code)
        }
        State::Ready if !commit || producer.last_end == Some(true) => Ok(()),
        State::Ready | State::Open(_) => Err(errors::INVALID_TXN_STATE),
    }
}

/// EndTxn(abort) from a producer at its current epoch that this server run
/// did not initialise: it starts afresh (Ready) with the store's default
/// timeout until it inits again.
fn abort_lost(front: &Front, request: &EndTxnRequest<'_>) -> i16 {
    let (Ok(producer_id), Ok(epoch)) = (
        u64::try_from(request.producer_id),
        u16::try_from(request.producer_epoch),
    ) else {
        return LOST;
    };
    let service = &front.service;
    if service.kafka_txn_current_epoch(producer_id) != Some(epoch) {
        return LOST;
    }
    if let Some(entry) = front.transactions.get(producer_id) {
        let mut producer = lock(&entry);
        if producer.epoch == epoch && producer.transactional_id == request.transactional_id {
            producer.state = State::Ready;
            producer.last_end = Some(false);
            return errors::NONE;
        }
        if producer.epoch > epoch {
            return errors::INVALID_PRODUCER_EPOCH;
        }
    }
    front.transactions.install(
        producer_id,
        request.transactional_id,
        epoch,
        service.kafka_txn_timeout_default(),
    );
    errors::NONE
}

/// Adds a transactional batch of `topic`/`partition` to its producer's open
/// transaction (its offsets are known only at commit: the Produce response
/// says -1), or the Kafka error code to answer the partition with. Called
/// by the Produce handler (`produce`).
pub(crate) fn append<R: millrace::AppendRecord>(
    front: &Front,
    conn: &mut Conn,
    topic: &str,
    partition: u32,
    batch: &crate::kafka::records::BatchHeader,
    records: &[R],
) -> Result<Option<i64>, i16> {
    with_producer(
        front,
        conn,
        None,
        batch.producer_id,
        batch.producer_epoch,
        errors::INVALID_PRODUCER_EPOCH,
        |producer| {
            let open = match &mut producer.state {
                State::Open(open) => open,
                State::AbortOnly { code } => return Err(*code),
                State::Ready => return Err(errors::INVALID_TXN_STATE),
            };
            let key = (topic.to_string(), partition);
            if !open.partitions.contains(&key) {
                return Err(errors::INVALID_TXN_STATE);
            }
            let sequences = open.sequences.entry(key).or_default();
            match sequences.admit(batch.base_sequence, batch.record_count) {
                // A retry: the time is not kept (-1, as for an idempotent duplicate).
                Admission::Duplicate => return Ok(None),
                Admission::OutOfOrder => return Err(errors::OUT_OF_ORDER_SEQUENCE_NUMBER),
                Admission::Next => {}
            }
            match front
                .service
                .kafka_txn_append(&mut open.transaction, topic, partition, records)
            {
                Ok(append_time) => {
                    sequences.record(batch.base_sequence, batch.record_count);
                    Ok(append_time)
                }
                Err(error) => {
                    // The batch is not in the transaction: it must not commit
                    // without it.
                    let code = append_code(&error);
                    producer.state = State::AbortOnly { code };
                    Err(code)
                }
            }
        },
    )
}

/// The Kafka code of a refused transactional append: the transaction's size
/// limit is POLICY_VIOLATION, which every client treats as abortable.
fn append_code(error: &ServiceError) -> i16 {
    match error {
        ServiceError::Engine(millrace::Error::InvalidInput {
            what: "transaction", ..
        }) => errors::POLICY_VIOLATION,
        other => txn_code_of(other, errors::INVALID_PRODUCER_EPOCH),
    }
}
