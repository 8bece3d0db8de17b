//! Failed records and dead-letter topics: FailRecord, DlqList, DlqRedrive
//! (DlqPurge in the dispatch).

use crate::error_code::WireError;
use crate::messages::{DlqList, DlqRedrive, FailRecord, Response};
use crate::server::convert;
use crate::server::service::{Service, Session};

pub(super) fn fail_record(service: &Service, session: &Session, fail: &FailRecord) -> Result<Response, WireError> {
    let outcome = service.fail_record(session, &convert::record_failure(fail))?;
    Ok(Response::RecordFailed(convert::record_failed(outcome)))
}

pub(super) fn list(service: &Service, list: DlqList) -> Result<Response, WireError> {
    let topic = list.topic.clone();
    let (entries, stats) = service.dlq_list(&topic, &convert::dlq_filter(list))?;
    Ok(Response::DlqListing(convert::dlq_listing(entries, stats)))
}

pub(super) fn redrive(service: &Service, redrive: DlqRedrive) -> Result<Response, WireError> {
    let topic = redrive.topic.clone();
    let report = service.dlq_redrive(&topic, &convert::redrive_options(redrive))?;
    Ok(Response::Redrive(convert::redrive_report(report)))
}
