//! The check of the cargo-fuzz target `fuzz/fuzz_targets/kafka_request.rs`,
//! shared with the corpus replay (`tests/tests/it/kafka_allocation.rs`) so
//! CI runs exactly what the fuzzer runs.

use super::{
    decode_request, encode_api_versions_fallback, encode_request, encode_response, ApiKey, RequestError, Response,
};

/// Decodes `frame` as a request frame (no size prefix). Panics (the fuzzer's
/// finding) if a decoded request does not re-encode to the same bytes (every
/// served version is non-flexible, so the encoding is canonical), or if
/// encoding the answer the front would give fails: an empty response of the
/// request's API and version, the KIP-511 fallback for an ApiVersions of
/// another version.
pub fn kafka_request(frame: &[u8]) {
    match decode_request(frame) {
        Ok((header, request)) => {
            let mut again = Vec::with_capacity(frame.len());
            encode_request(&mut again, &header, &request).expect("a decoded request re-encodes");
            assert_eq!(again.as_slice(), frame, "request encoding is not canonical");
            let mut out = Vec::new();
            encode_response(
                &mut out,
                header.correlation_id,
                header.api_version,
                &Response::empty(request.api_key()),
            )
            .expect("an empty response encodes");
        }
        Err(RequestError::UnsupportedVersion { header, refused }) => {
            let mut out = Vec::new();
            if header.api() == Some(ApiKey::ApiVersions) {
                encode_api_versions_fallback(&mut out, header.correlation_id).expect("the fallback encodes");
            } else if let Some(request) = refused {
                encode_response(
                    &mut out,
                    header.correlation_id,
                    header.api_version,
                    &Response::empty(request.api_key()),
                )
                .expect("an empty response encodes at a refused version");
            }
        }
        Err(RequestError::Header(_) | RequestError::UnknownApiKey { .. } | RequestError::Body { .. }) => {}
    }
}
