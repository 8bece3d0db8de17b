//! OffsetCommit v2–7 and OffsetFetch v1–5 onto the store's offset table,
//! the one native groups use (`Service::commit_offsets`,
//! `Service::group_offsets`): `millrace offsets show|reset|audit`, lag and
//! metrics see Kafka groups as they see native ones. Commit metadata is
//! kept as its UTF-8 bytes (a null one as empty: Kafka stores "" too).
//! A group commits on user topics and on dead-letter queues `__dlq.<topic>`
//! (`service::may_commit_position_on`); other `__*` topics answer
//! TOPIC_AUTHORIZATION_FAILED. Reading a group's offsets needs what
//! describing it needs (`service::may_describe_group`), else
//! GROUP_AUTHORIZATION_FAILED.

use messages::offsets as m;

use super::{check_group_id, Conn, Front, Handled};
use crate::kafka::front::{errors, respond};
use crate::kafka::protocol::messages;
use crate::kafka::protocol::{RequestHeader, Response};
use crate::server::service::{may_commit_position_on, ServiceError, OFFSET_COMMIT_ENTRIES_MAX};

/// Kafka's `offset.metadata.max.bytes` default, and the engine's limit.
const METADATA_BYTES_MAX: usize = 4096;

/// The Kafka code of a failed commit or read.
fn code_of(error: &ServiceError) -> i16 {
    match error {
        ServiceError::PermissionDenied(_) => errors::GROUP_AUTHORIZATION_FAILED,
        other => errors::code_of(other),
    }
}

/// OffsetCommit v2–7: the group's members commit at their generation; a
/// consumer outside the group protocol (generation -1) while the group has
/// no members. Each partition gets its own code; the valid ones are
/// committed together (one atomic batch per 1000 entries).
pub(crate) fn offset_commit(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: m::OffsetCommitRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let group = request.group_id;
    let group_code = group_commit_code(front, conn, &request);
    let mut codes: Vec<Vec<i16>> = Vec::with_capacity(request.topics.len());
    let mut commits: Vec<(String, u32, u64, Vec<u8>)> = Vec::new();
    let mut positions: Vec<(usize, usize)> = Vec::new();
    for (t, topic) in request.topics.iter().enumerate() {
        let mut topic_codes = Vec::with_capacity(topic.partitions.len());
        for (p, partition) in topic.partitions.iter().enumerate() {
            let metadata = partition.committed_metadata.unwrap_or_default();
            let code = match (group_code, u32::try_from(partition.partition_index)) {
                (Some(code), _) => code,
                _ if metadata.len() > METADATA_BYTES_MAX => errors::OFFSET_METADATA_TOO_LARGE,
                _ if !may_commit_position_on(topic.name) => errors::TOPIC_AUTHORIZATION_FAILED,
                (None, Err(_)) => errors::UNKNOWN_TOPIC_OR_PARTITION,
                (None, Ok(index)) => match (
                    u64::try_from(partition.committed_offset),
                    front.service.offsets(topic.name, index),
                ) {
                    (_, Err(error)) => code_of(&error),
                    (Err(_), Ok(_)) => errors::INVALID_COMMIT_OFFSET_SIZE,
                    (Ok(offset), Ok((_, high_watermark))) if offset > high_watermark => errors::OFFSET_OUT_OF_RANGE,
                    (Ok(offset), Ok(_)) => {
                        commits.push((topic.name.to_string(), index, offset, metadata.as_bytes().to_vec()));
                        positions.push((t, p));
                        errors::NONE
                    }
                },
            };
            topic_codes.push(code);
        }
        codes.push(topic_codes);
    }
    for (chunk, chunk_positions) in commits
        .chunks(OFFSET_COMMIT_ENTRIES_MAX)
        .zip(positions.chunks(OFFSET_COMMIT_ENTRIES_MAX))
    {
        if let Err(error) = front.service.commit_offsets(&conn.session, group, chunk) {
            let code = code_of(&error);
            for (t, p) in chunk_positions {
                if let Some(slot) = codes.get_mut(*t).and_then(|topic| topic.get_mut(*p)) {
                    *slot = code;
                }
            }
        }
    }
    let topics = request
        .topics
        .iter()
        .zip(&codes)
        .map(|(topic, codes)| m::OffsetCommitResponseTopic {
            name: topic.name,
            partitions: topic
                .partitions
                .iter()
                .zip(codes)
                .map(|(partition, code)| m::OffsetCommitResponsePartition {
                    partition_index: partition.partition_index,
                    error_code: *code,
                })
                .collect(),
        })
        .collect();
    let response = m::OffsetCommitResponse {
        topics,
        ..Default::default()
    };
    respond(out, header, &Response::OffsetCommit(response))
}

