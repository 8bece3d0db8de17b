//! What the front's handler tests share: one request through the dispatch
//! table and its response frame decoded.

use super::{handle, Conn, Front};
use crate::kafka::protocol::{decode_request, decode_response_body, encode_request, Request, RequestHeader, Response};

/// Sends `request` at `version` through the dispatch table; the response
/// frame's body, decoded, is handed to `check`.
pub(crate) fn call<T>(
    front: &Front,
    conn: &mut Conn,
    version: i16,
    request: &Request<'_>,
    check: impl FnOnce(Response<'_>) -> T,
) -> T {
    let header = RequestHeader {
        api_key: request.api_key() as i16,
        api_version: version,
        correlation_id: 7,
        client_id: Some("test-client"),
    };
    let mut frame = Vec::new();
    encode_request(&mut frame, &header, request).expect("encode request");
    let (header, decoded) = decode_request(&frame).expect("decode request");
    let mut out = Vec::new();
    handle(front, conn, &header, decoded, &mut out).expect("handled");
    let api = request.api_key();
    // size (4), correlation id (4), then the body (header v0: no tagged fields
    // at the non-flexible versions served).
    assert!(out.len() >= 8, "a response frame");
    assert_eq!(out.get(4..8), Some(&7i32.to_be_bytes()[..]));
    let body = out.get(8..).expect("a body");
    check(decode_response_body(api, body, version).expect("decode response"))
}
