//! CreateTopics (key 19) and DeleteTopics (key 20), after Kafka's
//! `CreateTopicsRequest.json`, `CreateTopicsResponse.json`,
//! `DeleteTopicsRequest.json` and `DeleteTopicsResponse.json`. Field lists
//! complete through CreateTopics v7 and DeleteTopics v6 except tagged fields
//! (CreateTopics v5+ `topic_config_error_code`: read and skipped).

use crate::kafka::protocol::macros::wire_struct;
use crate::kafka::protocol::primitives::Uuid;

wire_struct! {
    pub struct CreatableReplicaAssignment {
        partition_index: i32 [0, 99],
        broker_ids: Vec<i32> [0, 99],
    }
}

wire_struct! {
    pub struct CreatableTopicConfig<'a> {
        name: &'a str [0, 99],
        value: Option<&'a str> [0, 99],
    }
}

wire_struct! {
    pub struct CreatableTopic<'a> {
        name: &'a str [0, 99],
        /// -1 = the broker default.
        num_partitions: i32 [0, 99],
        replication_factor: i16 [0, 99],
        assignments: Vec<CreatableReplicaAssignment> [0, 99],
        configs: Vec<CreatableTopicConfig<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct CreateTopicsRequest<'a> {
        topics: Vec<CreatableTopic<'a>> [0, 99],
        timeout_ms: i32 [0, 99] = 60_000,
        validate_only: bool [1, 99],
    }
}

wire_struct! {
    pub struct CreatableTopicConfigs<'a> {
        name: &'a str [5, 99],
        value: Option<&'a str> [5, 99],
        read_only: bool [5, 99],
        config_source: i8 [5, 99] = -1,
        is_sensitive: bool [5, 99],
    }
}

wire_struct! {
    pub struct CreatableTopicResult<'a> {
        name: &'a str [0, 99],
        topic_id: Uuid [7, 99],
        error_code: i16 [0, 99],
        error_message: Option<&'a str> [1, 99],
        num_partitions: i32 [5, 99] = -1,
        replication_factor: i16 [5, 99] = -1,
        configs: Option<Vec<CreatableTopicConfigs<'a>>> [5, 99],
    }
}

wire_struct! {
    pub struct CreateTopicsResponse<'a> {
        throttle_time_ms: i32 [2, 99],
        topics: Vec<CreatableTopicResult<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct DeleteTopicState<'a> {
        name: Option<&'a str> [6, 99],
        topic_id: Uuid [6, 99],
    }
}

wire_struct! {
    pub struct DeleteTopicsRequest<'a> {
        topics: Vec<DeleteTopicState<'a>> [6, 99],
        topic_names: Vec<&'a str> [0, 5],
        timeout_ms: i32 [0, 99],
    }
}

wire_struct! {
    pub struct DeletableTopicResult<'a> {
        /// Nullable from v6.
        name: Option<&'a str> [0, 99],
        topic_id: Uuid [6, 99],
        error_code: i16 [0, 99],
        error_message: Option<&'a str> [5, 99],
    }
}

wire_struct! {
    pub struct DeleteTopicsResponse<'a> {
        throttle_time_ms: i32 [1, 99],
        responses: Vec<DeletableTopicResult<'a>> [0, 99],
    }
}
