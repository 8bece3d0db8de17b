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
use messages::configs::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
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

/// Every API of the phase-1 set once, with its request and response body
/// types: the two enums, their dispatch and the decode, default and sample
/// tables below are generated from this one list (adding an API is a row
/// here, a row in [`versions`] and its message module).
macro_rules! apis {
    ($lt:lifetime; $($api:ident($req:ty, $resp:ty),)*) => {
        /// A decoded request body, by API.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Request<$lt> {
            $(
                #[doc = concat!("A ", stringify!($api), " request.")]
                $api($req),
            )*
        }

        /// A response body, by API.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Response<$lt> {
            $(
                #[doc = concat!("A ", stringify!($api), " response.")]
                $api($resp),
            )*
        }

        impl Request<'_> {
            /// The API of this request.
            #[must_use]
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Self::$api(_) => ApiKey::$api,)*
                }
            }

            fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
                match self {
                    $(Self::$api(body) => body.write(out, version),)*
                }
            }
        }

        impl Response<'_> {
            /// The API of this response.
            #[must_use]
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Self::$api(_) => ApiKey::$api,)*
                }
            }

            /// A response of `api` with every field at its default (error code 0,
            /// empty arrays): what the fuzz target encodes for a decoded request.
            #[must_use]
            pub fn empty(api: ApiKey) -> Response<'static> {
                match api {
                    $(ApiKey::$api => Response::$api(Default::default()),)*
                }
            }

            fn write(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
                match self {
                    $(Self::$api(body) => body.write(out, version),)*
                }
            }
        }

        fn read_body<'a>(api: ApiKey, reader: &mut Reader<'a>, version: Version) -> Result<Request<'a>, DecodeError> {
            Ok(match api {
                $(ApiKey::$api => Request::$api(Wire::read(reader, version)?),)*
            })
        }

        fn read_response_body<'a>(
            api: ApiKey,
            reader: &mut Reader<'a>,
            version: Version,
        ) -> Result<Response<'a>, DecodeError> {
            Ok(match api {
                $(ApiKey::$api => Response::$api(Wire::read(reader, version)?),)*
            })
        }

        /// A sample request of `api` at `version` (tests, fuzz seeds).
        #[doc(hidden)]
        #[must_use]
        pub fn sample_request(api: ApiKey, sampler: &mut Sampler, version: i16) -> Request<'static> {
            let version = api.version(version);
            match api {
                $(ApiKey::$api => Request::$api(Sample::sample(sampler, version)),)*
            }
        }

        /// A sample response of `api` at `version` (tests).
        #[doc(hidden)]
        #[must_use]
        pub fn sample_response(api: ApiKey, sampler: &mut Sampler, version: i16) -> Response<'static> {
            let version = api.version(version);
            match api {
                $(ApiKey::$api => Response::$api(Sample::sample(sampler, version)),)*
            }
        }
    };
}

apis! {'a;
    Produce(ProduceRequest<'a>, ProduceResponse<'a>),
    Fetch(FetchRequest<'a>, FetchResponse<'a>),
    ListOffsets(ListOffsetsRequest<'a>, ListOffsetsResponse<'a>),
    Metadata(MetadataRequest<'a>, MetadataResponse<'a>),
    OffsetCommit(OffsetCommitRequest<'a>, OffsetCommitResponse<'a>),
    OffsetFetch(OffsetFetchRequest<'a>, OffsetFetchResponse<'a>),
    FindCoordinator(FindCoordinatorRequest<'a>, FindCoordinatorResponse<'a>),
    JoinGroup(JoinGroupRequest<'a>, JoinGroupResponse<'a>),
    Heartbeat(HeartbeatRequest<'a>, HeartbeatResponse),
    LeaveGroup(LeaveGroupRequest<'a>, LeaveGroupResponse<'a>),
    SyncGroup(SyncGroupRequest<'a>, SyncGroupResponse<'a>),
    DescribeGroups(DescribeGroupsRequest<'a>, DescribeGroupsResponse<'a>),
    ListGroups(ListGroupsRequest<'a>, ListGroupsResponse<'a>),
    SaslHandshake(SaslHandshakeRequest<'a>, SaslHandshakeResponse<'a>),
    ApiVersions(ApiVersionsRequest<'a>, ApiVersionsResponse),
    CreateTopics(CreateTopicsRequest<'a>, CreateTopicsResponse<'a>),
    DeleteTopics(DeleteTopicsRequest<'a>, DeleteTopicsResponse<'a>),
    InitProducerId(InitProducerIdRequest<'a>, InitProducerIdResponse),
    AddPartitionsToTxn(AddPartitionsToTxnRequest<'a>, AddPartitionsToTxnResponse<'a>),
    AddOffsetsToTxn(AddOffsetsToTxnRequest<'a>, AddOffsetsToTxnResponse),
    EndTxn(EndTxnRequest<'a>, EndTxnResponse),
    TxnOffsetCommit(TxnOffsetCommitRequest<'a>, TxnOffsetCommitResponse<'a>),
    DescribeConfigs(DescribeConfigsRequest<'a>, DescribeConfigsResponse<'a>),
    AlterConfigs(AlterConfigsRequest<'a>, AlterConfigsResponse<'a>),
    SaslAuthenticate(SaslAuthenticateRequest<'a>, SaslAuthenticateResponse<'a>),
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest<'a>, IncrementalAlterConfigsResponse<'a>),
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

/// Reads a response body of `api` at `version` (tests and clients: the
/// front only encodes responses).
pub fn decode_response_body(api: ApiKey, body: &[u8], version: i16) -> Result<Response<'_>, DecodeError> {
    let mut reader = Reader::new(body);
    let version = api.version(version);
    let response = read_response_body(api, &mut reader, version)?;
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
