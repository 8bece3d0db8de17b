//! OffsetCommit (key 8) and OffsetFetch (key 9), after Kafka's
//! `OffsetCommitRequest.json`, `OffsetCommitResponse.json`,
//! `OffsetFetchRequest.json` and `OffsetFetchResponse.json`. Field lists
//! complete through OffsetCommit v9 and OffsetFetch v7 (v8+ batches groups:
//! its fields are not modelled yet).

use crate::kafka::protocol::macros::wire_struct;

wire_struct! {
    pub struct OffsetCommitRequestPartition<'a> {
        partition_index: i32 [0, 99],
        committed_offset: i64 [0, 99],
        committed_leader_epoch: i32 [6, 99] = -1,
        commit_timestamp: i64 [1, 1] = -1,
        committed_metadata: Option<&'a str> [0, 99],
    }
}

wire_struct! {
    pub struct OffsetCommitRequestTopic<'a> {
        name: &'a str [0, 99],
        partitions: Vec<OffsetCommitRequestPartition<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct OffsetCommitRequest<'a> {
        group_id: &'a str [0, 99],
        generation_id_or_member_epoch: i32 [1, 99] = -1,
        member_id: &'a str [1, 99],
        group_instance_id: Option<&'a str> [7, 99],
        retention_time_ms: i64 [2, 4] = -1,
        topics: Vec<OffsetCommitRequestTopic<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct OffsetCommitResponsePartition {
        partition_index: i32 [0, 99],
        error_code: i16 [0, 99],
    }
}

wire_struct! {
    pub struct OffsetCommitResponseTopic<'a> {
        name: &'a str [0, 99],
        partitions: Vec<OffsetCommitResponsePartition> [0, 99],
    }
}

wire_struct! {
    pub struct OffsetCommitResponse<'a> {
        throttle_time_ms: i32 [3, 99],
        topics: Vec<OffsetCommitResponseTopic<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct OffsetFetchRequestTopic<'a> {
        name: &'a str [0, 7],
        partition_indexes: Vec<i32> [0, 7],
    }
}

wire_struct! {
    pub struct OffsetFetchRequest<'a> {
        group_id: &'a str [0, 7],
        /// `None` (v2+) = every topic the group committed.
        topics: Option<Vec<OffsetFetchRequestTopic<'a>>> [0, 7],
        require_stable: bool [7, 99],
    }
}

wire_struct! {
    pub struct OffsetFetchResponsePartition<'a> {
        partition_index: i32 [0, 7],
        /// -1 when the group has no committed offset.
        committed_offset: i64 [0, 7],
        committed_leader_epoch: i32 [5, 7] = -1,
        metadata: Option<&'a str> [0, 7],
        error_code: i16 [0, 7],
    }
}

wire_struct! {
    pub struct OffsetFetchResponseTopic<'a> {
        name: &'a str [0, 7],
        partitions: Vec<OffsetFetchResponsePartition<'a>> [0, 7],
    }
}

wire_struct! {
    pub struct OffsetFetchResponse<'a> {
        throttle_time_ms: i32 [3, 99],
        topics: Vec<OffsetFetchResponseTopic<'a>> [0, 7],
        error_code: i16 [2, 7],
    }
}
