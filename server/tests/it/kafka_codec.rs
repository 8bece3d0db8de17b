//! The Kafka codec (`millrace_server::kafka::protocol`): every message of
//! the phase-1 set round-trips at every version its field list covers; the
//! bytes agree with an independent codec, the `kafka-protocol` crate (it
//! decodes what we encode and re-encodes the same bytes, for requests and
//! responses, at every version both know); Produce v0–2 (which the crate
//! dropped) is checked against bytes built by hand from Kafka's JSON; the
//! KIP-511 fallback is readable by the crate; hostile inputs (truncation at
//! every byte, huge and negative counts, bad varints, booleans, UTF-8) are
//! typed errors.

use kafka_protocol::messages as oracle;
use kafka_protocol::protocol::{Decodable, Encodable, Message};
use millrace_server::kafka::protocol::header::RequestHeader;
use millrace_server::kafka::protocol::messages::api_versions::ApiVersionsResponse;
use millrace_server::kafka::protocol::messages::metadata::MetadataRequest;
use millrace_server::kafka::protocol::messages::produce::{
    PartitionProduceResponse, ProduceRequest, ProduceRequestPartition, ProduceRequestTopic, ProduceResponse,
    TopicProduceResponse,
};
use millrace_server::kafka::protocol::sample::Sampler;
use millrace_server::kafka::protocol::{
    decode_request, decode_request_body, decode_response_body, encode_api_versions_fallback, encode_request,
    encode_request_body, encode_response, encode_response_body, sample_request, sample_response, ApiKey,
    DecodeErrorKind, Request, RequestError, Response, SUPPORTED_APIS,
};

const SEEDS: u64 = 48;

/// The highest version whose field list is complete (the module docs say
/// the same): round trips and differential runs go up to it, so flexible
/// versions are exercised before they are served.
fn codec_max(api: ApiKey) -> i16 {
    match api {
        ApiKey::Produce => 13,
        ApiKey::Fetch => 18,
        ApiKey::ListOffsets => 10,
        ApiKey::Metadata => 13,
        ApiKey::OffsetCommit => 9,
        ApiKey::OffsetFetch => 7,
        ApiKey::FindCoordinator => 6,
        ApiKey::JoinGroup => 9,
        ApiKey::Heartbeat => 4,
        ApiKey::LeaveGroup => 5,
        ApiKey::SyncGroup => 5,
        ApiKey::DescribeGroups => 6,
        ApiKey::ListGroups => 5,
        ApiKey::SaslHandshake => 1,
        ApiKey::ApiVersions => 4,
        ApiKey::CreateTopics => 7,
        ApiKey::DeleteTopics => 6,
        ApiKey::InitProducerId => 5,
        ApiKey::AddPartitionsToTxn => 3,
        ApiKey::AddOffsetsToTxn => 4,
        ApiKey::EndTxn => 5,
        ApiKey::TxnOffsetCommit => 4,
        ApiKey::SaslAuthenticate => 2,
        ApiKey::DescribeConfigs => 4,
        ApiKey::AlterConfigs => 2,
        ApiKey::IncrementalAlterConfigs => 1,
    }
}

fn header(api: ApiKey, version: i16, correlation_id: i32) -> RequestHeader<'static> {
    RequestHeader {
        api_key: api.code(),
        api_version: version,
        correlation_id,
        client_id: Some("kafka-codec-test"),
    }
}

#[test]
fn every_message_round_trips_at_every_version() {
    let mut checked = 0;
    for api in SUPPORTED_APIS {
        for version in api.advertised_min..=codec_max(api.key) {
            for seed in 0..SEEDS {
                let mut sampler = Sampler::new(seed, true);
                let request = sample_request(api.key, &mut sampler, version);
                let mut body = Vec::new();
                encode_request_body(&mut body, version, &request).unwrap();
                let decoded = decode_request_body(api.key, &body, version)
                    .unwrap_or_else(|e| panic!("{:?} v{version} seed {seed}: {e}", api.key));
                assert_eq!(decoded, request, "{:?} v{version} seed {seed}", api.key);

                let response = sample_response(api.key, &mut sampler, version);
                let mut body = Vec::new();
                encode_response_body(&mut body, version, &response).unwrap();
                let decoded = decode_response_body(api.key, &body, version)
                    .unwrap_or_else(|e| panic!("{:?} response v{version} seed {seed}: {e}", api.key));
                assert_eq!(decoded, response, "{:?} response v{version} seed {seed}", api.key);
                checked += 1;
            }
        }
    }
    assert!(checked > 23 * SEEDS as usize * 3, "{checked}");
}

