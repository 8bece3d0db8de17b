//! The API/version table: which APIs the front advertises in ApiVersions,
//! which versions it serves, and from which version each API is flexible.
//! Raising a version is a change of this table (plus the new fields of the
//! message's field list). The advertisement is research A1.3
//! (`design/kafka.md`, "Compatibility matrix"): non-flexible versions only,
//! with the minimums old librdkafka needs to keep its features on.

use super::primitives::Version;

/// The Kafka API keys of the phase-1 set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKey {
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    DescribeGroups = 15,
    ListGroups = 16,
    SaslHandshake = 17,
    ApiVersions = 18,
    CreateTopics = 19,
    DeleteTopics = 20,
    InitProducerId = 22,
    AddPartitionsToTxn = 24,
    AddOffsetsToTxn = 25,
    EndTxn = 26,
    TxnOffsetCommit = 28,
    DescribeConfigs = 32,
    AlterConfigs = 33,
    SaslAuthenticate = 36,
    IncrementalAlterConfigs = 44,
}

/// What the front says and does about one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSupport {
    pub key: ApiKey,
    /// The range listed in ApiVersions responses.
    pub advertised_min: i16,
    pub advertised_max: i16,
    /// The lowest version actually served; advertised versions below it are
    /// answered UNSUPPORTED_VERSION (Produce v0–2: old librdkafka switches
    /// compression off unless Produce 0 is advertised, KAFKA-18659).
    pub served_min: i16,
    /// The first flexible version (KIP-482), from Kafka's message JSON;
    /// `i16::MAX` for an API that never became flexible.
    pub first_flexible: i16,
}

const fn api(
    key: ApiKey,
    advertised_min: i16,
    advertised_max: i16,
    served_min: i16,
    first_flexible: i16,
) -> ApiSupport {
    ApiSupport {
        key,
        advertised_min,
        advertised_max,
        served_min,
        first_flexible,
    }
}

/// The table, in API key order (ApiVersions responses list it so).
pub const SUPPORTED_APIS: [ApiSupport; 26] = [
    api(ApiKey::Produce, 0, 8, 3, 9),
    api(ApiKey::Fetch, 4, 11, 4, 12),
    api(ApiKey::ListOffsets, 1, 5, 1, 6),
    api(ApiKey::Metadata, 0, 8, 0, 9),
    api(ApiKey::OffsetCommit, 2, 7, 2, 8),
    api(ApiKey::OffsetFetch, 1, 5, 1, 6),
    api(ApiKey::FindCoordinator, 0, 2, 0, 3),
    api(ApiKey::JoinGroup, 0, 5, 0, 6),
    api(ApiKey::Heartbeat, 0, 3, 0, 4),
    api(ApiKey::LeaveGroup, 0, 3, 0, 4),
    api(ApiKey::SyncGroup, 0, 3, 0, 4),
    api(ApiKey::DescribeGroups, 0, 4, 0, 5),
    api(ApiKey::ListGroups, 0, 2, 0, 3),
    api(ApiKey::SaslHandshake, 0, 1, 0, i16::MAX),
    api(ApiKey::ApiVersions, 0, 2, 0, 3),
    api(ApiKey::CreateTopics, 2, 4, 2, 5),
    api(ApiKey::DeleteTopics, 1, 3, 1, 4),
    api(ApiKey::InitProducerId, 0, 1, 0, 2),
    api(ApiKey::AddPartitionsToTxn, 0, 2, 0, 3),
    api(ApiKey::AddOffsetsToTxn, 0, 2, 0, 3),
    api(ApiKey::EndTxn, 0, 2, 0, 3),
    api(ApiKey::TxnOffsetCommit, 0, 2, 0, 3),
    api(ApiKey::DescribeConfigs, 0, 2, 0, 4),
    api(ApiKey::AlterConfigs, 0, 1, 0, 2),
    api(ApiKey::SaslAuthenticate, 0, 1, 0, 2),
    // v1 is flexible: librdkafka asks for it whenever it is advertised, and
    // the codec's flexible forms are round-trip and differential tested.
    api(ApiKey::IncrementalAlterConfigs, 0, 1, 0, 1),
];

#[expect(
    clippy::indexing_slicing,
    reason = "compile-time check: an index out of bounds fails the build"
)]
const _: () = {
    let mut index = 0;
    while index < SUPPORTED_APIS.len() {
        let api = SUPPORTED_APIS[index];
        assert!(api.advertised_min <= api.served_min && api.served_min <= api.advertised_max);
        // Phase 1 serves no flexible version (research A1.4), but for
        // IncrementalAlterConfigs, which Kafka made flexible at v1.
        assert!(api.advertised_max < api.first_flexible || api.key as i16 == ApiKey::IncrementalAlterConfigs as i16);
        if index > 0 {
            assert!((SUPPORTED_APIS[index - 1].key as i16) < (api.key as i16));
        }
        index += 1;
    }
};

impl ApiKey {
    /// The key with this number, if the front knows it.
    #[must_use]
    pub fn from_i16(code: i16) -> Option<Self> {
        SUPPORTED_APIS.iter().map(|api| api.key).find(|key| *key as i16 == code)
    }

    #[must_use]
    pub fn code(self) -> i16 {
        self as i16
    }

    #[must_use]
    pub fn support(self) -> ApiSupport {
        let found = SUPPORTED_APIS.iter().find(|api| api.key == self);
        // Every variant has a row; the fallback advertises nothing.
        found.copied().unwrap_or(ApiSupport {
            key: self,
            advertised_min: 0,
            advertised_max: -1,
            served_min: 0,
            first_flexible: i16::MAX,
        })
    }

    /// The message version `number` of this API (flexible or not).
    #[must_use]
    pub fn version(self, number: i16) -> Version {
        Version::new(number, number >= self.support().first_flexible)
    }

    /// Request header version: 2 at flexible versions, else 1.
    #[must_use]
    pub fn request_header_version(self, number: i16) -> i16 {
        if self.version(number).flexible {
            2
        } else {
            1
        }
    }

    /// Response header version: 1 at flexible versions, else 0; always 0 for
    /// ApiVersions (KIP-511: a client must read it before it knows what the
    /// broker supports).
    #[must_use]
    pub fn response_header_version(self, number: i16) -> i16 {
        if self != Self::ApiVersions && self.version(number).flexible {
            1
        } else {
            0
        }
    }
}
