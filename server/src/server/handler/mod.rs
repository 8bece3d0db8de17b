//! Executes one decoded request against the engine, with the connection's
//! [`Session`] (client name, open transactions).
//!
//! [`handle`] may block (fsync, long poll): the connection runs it on tokio's
//! blocking pool. [`handle_inline`] is the fast path the connection tries
//! first, on its own task: it executes only what cannot wait for long (an
//! append to a topic that is not `Always`, a fetch that finds records or may
//! not wait, metadata) and hands everything else back for [`handle`].

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use millrace::{Durability, ReadOptions, Record, Store, TopicConfig};

use crate::auth::{Principal, ADMIN_ONLY_TOPICS};
use crate::error_code::{ErrorCode, WireError};
use crate::messages::FetchedEncoded;
use crate::messages::{
    CommittedPart, ConfigEntry, CreateTopic, DlqListing, FailRecord, Fetch, Isolation, Opcode, PartitionInfo,
    PartitionLag, Position, Produce, Produced, ProducerInit, ProducerSequence, RecordFailed, RedriveReport,
    RedrivenRecord, Request, ResetOffsets, ResetPlan, ResetPlanEntry, ResetTarget, ResetWarning, Response,
    TopicDescription, TxnBegun, TxnCommitted,
};
use crate::metrics::ServerMetrics;

/// Headroom kept in a frame for the fixed fields of a fetch response.
pub const FETCH_RESPONSE_OVERHEAD_BYTES: u32 = 1024;
/// Long polls wake at least this often to notice a shutdown.
const LONG_POLL_SLICE: Duration = Duration::from_millis(100);
/// Longest reset actor the engine records.
const ACTOR_BYTES_MAX: usize = 255;
/// Open transactions one connection may hold.
pub const TRANSACTIONS_PER_CONNECTION_MAX: usize = 16;
/// `DlqList.max_records` when the client says 0, and the most it may ask for.
pub const DLQ_LIST_RECORDS_DEFAULT: u32 = 100;
pub const DLQ_LIST_RECORDS_MAX: u32 = 10_000;
/// Entries one `CommitOffsets` or `TxnCommitOffsets` request may carry.
pub const OFFSET_COMMIT_ENTRIES_MAX: usize = 1000;
/// `DlqRedrive.redrive_cap` when the client says 0.
pub const REDRIVE_CAP_DEFAULT: u32 = 3;
/// A connection keeps its fetch encoding buffer between fetches up to this
/// capacity (a 4 MiB fetch reuses it; a rare larger one is freed after use).
const FETCH_BUFFER_KEEP_BYTES: usize = 8 * 1024 * 1024;

/// Per-connection state: who is connected and its open transactions. Dropping
/// it (the connection closed) aborts every open transaction.
#[derive(Debug)]
pub struct Session {
    pub peer: SocketAddr,
    pub client_name: String,
    /// Who authenticated (anonymous on a server without tokens).
    pub principal: Principal,
    transactions: HashMap<u64, millrace::txn::Transaction>,
    /// Per open transaction, the groups it adds (for a token's `groups_max`,
    /// `crate::group_budget`).
    staged_groups: HashMap<u64, BTreeSet<String>>,
    next_transaction_id: u64,
    /// Reused by every fetch of the connection to encode records into.
    fetch_buffer: Vec<u8>,
}

impl Session {
    pub fn new(peer: SocketAddr) -> Self {
        Session {
            peer,
            client_name: String::new(),
            principal: Principal::anonymous(),
            transactions: HashMap::new(),
            staged_groups: HashMap::new(),
            next_transaction_id: 1,
            fetch_buffer: Vec::new(),
        }
    }

    /// Give back the records buffer of a fetch response once it was sent.
    pub fn recycle_fetch_buffer(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() <= FETCH_BUFFER_KEEP_BYTES && buffer.capacity() > self.fetch_buffer.capacity() {
            buffer.clear();
            self.fetch_buffer = buffer;
        }
    }

    /// Recorded as the actor of offset resets: the token's name, or on a
    /// server without tokens the client's own name (control characters
    /// escaped), then `@` and the peer address.
    pub(crate) fn actor(&self) -> String {
        let who = match &self.principal.name {
            Some(name) => name.clone(),
            None => crate::text::escape(&self.client_name),
        };
        let mut actor = format!("{who}@{}", self.peer);
        while actor.len() > ACTOR_BYTES_MAX {
            actor.pop();
        }
        actor
    }

    /// Refuse a group the principal may not commit to.
    fn check_group(&self, group: &str) -> Result<(), WireError> {
        // Internal groups are nobody's: the store refuses every client write
        // to them (`InternalName`), whatever the token.
        if self.principal.may_use_group(group) || millrace::names::is_internal(group) {
            return Ok(());
        }
        Err(WireError::new(
            ErrorCode::PermissionDenied,
            format!(
                "the connection's token may not commit to group {}; list it (or a prefix*) in the token's `groups`",
                crate::text::escape_quoted(group)
            ),
        ))
    }

