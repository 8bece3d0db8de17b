//! Idempotence and transactions: InitProducerId (22), AddPartitionsToTxn
//! (24), AddOffsetsToTxn (25), EndTxn (26), TxnOffsetCommit (28), after
//! Kafka's `<Name>Request.json` / `<Name>Response.json`. Field lists
//! complete through InitProducerId v5, AddPartitionsToTxn v3 (v4+ batches
//! transactions: not modelled yet), AddOffsetsToTxn v4, EndTxn v4 and
//! TxnOffsetCommit v4.

use crate::kafka::protocol::macros::wire_struct;

wire_struct! {
    pub struct InitProducerIdRequest<'a> {
        /// `None` for an idempotent (non-transactional) producer.
        transactional_id: Option<&'a str> [0, 99],
        transaction_timeout_ms: i32 [0, 99],
        producer_id: i64 [3, 99] = -1,
        producer_epoch: i16 [3, 99] = -1,
    }
}

wire_struct! {
    pub struct InitProducerIdResponse {
        throttle_time_ms: i32 [0, 99],
        error_code: i16 [0, 99],
        producer_id: i64 [0, 99] = -1,
        producer_epoch: i16 [0, 99],
    }
}

wire_struct! {
    pub struct AddPartitionsToTxnTopic<'a> {
        name: &'a str [0, 99],
        partitions: Vec<i32> [0, 99],
    }
}

wire_struct! {
    pub struct AddPartitionsToTxnRequest<'a> {
        transactional_id: &'a str [0, 3],
        producer_id: i64 [0, 3],
        producer_epoch: i16 [0, 3],
        topics: Vec<AddPartitionsToTxnTopic<'a>> [0, 3],
    }
}

wire_struct! {
    pub struct AddPartitionsToTxnPartitionResult {
        partition_index: i32 [0, 99],
        partition_error_code: i16 [0, 99],
    }
}

wire_struct! {
    pub struct AddPartitionsToTxnTopicResult<'a> {
        name: &'a str [0, 99],
        results_by_partition: Vec<AddPartitionsToTxnPartitionResult> [0, 99],
    }
}

wire_struct! {
    pub struct AddPartitionsToTxnResponse<'a> {
        throttle_time_ms: i32 [0, 99],
        results_by_topic: Vec<AddPartitionsToTxnTopicResult<'a>> [0, 3],
    }
}

wire_struct! {
    pub struct AddOffsetsToTxnRequest<'a> {
        transactional_id: &'a str [0, 99],
        producer_id: i64 [0, 99],
        producer_epoch: i16 [0, 99],
        group_id: &'a str [0, 99],
    }
}

wire_struct! {
    pub struct AddOffsetsToTxnResponse {
        throttle_time_ms: i32 [0, 99],
        error_code: i16 [0, 99],
    }
}

wire_struct! {
    pub struct EndTxnRequest<'a> {
        transactional_id: &'a str [0, 99],
        producer_id: i64 [0, 99],
        producer_epoch: i16 [0, 99],
        /// true commit, false abort.
        committed: bool [0, 99],
    }
}

wire_struct! {
    pub struct EndTxnResponse {
        throttle_time_ms: i32 [0, 99],
        error_code: i16 [0, 99],
        producer_id: i64 [5, 99] = -1,
        producer_epoch: i16 [5, 99] = -1,
    }
}

wire_struct! {
    pub struct TxnOffsetCommitRequestPartition<'a> {
        partition_index: i32 [0, 99],
        committed_offset: i64 [0, 99],
        committed_leader_epoch: i32 [2, 99] = -1,
        committed_metadata: Option<&'a str> [0, 99],
    }
}

wire_struct! {
    pub struct TxnOffsetCommitRequestTopic<'a> {
        name: &'a str [0, 99],
        partitions: Vec<TxnOffsetCommitRequestPartition<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct TxnOffsetCommitRequest<'a> {
        transactional_id: &'a str [0, 99],
        group_id: &'a str [0, 99],
        producer_id: i64 [0, 99],
        producer_epoch: i16 [0, 99],
        generation_id: i32 [3, 99] = -1,
        member_id: &'a str [3, 99],
        group_instance_id: Option<&'a str> [3, 99],
        topics: Vec<TxnOffsetCommitRequestTopic<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct TxnOffsetCommitResponsePartition {
        partition_index: i32 [0, 99],
        error_code: i16 [0, 99],
    }
}

wire_struct! {
    pub struct TxnOffsetCommitResponseTopic<'a> {
        name: &'a str [0, 99],
        partitions: Vec<TxnOffsetCommitResponsePartition> [0, 99],
    }
}

wire_struct! {
    pub struct TxnOffsetCommitResponse<'a> {
        throttle_time_ms: i32 [0, 99],
        topics: Vec<TxnOffsetCommitResponseTopic<'a>> [0, 99],
    }
}
