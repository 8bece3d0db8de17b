//! The native protocol's front: executes one decoded request through the
//! [`Service`] with the connection's [`Session`], and turns the result into a
//! [`Response`]. Each request kind has its module (wire fields → engine types
//! → service call → wire response, the mappings in `server::convert`); this
//! file only dispatches.
//!
//! [`handle`] may block (fsync, long poll): the connection runs it on tokio's
//! blocking pool. [`handle_inline`] is the fast path the connection tries
//! first, on its own task: it executes only what cannot wait for long (an
//! append that owes no fsync, a fetch that finds records or may not wait,
//! metadata) and hands everything else back for [`handle`].

mod contract;
mod dlq;
mod fetch;
mod offsets;
mod produce;
mod topics;
mod txn;

use crate::error_code::{ErrorCode, WireError};
use crate::messages::{Incoming, Opcode, Request, Response};
use crate::server::service::Appended;

// Paths from before the service layer (public API).
pub use crate::server::convert::{produced, topic_config, DLQ_LIST_RECORDS_DEFAULT, REDRIVE_CAP_DEFAULT};
pub use crate::server::service::{
    fetch_response_bytes, record_bytes_fetchable_max, stored_record_bytes_max, Service as Context, Session,
    DLQ_LIST_RECORDS_MAX, FETCH_RESPONSE_OVERHEAD_BYTES, OFFSET_COMMIT_ENTRIES_MAX, TRANSACTIONS_PER_CONNECTION_MAX,
};
pub use fetch::fetch_within;

use crate::server::service::Service;

pub fn unsupported(opcode: Opcode) -> WireError {
    WireError::new(
        ErrorCode::Unsupported,
        format!("{opcode:?} is not implemented by this server's engine yet"),
    )
    .with_details(vec![u64::from(opcode.code())])
}

/// What [`handle_inline`] did with a request.
#[derive(Debug)]
pub enum Inline {
    /// Executed: the answer.
    Done(Result<Response, WireError>),
    /// Not executed, because it may block: run it with [`handle`] off the
    /// connection's task.
    Blocking(Request),
    /// A produce whose batch is written but whose acknowledgement waits for
    /// an fsync ([`Appended::Owed`]): answer it with [`produced`] once
    /// [`Service::acknowledged`] returns.
    Durable { appended: Appended },
}

/// Execute `request` now if it cannot block for long; otherwise hand it back.
/// A `Produce` comes as its frame ([`Incoming::Produce`]): its records are
/// appended from the frame body, borrowed.
///
/// Inline: `Ping`, `ListTopics`, `ListTopicsPage`, `DescribeTopic`, `DescribeDamage`, `Stats`; `Produce` (the
/// append is a `write(2)` into the page cache; the only wait is a segment
/// roll, once per segment; when the fsync is still owed it comes back as
/// [`Inline::Durable`]); `Fetch` when it finds records, has `max_wait_ms` 0,
/// or the server is shutting down. Everything else (fsyncs, long polls,
/// transactions, offsets, DLQ, admin) comes back as [`Inline::Blocking`].
pub fn handle_inline(service: &Service, session: &mut Session, request: Incoming) -> Inline {
    let request = match request {
        Incoming::Produce(produce) => return produce::produce_inline(service, session, produce),
        Incoming::Request(request) => request,
    };
    match request {
        Request::Ping
        | Request::ListTopics
        | Request::ListTopicsPage(_)
        | Request::DescribeTopic(_)
        | Request::DescribeDamage(_)
        | Request::Stats => Inline::Done(handle(service, session, request)),
        Request::Fetch(request) => match fetch::fetch(service, session, &request, false, usize::MAX) {
            Some(result) => Inline::Done(result),
            None => Inline::Blocking(Request::Fetch(request)),
        },
        other => Inline::Blocking(other),
    }
}