    /// Refuse a producer registered by another principal. Nothing about it
    /// (epoch, sequences) is revealed.
    fn check_producer(&self, store: &Store, producer_id: u64) -> Result<(), WireError> {
        let Some(owner) = self.producer_owner() else {
            return Ok(());
        };
        if store.producer_usable_by(producer_id, owner).map_err(engine)? {
            return Ok(());
        }
        Err(producer_denied())
    }

    /// The owner to check producers against: `None` (any producer) without
    /// authentication and for admin tokens (admin is a superset).
    fn producer_owner(&self) -> Option<&str> {
        if self.principal.permissions.is_admin() {
            return None;
        }
        self.principal.owner()
    }

    /// Can a produce skip [`Session::check_producer`] because its producer,
    /// if any, is unregistered or already this principal's?
    fn may_produce_inline(&self, store: &Store, produce: &Produce) -> bool {
        let (Some(stamp), Some(owner)) = (produce.producer, self.producer_owner()) else {
            return true;
        };
        store
            .producer_owner(stamp.producer_id)
            .is_none_or(|recorded| recorded == owner)
    }

    /// Refuse a topic the principal may not read.
    fn check_read(&self, topic: &str) -> Result<(), WireError> {
        if ADMIN_ONLY_TOPICS.contains(&topic) && !self.principal.permissions.is_admin() {
            return Err(WireError::new(
                ErrorCode::PermissionDenied,
                format!("only an admin token may read {topic}"),
            ));
        }
        Ok(())
    }

    /// Count a commit to `group` staged in open transaction `transaction_id`
    /// against the token's `groups_max` (`crate::group_budget`).
    fn stage_group(&mut self, context: &Context, transaction_id: u64, group: &str) -> Result<(), WireError> {
        if !self.transactions.contains_key(&transaction_id) {
            return Err(unknown_transaction(transaction_id));
        }
        let staged = self.staged_groups.entry(transaction_id).or_default();
        context
            .group_budget
            .stage(&context.store, &self.principal, group, staged)
    }

    fn transaction(&mut self, transaction_id: u64) -> Result<&mut millrace::txn::Transaction, WireError> {
        self.transactions
            .get_mut(&transaction_id)
            .ok_or_else(|| unknown_transaction(transaction_id))
    }
}

fn producer_denied() -> WireError {
    WireError::new(
        ErrorCode::PermissionDenied,
        "the producer belongs to another token; init a producer of your own",
    )
}

fn unknown_transaction(transaction_id: u64) -> WireError {
    invalid(format!(
        "transaction {transaction_id} is not open on this connection (transactions are connection-scoped)"
    ))
}

/// What every request handler shares.
#[derive(Debug)]
pub struct Context {
    pub store: Store,
    pub metrics: Arc<ServerMetrics>,
    pub frame_bytes_max: u32,
    pub fetch_wait_max_ms: u32,
    pub shutting_down: Arc<AtomicBool>,
    /// Runs the fsync waits of `Always` produces ([`Inline::Durable`]).
    pub syncer: crate::durable::Syncer,
    /// Tokens' `groups_max` ([`crate::group_budget`]).
    pub group_budget: crate::group_budget::GroupBudget,
}

fn engine(error: millrace::Error) -> WireError {
    WireError::from(&error)
}

fn invalid(message: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::InvalidInput, message)
}

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
    /// A produce to an `Always` topic, written: answer it with
    /// [`produced`] once [`crate::durable::Syncer::wait`] acknowledges it.
    Durable {
        pending: millrace::PendingAppend,
        topic: String,
        partition: u32,
    },
}

/// Execute `request` now if it cannot block for long; otherwise hand it back.
///
/// Inline: `Ping`, `ListTopics`, `ListTopicsPage`, `DescribeTopic`, `Stats`; `Produce` (the
/// append is a `write(2)` into the page cache; the only wait is a segment
/// roll, once per segment; to an `Always` topic the fsync is still owed and
/// comes back as [`Inline::Durable`]); `Fetch`
/// when it finds records, has `max_wait_ms` 0, or the server is shutting down.
/// Everything else (fsyncs, long polls, transactions, offsets, DLQ, admin)
/// comes back as [`Inline::Blocking`].
pub fn handle_inline(context: &Context, session: &mut Session, request: Request) -> Inline {
    let store = &context.store;
    match request {
        Request::Ping
        | Request::ListTopics
        | Request::ListTopicsPage(_)
        | Request::DescribeTopic(_)
        | Request::Stats => Inline::Done(handle(context, session, request)),
        Request::Produce(produce) if !session.may_produce_inline(store, &produce) => {
            // Another principal's producer, or one without an owner that this
            // principal claims (a registry write): decided off the connection's task.
            Inline::Blocking(Request::Produce(produce))
        }
        Request::Produce(produce) => match store.durability(&produce.topic) {
            Ok(Durability::Always) => match produce_pending(store, &produce) {
                Ok(pending) => Inline::Durable {
                    pending,
                    topic: produce.topic,
                    partition: produce.partition,
                },
                Err(error) => Inline::Done(Err(error)),
            },
            // Not `Always`, or the topic does not exist (an immediate error).
            Ok(_) | Err(_) => Inline::Done(self::produce(store, produce)),
        },
        Request::Fetch(fetch) => match self::fetch(context, session, &fetch, false, usize::MAX) {
            Some(result) => Inline::Done(result),
            None => Inline::Blocking(Request::Fetch(fetch)),
        },
        other => Inline::Blocking(other),
    }
}

