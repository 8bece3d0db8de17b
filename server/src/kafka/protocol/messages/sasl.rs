//! SaslHandshake (key 17) and SaslAuthenticate (key 36), after Kafka's
//! `SaslHandshakeRequest.json`, `SaslHandshakeResponse.json`,
//! `SaslAuthenticateRequest.json` and `SaslAuthenticateResponse.json`.
//! Field lists complete through SaslHandshake v1 and SaslAuthenticate v2.

use crate::kafka::protocol::macros::wire_struct;

wire_struct! {
    pub struct SaslHandshakeRequest<'a> {
        mechanism: &'a str [0, 99],
    }
}

wire_struct! {
    pub struct SaslHandshakeResponse<'a> {
        error_code: i16 [0, 99],
        mechanisms: Vec<&'a str> [0, 99],
    }
}

wire_struct! {
    pub struct SaslAuthenticateRequest<'a> {
        auth_bytes: &'a [u8] [0, 99],
    }
}

wire_struct! {
    pub struct SaslAuthenticateResponse<'a> {
        error_code: i16 [0, 99],
        error_message: Option<&'a str> [0, 99],
        auth_bytes: &'a [u8] [0, 99],
        session_lifetime_ms: i64 [1, 99],
    }
}
