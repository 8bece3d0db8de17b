//! The Kafka protocol codec (issue 21, `design/kafka.md` "Compatibility
//! matrix"): primitives incl. the flexible forms ([`primitives`]), headers
//! ([`header`]), the API/version table and the KIP-511 fallback
//! ([`versions`], [`messages::api_versions`]), and request decode plus
//! response encode of every message of the phase-1 set ([`messages`]).
//!
//! The front reads one size-prefixed frame, calls [`decode_request`] on the
//! bytes after the size, calls the service layer and appends the answer
//! with [`encode_response`]. Decoding borrows from the frame and is bounded
//! by it: no input makes it allocate more than a small constant times the
//! frame's size (`tests/tests/it/kafka_allocation.rs` measures it).

pub mod error;
#[doc(hidden)]
pub mod fuzz_check;
pub mod header;
pub(crate) mod macros;
pub mod messages;
pub mod primitives;
#[doc(hidden)]
pub mod sample;
pub mod versions;

pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use header::RequestHeader;
pub use versions::{ApiKey, ApiSupport, SUPPORTED_APIS};

use messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use messages::fetch::{FetchRequest, FetchResponse};
use messages::groups::{
    DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, SyncGroupRequest, SyncGroupResponse,
};
use messages::list_offsets::{ListOffsetsRequest, ListOffsetsResponse};
use messages::metadata::{MetadataRequest, MetadataResponse};
use messages::offsets::{OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse};
use messages::produce::{ProduceRequest, ProduceResponse};
use messages::sasl::{SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse};
use messages::topics::{CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse};
use messages::txn::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    EndTxnRequest, EndTxnResponse, InitProducerIdRequest, InitProducerIdResponse, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use primitives::{Reader, Version, Wire};
use sample::{Sample, Sampler};