/// Execute `request`, blocking as long as it takes. `Hello` is handled by the
/// connection, never here.
#[expect(
    clippy::too_many_lines,
    reason = "debt: the request dispatch; becomes a dispatch table (issue 20)"
)]
pub fn handle(context: &Context, session: &mut Session, request: Request) -> Result<Response, WireError> {
    let store = &context.store;
    match request {
        Request::Ping => Ok(Response::Empty),
        Request::CreateTopic(create) => {
            let mut config = topic_config(&create)?;
            fit_records_in_fetch(&mut config, &create, context.frame_bytes_max)?;
            store.create_topic(&create.name, config).map_err(engine)?;
            Ok(Response::Empty)
        }
        Request::DeleteTopic(topic) => {
            store.delete_topic(&topic.name).map_err(engine)?;
            Ok(Response::Empty)
        }
        Request::ListTopics => crate::listing::list_topics(store, context.frame_bytes_max),
        Request::ListTopicsPage(page) => crate::listing::list_topics_page(store, &page, context.frame_bytes_max),
        Request::DescribeTopic(topic) => {
            let description = store.describe_topic(&topic.name).map_err(engine)?;
            Ok(Response::TopicDescription(TopicDescription {
                name: description.name,
                partitions: description
                    .partitions
                    .iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition,
                        start_offset: p.log_start_offset,
                        end_offset: p.high_watermark,
                        bytes: p.bytes,
                    })
                    .collect(),
                config: config_entries(&description.config, description.durability),
            }))
        }
        Request::InitProducer(init) => init_producer(store, session, &init.name),
        Request::Produce(produce) => {
            if let Some(stamp) = produce.producer {
                session.check_producer(store, stamp.producer_id)?;
            }
            self::produce(store, produce)
        }
        Request::Fetch(fetch) => match self::fetch(context, session, &fetch, true, usize::MAX) {
            Some(result) => result,
            None => Err(WireError::new(ErrorCode::Internal, "fetch gave up waiting")),
        },
        Request::Stats => Ok(Response::Stats(context.metrics.stats(&store.metrics()))),
        Request::Flush => {
            store.flush().map_err(engine)?;
            Ok(Response::Empty)
        }
        Request::Hello(_) => Err(invalid("Hello is only valid as the first frame")),
        Request::CommitOffsets(commit) => {
            session.check_group(&commit.group)?;
            check_offset_commit_entries(commit.offsets.len())?;
            let _admitted = context
                .group_budget
                .admit(store, &session.principal, [commit.group.as_str()])?;
            let commits: Vec<(String, u32, u64, Vec<u8>)> = commit
                .offsets
                .into_iter()
                .map(|o| (o.topic, o.partition, o.offset, o.metadata))
                .collect();
            store.commit_offsets(&commit.group, &commits).map_err(engine)?;
            Ok(Response::Empty)
        }
        Request::FetchOffsets(query) => crate::listing::fetch_offsets(store, &query, context.frame_bytes_max),
        Request::FetchOffsetsPage(page) => crate::listing::fetch_offsets_page(store, &page, context.frame_bytes_max),
        Request::ResetOffsets(reset) => reset_offsets(store, session, reset),
        Request::ResetAudit(audit) => {
            let entries = store.reset_audit(audit.group.as_deref()).map_err(engine)?;
            Ok(Response::ResetAudit(entries))
        }
        Request::ListGroups => crate::listing::list_groups(store, context.frame_bytes_max),
        Request::ListGroupsPage(page) => crate::listing::list_groups_page(store, &page, context.frame_bytes_max),
        Request::DeleteGroup(delete) => crate::listing::delete_group(store, &delete, &session.actor()),
        Request::Lag(query) => {
            let lags = match &query.topic {
                Some(topic) => store.consumer_lag_for_topic(&query.group, topic),
                None => store.consumer_lag(&query.group),
            }
            .map_err(engine)?;
            Ok(Response::Lag(
                lags.into_iter()
                    .map(|l| PartitionLag {
                        topic: l.topic,
                        partition: l.partition,
                        committed: l.committed,
                        log_start_offset: l.log_start_offset,
                        high_watermark: l.high_watermark,
                        lag: l.lag,
                    })
                    .collect(),
            ))
        }
        Request::FailRecord(fail) => {
            session.check_group(&fail.group)?;
            session.check_producer(store, fail.producer_id)?;
            let _admitted = context
                .group_budget
                .admit(store, &session.principal, [fail.group.as_str()])?;
            fail_record(store, fail)
        }
        Request::TxnBegin(begin) => {
            if session.transactions.len() >= TRANSACTIONS_PER_CONNECTION_MAX {
                return Err(invalid(format!(
                    "at most {TRANSACTIONS_PER_CONNECTION_MAX} open transactions per connection"
                )));
            }
            session.check_producer(store, begin.producer_id)?;
            let transaction = store
                .begin_transaction(millrace::ProducerId::new(begin.producer_id, begin.epoch))
                .map_err(engine)?;
            let transaction_id = session.next_transaction_id;
            session.next_transaction_id += 1;
            session.transactions.insert(transaction_id, transaction);
            Ok(Response::TxnBegun(TxnBegun { transaction_id }))
        }
        Request::TxnAppend(append) => {
            session
                .transaction(append.transaction_id)?
                .append(&append.topic, append.partition, &append.records)
                .map_err(engine)?;
            Ok(Response::Empty)
        }
        Request::TxnCommitOffsets(commit) => {
            session.check_group(&commit.group)?;
            check_offset_commit_entries(commit.offsets.len())?;
            session.stage_group(context, commit.transaction_id, &commit.group)?;
            let transaction = session.transaction(commit.transaction_id)?;
            // A replay job's progress (the connection checked the admin
            // permission): only in a transaction of the job's own producer.
            if let Some(job) = commit.group.strip_prefix(millrace::names::REPLAY_PREFIX) {
                for o in &commit.offsets {
                    transaction
                        .commit_replay_progress(job, &o.topic, o.partition, o.offset, &o.metadata)
                        .map_err(engine)?;
                }
                return Ok(Response::Empty);
            }
            for o in &commit.offsets {
                transaction
                    .commit_offset(&commit.group, &o.topic, o.partition, o.offset, &o.metadata)
                    .map_err(engine)?;
            }
            Ok(Response::Empty)
        }
        Request::TxnDeadLetter(letter) => {
            session.check_group(&letter.group)?;
            session.stage_group(context, letter.transaction_id, &letter.group)?;
            // The dead letter is built from the record as the client read
            // it (its `dlq.redrive_count` header counts towards the redrive
            // cap); its attempts are those counted for it, at least 1.
            let consumed = millrace::ConsumedRecord {
                topic: letter.source_topic,
                partition: letter.source_partition,
                record: millrace::StoredRecord {
                    offset: letter.source_offset,
                    timestamp_ms: letter.record.timestamp_ms.unwrap_or_else(now_ms),
                    key: letter.record.key,
                    value: letter.record.value,
                    headers: letter.record.headers,
                },
            };
            let failure = millrace::dlq::Failure::new(&letter.stage, &letter.error_class, &letter.error_message);
            session
                .transaction(letter.transaction_id)?
                .dead_letter(&letter.group, &consumed, &failure)
                .map_err(engine)?;
            Ok(Response::Empty)
        }
        Request::TxnCommit(end) => {
            let transaction = session
                .transactions
                .remove(&end.transaction_id)
                .ok_or_else(|| unknown_transaction(end.transaction_id))?;
            // The groups it adds, counted again with the commit: refused, the
            // transaction is aborted.
            let staged = session.staged_groups.remove(&end.transaction_id).unwrap_or_default();
            let _admitted = context
                .group_budget
                .admit(store, &session.principal, staged.iter().map(String::as_str))?;
            let info = transaction.commit().map_err(engine)?;
            Ok(Response::TxnCommitted(TxnCommitted {
                transaction_sequence: info.transaction_sequence,
                parts: info
                    .parts
                    .into_iter()
                    .map(|p| CommittedPart {
                        topic: p.topic,
                        partition: p.partition,
                        base_offset: p.base_offset,
                        next_offset: p.next_offset,
                    })
                    .collect(),
            }))
        }
        Request::TxnAbort(end) => {
            let transaction = session
                .transactions
                .remove(&end.transaction_id)
                .ok_or_else(|| unknown_transaction(end.transaction_id))?;
            session.staged_groups.remove(&end.transaction_id);
            transaction.abort();
            Ok(Response::Empty)
        }
        Request::DlqList(list) => {
            let max_records = match list.max_records {
                0 => DLQ_LIST_RECORDS_DEFAULT,
                n if n > DLQ_LIST_RECORDS_MAX => {
                    return Err(invalid(format!(
                        "dlq list max_records {n} is above {DLQ_LIST_RECORDS_MAX}"
                    )))
                }
                n => n,
            };
            let filter = millrace::dlq::DlqFilter {
                error_contains: list.error_contains,
                source_partition: list.source_partition,
                since_ms: list.since_ms,
                until_ms: list.until_ms,
                from_offset: Some(list.from_offset),
                limit: Some(max_records as usize),
            };
            let entries = store.dlq_list(&list.topic, &filter).map_err(engine)?;
            let stats = store.dlq_stats(&list.topic).map_err(engine)?;
            Ok(Response::DlqListing(DlqListing {
                depth: stats.depth,
                start_offset: stats.start_offset,
                end_offset: stats.end_offset,
                oldest_age_ms: stats.oldest_age_ms,
                entries,
            }))
        }
        Request::DlqRedrive(redrive) => {
            let options = millrace::dlq::RedriveOptions {
                target_topic: redrive.target_topic,
                dry_run: redrive.dry_run,
                rate_per_second: (redrive.rate_per_second > 0).then_some(redrive.rate_per_second),
                max_records: redrive.max_records,
                redrive_cap: if redrive.redrive_cap == 0 {
                    REDRIVE_CAP_DEFAULT
                } else {
                    redrive.redrive_cap
                },
                from_offset: redrive.from_offset,
                ..millrace::dlq::RedriveOptions::default()
            };
            let report = store.dlq_redrive(&redrive.topic, &options).map_err(engine)?;
            Ok(Response::Redrive(RedriveReport {
                resumed_from: report.resumed_from,
                next_offset: report.next_offset,
                redriven: report
                    .redriven
                    .into_iter()
                    .map(|(dlq_offset, topic, partition)| RedrivenRecord {
                        dlq_offset,
                        topic,
                        partition,
                    })
                    .collect(),
                capped: report.capped,
            }))
        }
        Request::DlqPurge(purge) => {
            let purged = store.dlq_purge(&purge.topic, purge.up_to_offset).map_err(engine)?;
            Ok(Response::Purged(purged))
        }
    }
}