#[test]
fn served_requests_decode_through_the_frame_dispatch() {
    for api in SUPPORTED_APIS {
        for version in api.advertised_min..=api.advertised_max {
            for seed in 0..8 {
                let request = sample_request(api.key, &mut Sampler::new(seed, true), version);
                let header = header(api.key, version, seed as i32 - 4);
                let mut frame = Vec::new();
                encode_request(&mut frame, &header, &request).unwrap();
                match decode_request(&frame) {
                    Ok((decoded_header, decoded)) => {
                        assert!(version >= api.served_min);
                        assert_eq!(decoded_header, header);
                        assert_eq!(decoded, request);
                    }
                    Err(RequestError::UnsupportedVersion { header: got, refused }) => {
                        assert!(version < api.served_min, "{:?} v{version} refused", api.key);
                        assert_eq!(got, header);
                        assert_eq!(refused.map(|r| *r), Some(request));
                    }
                    Err(other) => panic!("{:?} v{version}: {other}", api.key),
                }
            }
        }
    }
}

#[test]
fn response_frames_carry_size_and_the_header_version_of_their_api() {
    for api in SUPPORTED_APIS {
        for version in api.advertised_min..=codec_max(api.key) {
            let response = sample_response(api.key, &mut Sampler::new(3, true), version);
            let mut out = vec![0xEE];
            encode_response(&mut out, 0x0102_0304, version, &response).unwrap();
            let size = i32::from_be_bytes(out[1..5].try_into().unwrap());
            assert_eq!(size as usize, out.len() - 5);
            assert_eq!(&out[5..9], &[1, 2, 3, 4]);
            // Header v1 (a tagged-field byte) only at flexible versions, never for ApiVersions.
            let flexible_header = api.key != ApiKey::ApiVersions && version >= api.first_flexible;
            let body_start = if flexible_header { 10 } else { 9 };
            if flexible_header {
                assert_eq!(out[9], 0);
            }
            let decoded = decode_response_body(api.key, &out[body_start..], version).unwrap();
            assert_eq!(decoded, response, "{:?} v{version}", api.key);
        }
    }
}

/// Decodes `bytes` with the oracle and re-encodes them: `None` if the crate
/// does not know the version.
fn oracle_reencode<T: Decodable + Encodable + Message>(bytes: &[u8], version: i16, what: &str) -> Option<Vec<u8>> {
    if version < T::VERSIONS.min || version > T::VERSIONS.max {
        return None;
    }
    let mut input = bytes;
    let value = T::decode(&mut input, version).unwrap_or_else(|e| panic!("oracle cannot decode {what}: {e}"));
    assert!(input.is_empty(), "oracle left {} bytes of {what}", input.len());
    let mut out = Vec::new();
    value
        .encode(&mut out, version)
        .unwrap_or_else(|e| panic!("oracle cannot encode {what}: {e}"));
    Some(out)
}

macro_rules! oracle_table {
    ($($key:ident => $request:ident, $response:ident;)*) => {
        fn oracle_request(api: ApiKey, bytes: &[u8], version: i16, what: &str) -> Option<Vec<u8>> {
            match api {
                $(ApiKey::$key => oracle_reencode::<oracle::$request>(bytes, version, what),)*
            }
        }
        fn oracle_response(api: ApiKey, bytes: &[u8], version: i16, what: &str) -> Option<Vec<u8>> {
            match api {
                $(ApiKey::$key => oracle_reencode::<oracle::$response>(bytes, version, what),)*
            }
        }
    };
}

