//! ListOffsets (key 2), after Kafka's `ListOffsetsRequest.json` and
//! `ListOffsetsResponse.json`. Field lists complete through v10.

use crate::kafka::protocol::macros::wire_struct;

wire_struct! {
    pub struct ListOffsetsPartition {
        partition_index: i32 [0, 99],
        current_leader_epoch: i32 [4, 99] = -1,
        /// -1 latest, -2 earliest, -3 max timestamp (v7+), else a time in ms.
        timestamp: i64 [0, 99],
        max_num_offsets: i32 [0, 0] = 1,
    }
}

wire_struct! {
    pub struct ListOffsetsTopic<'a> {
        name: &'a str [0, 99],
        partitions: Vec<ListOffsetsPartition> [0, 99],
    }
}

wire_struct! {
    pub struct ListOffsetsRequest<'a> {
        replica_id: i32 [0, 99] = -1,
        isolation_level: i8 [2, 99],
        topics: Vec<ListOffsetsTopic<'a>> [0, 99],
        timeout_ms: i32 [10, 99],
    }
}

wire_struct! {
    pub struct ListOffsetsPartitionResponse {
        partition_index: i32 [0, 99],
        error_code: i16 [0, 99],
        old_style_offsets: Vec<i64> [0, 0],
        timestamp: i64 [1, 99] = -1,
        offset: i64 [1, 99] = -1,
        leader_epoch: i32 [4, 99] = -1,
    }
}

wire_struct! {
    pub struct ListOffsetsTopicResponse<'a> {
        name: &'a str [0, 99],
        partitions: Vec<ListOffsetsPartitionResponse> [0, 99],
    }
}

wire_struct! {
    pub struct ListOffsetsResponse<'a> {
        throttle_time_ms: i32 [2, 99],
        topics: Vec<ListOffsetsTopicResponse<'a>> [0, 99],
    }
}
