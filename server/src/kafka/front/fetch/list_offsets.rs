//! ListOffsets (v1–5): -1 the latest offset (the high watermark; the last
//! stable offset for a read-committed request), -2 the earliest (the log
//! start), another timestamp the first offset whose record's timestamp is
//! at or after it (offset and timestamp -1 when there is none). Every
//! partition asked for is answered (librdkafka waits for each).

use millrace::ScanMarks;

use super::super::errors::{self, code_of};
use super::super::{respond, Conn, Front, Handled};
use super::{may_read, offset};
use crate::kafka::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListOffsetsTopicResponse,
};
use crate::kafka::protocol::{RequestHeader, Response};
use crate::server::service::ServiceResult;

/// The special timestamps of a ListOffsets partition.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

pub(crate) fn list_offsets(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: ListOffsetsRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let committed = request.isolation_level == 1;
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let readable = may_read(&conn.session, topic.name);
            ListOffsetsTopicResponse {
                name: topic.name,
                partitions: topic
                    .partitions
                    .iter()
                    .map(|partition| {
                        if readable {
                            answer(front, conn, topic.name, partition, committed)
                        } else {
                            refused(partition, errors::TOPIC_AUTHORIZATION_FAILED)
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let response = ListOffsetsResponse {
        throttle_time_ms: 0,
        topics,
    };
    respond(out, header, &Response::ListOffsets(response))
}

fn refused(partition: &ListOffsetsPartition, code: i16) -> ListOffsetsPartitionResponse {
    ListOffsetsPartitionResponse {
        partition_index: partition.partition_index,
        error_code: code,
        ..ListOffsetsPartitionResponse::default()
    }
}

fn answer(
    front: &Front,
    conn: &Conn,
    topic: &str,
    partition: &ListOffsetsPartition,
    committed: bool,
) -> ListOffsetsPartitionResponse {
    let Ok(index) = u32::try_from(partition.partition_index) else {
        return refused(partition, errors::UNKNOWN_TOPIC_OR_PARTITION);
    };
    match find(front, conn, topic, index, partition.timestamp, committed) {
        Ok((found_offset, timestamp)) => ListOffsetsPartitionResponse {
            partition_index: partition.partition_index,
            error_code: errors::NONE,
            old_style_offsets: Vec::new(),
            timestamp,
            offset: found_offset,
            leader_epoch: -1,
        },
        Err(error) => refused(partition, code_of(&error)),
    }
}

/// (offset, timestamp) for `timestamp`, each -1 where Kafka says so.
fn find(
    front: &Front,
    conn: &Conn,
    topic: &str,
    partition: u32,
    timestamp: i64,
    committed: bool,
) -> ServiceResult<(i64, i64)> {
    let service = &front.service;
    let session = &conn.session;
    let marks = |at| service.partition_marks(session, topic, partition, at);
    match timestamp {
        LATEST => {
            let (
                ScanMarks {
                    high_watermark,
                    last_stable_offset,
                    ..
                },
                _,
            ) = marks(None)?;
            let latest = if committed { last_stable_offset } else { high_watermark };
            Ok((offset(latest), -1))
        }
        EARLIEST => Ok((offset(marks(None)?.0.log_start_offset), -1)),
        _ => match service.offset_for_time(topic, partition, timestamp)? {
            Some(found) => {
                let (_, record_timestamp) = marks(Some(found))?;
                Ok((offset(found), record_timestamp.unwrap_or(-1)))
            }
            None => Ok((-1, -1)),
        },
    }
}