oracle_table! {
    Produce => ProduceRequest, ProduceResponse;
    Fetch => FetchRequest, FetchResponse;
    ListOffsets => ListOffsetsRequest, ListOffsetsResponse;
    Metadata => MetadataRequest, MetadataResponse;
    OffsetCommit => OffsetCommitRequest, OffsetCommitResponse;
    OffsetFetch => OffsetFetchRequest, OffsetFetchResponse;
    FindCoordinator => FindCoordinatorRequest, FindCoordinatorResponse;
    JoinGroup => JoinGroupRequest, JoinGroupResponse;
    Heartbeat => HeartbeatRequest, HeartbeatResponse;
    LeaveGroup => LeaveGroupRequest, LeaveGroupResponse;
    SyncGroup => SyncGroupRequest, SyncGroupResponse;
    DescribeGroups => DescribeGroupsRequest, DescribeGroupsResponse;
    ListGroups => ListGroupsRequest, ListGroupsResponse;
    SaslHandshake => SaslHandshakeRequest, SaslHandshakeResponse;
    ApiVersions => ApiVersionsRequest, ApiVersionsResponse;
    CreateTopics => CreateTopicsRequest, CreateTopicsResponse;
    DeleteTopics => DeleteTopicsRequest, DeleteTopicsResponse;
    InitProducerId => InitProducerIdRequest, InitProducerIdResponse;
    AddPartitionsToTxn => AddPartitionsToTxnRequest, AddPartitionsToTxnResponse;
    AddOffsetsToTxn => AddOffsetsToTxnRequest, AddOffsetsToTxnResponse;
    EndTxn => EndTxnRequest, EndTxnResponse;
    TxnOffsetCommit => TxnOffsetCommitRequest, TxnOffsetCommitResponse;
    SaslAuthenticate => SaslAuthenticateRequest, SaslAuthenticateResponse;
    DescribeConfigs => DescribeConfigsRequest, DescribeConfigsResponse;
    AlterConfigs => AlterConfigsRequest, AlterConfigsResponse;
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse;
}

/// Our bytes, read and re-written by the crate, are the same bytes: the
/// crate reads every field where we wrote it, with the value we wrote (and
/// our decoder reads the crate's encoding, the same bytes, back to the
/// value). Nulls are off: the crate refuses them where Kafka's JSON says a
/// field is not nullable at that version.
#[test]
fn oracle_agrees_with_our_bytes_at_every_shared_version() {
    let mut compared = 0;
    for api in SUPPORTED_APIS {
        let mut versions_compared = 0;
        for version in api.advertised_min..=codec_max(api.key) {
            let mut any = false;
            for seed in 0..SEEDS {
                let mut sampler = Sampler::new(seed ^ 0x5EED, false);
                let request = sample_request(api.key, &mut sampler, version);
                let mut ours = Vec::new();
                encode_request_body(&mut ours, version, &request).unwrap();
                let what = format!("{:?} request v{version} seed {seed}: {request:?}", api.key);
                if let Some(theirs) = oracle_request(api.key, &ours, version, &what) {
                    assert_eq!(theirs, ours, "{what}");
                    assert_eq!(decode_request_body(api.key, &theirs, version).unwrap(), request);
                    any = true;
                }
                let response = sample_response(api.key, &mut sampler, version);
                let mut ours = Vec::new();
                encode_response_body(&mut ours, version, &response).unwrap();
                let what = format!("{:?} response v{version} seed {seed}: {response:?}", api.key);
                if let Some(theirs) = oracle_response(api.key, &ours, version, &what) {
                    assert_eq!(theirs, ours, "{what}");
                    compared += 1;
                }
            }
            versions_compared += usize::from(any);
        }
        // Every API has versions the crate still knows (Produce v0–2 are
        // checked by hand below).
        assert!(versions_compared > 0, "{:?}: no version compared", api.key);
    }
    assert!(compared > 1000, "{compared}");
}

