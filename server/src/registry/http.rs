//! One registry request: who sends it (HTTP basic auth against the server's
//! tokens), its body (bounded in size and time), and the answer: JSON in
//! `application/vnd.schemaregistry.v1+json`, errors as
//! `{"error_code": N, "message": ...}` with the registry's codes.

use std::sync::Arc;
use std::time::Instant;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{header, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::server::connection::Shared;
use crate::server::service::ServiceError;

/// Largest request body (a schema of `millrace::schema::SCHEMA_BYTES_MAX`
/// bytes, escaped inside its JSON string, fits).
pub(super) const BODY_BYTES_MAX: usize = 4 * millrace::schema::SCHEMA_BYTES_MAX;
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

pub(super) type Answer = Response<Full<Bytes>>;

/// A refusal: HTTP status, the registry's error code, the message.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) code: u32,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, 400, message)
    }

    pub(super) fn not_found() -> Refusal {
        Refusal::new(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found")
    }
}

/// The registry's code for each engine refusal (design/contracts.md,
/// "Schema registry", error codes).
impl From<ServiceError> for Refusal {
    fn from(error: ServiceError) -> Refusal {
        use millrace::Error as E;
        match error {
            ServiceError::Engine(e) => {
                let message = e.to_string();
                let (status, code) = match &e {
                    E::SubjectNotFound { .. } => (StatusCode::NOT_FOUND, 40401),
                    E::VersionNotFound {
                        not_soft_deleted: false,
                        ..
                    } => (StatusCode::NOT_FOUND, 40402),
                    E::VersionNotFound {
                        not_soft_deleted: true, ..
                    } => (StatusCode::NOT_FOUND, 40407),
                    E::SchemaNotFound { .. } => (StatusCode::NOT_FOUND, 40403),
                    E::IncompatibleSchema { .. } => (StatusCode::CONFLICT, 409),
                    E::InvalidSchema { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42201),
                    E::InvalidInput { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 422),
                    _ => (StatusCode::INTERNAL_SERVER_ERROR, 50001),
                };
                Refusal::new(status, code, message)
            }
            ServiceError::InvalidInput(message) => Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, 422, message),
            ServiceError::PermissionDenied(message) => Refusal::new(StatusCode::FORBIDDEN, 40301, message),
            ServiceError::Internal(message) => Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, 50001, message),
            ServiceError::TokenGroupLimit { .. } => {
                Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, 50001, "unexpected group limit")
            }
        }
    }
}

pub(super) fn json_answer(status: StatusCode, value: &Value) -> Answer {
    body_answer(status, value.to_string())
}

pub(super) fn body_answer(status: StatusCode, body: String) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn refusal_answer(refusal: &Refusal) -> Answer {
    json_answer(
        refusal.status,
        &json!({"error_code": refusal.code, "message": refusal.message}),
    )
}

/// Answer `request`: authenticate, read the body, route.
pub(super) async fn respond(request: Request<Incoming>, shared: &Arc<Shared>) -> Answer {
    let Some(principal) = authenticate(&request, shared).await else {
        let mut answer = refusal_answer(&Refusal::new(
            StatusCode::UNAUTHORIZED,
            40101,
            "authentication required: HTTP basic auth with a token's name as the user and the token as the password",
        ));
        answer.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"millrace schema registry\""),
        );
        return answer;
    };
    let (parts, body) = request.into_parts();
    let body = match read_body(body, shared).await {
        Ok(body) => body,
        Err(refusal) => return refusal_answer(&refusal),
    };
    let call = super::routes::Call {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        body: &body,
        principal: &principal,
        service: &shared.context,
    };
    match super::routes::route(call).await {
        Ok(answer) => answer,
        Err(refusal) => refusal_answer(&refusal),
    }
}

/// The principal of a request: anonymous on a server without tokens, else
/// the token whose name and secret the basic credentials carry. A failed
/// attempt waits as on the other fronts.
async fn authenticate(request: &Request<Incoming>, shared: &Shared) -> Option<Principal> {
    if !shared.auth.is_enabled() {
        return Some(Principal::anonymous());
    }
    let credentials = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| decode_base64(encoded.trim()));
    let principal = credentials.as_deref().and_then(|decoded| {
        let colon = decoded.iter().position(|b| *b == b':')?;
        let (user, password) = (decoded.get(..colon)?, decoded.get(colon + 1..)?);
        shared
            .auth
            .authenticate(Some(password))
            .filter(|principal| principal.name.as_deref().map(str::as_bytes) == Some(user))
    });
    if principal.is_none() {
        let verdict = shared.metrics.failed_authentications.record(Instant::now());
        if let Some(suppressed) = verdict.log {
            tracing::info!(
                failures_not_logged = suppressed,
                "schema registry request refused: authentication failed"
            );
        }
        tokio::time::sleep(verdict.delay).await;
    }
    principal
}

/// Standard base64 (with or without padding); `None` if malformed.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut bits: u32 = 0;
    let mut count = 0;
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// The whole body, at most [`BODY_BYTES_MAX`] bytes, within the server's
/// slow-client timeout.
async fn read_body(body: Incoming, shared: &Shared) -> Result<Bytes, Refusal> {
    let limited = Limited::new(body, BODY_BYTES_MAX);
    match tokio::time::timeout(shared.config.slow_client_timeout(), limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            413,
            format!("request body refused: {error} (at most {BODY_BYTES_MAX} bytes)"),
        )),
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            408,
            "the request body did not arrive within the server's slow_client_timeout_ms",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::decode_base64;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(decode_base64("dXNlcjpwYXNz").as_deref(), Some(&b"user:pass"[..]));
        assert_eq!(decode_base64("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode_base64("YWI").as_deref(), Some(&b"ab"[..]));
        assert_eq!(decode_base64("a b"), None);
    }
}
