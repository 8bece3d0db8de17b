//! Produce (key 0), after Kafka's `ProduceRequest.json` and
//! `ProduceResponse.json`. Records stay opaque bytes (`kafka::records`
//! decodes them). Field lists complete through v13 except the response's
//! tagged fields (v10+ leader hints: read and skipped, never written).

use crate::kafka::protocol::macros::wire_struct;
use crate::kafka::protocol::primitives::Uuid;

wire_struct! {
    pub struct ProduceRequestPartition<'a> {
        index: i32 [0, 99],
        /// The record batches, borrowed from the frame.
        records: Option<&'a [u8]> [0, 99],
    }
}

wire_struct! {
    pub struct ProduceRequestTopic<'a> {
        name: &'a str [0, 12],
        topic_id: Uuid [13, 99],
        partition_data: Vec<ProduceRequestPartition<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct ProduceRequest<'a> {
        transactional_id: Option<&'a str> [3, 99],
        /// 0 (no response at all), 1 or -1 (all).
        acks: i16 [0, 99],
        timeout_ms: i32 [0, 99],
        topic_data: Vec<ProduceRequestTopic<'a>> [0, 99],
    }
}

wire_struct! {
    /// One refused record of a batch (v8+, INVALID_RECORD).
    pub struct BatchIndexAndErrorMessage<'a> {
        batch_index: i32 [8, 99],
        batch_index_error_message: Option<&'a str> [8, 99],
    }
}

wire_struct! {
    pub struct PartitionProduceResponse<'a> {
        index: i32 [0, 99],
        error_code: i16 [0, 99],
        base_offset: i64 [0, 99],
        log_append_time_ms: i64 [2, 99] = -1,
        log_start_offset: i64 [5, 99] = -1,
        record_errors: Vec<BatchIndexAndErrorMessage<'a>> [8, 99],
        error_message: Option<&'a str> [8, 99],
    }
}

wire_struct! {
    pub struct TopicProduceResponse<'a> {
        name: &'a str [0, 12],
        topic_id: Uuid [13, 99],
        partition_responses: Vec<PartitionProduceResponse<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct ProduceResponse<'a> {
        responses: Vec<TopicProduceResponse<'a>> [0, 99],
        throttle_time_ms: i32 [1, 99],
    }
}
