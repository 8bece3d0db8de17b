//! SaslHandshake and SaslAuthenticate (owner: kfront): SASL/PLAIN onto the
//! server's tokens. The PLAIN message is `authzid \0 username \0 password`:
//! the username is the token's name, the password its secret, checked by the
//! native front's [`crate::server::auth::Authenticator`] (the same table and
//! constant-time comparison as `Hello`) with the same rate-limited delay of
//! failed attempts. See "Listener and cluster APIs" in `design/kafka.md`.

use super::{errors, respond, Conn, Front, FrontError, Handled};
use crate::kafka::protocol::messages::sasl::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::kafka::protocol::{RequestHeader, Response};

/// The one mechanism served.
pub const PLAIN: &str = "PLAIN";

/// Where a connection is in the SASL exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaslState {
    /// No handshake yet.
    #[default]
    Start,
    /// SaslHandshake chose PLAIN: SaslAuthenticate comes next.
    Handshaken,
    /// Authenticated (or a server without tokens): no more SASL.
    Done,
}

pub(crate) fn sasl_handshake(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: SaslHandshakeRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    if !front.auth.is_enabled() {
        // Authentication is off: no mechanism to offer.
        let response = SaslHandshakeResponse {
            error_code: errors::UNSUPPORTED_SASL_MECHANISM,
            mechanisms: Vec::new(),
        };
        return respond(out, header, &Response::SaslHandshake(response));
    }
    if conn.sasl != SaslState::Start {
        let response = SaslHandshakeResponse {
            error_code: errors::ILLEGAL_SASL_STATE,
            mechanisms: vec![PLAIN],
        };
        respond(out, header, &Response::SaslHandshake(response))?;
        return Err(FrontError::Close("SaslHandshake out of turn".into()));
    }
    let error_code = if request.mechanism == PLAIN {
        conn.sasl = SaslState::Handshaken;
        errors::NONE
    } else {
        errors::UNSUPPORTED_SASL_MECHANISM
    };
    let response = SaslHandshakeResponse {
        error_code,
        mechanisms: vec![PLAIN],
    };
    respond(out, header, &Response::SaslHandshake(response))
}

pub(crate) fn sasl_authenticate(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: SaslAuthenticateRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    if conn.sasl != SaslState::Handshaken {
        let response = SaslAuthenticateResponse {
            error_code: errors::ILLEGAL_SASL_STATE,
            error_message: Some("SaslAuthenticate needs a SaslHandshake choosing PLAIN first"),
            ..Default::default()
        };
        respond(out, header, &Response::SaslAuthenticate(response))?;
        return Err(FrontError::Close("SaslAuthenticate out of turn".into()));
    }
    let principal = plain_credentials(request.auth_bytes).and_then(|(username, password)| {
        front
            .auth
            .authenticate(Some(password))
            .filter(|principal| principal.name.as_deref().map(str::as_bytes) == Some(username))
    });
    let Some(principal) = principal else {
        let verdict = front
            .service
            .metrics
            .failed_authentications
            .record(std::time::Instant::now());
        if let Some(suppressed) = verdict.log {
            tracing::info!(peer = %conn.session.peer, failures_not_logged = suppressed, "closing Kafka connection: SASL/PLAIN authentication failed");
        }
        front
            .service
            .metrics
            .kafka
            .record_error(header.api_key, errors::SASL_AUTHENTICATION_FAILED);
        // Guessing costs time, as on the native port.
        std::thread::sleep(verdict.delay);
        let response = SaslAuthenticateResponse {
            error_code: errors::SASL_AUTHENTICATION_FAILED,
            error_message: Some("authentication failed: invalid username (token name) or password (token)"),
            ..Default::default()
        };
        respond(out, header, &Response::SaslAuthenticate(response))?;
        return Err(FrontError::Close("SASL/PLAIN authentication failed".into()));
    };
    tracing::debug!(peer = %conn.session.peer, principal = ?principal.name, "Kafka SASL/PLAIN authenticated");
    conn.session.principal = principal;
    conn.sasl = SaslState::Done;
    conn.authenticated = true;
    let response = SaslAuthenticateResponse::default();
    respond(out, header, &Response::SaslAuthenticate(response))
}

/// `authzid \0 username \0 password` (RFC 4616): the username and password,
/// when the authzid is empty or the username itself.
fn plain_credentials(message: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut parts = message.splitn(3, |byte| *byte == 0);
    let authzid = parts.next()?;
    let username = parts.next()?;
    let password = parts.next()?;
    let valid = !username.is_empty() && !password.is_empty() && (authzid.is_empty() || authzid == username);
    valid.then_some((username, password))
}

#[cfg(test)]
mod tests {
    use super::plain_credentials;

    #[test]
    fn plain_messages() {
        assert_eq!(
            plain_credentials(b"\0alice\0secret"),
            Some((&b"alice"[..], &b"secret"[..]))
        );
        assert_eq!(
            plain_credentials(b"alice\0alice\0secret"),
            Some((&b"alice"[..], &b"secret"[..]))
        );
        assert_eq!(plain_credentials(b"bob\0alice\0secret"), None);
        assert_eq!(plain_credentials(b"\0alice"), None);
        assert_eq!(plain_credentials(b"\0\0secret"), None);
        // The password may hold NUL bytes: only two separators count.
        assert_eq!(plain_credentials(b"\0a\0s\0t"), Some((&b"a"[..], &b"s\0t"[..])));
    }
}
