//! Metadata (key 3), after Kafka's `MetadataRequest.json` and
//! `MetadataResponse.json`. Field lists complete through v13 (no tagged
//! fields in this API).

use crate::kafka::protocol::macros::wire_struct;
use crate::kafka::protocol::primitives::Uuid;

wire_struct! {
    pub struct MetadataRequestTopic<'a> {
        topic_id: Uuid [10, 99],
        /// Nullable from v10 (lookup by id).
        name: Option<&'a str> [0, 99],
    }
}

wire_struct! {
    pub struct MetadataRequest<'a> {
        /// `None` (v1+) = every topic; in v0 an empty array means every topic.
        topics: Option<Vec<MetadataRequestTopic<'a>>> [0, 99],
        allow_auto_topic_creation: bool [4, 99] = true,
        include_cluster_authorized_operations: bool [8, 10],
        include_topic_authorized_operations: bool [8, 99],
    }
}

wire_struct! {
    pub struct MetadataResponseBroker<'a> {
        node_id: i32 [0, 99],
        host: &'a str [0, 99],
        port: i32 [0, 99],
        rack: Option<&'a str> [1, 99],
    }
}

wire_struct! {
    pub struct MetadataResponsePartition {
        error_code: i16 [0, 99],
        partition_index: i32 [0, 99],
        leader_id: i32 [0, 99],
        leader_epoch: i32 [7, 99] = -1,
        replica_nodes: Vec<i32> [0, 99],
        isr_nodes: Vec<i32> [0, 99],
        offline_replicas: Vec<i32> [5, 99],
    }
}

wire_struct! {
    pub struct MetadataResponseTopic<'a> {
        error_code: i16 [0, 99],
        /// Nullable from v12.
        name: Option<&'a str> [0, 99],
        topic_id: Uuid [10, 99],
        is_internal: bool [1, 99],
        partitions: Vec<MetadataResponsePartition> [0, 99],
        topic_authorized_operations: i32 [8, 99] = i32::MIN,
    }
}

wire_struct! {
    pub struct MetadataResponse<'a> {
        throttle_time_ms: i32 [3, 99],
        brokers: Vec<MetadataResponseBroker<'a>> [0, 99],
        cluster_id: Option<&'a str> [2, 99],
        controller_id: i32 [1, 99] = -1,
        topics: Vec<MetadataResponseTopic<'a>> [0, 99],
        cluster_authorized_operations: i32 [8, 10] = i32::MIN,
        error_code: i16 [13, 99],
    }
}
