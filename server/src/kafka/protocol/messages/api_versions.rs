//! ApiVersions (key 18), after Kafka's `ApiVersionsRequest.json` and
//! `ApiVersionsResponse.json` (clients/src/main/resources/common/message/).
//! Field lists complete through v4 except the response's tagged fields
//! (supported/finalized features: read and skipped, never written).

use crate::kafka::protocol::macros::wire_struct;
use crate::kafka::protocol::versions::SUPPORTED_APIS;

/// UNSUPPORTED_VERSION, the KIP-511 fallback's error code.
pub const UNSUPPORTED_VERSION: i16 = 35;

wire_struct! {
    pub struct ApiVersionsRequest<'a> {
        client_software_name: &'a str [3, 99],
        client_software_version: &'a str [3, 99],
    }
}

wire_struct! {
    /// One API's supported range.
    pub struct ApiVersion {
        api_key: i16 [0, 99],
        min_version: i16 [0, 99],
        max_version: i16 [0, 99],
    }
}

wire_struct! {
    pub struct ApiVersionsResponse {
        error_code: i16 [0, 99],
        api_keys: Vec<ApiVersion> [0, 99],
        throttle_time_ms: i32 [1, 99],
    }
}

impl ApiVersionsResponse {
    /// The advertisement: every row of [`SUPPORTED_APIS`] with its
    /// advertised range.
    #[must_use]
    pub fn advertised(error_code: i16) -> Self {
        Self {
            error_code,
            api_keys: SUPPORTED_APIS
                .iter()
                .map(|api| ApiVersion {
                    api_key: api.key.code(),
                    min_version: api.advertised_min,
                    max_version: api.advertised_max,
                })
                .collect(),
            throttle_time_ms: 0,
        }
    }

    /// The KIP-511 answer to an ApiVersions request of a version the front
    /// does not serve: UNSUPPORTED_VERSION and the ranges, to be encoded at
    /// v0 (with response header v0) so that any client can read it and
    /// retry at `min(its version - 1, our max)`.
    #[must_use]
    pub fn fallback() -> Self {
        Self::advertised(UNSUPPORTED_VERSION)
    }
}