/// The code every partition of the commit gets when the group refuses it.
fn group_commit_code(front: &Front, conn: &Conn, request: &m::OffsetCommitRequest<'_>) -> Option<i16> {
    if let Err(code) = check_group_id(request.group_id) {
        return Some(code);
    }
    if request.group_instance_id.is_some() {
        return Some(errors::UNSUPPORTED_VERSION);
    }
    if front
        .service
        .check_group_access(&conn.session, request.group_id)
        .is_err()
    {
        return Some(errors::GROUP_AUTHORIZATION_FAILED);
    }
    let code = front.groups.check_commit(
        request.group_id,
        request.generation_id_or_member_epoch,
        request.member_id,
        &front.service.kafka_groups,
    );
    (code != errors::NONE).then_some(code)
}

/// One partition's answer: (partition, offset or -1, metadata, code).
type Fetched = (i32, i64, String, i16);

/// OffsetFetch v1–5: -1 and empty metadata for a partition without a
/// commit; v5's committed leader epoch is -1 (no epochs here). A group the
/// principal may not describe (`service::may_describe_group`) is
/// GROUP_AUTHORIZATION_FAILED, as any group-level error: v1 says it in
/// each requested partition, v2+ at the top with no partitions (as Kafka's
/// `OffsetFetchRequest::getErrorResponse`).
pub(crate) fn offset_fetch(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: m::OffsetFetchRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let group = request.group_id;
    let stored = check_group_id(group).and_then(|()| {
        front
            .service
            .group_offsets(&conn.session, group, None)
            .map_err(|error| code_of(&error))
    });
    let (group_code, mut stored) = match stored {
        Ok(stored) => (errors::NONE, stored),
        Err(code) => (code, Vec::new()),
    };
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    let lookup = |topic: &str, partition: i32| -> Fetched {
        if group_code != errors::NONE {
            return (partition, -1, String::new(), group_code);
        }
        let found = u32::try_from(partition).ok().and_then(|index| {
            stored
                .binary_search_by(|((t, p), _)| (t.as_str(), *p).cmp(&(topic, index)))
                .ok()
                .and_then(|at| stored.get(at))
        });
        match found {
            Some((_, committed)) => fetched(partition, committed),
            None => (partition, -1, String::new(), errors::NONE),
        }
    };
    let answers: Vec<(&str, Vec<Fetched>)> = match &request.topics {
        // v2+ carries a group-level error at the top only.
        Some(_) if group_code != errors::NONE && header.api_version >= 2 => Vec::new(),
        Some(topics) => topics
            .iter()
            .map(|topic| {
                let partitions = topic
                    .partition_indexes
                    .iter()
                    .map(|partition| lookup(topic.name, *partition))
                    .collect();
                (topic.name, partitions)
            })
            .collect(),
        None => {
            let mut all: Vec<(&str, Vec<Fetched>)> = Vec::new();
            for ((topic, partition), committed) in &stored {
                let partition = i32::try_from(*partition).unwrap_or(i32::MAX);
                match all.last_mut() {
                    Some((last, partitions)) if *last == topic.as_str() => {
                        partitions.push(fetched(partition, committed))
                    }
                    _ => all.push((topic, vec![fetched(partition, committed)])),
                }
            }
            all
        }
    };
    let topics = answers
        .iter()
        .map(|(name, partitions)| m::OffsetFetchResponseTopic {
            name,
            partitions: partitions
                .iter()
                .map(
                    |(partition_index, committed_offset, metadata, error_code)| m::OffsetFetchResponsePartition {
                        partition_index: *partition_index,
                        committed_offset: *committed_offset,
                        committed_leader_epoch: -1,
                        metadata: Some(metadata),
                        error_code: *error_code,
                    },
                )
                .collect(),
        })
        .collect();
    let response = m::OffsetFetchResponse {
        topics,
        error_code: group_code,
        ..Default::default()
    };
    respond(out, header, &Response::OffsetFetch(response))
}

fn fetched(partition: i32, committed: &millrace::offset_table::CommittedOffset) -> Fetched {
    (
        partition,
        i64::try_from(committed.offset).unwrap_or(i64::MAX),
        String::from_utf8_lossy(&committed.metadata).into_owned(),
        errors::NONE,
    )
}