fn check_offset_commit_entries(entries: usize) -> Result<(), WireError> {
    if entries > OFFSET_COMMIT_ENTRIES_MAX {
        return Err(invalid(format!(
            "{entries} offsets in one request; at most {OFFSET_COMMIT_ENTRIES_MAX} (send the rest in another)"
        )));
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn reset_offsets(store: &Store, session: &Session, reset: ResetOffsets) -> Result<Response, WireError> {
    let scope = match reset.topic {
        None if reset.partitions.is_empty() => millrace::ResetScope::AllCommitted,
        None => return Err(invalid("reset: partitions given without a topic")),
        Some(topic) if reset.partitions.is_empty() => millrace::ResetScope::Topic(topic),
        Some(topic) => millrace::ResetScope::Partitions {
            topic,
            partitions: reset.partitions,
        },
    };
    let target = match reset.target {
        ResetTarget::Earliest => millrace::ResetTarget::Earliest,
        ResetTarget::Latest => millrace::ResetTarget::Latest,
        ResetTarget::ToOffset(offset) => millrace::ResetTarget::Offset(offset),
        ResetTarget::ShiftBy(delta) => millrace::ResetTarget::ShiftBy(delta),
        ResetTarget::ToTime(timestamp_ms) => millrace::ResetTarget::DateTime { timestamp_ms },
        ResetTarget::ByDuration(ms) => millrace::ResetTarget::ByDuration(Duration::from_millis(ms)),
    };
    let plan = store
        .reset_offsets(&millrace::ResetRequest {
            group: reset.group,
            scopes: vec![scope],
            target,
            dry_run: reset.dry_run,
            actor: session.actor(),
            force: reset.force,
        })
        .map_err(engine)?;
    let clamp = |v: i128| i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX });
    Ok(Response::ResetPlan(ResetPlan {
        applied: plan.applied,
        entries: plan
            .entries
            .into_iter()
            .map(|e| ResetPlanEntry {
                topic: e.topic,
                partition: e.partition,
                current: e.current,
                new_offset: e.new,
                log_start_offset: e.log_start_offset,
                high_watermark: e.high_watermark,
                warnings: e
                    .warnings
                    .into_iter()
                    .map(|w| match w {
                        millrace::ResetWarning::BelowLogStart { requested } => ResetWarning::BelowLogStart {
                            requested: clamp(requested),
                        },
                        millrace::ResetWarning::AboveHighWatermark { requested } => ResetWarning::AboveHighWatermark {
                            requested: clamp(requested),
                        },
                        millrace::ResetWarning::NoCommittedOffset => ResetWarning::NoCommittedOffset,
                        millrace::ResetWarning::NoRecordAtOrAfter { timestamp_ms } => {
                            ResetWarning::NoRecordAtOrAfter { timestamp_ms }
                        }
                    })
                    .collect(),
            })
            .collect(),
    }))
}