/// Produce v2 (the crate dropped v0–2), from ProduceRequest.json by hand:
/// acks, timeout_ms, [name, [index, records]]. Decoded, then refused as
/// UNSUPPORTED_VERSION with the body, so the front can answer per partition.
#[test]
fn produce_v2_is_decoded_by_hand_layout_and_refused() {
    let mut frame = Vec::new();
    frame.extend_from_slice(&0i16.to_be_bytes()); // api key
    frame.extend_from_slice(&2i16.to_be_bytes()); // version
    frame.extend_from_slice(&77i32.to_be_bytes()); // correlation id
    frame.extend_from_slice(&[0, 2, b'c', b'l']); // client id "cl"
    frame.extend_from_slice(&(-1i16).to_be_bytes()); // acks
    frame.extend_from_slice(&1500i32.to_be_bytes()); // timeout
    frame.extend_from_slice(&1i32.to_be_bytes()); // one topic
    frame.extend_from_slice(&[0, 1, b't']);
    frame.extend_from_slice(&1i32.to_be_bytes()); // one partition
    frame.extend_from_slice(&5i32.to_be_bytes()); // index
    frame.extend_from_slice(&3i32.to_be_bytes()); // record set of 3 bytes
    frame.extend_from_slice(b"abc");
    let Err(RequestError::UnsupportedVersion { header, refused }) = decode_request(&frame) else {
        panic!("Produce v2 must be refused");
    };
    assert_eq!((header.correlation_id, header.client_id), (77, Some("cl")));
    let expected = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 1500,
        topic_data: vec![ProduceRequestTopic {
            name: "t",
            partition_data: vec![ProduceRequestPartition {
                index: 5,
                records: Some(b"abc"),
            }],
            ..ProduceRequestTopic::default()
        }],
    };
    assert_eq!(refused.map(|r| *r), Some(Request::Produce(expected)));

    // The answer, ProduceResponse.json v2: [name, [index, error_code,
    // base_offset, log_append_time_ms]], throttle_time_ms.
    let response = Response::Produce(ProduceResponse {
        responses: vec![TopicProduceResponse {
            name: "t",
            partition_responses: vec![PartitionProduceResponse {
                index: 5,
                error_code: 35,
                base_offset: -1,
                ..PartitionProduceResponse::default()
            }],
            ..TopicProduceResponse::default()
        }],
        throttle_time_ms: 0,
    });
    let mut out = Vec::new();
    encode_response(&mut out, 77, 2, &response).unwrap();
    let mut expected = Vec::new();
    expected.extend_from_slice(&77i32.to_be_bytes());
    expected.extend_from_slice(&1i32.to_be_bytes());
    expected.extend_from_slice(&[0, 1, b't']);
    expected.extend_from_slice(&1i32.to_be_bytes());
    expected.extend_from_slice(&5i32.to_be_bytes());
    expected.extend_from_slice(&35i16.to_be_bytes());
    expected.extend_from_slice(&(-1i64).to_be_bytes());
    expected.extend_from_slice(&(-1i64).to_be_bytes());
    expected.extend_from_slice(&0i32.to_be_bytes());
    assert_eq!(&out[4..], expected.as_slice());
    assert_eq!(out[..4], (expected.len() as i32).to_be_bytes());
}

/// KIP-511: an ApiVersions request of a version we do not serve (v3 and v4
/// arrive with header v2, which has tagged fields after the client id) is
/// answered with error 35 in the v0 layout under response header v0, and the
/// crate reads our ranges from it.
#[test]
fn api_versions_v3_and_later_get_the_kip_511_fallback() {
    for version in [3i16, 4, 5, i16::MAX] {
        let request = oracle::ApiVersionsRequest::default()
            .with_client_software_name(kafka_protocol::protocol::StrBytes::from_static_str("librdkafka"))
            .with_client_software_version(kafka_protocol::protocol::StrBytes::from_static_str("2.0.2"));
        let oracle_header = oracle::RequestHeader::default()
            .with_request_api_key(18)
            .with_request_api_version(version)
            .with_correlation_id(4242)
            .with_client_id(Some(kafka_protocol::protocol::StrBytes::from_static_str("rdkafka")));
        let mut frame = Vec::new();
        oracle_header.encode(&mut frame, 2).unwrap();
        request.encode(&mut frame, version.min(4)).unwrap();
        let Err(RequestError::UnsupportedVersion { header, refused: None }) = decode_request(&frame) else {
            panic!("ApiVersions v{version} must get the fallback");
        };
        assert_eq!(header.correlation_id, 4242);
        assert_eq!(header.client_id, Some("rdkafka"));

        let mut out = Vec::new();
        encode_api_versions_fallback(&mut out, header.correlation_id).unwrap();
        let mut body = &out[4..];
        let response_header = oracle::ResponseHeader::decode(&mut body, 0).unwrap();
        assert_eq!(response_header.correlation_id, 4242);
        let response = oracle::ApiVersionsResponse::decode(&mut body, 0).unwrap();
        assert!(body.is_empty());
        assert_eq!(response.error_code, 35);
        let ranges: Vec<(i16, i16, i16)> = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        let table: Vec<(i16, i16, i16)> = SUPPORTED_APIS
            .iter()
            .map(|a| (a.key.code(), a.advertised_min, a.advertised_max))
            .collect();
        assert_eq!(ranges, table);
    }
    // v0–2 are served: the same advertisement without an error.
    let advertised = ApiVersionsResponse::advertised(0);
    assert!(advertised
        .api_keys
        .iter()
        .any(|k| (k.api_key, k.min_version, k.max_version) == (0, 0, 8)));
}

