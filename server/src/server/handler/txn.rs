//! Transactions (connection-scoped): TxnBegin, TxnAppend,
//! TxnCommitOffsets, TxnDeadLetter, TxnCommit (TxnAbort in the dispatch).

use crate::error_code::WireError;
use crate::messages::{Response, TxnAppend, TxnBegin, TxnBegun, TxnCommitOffsets, TxnDeadLetter, TxnEnd};
use crate::server::convert;
use crate::server::service::{Service, Session};

pub(super) fn begin(service: &Service, session: &mut Session, begin: &TxnBegin) -> Result<Response, WireError> {
    let producer = millrace::ProducerId::new(begin.producer_id, begin.epoch);
    let transaction_id = service.txn_begin(session, producer)?;
    Ok(Response::TxnBegun(TxnBegun { transaction_id }))
}

pub(super) fn append(service: &Service, session: &mut Session, append: &TxnAppend) -> Result<Response, WireError> {
    service.txn_append(
        session,
        append.transaction_id,
        &append.topic,
        append.partition,
        &append.records,
    )?;
    Ok(Response::Empty)
}

pub(super) fn commit_offsets(
    service: &Service,
    session: &mut Session,
    commit: TxnCommitOffsets,
) -> Result<Response, WireError> {
    let commits = convert::commits(commit.offsets);
    service.txn_commit_offsets(session, commit.transaction_id, &commit.group, &commits)?;
    Ok(Response::Empty)
}

/// The dead letter is built from the record as the client read it; its
/// attempts are those counted for it, at least 1.
pub(super) fn dead_letter(
    service: &Service,
    session: &mut Session,
    mut letter: TxnDeadLetter,
) -> Result<Response, WireError> {
    let consumed = convert::consumed_record(&mut letter);
    let failure = millrace::dlq::Failure::new(&letter.stage, &letter.error_class, &letter.error_message);
    service.txn_dead_letter(session, letter.transaction_id, &letter.group, &consumed, &failure)?;
    Ok(Response::Empty)
}

pub(super) fn commit(service: &Service, session: &mut Session, end: &TxnEnd) -> Result<Response, WireError> {
    let info = service.txn_commit(session, end.transaction_id)?;
    Ok(Response::TxnCommitted(convert::txn_committed(info)))
}