/// The record is read by the server (never taken from the client) so that
/// what lands in the DLQ is what the log holds.
fn fail_record(store: &Store, fail: FailRecord) -> Result<Response, WireError> {
    let read = store
        .read_with(
            &fail.topic,
            fail.partition,
            fail.offset,
            ReadOptions {
                max_bytes: 1,
                max_records: 1,
            },
            millrace::Isolation::ReadCommitted,
        )
        .map_err(engine)?;
    let record = read
        .records
        .into_iter()
        .find(|r| r.offset == fail.offset)
        .ok_or_else(|| {
            invalid(format!(
                "no committed record at offset {} of {}/{}",
                fail.offset, fail.topic, fail.partition
            ))
        })?;
    let outcome = store
        .fail_record(
            millrace::ProducerId::new(fail.producer_id, fail.epoch),
            &fail.group,
            &fail.topic,
            fail.partition,
            &record,
            &fail.stage,
            &fail.error_class,
            &fail.error_message,
            fail.max_attempts,
        )
        .map_err(engine)?;
    let failed = match outcome {
        millrace::dlq::FailOutcome::Retry(attempts) => RecordFailed {
            dead_lettered: false,
            dlq_offset: 0,
            attempts: attempts.count,
            first_failure_ms: attempts.first_failure_ms,
            last_failure_ms: attempts.last_failure_ms,
        },
        millrace::dlq::FailOutcome::DeadLettered { dlq_offset, attempts } => RecordFailed {
            dead_lettered: true,
            dlq_offset,
            attempts: attempts.count,
            first_failure_ms: attempts.first_failure_ms,
            last_failure_ms: attempts.last_failure_ms,
        },
    };
    Ok(Response::RecordFailed(failed))
}