/// Execute `request`, blocking as long as it takes. `Hello` is handled by the
/// connection, never here.
pub fn handle(service: &Service, session: &mut Session, request: Request) -> Result<Response, WireError> {
    match request {
        Request::Ping => Ok(Response::Empty),
        Request::Hello(_) => Err(crate::server::convert::invalid(
            "Hello is only valid as the first frame",
        )),
        Request::Stats => Ok(Response::Stats(service.metrics.stats(&service.store_metrics()))),
        Request::Flush => empty(service.flush()),
        Request::Status => Ok(Response::Status(
            service
                .status()
                .into_iter()
                .map(|(key, value)| crate::messages::ConfigEntry { key, value })
                .collect(),
        )),
        Request::AlterTopic(request) => topics::alter(service, session, &request),
        Request::DescribeGroups(request) => crate::listing::describe_groups(service, session, &request),
        Request::DescribeGroupMembers(request) => crate::listing::describe_group_members(service, session, &request),
        Request::CreateTopic(request) => topics::create(service, session, &request),
        Request::DeleteTopic(request) => empty(service.delete_topic(&session.actor(), &request.name)),
        Request::ListTopics => crate::listing::list_topics(service),
        Request::ListTopicsPage(page) => crate::listing::list_topics_page(service, &page),
        Request::DescribeTopic(request) => topics::describe(service, &request),
        Request::DescribeDamage(request) => Ok(topics::describe_damage(service, session, &request)),
        Request::InitProducer(request) => produce::init_producer(service, session, &request),
        Request::Produce(request) => produce::produce(service, session, request),
        Request::Fetch(request) => fetch::fetch(service, session, &request, true, usize::MAX)
            .unwrap_or_else(|| Err(WireError::new(ErrorCode::Internal, "fetch gave up waiting"))),
        Request::CommitOffsets(request) => offsets::commit(service, session, request),
        Request::FetchOffsets(query) => crate::listing::fetch_offsets(service, session, &query),
        Request::FetchOffsetsPage(page) => crate::listing::fetch_offsets_page(service, session, &page),
        Request::ResetOffsets(request) => offsets::reset(service, session, request),
        Request::ResetAudit(request) => crate::listing::reset_audit(service, &request),
        Request::ResetAuditPage(page) => crate::listing::reset_audit_page(service, &page),
        Request::ConfigHistoryPage(page) => crate::listing::config_history_page(service, &page),
        Request::ListGroups => crate::listing::list_groups(service, session),
        Request::ListGroupsPage(page) => crate::listing::list_groups_page(service, session, &page),
        Request::DeleteGroup(delete) => crate::listing::delete_group(service, session, &delete),
        Request::DeleteGroupOffsets(delete) => crate::listing::delete_group_offsets(service, session, &delete),
        Request::Lag(request) => crate::listing::lag(service, session, &request),
        Request::LagPage(page) => crate::listing::lag_page(service, session, &page),
        Request::FailRecord(request) => dlq::fail_record(service, session, &request),
        Request::TxnBegin(request) => txn::begin(service, session, &request),
        Request::TxnAppend(request) => txn::append(service, session, &request),
        Request::TxnCommitOffsets(request) => txn::commit_offsets(service, session, request),
        Request::TxnDeadLetter(request) => txn::dead_letter(service, session, request),
        Request::TxnCommit(request) => txn::commit(service, session, &request),
        Request::TxnAbort(request) => empty(service.txn_abort(session, request.transaction_id)),
        Request::DlqList(request) => dlq::list(service, request),
        Request::DlqRedrive(request) => dlq::redrive(service, request),
        Request::DlqPurge(request) => Ok(Response::Purged(
            service.dlq_purge(&request.topic, request.up_to_offset)?,
        )),
        Request::ContractQuery(request) => contract::call(service, session, request, false),
        Request::ContractChange(request) => contract::call(service, session, request, true),
    }
}

/// `Response::Empty` for a call that answers nothing but success.
fn empty(result: Result<(), crate::server::service::ServiceError>) -> Result<Response, WireError> {
    result.map(|()| Response::Empty).map_err(WireError::from)
}
