//! DescribeConfigs (key 32), after Kafka's `DescribeConfigsRequest.json`
//! and `DescribeConfigsResponse.json`. Field lists complete through v4
//! (the first flexible version) except tagged fields; AlterConfigs (33) and
//! IncrementalAlterConfigs (44) below.

use crate::kafka::protocol::macros::wire_struct;

wire_struct! {
    pub struct DescribeConfigsResource<'a> {
        /// 2 = topic, 4 = broker (Kafka's `ConfigResource.Type`).
        resource_type: i8 [0, 99],
        resource_name: &'a str [0, 99],
        /// Null: every config.
        configuration_keys: Option<Vec<&'a str>> [0, 99],
    }
}

wire_struct! {
    pub struct DescribeConfigsRequest<'a> {
        resources: Vec<DescribeConfigsResource<'a>> [0, 99],
        include_synonyms: bool [1, 99],
        include_documentation: bool [3, 99],
    }
}

wire_struct! {
    pub struct DescribeConfigsSynonym<'a> {
        name: &'a str [1, 99],
        value: Option<&'a str> [1, 99],
        source: i8 [1, 99],
    }
}

wire_struct! {
    pub struct DescribeConfigsResourceResult<'a> {
        name: &'a str [0, 99],
        value: Option<&'a str> [0, 99],
        read_only: bool [0, 99],
        /// v0 only; v1+ says it with `config_source`.
        is_default: bool [0, 0],
        config_source: i8 [1, 99] = -1,
        is_sensitive: bool [0, 99],
        synonyms: Vec<DescribeConfigsSynonym<'a>> [1, 99],
        config_type: i8 [3, 99],
        documentation: Option<&'a str> [3, 99],
    }
}

wire_struct! {
    pub struct DescribeConfigsResult<'a> {
        error_code: i16 [0, 99],
        error_message: Option<&'a str> [0, 99],
        resource_type: i8 [0, 99],
        resource_name: &'a str [0, 99],
        configs: Vec<DescribeConfigsResourceResult<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct DescribeConfigsResponse<'a> {
        throttle_time_ms: i32 [0, 99],
        results: Vec<DescribeConfigsResult<'a>> [0, 99],
    }
}

// AlterConfigs (key 33), after Kafka's `AlterConfigsRequest.json` and
// `AlterConfigsResponse.json`: complete through v2 (the first flexible
// version) except tagged fields.

wire_struct! {
    pub struct AlterableConfig<'a> {
        name: &'a str [0, 99],
        /// Null: the key's default (as Kafka's legacy AlterConfigs).
        value: Option<&'a str> [0, 99],
    }
}

wire_struct! {
    pub struct AlterConfigsResource<'a> {
        /// 2 = topic, 4 = broker (Kafka's `ConfigResource.Type`).
        resource_type: i8 [0, 99],
        resource_name: &'a str [0, 99],
        configs: Vec<AlterableConfig<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct AlterConfigsRequest<'a> {
        resources: Vec<AlterConfigsResource<'a>> [0, 99],
        validate_only: bool [0, 99],
    }
}

wire_struct! {
    /// One resource's answer, the same for AlterConfigs and
    /// IncrementalAlterConfigs.
    pub struct AlterConfigsResourceResponse<'a> {
        error_code: i16 [0, 99],
        error_message: Option<&'a str> [0, 99],
        resource_type: i8 [0, 99],
        resource_name: &'a str [0, 99],
    }
}

wire_struct! {
    pub struct AlterConfigsResponse<'a> {
        throttle_time_ms: i32 [0, 99],
        responses: Vec<AlterConfigsResourceResponse<'a>> [0, 99],
    }
}

// IncrementalAlterConfigs (key 44), after Kafka's
// `IncrementalAlterConfigsRequest.json` and `…Response.json`: complete
// through v1 (flexible) except tagged fields.

wire_struct! {
    pub struct AlterableConfigOp<'a> {
        name: &'a str [0, 99],
        /// 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.
        config_operation: i8 [0, 99],
        value: Option<&'a str> [0, 99],
    }
}

wire_struct! {
    pub struct IncrementalAlterConfigsResource<'a> {
        resource_type: i8 [0, 99],
        resource_name: &'a str [0, 99],
        configs: Vec<AlterableConfigOp<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct IncrementalAlterConfigsRequest<'a> {
        resources: Vec<IncrementalAlterConfigsResource<'a>> [0, 99],
        validate_only: bool [0, 99],
    }
}

wire_struct! {
    pub struct IncrementalAlterConfigsResponse<'a> {
        throttle_time_ms: i32 [0, 99],
        responses: Vec<AlterConfigsResourceResponse<'a>> [0, 99],
    }
}