/// A decoded request body, by API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    Produce(ProduceRequest<'a>),
    Fetch(FetchRequest<'a>),
    ListOffsets(ListOffsetsRequest<'a>),
    Metadata(MetadataRequest<'a>),
    OffsetCommit(OffsetCommitRequest<'a>),
    OffsetFetch(OffsetFetchRequest<'a>),
    FindCoordinator(FindCoordinatorRequest<'a>),
    JoinGroup(JoinGroupRequest<'a>),
    Heartbeat(HeartbeatRequest<'a>),
    LeaveGroup(LeaveGroupRequest<'a>),
    SyncGroup(SyncGroupRequest<'a>),
    DescribeGroups(DescribeGroupsRequest<'a>),
    ListGroups(ListGroupsRequest<'a>),
    SaslHandshake(SaslHandshakeRequest<'a>),
    ApiVersions(ApiVersionsRequest<'a>),
    CreateTopics(CreateTopicsRequest<'a>),
    DeleteTopics(DeleteTopicsRequest<'a>),
    InitProducerId(InitProducerIdRequest<'a>),
    AddPartitionsToTxn(AddPartitionsToTxnRequest<'a>),
    AddOffsetsToTxn(AddOffsetsToTxnRequest<'a>),
    EndTxn(EndTxnRequest<'a>),
    TxnOffsetCommit(TxnOffsetCommitRequest<'a>),
    SaslAuthenticate(SaslAuthenticateRequest<'a>),
}

/// A response body, by API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response<'a> {
    Produce(ProduceResponse<'a>),
    Fetch(FetchResponse<'a>),
    ListOffsets(ListOffsetsResponse<'a>),
    Metadata(MetadataResponse<'a>),
    OffsetCommit(OffsetCommitResponse<'a>),
    OffsetFetch(OffsetFetchResponse<'a>),
    FindCoordinator(FindCoordinatorResponse<'a>),
    JoinGroup(JoinGroupResponse<'a>),
    Heartbeat(HeartbeatResponse),
    LeaveGroup(LeaveGroupResponse<'a>),
    SyncGroup(SyncGroupResponse<'a>),
    DescribeGroups(DescribeGroupsResponse<'a>),
    ListGroups(ListGroupsResponse<'a>),
    SaslHandshake(SaslHandshakeResponse<'a>),
    ApiVersions(ApiVersionsResponse),
    CreateTopics(CreateTopicsResponse<'a>),
    DeleteTopics(DeleteTopicsResponse<'a>),
    InitProducerId(InitProducerIdResponse),
    AddPartitionsToTxn(AddPartitionsToTxnResponse<'a>),
    AddOffsetsToTxn(AddOffsetsToTxnResponse),
    EndTxn(EndTxnResponse),
    TxnOffsetCommit(TxnOffsetCommitResponse<'a>),
    SaslAuthenticate(SaslAuthenticateResponse<'a>),
}

impl Request<'_> {
    /// The API of this request.
    #[must_use]
    pub fn api_key(&self) -> ApiKey {
        match self {
            Self::Produce(_) => ApiKey::Produce,
            Self::Fetch(_) => ApiKey::Fetch,
            Self::ListOffsets(_) => ApiKey::ListOffsets,
            Self::Metadata(_) => ApiKey::Metadata,
            Self::OffsetCommit(_) => ApiKey::OffsetCommit,
            Self::OffsetFetch(_) => ApiKey::OffsetFetch,
            Self::FindCoordinator(_) => ApiKey::FindCoordinator,
            Self::JoinGroup(_) => ApiKey::JoinGroup,
            Self::Heartbeat(_) => ApiKey::Heartbeat,
            Self::LeaveGroup(_) => ApiKey::LeaveGroup,
            Self::SyncGroup(_) => ApiKey::SyncGroup,
            Self::DescribeGroups(_) => ApiKey::DescribeGroups,
            Self::ListGroups(_) => ApiKey::ListGroups,
            Self::SaslHandshake(_) => ApiKey::SaslHandshake,
            Self::ApiVersions(_) => ApiKey::ApiVersions,
            Self::CreateTopics(_) => ApiKey::CreateTopics,
            Self::DeleteTopics(_) => ApiKey::DeleteTopics,
            Self::InitProducerId(_) => ApiKey::InitProducerId,
            Self::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
            Self::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
            Self::EndTxn(_) => ApiKey::EndTxn,
            Self::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
            Self::SaslAuthenticate(_) => ApiKey::SaslAuthenticate,
        }
    }

    fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            Self::Produce(body) => body.write(out, version),
            Self::Fetch(body) => body.write(out, version),
            Self::ListOffsets(body) => body.write(out, version),
            Self::Metadata(body) => body.write(out, version),
            Self::OffsetCommit(body) => body.write(out, version),
            Self::OffsetFetch(body) => body.write(out, version),
            Self::FindCoordinator(body) => body.write(out, version),
            Self::JoinGroup(body) => body.write(out, version),
            Self::Heartbeat(body) => body.write(out, version),
            Self::LeaveGroup(body) => body.write(out, version),
            Self::SyncGroup(body) => body.write(out, version),
            Self::DescribeGroups(body) => body.write(out, version),
            Self::ListGroups(body) => body.write(out, version),
            Self::SaslHandshake(body) => body.write(out, version),
            Self::ApiVersions(body) => body.write(out, version),
            Self::CreateTopics(body) => body.write(out, version),
            Self::DeleteTopics(body) => body.write(out, version),
            Self::InitProducerId(body) => body.write(out, version),
            Self::AddPartitionsToTxn(body) => body.write(out, version),
            Self::AddOffsetsToTxn(body) => body.write(out, version),
            Self::EndTxn(body) => body.write(out, version),
            Self::TxnOffsetCommit(body) => body.write(out, version),
            Self::SaslAuthenticate(body) => body.write(out, version),
        }
    }
}

impl Response<'_> {
    /// The API of this response.
    #[must_use]
    pub fn api_key(&self) -> ApiKey {
        match self {
            Self::Produce(_) => ApiKey::Produce,
            Self::Fetch(_) => ApiKey::Fetch,
            Self::ListOffsets(_) => ApiKey::ListOffsets,
            Self::Metadata(_) => ApiKey::Metadata,
            Self::OffsetCommit(_) => ApiKey::OffsetCommit,
            Self::OffsetFetch(_) => ApiKey::OffsetFetch,
            Self::FindCoordinator(_) => ApiKey::FindCoordinator,
            Self::JoinGroup(_) => ApiKey::JoinGroup,
            Self::Heartbeat(_) => ApiKey::Heartbeat,
            Self::LeaveGroup(_) => ApiKey::LeaveGroup,
            Self::SyncGroup(_) => ApiKey::SyncGroup,
            Self::DescribeGroups(_) => ApiKey::DescribeGroups,
            Self::ListGroups(_) => ApiKey::ListGroups,
            Self::SaslHandshake(_) => ApiKey::SaslHandshake,
            Self::ApiVersions(_) => ApiKey::ApiVersions,
            Self::CreateTopics(_) => ApiKey::CreateTopics,
            Self::DeleteTopics(_) => ApiKey::DeleteTopics,
            Self::InitProducerId(_) => ApiKey::InitProducerId,
            Self::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
            Self::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
            Self::EndTxn(_) => ApiKey::EndTxn,
            Self::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
            Self::SaslAuthenticate(_) => ApiKey::SaslAuthenticate,
        }
    }

    /// A response of `api` with every field at its default (error code 0,
    /// empty arrays): what the fuzz target encodes for a decoded request.
    #[must_use]
    pub fn empty(api: ApiKey) -> Response<'static> {
        match api {
            ApiKey::Produce => Response::Produce(ProduceResponse::default()),
            ApiKey::Fetch => Response::Fetch(FetchResponse::default()),
            ApiKey::ListOffsets => Response::ListOffsets(ListOffsetsResponse::default()),
            ApiKey::Metadata => Response::Metadata(MetadataResponse::default()),
            ApiKey::OffsetCommit => Response::OffsetCommit(OffsetCommitResponse::default()),
            ApiKey::OffsetFetch => Response::OffsetFetch(OffsetFetchResponse::default()),
            ApiKey::FindCoordinator => Response::FindCoordinator(FindCoordinatorResponse::default()),
            ApiKey::JoinGroup => Response::JoinGroup(JoinGroupResponse::default()),
            ApiKey::Heartbeat => Response::Heartbeat(HeartbeatResponse::default()),
            ApiKey::LeaveGroup => Response::LeaveGroup(LeaveGroupResponse::default()),
            ApiKey::SyncGroup => Response::SyncGroup(SyncGroupResponse::default()),
            ApiKey::DescribeGroups => Response::DescribeGroups(DescribeGroupsResponse::default()),
            ApiKey::ListGroups => Response::ListGroups(ListGroupsResponse::default()),
            ApiKey::SaslHandshake => Response::SaslHandshake(SaslHandshakeResponse::default()),
            ApiKey::ApiVersions => Response::ApiVersions(ApiVersionsResponse::default()),
            ApiKey::CreateTopics => Response::CreateTopics(CreateTopicsResponse::default()),
            ApiKey::DeleteTopics => Response::DeleteTopics(DeleteTopicsResponse::default()),
            ApiKey::InitProducerId => Response::InitProducerId(InitProducerIdResponse::default()),
            ApiKey::AddPartitionsToTxn => Response::AddPartitionsToTxn(AddPartitionsToTxnResponse::default()),
            ApiKey::AddOffsetsToTxn => Response::AddOffsetsToTxn(AddOffsetsToTxnResponse::default()),
            ApiKey::EndTxn => Response::EndTxn(EndTxnResponse::default()),
            ApiKey::TxnOffsetCommit => Response::TxnOffsetCommit(TxnOffsetCommitResponse::default()),
            ApiKey::SaslAuthenticate => Response::SaslAuthenticate(SaslAuthenticateResponse::default()),
        }
    }

    fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        match self {
            Self::Produce(body) => body.write(out, version),
            Self::Fetch(body) => body.write(out, version),
            Self::ListOffsets(body) => body.write(out, version),
            Self::Metadata(body) => body.write(out, version),
            Self::OffsetCommit(body) => body.write(out, version),
            Self::OffsetFetch(body) => body.write(out, version),
            Self::FindCoordinator(body) => body.write(out, version),
            Self::JoinGroup(body) => body.write(out, version),
            Self::Heartbeat(body) => body.write(out, version),
            Self::LeaveGroup(body) => body.write(out, version),
            Self::SyncGroup(body) => body.write(out, version),
            Self::DescribeGroups(body) => body.write(out, version),
            Self::ListGroups(body) => body.write(out, version),
            Self::SaslHandshake(body) => body.write(out, version),
            Self::ApiVersions(body) => body.write(out, version),
            Self::CreateTopics(body) => body.write(out, version),
            Self::DeleteTopics(body) => body.write(out, version),
            Self::InitProducerId(body) => body.write(out, version),
            Self::AddPartitionsToTxn(body) => body.write(out, version),
            Self::AddOffsetsToTxn(body) => body.write(out, version),
            Self::EndTxn(body) => body.write(out, version),
            Self::TxnOffsetCommit(body) => body.write(out, version),
            Self::SaslAuthenticate(body) => body.write(out, version),
        }
    }
}

/// Reads a request body of `api` at `version` (no header), to its end.
pub fn decode_request_body(api: ApiKey, body: &[u8], version: i16) -> Result<Request<'_>, DecodeError> {
    let mut reader = Reader::new(body);
    let request = read_body(api, &mut reader, api.version(version))?;
    reader.finish()?;
    Ok(request)
}

/// Appends a request body at `version` (no header).
pub fn encode_request_body(out: &mut Vec<u8>, version: i16, request: &Request<'_>) -> Result<(), EncodeError> {
    request.write(out, request.api_key().version(version))
}

/// Appends a response body at `version` (no size, no header).
pub fn encode_response_body(out: &mut Vec<u8>, version: i16, response: &Response<'_>) -> Result<(), EncodeError> {
    response.write(out, response.api_key().version(version))
}

fn read_body<'a>(api: ApiKey, reader: &mut Reader<'a>, version: Version) -> Result<Request<'a>, DecodeError> {
    Ok(match api {
        ApiKey::Produce => Request::Produce(ProduceRequest::read(reader, version)?),
        ApiKey::Fetch => Request::Fetch(FetchRequest::read(reader, version)?),
        ApiKey::ListOffsets => Request::ListOffsets(ListOffsetsRequest::read(reader, version)?),
        ApiKey::Metadata => Request::Metadata(MetadataRequest::read(reader, version)?),
        ApiKey::OffsetCommit => Request::OffsetCommit(OffsetCommitRequest::read(reader, version)?),
        ApiKey::OffsetFetch => Request::OffsetFetch(OffsetFetchRequest::read(reader, version)?),
        ApiKey::FindCoordinator => Request::FindCoordinator(FindCoordinatorRequest::read(reader, version)?),
        ApiKey::JoinGroup => Request::JoinGroup(JoinGroupRequest::read(reader, version)?),
        ApiKey::Heartbeat => Request::Heartbeat(HeartbeatRequest::read(reader, version)?),
        ApiKey::LeaveGroup => Request::LeaveGroup(LeaveGroupRequest::read(reader, version)?),
        ApiKey::SyncGroup => Request::SyncGroup(SyncGroupRequest::read(reader, version)?),
        ApiKey::DescribeGroups => Request::DescribeGroups(DescribeGroupsRequest::read(reader, version)?),
        ApiKey::ListGroups => Request::ListGroups(ListGroupsRequest::read(reader, version)?),
        ApiKey::SaslHandshake => Request::SaslHandshake(SaslHandshakeRequest::read(reader, version)?),
        ApiKey::ApiVersions => Request::ApiVersions(ApiVersionsRequest::read(reader, version)?),
        ApiKey::CreateTopics => Request::CreateTopics(CreateTopicsRequest::read(reader, version)?),
        ApiKey::DeleteTopics => Request::DeleteTopics(DeleteTopicsRequest::read(reader, version)?),
        ApiKey::InitProducerId => Request::InitProducerId(InitProducerIdRequest::read(reader, version)?),
        ApiKey::AddPartitionsToTxn => Request::AddPartitionsToTxn(AddPartitionsToTxnRequest::read(reader, version)?),
        ApiKey::AddOffsetsToTxn => Request::AddOffsetsToTxn(AddOffsetsToTxnRequest::read(reader, version)?),
        ApiKey::EndTxn => Request::EndTxn(EndTxnRequest::read(reader, version)?),
        ApiKey::TxnOffsetCommit => Request::TxnOffsetCommit(TxnOffsetCommitRequest::read(reader, version)?),
        ApiKey::SaslAuthenticate => Request::SaslAuthenticate(SaslAuthenticateRequest::read(reader, version)?),
    })
}

/// Reads a response body of `api` at `version` (tests and clients: the
/// front only encodes responses).
pub fn decode_response_body(api: ApiKey, body: &[u8], version: i16) -> Result<Response<'_>, DecodeError> {
    let mut reader = Reader::new(body);
    let version = api.version(version);
    let response = match api {
        ApiKey::Produce => Response::Produce(ProduceResponse::read(&mut reader, version)?),
        ApiKey::Fetch => Response::Fetch(FetchResponse::read(&mut reader, version)?),
        ApiKey::ListOffsets => Response::ListOffsets(ListOffsetsResponse::read(&mut reader, version)?),
        ApiKey::Metadata => Response::Metadata(MetadataResponse::read(&mut reader, version)?),
        ApiKey::OffsetCommit => Response::OffsetCommit(OffsetCommitResponse::read(&mut reader, version)?),
        ApiKey::OffsetFetch => Response::OffsetFetch(OffsetFetchResponse::read(&mut reader, version)?),
        ApiKey::FindCoordinator => Response::FindCoordinator(FindCoordinatorResponse::read(&mut reader, version)?),
        ApiKey::JoinGroup => Response::JoinGroup(JoinGroupResponse::read(&mut reader, version)?),
        ApiKey::Heartbeat => Response::Heartbeat(HeartbeatResponse::read(&mut reader, version)?),
        ApiKey::LeaveGroup => Response::LeaveGroup(LeaveGroupResponse::read(&mut reader, version)?),
        ApiKey::SyncGroup => Response::SyncGroup(SyncGroupResponse::read(&mut reader, version)?),
        ApiKey::DescribeGroups => Response::DescribeGroups(DescribeGroupsResponse::read(&mut reader, version)?),
        ApiKey::ListGroups => Response::ListGroups(ListGroupsResponse::read(&mut reader, version)?),
        ApiKey::SaslHandshake => Response::SaslHandshake(SaslHandshakeResponse::read(&mut reader, version)?),
        ApiKey::ApiVersions => Response::ApiVersions(ApiVersionsResponse::read(&mut reader, version)?),
        ApiKey::CreateTopics => Response::CreateTopics(CreateTopicsResponse::read(&mut reader, version)?),
        ApiKey::DeleteTopics => Response::DeleteTopics(DeleteTopicsResponse::read(&mut reader, version)?),
        ApiKey::InitProducerId => Response::InitProducerId(InitProducerIdResponse::read(&mut reader, version)?),
        ApiKey::AddPartitionsToTxn => {
            Response::AddPartitionsToTxn(AddPartitionsToTxnResponse::read(&mut reader, version)?)
        }
        ApiKey::AddOffsetsToTxn => Response::AddOffsetsToTxn(AddOffsetsToTxnResponse::read(&mut reader, version)?),
        ApiKey::EndTxn => Response::EndTxn(EndTxnResponse::read(&mut reader, version)?),
        ApiKey::TxnOffsetCommit => Response::TxnOffsetCommit(TxnOffsetCommitResponse::read(&mut reader, version)?),
        ApiKey::SaslAuthenticate => Response::SaslAuthenticate(SaslAuthenticateResponse::read(&mut reader, version)?),
    };
    reader.finish()?;
    Ok(response)
}

/// Why a request frame was not decoded. Every variant but [`Self::Header`]
/// carries the header, so the front can answer with its correlation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError<'a> {
    /// Not even api_key, api_version, correlation_id and client_id could be
    /// read: nothing to answer; the front closes the connection.
    #[error("request header: {0}")]
    Header(DecodeError),
    /// An API the front does not implement (Kafka closes the connection).
    #[error("unknown API key {}", .header.api_key)]
    UnknownApiKey { header: RequestHeader<'a> },
    /// A version outside the advertised range, or an advertised one the
    /// front does not serve (Produce v0–2: `refused` holds the decoded
    /// body, so the front can answer UNSUPPORTED_VERSION per partition). An
    /// ApiVersions request gets [`ApiVersionsResponse::fallback`] (KIP-511),
    /// whatever its version.
    #[error("API key {} version {} not served", .header.api_key, .header.api_version)]
    UnsupportedVersion {
        header: RequestHeader<'a>,
        refused: Option<Box<Request<'a>>>,
    },
    /// The header was read, the body is malformed.
    #[error("API key {} version {}: {error}", .header.api_key, .header.api_version)]
    Body {
        header: RequestHeader<'a>,
        error: DecodeError,
    },
}

impl<'a> RequestError<'a> {
    /// The header, when it was read.
    #[must_use]
    pub fn header(&self) -> Option<&RequestHeader<'a>> {
        match self {
            Self::Header(_) => None,
            Self::UnknownApiKey { header } | Self::UnsupportedVersion { header, .. } | Self::Body { header, .. } => {
                Some(header)
            }
        }
    }
}

/// Decodes one request frame (the bytes after the 4-byte size prefix):
/// header (v1, or v2 at the API's flexible versions) then body, borrowing
/// from `frame`. Bytes after the body are an error.
pub fn decode_request(frame: &[u8]) -> Result<(RequestHeader<'_>, Request<'_>), RequestError<'_>> {
    let mut reader = Reader::new(frame);
    let mut header = RequestHeader::read_prefix(&mut reader).map_err(RequestError::Header)?;
    let Some(api) = header.api() else {
        // Best effort: a client id laid out as in header v1.
        let mut client_reader = reader.clone();
        let mut with_client = header;
        if with_client.read_rest(&mut client_reader, 1).is_ok() {
            header = with_client;
        }
        return Err(RequestError::UnknownApiKey { header });
    };
    let header_version = api.request_header_version(header.api_version);
    if let Err(error) = header.read_rest(&mut reader, header_version) {
        return Err(RequestError::Body { header, error });
    }
    let support = api.support();
    if header.api_version < support.advertised_min || header.api_version > support.advertised_max {
        return Err(RequestError::UnsupportedVersion { header, refused: None });
    }
    let version = api.version(header.api_version);
    let request = read_body(api, &mut reader, version)
        .and_then(|request| reader.finish().map(|()| request))
        .map_err(|error| RequestError::Body { header, error })?;
    if header.api_version < support.served_min {
        return Err(RequestError::UnsupportedVersion {
            header,
            refused: Some(Box::new(request)),
        });
    }
    Ok((header, request))
}

/// Appends a request frame body (no size prefix) for `header`'s version:
/// the client side, for tests, fuzz seeds and tools.
pub fn encode_request(out: &mut Vec<u8>, header: &RequestHeader<'_>, request: &Request<'_>) -> Result<(), EncodeError> {
    let api = request.api_key();
    header.write(out, api.request_header_version(header.api_version))?;
    request.write(out, api.version(header.api_version))
}

/// Appends one complete response frame: the i32 size, the response header
/// (v0, or v1 at flexible versions; always v0 for ApiVersions) and the body
/// at `api_version`. On error `out` is left as it was.
pub fn encode_response(
    out: &mut Vec<u8>,
    correlation_id: i32,
    api_version: i16,
    response: &Response<'_>,
) -> Result<(), EncodeError> {
    let api = response.api_key();
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    header::write_response_header(out, correlation_id, api.response_header_version(api_version));
    let written = response.write(out, api.version(api_version)).and_then(|()| {
        let size = out.len() - start - 4;
        i32::try_from(size).map_err(|_| EncodeError::FrameTooLarge(size))
    });
    match written {
        Ok(size) => {
            if let Some(prefix) = out.get_mut(start..start + 4) {
                prefix.copy_from_slice(&size.to_be_bytes());
            }
            Ok(())
        }
        Err(error) => {
            out.truncate(start);
            Err(error)
        }
    }
}

/// Appends the KIP-511 answer to an ApiVersions request of a version the
/// front does not serve: [`ApiVersionsResponse::fallback`] at v0 with
/// response header v0.
pub fn encode_api_versions_fallback(out: &mut Vec<u8>, correlation_id: i32) -> Result<(), EncodeError> {
    encode_response(
        out,
        correlation_id,
        0,
        &Response::ApiVersions(ApiVersionsResponse::fallback()),
    )
}

/// A sample request of `api` at `version` (tests, fuzz seeds).
#[doc(hidden)]
#[must_use]
pub fn sample_request(api: ApiKey, sampler: &mut Sampler, version: i16) -> Request<'static> {
    let version = api.version(version);
    match api {
        ApiKey::Produce => Request::Produce(ProduceRequest::sample(sampler, version)),
        ApiKey::Fetch => Request::Fetch(FetchRequest::sample(sampler, version)),
        ApiKey::ListOffsets => Request::ListOffsets(ListOffsetsRequest::sample(sampler, version)),
        ApiKey::Metadata => Request::Metadata(MetadataRequest::sample(sampler, version)),
        ApiKey::OffsetCommit => Request::OffsetCommit(OffsetCommitRequest::sample(sampler, version)),
        ApiKey::OffsetFetch => Request::OffsetFetch(OffsetFetchRequest::sample(sampler, version)),
        ApiKey::FindCoordinator => Request::FindCoordinator(FindCoordinatorRequest::sample(sampler, version)),
        ApiKey::JoinGroup => Request::JoinGroup(JoinGroupRequest::sample(sampler, version)),
        ApiKey::Heartbeat => Request::Heartbeat(HeartbeatRequest::sample(sampler, version)),
        ApiKey::LeaveGroup => Request::LeaveGroup(LeaveGroupRequest::sample(sampler, version)),
        ApiKey::SyncGroup => Request::SyncGroup(SyncGroupRequest::sample(sampler, version)),
        ApiKey::DescribeGroups => Request::DescribeGroups(DescribeGroupsRequest::sample(sampler, version)),
        ApiKey::ListGroups => Request::ListGroups(ListGroupsRequest::sample(sampler, version)),
        ApiKey::SaslHandshake => Request::SaslHandshake(SaslHandshakeRequest::sample(sampler, version)),
        ApiKey::ApiVersions => Request::ApiVersions(ApiVersionsRequest::sample(sampler, version)),
        ApiKey::CreateTopics => Request::CreateTopics(CreateTopicsRequest::sample(sampler, version)),
        ApiKey::DeleteTopics => Request::DeleteTopics(DeleteTopicsRequest::sample(sampler, version)),
        ApiKey::InitProducerId => Request::InitProducerId(InitProducerIdRequest::sample(sampler, version)),
        ApiKey::AddPartitionsToTxn => Request::AddPartitionsToTxn(AddPartitionsToTxnRequest::sample(sampler, version)),
        ApiKey::AddOffsetsToTxn => Request::AddOffsetsToTxn(AddOffsetsToTxnRequest::sample(sampler, version)),
        ApiKey::EndTxn => Request::EndTxn(EndTxnRequest::sample(sampler, version)),
        ApiKey::TxnOffsetCommit => Request::TxnOffsetCommit(TxnOffsetCommitRequest::sample(sampler, version)),
        ApiKey::SaslAuthenticate => Request::SaslAuthenticate(SaslAuthenticateRequest::sample(sampler, version)),
    }
}

/// A sample response of `api` at `version` (tests).
#[doc(hidden)]
#[must_use]
pub fn sample_response(api: ApiKey, sampler: &mut Sampler, version: i16) -> Response<'static> {
    let version = api.version(version);
    match api {
        ApiKey::Produce => Response::Produce(ProduceResponse::sample(sampler, version)),
        ApiKey::Fetch => Response::Fetch(FetchResponse::sample(sampler, version)),
        ApiKey::ListOffsets => Response::ListOffsets(ListOffsetsResponse::sample(sampler, version)),
        ApiKey::Metadata => Response::Metadata(MetadataResponse::sample(sampler, version)),
        ApiKey::OffsetCommit => Response::OffsetCommit(OffsetCommitResponse::sample(sampler, version)),
        ApiKey::OffsetFetch => Response::OffsetFetch(OffsetFetchResponse::sample(sampler, version)),
        ApiKey::FindCoordinator => Response::FindCoordinator(FindCoordinatorResponse::sample(sampler, version)),
        ApiKey::JoinGroup => Response::JoinGroup(JoinGroupResponse::sample(sampler, version)),
        ApiKey::Heartbeat => Response::Heartbeat(HeartbeatResponse::sample(sampler, version)),
        ApiKey::LeaveGroup => Response::LeaveGroup(LeaveGroupResponse::sample(sampler, version)),
        ApiKey::SyncGroup => Response::SyncGroup(SyncGroupResponse::sample(sampler, version)),
        ApiKey::DescribeGroups => Response::DescribeGroups(DescribeGroupsResponse::sample(sampler, version)),
        ApiKey::ListGroups => Response::ListGroups(ListGroupsResponse::sample(sampler, version)),
        ApiKey::SaslHandshake => Response::SaslHandshake(SaslHandshakeResponse::sample(sampler, version)),
        ApiKey::ApiVersions => Response::ApiVersions(ApiVersionsResponse::sample(sampler, version)),
        ApiKey::CreateTopics => Response::CreateTopics(CreateTopicsResponse::sample(sampler, version)),
        ApiKey::DeleteTopics => Response::DeleteTopics(DeleteTopicsResponse::sample(sampler, version)),
        ApiKey::InitProducerId => Response::InitProducerId(InitProducerIdResponse::sample(sampler, version)),
        ApiKey::AddPartitionsToTxn => {
            Response::AddPartitionsToTxn(AddPartitionsToTxnResponse::sample(sampler, version))
        }
        ApiKey::AddOffsetsToTxn => Response::AddOffsetsToTxn(AddOffsetsToTxnResponse::sample(sampler, version)),
        ApiKey::EndTxn => Response::EndTxn(EndTxnResponse::sample(sampler, version)),
        ApiKey::TxnOffsetCommit => Response::TxnOffsetCommit(TxnOffsetCommitResponse::sample(sampler, version)),
        ApiKey::SaslAuthenticate => Response::SaslAuthenticate(SaslAuthenticateResponse::sample(sampler, version)),
    }
}