/// Produce and wait for the acknowledgement (blocking under `Always`).
fn produce(store: &Store, produce: Produce) -> Result<Response, WireError> {
    let pending = produce_pending(store, &produce)?;
    pending.wait().map(produced).map_err(engine)
}

/// Write a produce request's batch; its acknowledgement may still be owed.
fn produce_pending(store: &Store, produce: &Produce) -> Result<millrace::PendingAppend, WireError> {
    if produce.records.is_empty() {
        return Err(invalid("produce: records must not be empty"));
    }
    let stamp = produce.producer.map(|stamp| millrace::ProducerStamp {
        producer_id: stamp.producer_id,
        epoch: stamp.epoch,
        base_sequence: stamp.base_sequence,
    });
    store
        .append_pending(&produce.topic, produce.partition, &produce.records, stamp)
        .map_err(engine)
}

/// The answer to an acknowledged produce.
pub fn produced(append: millrace::ProducerAppend) -> Response {
    Response::Produced(Produced {
        base_offset: append.base_offset,
        next_offset: append.next_offset,
        duplicate: append.duplicate,
    })
}

fn init_producer(store: &Store, connection: &Session, name: &str) -> Result<Response, WireError> {
    // A replay job's producer (the connection checked the admin permission).
    let session = match (
        name.strip_prefix(millrace::names::REPLAY_PREFIX),
        connection.producer_owner(),
    ) {
        (Some(job), _) => store.init_replay_producer(job).map_err(engine)?,
        (None, None) => store.init_producer(name).map_err(engine)?,
        (None, Some(owner)) => store
            .init_producer_as(name, owner)
            .map_err(engine)?
            .ok_or_else(producer_denied)?,
    };
    let sequences = session
        .last_sequences
        .keys()
        .map(|(topic, partition)| ProducerSequence {
            topic: topic.clone(),
            partition: *partition,
            next_sequence: session.next_sequence(topic, *partition),
        })
        .collect();
    Ok(Response::ProducerInit(ProducerInit {
        producer_id: session.producer_id,
        epoch: session.epoch,
        sequences,
    }))
}

/// Answer `fetch` again, at once (no long poll), in at most `response_bytes`
/// (the response budget the connection was granted for it; at least the
/// first record is returned, which fit in that size the first time).
pub fn fetch_within(
    context: &Context,
    session: &mut Session,
    fetch: &Fetch,
    response_bytes: usize,
) -> Result<Response, WireError> {
    let now = Fetch {
        max_wait_ms: 0,
        ..fetch.clone()
    };
    let records_cap = response_bytes.saturating_sub(FETCH_RESPONSE_OVERHEAD_BYTES as usize);
    self::fetch(context, session, &now, true, records_cap)
        .unwrap_or_else(|| Err(WireError::new(ErrorCode::Internal, "fetch without wait waited")))
}

/// Bytes of a fetch response whose records take `records_bytes`, at most.
pub fn fetch_response_bytes(records_bytes: usize) -> usize {
    records_bytes + FETCH_RESPONSE_OVERHEAD_BYTES as usize
}

