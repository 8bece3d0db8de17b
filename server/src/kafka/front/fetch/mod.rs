//! Fetch (v4–11: long poll, isolation, several partitions) and ListOffsets
//! (v1–5). Design: design/kafka.md, "Produce and fetch".
//!
//! A fetch reads each partition through [`Service::fetch`] (no wait of its
//! own) into one Kafka batch per partition ([`sink::PartitionSink`]) that
//! starts exactly at the requested offset, in rounds run by
//! [`Service::long_poll`] until `min_bytes` are gathered or `max_wait_ms`
//! passed: the wait wakes when records become visible in any partition.

mod list_offsets;
mod sink;
#[cfg(test)]
mod tests;

use std::ops::Range;

use millrace::{Isolation, ScanMarks};

use super::errors::{self, code_of};
use super::{respond, Conn, Front, Handled};
use crate::kafka::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchResponsePartition, FetchResponseTopic,
};
use crate::kafka::protocol::primitives::Uuid;
use crate::kafka::protocol::{RequestHeader, Response};
use crate::server::service::{FetchFrom, FetchQuery, Service, Session, FETCH_RESPONSE_OVERHEAD_BYTES};

pub(crate) use list_offsets::list_offsets;

/// Response bytes counted for each partition besides its records (index,
/// error code, three offsets, aborted transactions, replica, records size).
const PARTITION_FIXED_BYTES: usize = 64;
/// And for each topic besides its name and partitions.
const TOPIC_FIXED_BYTES: usize = 16;

/// What one partition is answered.
#[derive(Debug, Clone)]
enum Read {
    Records { range: Range<usize>, marks: ScanMarks },
    Error(i16),
}

/// May this connection read `topic`: the consume permission, and admin for
/// the store's own `__*` topics except a dead-letter queue `__dlq.<topic>`
/// (the native front's rule, `Service`'s `may_read_topic`)?
pub(super) fn may_read(session: &Session, topic: &str) -> bool {
    session.may_read_topic(topic)
}

pub(crate) fn fetch(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: FetchRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let service = &front.service;
    if header.api_version >= 7 && request.session_id != 0 {
        // No incremental fetch session was ever handed out (every answer
        // says session 0): the client must send full requests.
        let response = FetchResponse {
            error_code: errors::FETCH_SESSION_ID_NOT_FOUND,
            ..FetchResponse::default()
        };
        return respond(out, header, &Response::Fetch(response));
    }
    let isolation = if request.isolation_level == 1 {
        Isolation::ReadCommitted
    } else {
        Isolation::ReadUncommitted
    };
    let fixed: usize = request
        .topics
        .iter()
        .map(|topic| TOPIC_FIXED_BYTES + topic.topic.len() + PARTITION_FIXED_BYTES * topic.partitions.len())
        .sum();
    let room = (service.frame_bytes_max.saturating_sub(FETCH_RESPONSE_OVERHEAD_BYTES) as usize).saturating_sub(fixed);
    // max_bytes is soft (the first record is returned whatever its size).
    let records_cap = usize::try_from(request.max_bytes).unwrap_or(0).min(room);
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let mut buffer = std::mem::take(&mut conn.session.fetch_buffer);
    let mut reads: Vec<Vec<Read>> = Vec::with_capacity(request.topics.len());
    let session = &mut conn.session;
    service.long_poll(u32::try_from(request.max_wait_ms).unwrap_or(0), || {
        buffer.clear();
        reads.clear();
        let mut failed = false;
        for topic in &request.topics {
            let readable = may_read(session, topic.topic);
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for partition in &topic.partitions {
                let read = if readable {
                    read_partition(
                        service,
                        session,
                        topic.topic,
                        partition,
                        isolation,
                        records_cap,
                        &mut buffer,
                    )
                } else {
                    Read::Error(errors::TOPIC_AUTHORIZATION_FAILED)
                };
                failed |= matches!(read, Read::Error(_));
                partitions.push(read);
            }
            reads.push(partitions);
        }
        // Kafka answers at once when a partition fails.
        failed || buffer.len() >= min_bytes
    });
    let responses = request
        .topics
        .iter()
        .zip(&reads)
        .map(|(topic, partitions)| FetchResponseTopic {
            topic: topic.topic,
            topic_id: Uuid::default(),
            partitions: topic
                .partitions
                .iter()
                .zip(partitions)
                .map(|(partition, read)| answer(partition.partition, read, isolation, &buffer))
                .collect(),
        })
        .collect();
    let response = FetchResponse {
        throttle_time_ms: 0,
        error_code: errors::NONE,
        session_id: 0,
        responses,
    };
    let responded = respond(out, header, &Response::Fetch(response));
    conn.session.recycle_fetch_buffer(buffer);
    responded
}

fn answer<'a>(partition_index: i32, read: &Read, isolation: Isolation, buffer: &'a [u8]) -> FetchResponsePartition<'a> {
    let committed = isolation == Isolation::ReadCommitted;
    match read {
        Read::Records { range, marks } => FetchResponsePartition {
            partition_index,
            error_code: errors::NONE,
            high_watermark: offset(marks.high_watermark),
            last_stable_offset: offset(marks.last_stable_offset),
            log_start_offset: offset(marks.log_start_offset),
            // Transactions are written at commit: nothing aborted is in the log.
            aborted_transactions: committed.then(Vec::new),
            preferred_read_replica: -1,
            records: Some(buffer.get(range.clone()).unwrap_or_default()),
        },
        Read::Error(code) => FetchResponsePartition {
            partition_index,
            error_code: *code,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            aborted_transactions: committed.then(Vec::new),
            preferred_read_replica: -1,
            records: Some(&[]),
        },
    }
}

fn offset(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

/// Read one partition from its fetch offset into `buffer` (as one batch),
/// stopping before `records_cap` bytes of the whole response unless it is
/// the response's first record.
fn read_partition(
    service: &Service,
    session: &mut Session,
    topic: &str,
    partition: &FetchPartition,
    isolation: Isolation,
    records_cap: usize,
    buffer: &mut Vec<u8>,
) -> Read {
    let Ok(partition_index) = u32::try_from(partition.partition) else {
        return Read::Error(errors::UNKNOWN_TOPIC_OR_PARTITION);
    };
    let Ok(fetch_offset) = u64::try_from(partition.fetch_offset) else {
        return Read::Error(errors::OFFSET_OUT_OF_RANGE);
    };
    let frame_room = service
        .frame_bytes_max
        .saturating_sub(FETCH_RESPONSE_OVERHEAD_BYTES)
        .max(1);
    let query = FetchQuery {
        topic,
        partition: partition_index,
        from: FetchFrom::Offset(fetch_offset),
        // The engine's budget for this partition (payload bytes; it lets
        // the last record cross it).
        max_bytes: u32::try_from(partition.partition_max_bytes)
            .unwrap_or(0)
            .clamp(1, frame_room),
        max_records: 0,
        max_wait_ms: 0,
        isolation,
    };
    let mut sink = sink::PartitionSink::new(buffer, service.log_append_time(topic));
    let fetched = service.fetch(session, &query, true, records_cap, &mut sink);
    let range = sink.finish();
    match (fetched, range) {
        (Some(Ok(marks)), Ok(range)) => Read::Records { range, marks },
        (Some(Err(error)), _) => Read::Error(code_of(&error)),
        (None, _) | (_, Err(_)) => Read::Error(errors::UNKNOWN_SERVER_ERROR),
    }
}
