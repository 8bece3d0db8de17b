//! Idempotent producers: InitProducerId without a transactional id.

use super::{Conn, Front, FrontError, Handled};
use crate::kafka::protocol::messages;
use crate::kafka::protocol::{ApiKey, RequestHeader};

/// Shared state of this area (one per front).
#[derive(Debug, Default)]
pub(crate) struct Producers {}

pub(crate) fn init_producer_id(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::txn::InitProducerIdRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::InitProducerId))
}
