//! ApiVersions, Metadata, CreateTopics, DeleteTopics and SASL (owner: kfront).

use super::{respond, Conn, Front, FrontError, Handled};
use crate::kafka::protocol::messages;
use crate::kafka::protocol::{ApiKey, RequestHeader, Response};

/// The served versions of every API (a request of an unserved ApiVersions
/// version never gets here: the connection answers it with the KIP-511
/// fallback).
pub(crate) fn api_versions(
    _front: &Front,
    _conn: &mut Conn,
    header: &RequestHeader<'_>,
    _request: messages::api_versions::ApiVersionsRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let response = messages::api_versions::ApiVersionsResponse::advertised(0);
    respond(out, header, &Response::ApiVersions(response))
}

pub(crate) fn metadata(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::metadata::MetadataRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::Metadata))
}

pub(crate) fn create_topics(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::topics::CreateTopicsRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::CreateTopics))
}

pub(crate) fn delete_topics(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::topics::DeleteTopicsRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::DeleteTopics))
}

pub(crate) fn sasl_handshake(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::sasl::SaslHandshakeRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::SaslHandshake))
}

pub(crate) fn sasl_authenticate(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::sasl::SaslAuthenticateRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::SaslAuthenticate))
}