/// The advertisement keeps old librdkafka's features on (research A1.2).
#[test]
fn advertisement_satisfies_old_librdkafka_feature_checks() {
    let range = |api: ApiKey| {
        let s = api.support();
        (s.advertised_min, s.advertised_max)
    };
    for api in [
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::Heartbeat,
        ApiKey::LeaveGroup,
        ApiKey::FindCoordinator,
        ApiKey::InitProducerId,
        ApiKey::ApiVersions,
        ApiKey::Produce,
    ] {
        assert_eq!(range(api).0, 0, "{api:?}");
    }
    assert!(range(ApiKey::OffsetCommit).0 <= 2);
    assert!(range(ApiKey::OffsetFetch).0 <= 1 && range(ApiKey::ListOffsets).0 <= 1);
    assert!(range(ApiKey::Fetch).0 <= 4 && range(ApiKey::Fetch).1 >= 10);
    assert!(range(ApiKey::Produce).1 >= 7);
    assert_eq!(ApiKey::Produce.support().served_min, 3);
}

fn body_error(frame: &[u8]) -> (DecodeErrorKind, &'static str) {
    match decode_request(frame) {
        Err(RequestError::Body { error, .. }) => (error.kind, error.field),
        other => panic!("expected a body error, got {other:?}"),
    }
}

fn frame_with_body(api: ApiKey, version: i16, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    header(api, version, 1)
        .write(&mut frame, api.request_header_version(version))
        .unwrap();
    frame.extend_from_slice(body);
    frame
}

#[test]
fn every_truncation_of_every_request_is_a_typed_error() {
    for api in SUPPORTED_APIS {
        for version in api.served_min..=api.advertised_max {
            for seed in 0..4 {
                let request = sample_request(api.key, &mut Sampler::new(seed, true), version);
                let mut frame = Vec::new();
                encode_request(&mut frame, &header(api.key, version, 9), &request).unwrap();
                for end in 0..frame.len() {
                    match decode_request(&frame[..end]) {
                        Err(RequestError::Header(e)) => {
                            assert!(end < 10 && matches!(e.kind, DecodeErrorKind::Truncated { .. }))
                        }
                        Err(RequestError::Body { error, .. }) => assert!(
                            matches!(
                                error.kind,
                                DecodeErrorKind::Truncated { .. } | DecodeErrorKind::LengthExceedsInput { .. }
                            ),
                            "{:?} v{version} cut at {end}: {error}",
                            api.key
                        ),
                        other => panic!("{:?} v{version} cut at {end}: {other:?}", api.key),
                    }
                }
            }
        }
    }
}

#[test]
fn huge_and_negative_counts_are_refused_with_the_field() {
    // Metadata v1: topics count i32::MAX in an otherwise empty body.
    let frame = frame_with_body(ApiKey::Metadata, 1, &i32::MAX.to_be_bytes());
    let (kind, field) = body_error(&frame);
    assert!(matches!(kind, DecodeErrorKind::LengthExceedsInput { length, .. } if length == i32::MAX as u64));
    assert_eq!(field, "topics");
    // -2 is no length.
    let frame = frame_with_body(ApiKey::Metadata, 1, &(-2i32).to_be_bytes());
    assert_eq!(
        body_error(&frame),
        (DecodeErrorKind::InvalidLength { length: -2 }, "topics")
    );
    // A string of length -5; a null where a string is required.
    let frame = frame_with_body(ApiKey::SaslHandshake, 1, &(-5i16).to_be_bytes());
    assert_eq!(
        body_error(&frame),
        (DecodeErrorKind::InvalidLength { length: -5 }, "mechanism")
    );
    let frame = frame_with_body(ApiKey::SaslHandshake, 1, &(-1i16).to_be_bytes());
    assert_eq!(
        body_error(&frame),
        (DecodeErrorKind::InvalidLength { length: -1 }, "mechanism")
    );
    // Bytes of length -7.
    let frame = frame_with_body(ApiKey::SaslAuthenticate, 1, &(-7i32).to_be_bytes());
    assert_eq!(
        body_error(&frame),
        (DecodeErrorKind::InvalidLength { length: -7 }, "auth_bytes")
    );
    // Nested: Produce v3, one topic whose partition count is i32::MAX.
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id null
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&[0, 1, b't']);
    body.extend_from_slice(&i32::MAX.to_be_bytes());
    let (kind, field) = body_error(&frame_with_body(ApiKey::Produce, 3, &body));
    assert!(matches!(kind, DecodeErrorKind::LengthExceedsInput { .. }), "{kind:?}");
    assert_eq!(field, "partition_data");
    // A count that fits the bytes only at one byte per element: each topic
    // needs six, so 10 bytes do not hold 10 topics.
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i16).to_be_bytes());
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&10i32.to_be_bytes());
    body.extend_from_slice(&[0; 10]);
    let (kind, field) = body_error(&frame_with_body(ApiKey::Produce, 3, &body));
    assert!(
        matches!(
            kind,
            DecodeErrorKind::LengthExceedsInput {
                length: 10,
                remaining: 10
            }
        ),
        "{kind:?}"
    );
    assert_eq!(field, "topic_data");
}