/// Answer `fetch`, encoding records straight from the engine's record views.
/// `None` when nothing is available yet and the fetch would have to wait but
/// `may_wait` is false (the caller retries it where blocking is allowed).
///
/// The encoded records stop before the one that would take them past
/// `records_cap` or past what fits in a response frame (the engine's
/// `max_bytes` counts neither headers nor per-record framing, and lets the
/// last record cross it); the first record is always returned, and fits
/// (every topic's `record_bytes_max` fits in a fetch response, checked at
/// topic creation and server start). `next_offset` is then the offset after
/// the last record returned.
fn fetch(
    context: &Context,
    session: &mut Session,
    fetch: &Fetch,
    may_wait: bool,
    records_cap: usize,
) -> Option<Result<Response, WireError>> {
    let started = Instant::now();
    let store = &context.store;
    if let Err(error) = session.check_read(&fetch.topic) {
        return Some(Err(error));
    }
    let max_bytes_allowed = context.frame_bytes_max.saturating_sub(FETCH_RESPONSE_OVERHEAD_BYTES);
    if fetch.max_bytes == 0 || fetch.max_bytes > max_bytes_allowed {
        return Some(Err(invalid(format!(
            "fetch max_bytes {} must be in 1..={max_bytes_allowed} (frame_bytes_max - {FETCH_RESPONSE_OVERHEAD_BYTES})",
            fetch.max_bytes
        ))));
    }
    if fetch.max_wait_ms > context.fetch_wait_max_ms {
        return Some(Err(invalid(format!(
            "fetch max_wait_ms {} is above the server's fetch_wait_max_ms {}",
            fetch.max_wait_ms, context.fetch_wait_max_ms
        ))));
    }
    let offset = match fetch.position {
        Position::Offset(offset) => offset,
        Position::Time(timestamp_ms) => match store.offset_for_time(&fetch.topic, fetch.partition, timestamp_ms) {
            Ok(Some(offset)) => offset,
            // No record at or after that time yet: wait at the end.
            Ok(None) => match store.offsets(&fetch.topic, fetch.partition) {
                Ok((_, end)) => end,
                Err(error) => return Some(Err(engine(error))),
            },
            Err(error) => return Some(Err(engine(error))),
        },
    };
    let options = ReadOptions {
        max_bytes: fetch.max_bytes as usize,
        max_records: if fetch.max_records == 0 {
            usize::MAX
        } else {
            fetch.max_records as usize
        },
    };
    let isolation = match fetch.isolation {
        Isolation::ReadCommitted => millrace::Isolation::ReadCommitted,
        Isolation::ReadUncommitted => millrace::Isolation::ReadUncommitted,
    };
    let deadline = started + Duration::from_millis(u64::from(fetch.max_wait_ms));
    let records_cap = records_cap.min(max_bytes_allowed as usize);
    let mut encoded = FetchedEncoded::with_buffer(std::mem::take(&mut session.fetch_buffer));
    loop {
        // Read the generation before the data, then wait on it: no lost
        // wake-up, and no spinning while the high watermark is ahead of a
        // read-committed reader held at the last stable offset.
        let generation = store.generation();
        // Offset after the last record encoded, once one did not fit.
        let mut capped_at: Option<u64> = None;
        let mut last_offset = offset;
        let marks = match store.scan_with_marks(&fetch.topic, fetch.partition, offset, options, isolation, |view| {
            if capped_at.is_some() {
                return;
            }
            if encoded.count > 0 && encoded.records.len() + FetchedEncoded::stored_len(&view) > records_cap {
                capped_at = Some(last_offset + 1);
                return;
            }
            last_offset = view.offset;
            encoded.push(&view);
        }) {
            Ok(marks) => marks,
            Err(error) => {
                session.recycle_fetch_buffer(encoded.records);
                return Some(Err(engine(error)));
            }
        };
        let now = Instant::now();
        if encoded.count > 0 || now >= deadline || context.shutting_down.load(Ordering::Relaxed) {
            encoded.next_offset = capped_at.unwrap_or(marks.next_offset);
            encoded.high_watermark = marks.high_watermark;
            encoded.last_stable_offset = marks.last_stable_offset;
            return Some(Ok(Response::FetchedEncoded(encoded)));
        }
        if !may_wait {
            session.recycle_fetch_buffer(encoded.records);
            return None;
        }
        let slice = (deadline - now).min(LONG_POLL_SLICE);
        store.wait_any(generation, now + slice);
    }
}

fn parse_u64(key: &str, value: &str) -> Result<u64, WireError> {
    value
        .parse()
        .map_err(|_| invalid(format!("topic config {key} = {value:?}: expected a decimal integer")))
}

fn parse_optional(key: &str, value: &str) -> Result<Option<u64>, WireError> {
    if value == "none" {
        Ok(None)
    } else {
        parse_u64(key, value).map(Some)
    }
}

/// The most bytes a record the engine accepts under `record_bytes_max` takes
/// in a fetch response (`StoredRecord`). The engine measures a record by
/// [`Record::encoded_len`]; the wire adds a key-presence tag and length, a
/// timestamp and offset in place of the engine's fixed fields, and 2 bytes
/// per header (u32 instead of u16 name lengths), at most `u16::MAX` headers,
/// each taking at least the size of an empty one.
pub fn stored_record_bytes_max(record_bytes_max: u32) -> u64 {
    let empty = Record::new(Vec::new());
    let fixed = empty.encoded_len() as u64;
    let per_header = empty.with_header("", Vec::new()).encoded_len() as u64 - fixed;
    let headers = (u64::from(record_bytes_max).saturating_sub(fixed) / per_header).min(u64::from(u16::MAX));
    // offset 8 + timestamp 8 + key tag 1 + key length 4 + value length 4 +
    // header count 4, against the engine's fixed fields.
    let wire_fixed: u64 = 8 + 8 + 1 + 4 + 4 + 4;
    let header_extra: u64 = 2;
    u64::from(record_bytes_max) + wire_fixed.saturating_sub(fixed) + headers * header_extra
}

