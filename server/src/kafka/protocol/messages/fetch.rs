//! Fetch (key 1), after Kafka's `FetchRequest.json` and
//! `FetchResponse.json`. The records of a response are opaque bytes built
//! by `kafka::records`. Field lists complete through v18 except tagged
//! fields (cluster id, replica state, replica directory id, high watermark,
//! diverging epoch, leader and snapshot hints: read and skipped, never
//! written).

use crate::kafka::protocol::macros::wire_struct;
use crate::kafka::protocol::primitives::Uuid;

wire_struct! {
    pub struct FetchPartition {
        partition: i32 [0, 99],
        current_leader_epoch: i32 [9, 99] = -1,
        fetch_offset: i64 [0, 99],
        last_fetched_epoch: i32 [12, 99] = -1,
        log_start_offset: i64 [5, 99] = -1,
        partition_max_bytes: i32 [0, 99],
    }
}

wire_struct! {
    pub struct FetchTopic<'a> {
        topic: &'a str [0, 12],
        topic_id: Uuid [13, 99],
        partitions: Vec<FetchPartition> [0, 99],
    }
}

wire_struct! {
    /// A topic an incremental fetch session stops fetching (v7+).
    pub struct ForgottenTopic<'a> {
        topic: &'a str [7, 12],
        topic_id: Uuid [13, 99],
        partitions: Vec<i32> [7, 99],
    }
}

wire_struct! {
    pub struct FetchRequest<'a> {
        replica_id: i32 [0, 14] = -1,
        max_wait_ms: i32 [0, 99],
        min_bytes: i32 [0, 99],
        max_bytes: i32 [3, 99] = i32::MAX,
        /// 0 read uncommitted, 1 read committed.
        isolation_level: i8 [4, 99],
        session_id: i32 [7, 99],
        session_epoch: i32 [7, 99] = -1,
        topics: Vec<FetchTopic<'a>> [0, 99],
        forgotten_topics_data: Vec<ForgottenTopic<'a>> [7, 99],
        rack_id: &'a str [11, 99],
    }
}

wire_struct! {
    pub struct AbortedTransaction {
        producer_id: i64 [4, 99],
        first_offset: i64 [4, 99],
    }
}

wire_struct! {
    pub struct FetchResponsePartition<'a> {
        partition_index: i32 [0, 99],
        error_code: i16 [0, 99],
        high_watermark: i64 [0, 99],
        last_stable_offset: i64 [4, 99] = -1,
        log_start_offset: i64 [5, 99] = -1,
        aborted_transactions: Option<Vec<AbortedTransaction>> [4, 99],
        preferred_read_replica: i32 [11, 99] = -1,
        /// Record batches, encoded by `kafka::records`.
        records: Option<&'a [u8]> [0, 99],
    }
}

wire_struct! {
    pub struct FetchResponseTopic<'a> {
        topic: &'a str [0, 12],
        topic_id: Uuid [13, 99],
        partitions: Vec<FetchResponsePartition<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct FetchResponse<'a> {
        throttle_time_ms: i32 [1, 99],
        error_code: i16 [7, 99],
        session_id: i32 [7, 99],
        responses: Vec<FetchResponseTopic<'a>> [0, 99],
    }
}
