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
/// The engine's stamp for an idempotent batch (`producer_id >= 0`, not
/// transactional) of `topic`/`partition`, or the Kafka error code to answer
/// the partition with. Called by the Produce handler (`produce`).
pub(crate) fn stamp(
    _front: &Front,
    _conn: &Conn,
    _topic: &str,
    _partition: u32,
    _batch: &crate::kafka::records::BatchHeader,
) -> Result<millrace::ProducerStamp, i16> {
    Err(super::errors::UNKNOWN_PRODUCER_ID)
}