/// The largest `record_bytes_max` whose records all fit in one fetch
/// response under `frame_bytes_max` (with [`FETCH_RESPONSE_OVERHEAD_BYTES`]).
pub fn record_bytes_fetchable_max(frame_bytes_max: u32) -> u32 {
    let room = u64::from(frame_bytes_max.saturating_sub(FETCH_RESPONSE_OVERHEAD_BYTES));
    // stored_record_bytes_max is monotonic: the largest value within room.
    let (mut low, mut high) = (0u32, frame_bytes_max);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if stored_record_bytes_max(middle) <= room {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    low
}

/// A topic created through the server accepts only records a fetch can
/// return: a `record_bytes_max` above [`record_bytes_fetchable_max`] is
/// refused; without one, the default is lowered to it.
fn fit_records_in_fetch(config: &mut TopicConfig, create: &CreateTopic, frame_bytes_max: u32) -> Result<(), WireError> {
    let fetchable = record_bytes_fetchable_max(frame_bytes_max);
    if config.record_bytes_max <= fetchable {
        return Ok(());
    }
    if create.config.iter().any(|entry| entry.key == "record_bytes_max") {
        return Err(invalid(format!(
            "topic config record_bytes_max = {} does not fit in a fetch response under the server's \
             frame_bytes_max = {frame_bytes_max}: at most {fetchable}",
            config.record_bytes_max
        )));
    }
    config.record_bytes_max = fetchable;
    Ok(())
}

/// Build a `TopicConfig` from wire key/value pairs; unknown keys are refused.
pub fn topic_config(create: &CreateTopic) -> Result<TopicConfig, WireError> {
    let mut config = TopicConfig::with_partitions(create.partitions);
    for ConfigEntry { key, value } in &create.config {
        match key.as_str() {
            "durability" => {
                config.durability = if value == "default" {
                    None
                } else {
                    Some(millrace::Durability::parse(value).map_err(engine)?)
                }
            }
            "segment_bytes" => config.segment_bytes = parse_u64(key, value)?,
            "segment_age_ms" => config.segment_age_ms = parse_optional(key, value)?,
            "retention_ms" => config.retention_ms = parse_optional(key, value)?,
            "retention_bytes" => config.retention_bytes = parse_optional(key, value)?,
            "record_bytes_max" => {
                config.record_bytes_max = u32::try_from(parse_u64(key, value)?)
                    .map_err(|_| invalid(format!("topic config record_bytes_max = {value}: too large")))?
            }
            "index_interval_bytes" => {
                config.index_interval_bytes = u32::try_from(parse_u64(key, value)?)
                    .map_err(|_| invalid(format!("topic config index_interval_bytes = {value}: too large")))?
            }
            "route_invalid_to_dlq" => {
                return Err(invalid(
                    "topic config route_invalid_to_dlq is library-only (Store::append_routed): the server's \
                     Produce appends a batch whole or refuses it, and its answer has no place for records \
                     routed to the DLQ",
                ))
            }
            other => {
                return Err(invalid(format!(
                    "unknown topic config key {other:?}; known: durability, segment_bytes, segment_age_ms, \
                     retention_ms, retention_bytes, record_bytes_max, index_interval_bytes"
                )))
            }
        }
    }
    Ok(config)
}

fn config_entries(config: &TopicConfig, durability: millrace::Durability) -> Vec<ConfigEntry> {
    let entry = |key: &str, value: String| ConfigEntry {
        key: key.to_string(),
        value,
    };
    let optional = |v: Option<u64>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
    vec![
        entry("durability", durability.to_string()),
        entry("segment_bytes", config.segment_bytes.to_string()),
        entry("segment_age_ms", optional(config.segment_age_ms)),
        entry("retention_ms", optional(config.retention_ms)),
        entry("retention_bytes", optional(config.retention_bytes)),
        entry("record_bytes_max", config.record_bytes_max.to_string()),
        entry("index_interval_bytes", config.index_interval_bytes.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetchable_record_size_matches_protocol_md_and_fits() {
        // design/protocol.md, "Limits": the figure for the default frame.
        assert_eq!(record_bytes_fetchable_max(16 * 1024 * 1024), 16_645_115);
        for frame in [
            crate::frame::FRAME_BYTES_MAX_LOWEST,
            65_536,
            1 << 20,
            16 << 20,
            256 << 20,
        ] {
            let fetchable = record_bytes_fetchable_max(frame);
            let room = u64::from(frame - FETCH_RESPONSE_OVERHEAD_BYTES);
            assert!(stored_record_bytes_max(fetchable) <= room, "{frame}");
            assert!(stored_record_bytes_max(fetchable + 1) > room, "{frame}");
        }
    }
}