#[test]
fn bad_scalars_and_trailing_bytes_are_refused() {
    // EndTxn v1: the commit flag is 2.
    let mut body = Vec::new();
    body.extend_from_slice(&[0, 1, b'x']);
    body.extend_from_slice(&7i64.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.push(2);
    assert_eq!(
        body_error(&frame_with_body(ApiKey::EndTxn, 1, &body)),
        (DecodeErrorKind::InvalidBoolean(2), "committed")
    );
    // A mechanism that is not UTF-8.
    let frame = frame_with_body(ApiKey::SaslHandshake, 0, &[0, 2, 0xff, 0xfe]);
    assert_eq!(body_error(&frame), (DecodeErrorKind::InvalidUtf8, "mechanism"));
    // One byte after a complete Heartbeat v0.
    let mut body = vec![0, 1, b'g'];
    body.extend_from_slice(&3i32.to_be_bytes());
    body.extend_from_slice(&[0, 1, b'm', 0xAA]);
    assert_eq!(
        body_error(&frame_with_body(ApiKey::Heartbeat, 0, &body)).0,
        DecodeErrorKind::TrailingBytes(1)
    );
    // Unknown API key and an unadvertised version keep the correlation id.
    let mut frame = Vec::new();
    frame.extend_from_slice(&99i16.to_be_bytes());
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&31337i32.to_be_bytes());
    match decode_request(&frame) {
        Err(RequestError::UnknownApiKey { header }) => assert_eq!(header.correlation_id, 31337),
        other => panic!("{other:?}"),
    }
    for version in [-1i16, 3, 12] {
        let frame = frame_with_body(ApiKey::Fetch, version, &[]);
        assert!(
            matches!(
                decode_request(&frame),
                Err(RequestError::UnsupportedVersion { refused: None, .. })
            ),
            "Fetch v{version}"
        );
    }
    // Fewer than the 8 bytes of the header prefix.
    assert!(matches!(decode_request(&[0, 3, 0]), Err(RequestError::Header(_))));
}

/// The flexible forms, at versions the codec is ready for: a compact count
/// that is a 6-byte varint, a huge tagged-field count and a tagged field
/// longer than the input are typed errors.
#[test]
fn flexible_forms_are_bounded() {
    // Heartbeat v4 (flexible): group id as a compact string whose varint runs on.
    let body = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert_eq!(
        decode_request_body(ApiKey::Heartbeat, &body, 4).unwrap_err().kind,
        DecodeErrorKind::VarintTooLong
    );
    // ApiVersions v3: two compact strings, then 2^32-1 tagged fields.
    let body = [2, b'a', 2, b'b', 0xff, 0xff, 0xff, 0xff, 0x0f];
    let error = decode_request_body(ApiKey::ApiVersions, &body, 3).unwrap_err();
    assert!(
        matches!(error.kind, DecodeErrorKind::LengthExceedsInput { .. }),
        "{error}"
    );
    assert_eq!(error.field, "tagged fields");
    // One tagged field (tag 0) claiming 100 bytes of a 2-byte rest.
    let body = [2, b'a', 2, b'b', 1, 0, 100, 0, 0];
    let error = decode_request_body(ApiKey::ApiVersions, &body, 3).unwrap_err();
    assert!(
        matches!(error.kind, DecodeErrorKind::Truncated { needed: 100, .. }),
        "{error}"
    );
    // Skipped unknown tags decode to the same request.
    let body = [2, b'a', 2, b'b', 2, 0, 1, 0x55, 7, 0];
    let decoded = decode_request_body(ApiKey::ApiVersions, &body, 3).unwrap();
    let Request::ApiVersions(request) = decoded else {
        panic!("{decoded:?}")
    };
    assert_eq!(
        (request.client_software_name, request.client_software_version),
        ("a", "b")
    );
    // Metadata v9: compact nullable array (0 = null) of topics, three
    // booleans, no tagged field.
    let body = [0, 1, 0, 0, 0];
    let Request::Metadata(MetadataRequest { topics, .. }) = decode_request_body(ApiKey::Metadata, &body, 9).unwrap()
    else {
        panic!()
    };
    assert_eq!(topics, None);
}
