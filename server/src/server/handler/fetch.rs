//! Fetch: records encoded straight from the engine's record views into the
//! response ([`FetchedEncoded`] is the service's [`crate::server::service::FetchSink`]).

use crate::error_code::{ErrorCode, WireError};
use crate::messages::{Fetch, FetchedEncoded, Response};
use crate::server::convert;
use crate::server::service::{Service, Session, FETCH_RESPONSE_OVERHEAD_BYTES};

/// Answer `fetch`. `None` when nothing is available yet and the fetch would
/// have to wait but `may_wait` is false (the caller retries it where
/// blocking is allowed). The records stop before `records_cap` bytes (see
/// [`Service::fetch`]).
pub(super) fn fetch(
    service: &Service,
    session: &mut Session,
    fetch: &Fetch,
    may_wait: bool,
    records_cap: usize,
) -> Option<Result<Response, WireError>> {
    let mut encoded = FetchedEncoded::with_buffer(std::mem::take(&mut session.fetch_buffer));
    match service.fetch(
        session,
        &convert::fetch_query(fetch),
        may_wait,
        records_cap,
        &mut encoded,
    ) {
        Some(Ok(marks)) => {
            encoded.next_offset = marks.next_offset;
            encoded.high_watermark = marks.high_watermark;
            encoded.last_stable_offset = marks.last_stable_offset;
            Some(Ok(Response::FetchedEncoded(encoded)))
        }
        Some(Err(error)) => {
            session.recycle_fetch_buffer(encoded.records);
            Some(Err(error.into()))
        }
        None => {
            session.recycle_fetch_buffer(encoded.records);
            None
        }
    }
}

/// Answer `fetch` again, at once (no long poll), in at most `response_bytes`
/// (the response budget the connection was granted for it; at least the
/// first record is returned, which fit in that size the first time).
pub fn fetch_within(
    service: &Service,
    session: &mut Session,
    request: &Fetch,
    response_bytes: usize,
) -> Result<Response, WireError> {
    let now = Fetch {
        max_wait_ms: 0,
        ..request.clone()
    };
    let records_cap = response_bytes.saturating_sub(FETCH_RESPONSE_OVERHEAD_BYTES as usize);
    fetch(service, session, &now, true, records_cap)
        .unwrap_or_else(|| Err(WireError::new(ErrorCode::Internal, "fetch without wait waited")))
}
