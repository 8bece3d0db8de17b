//! Transactions keyed by producer id: InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit.

use super::{Conn, Front, FrontError, Handled};
use crate::kafka::protocol::messages;
use crate::kafka::protocol::{ApiKey, RequestHeader};

/// Shared state of this area (one per front).
#[derive(Debug, Default)]
pub(crate) struct Coordinator {}

pub(crate) fn init_producer_id(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::txn::InitProducerIdRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::InitProducerId))
}

pub(crate) fn add_partitions_to_txn(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::txn::AddPartitionsToTxnRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::AddPartitionsToTxn))
}

pub(crate) fn add_offsets_to_txn(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::txn::AddOffsetsToTxnRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::AddOffsetsToTxn))
}

pub(crate) fn end_txn(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::txn::EndTxnRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::EndTxn))
}

pub(crate) fn txn_offset_commit(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::txn::TxnOffsetCommitRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::TxnOffsetCommit))
}
/// Adds a transactional batch of `topic`/`partition` to its producer's open
/// transaction (its offsets are known only at commit: the Produce response
/// says -1), or the Kafka error code to answer the partition with. Called
/// by the Produce handler (`produce`).
pub(crate) fn append(
    _front: &Front,
    _conn: &mut Conn,
    _topic: &str,
    _partition: u32,
    _batch: &crate::kafka::records::BatchHeader,
    _records: &[millrace::Record],
) -> Result<(), i16> {
    Err(super::errors::INVALID_TXN_STATE)
}
