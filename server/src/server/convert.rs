//! Every mapping between engine types (`millrace::`) and the native
//! protocol's wire types ([`crate::messages`]), in one place: the wire side
//! of the service layer ([`crate::server::service`]). Engine errors map to
//! wire codes here ([`engine_code`], the one table; `design/protocol.md`,
//! "Error codes", lists the same codes).

use millrace::clock::now_ms;
use std::time::Duration;

use millrace::TopicConfig;

use crate::error_code::{ErrorCode, WireError};
use crate::messages::{
    CommittedOffset, CommittedPart, ConfigEntry, CreateTopic, DamageEntry, DamageReport, DlqList, DlqListing,
    DlqRedrive, FailRecord, Fetch, FetchedEncoded, Isolation, PartitionInfo, PartitionLag, PartitionOffset, Position,
    ProducerInit, ProducerSequence, ProducerStamp, RecordFailed, RedriveReport, RedrivenRecord, ResetOffsets,
    ResetPlan, ResetPlanEntry, ResetTarget, ResetWarning, TopicDescription, TxnCommitted, TxnDeadLetter,
};
use crate::server::service::{FetchFrom, FetchQuery, FetchSink, RecordFailure, ServiceError};

/// `DlqList.max_records` when the client says 0.
pub const DLQ_LIST_RECORDS_DEFAULT: u32 = 100;
/// `DlqRedrive.redrive_cap` when the client says 0.
pub const REDRIVE_CAP_DEFAULT: u32 = 3;

/// The wire code of an engine error: the one table from engine errors to
/// codes (`1..=999`, see [`crate::error_code`] for the numbers).
pub fn engine_code(error: &millrace::Error) -> ErrorCode {
    use millrace::Error as E;
    match error {
        E::Io { .. } => ErrorCode::Io,
        E::Corruption { .. } => ErrorCode::Corruption,
        E::InvalidInput { .. } => ErrorCode::InvalidInput,
        E::Poisoned => ErrorCode::Poisoned,
        E::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
        E::Locked { .. } => ErrorCode::Locked,
        E::TopicNotFound(_) => ErrorCode::TopicNotFound,
        E::TopicExists(_) => ErrorCode::TopicExists,
        E::PartitionNotFound { .. } => ErrorCode::PartitionNotFound,
        E::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        E::Fenced { .. } => ErrorCode::Fenced,
        E::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequence,
        E::UnknownProducer { .. } => ErrorCode::UnknownProducer,
        E::Closed => ErrorCode::Closed,
        E::GroupActive { .. } => ErrorCode::GroupActive,
        E::NoSpace { .. } => ErrorCode::NoSpace,
        E::NotADataDir { .. } => ErrorCode::NotADataDir,
        E::InternalName { .. } => ErrorCode::InternalName,
        E::GroupLimit { .. } => ErrorCode::GroupLimit,
        // As the error the open of the damaged part returned (no new code).
        E::Damaged { source, .. } => engine_code(source),
        E::FormatTooNew { .. } => ErrorCode::InvalidInput,
        // An I/O refusal at open (no new code).
        E::SymlinkRefused { .. } => ErrorCode::Io,
    }
}

impl From<&millrace::Error> for WireError {
    fn from(error: &millrace::Error) -> Self {
        use millrace::Error as E;
        let details = match error {
            E::Corruption { position, .. } => vec![*position],
            E::QuotaExceeded {
                quota_bytes,
                used_bytes,
                requested_bytes,
            } => vec![*quota_bytes, *used_bytes, *requested_bytes],
            E::PartitionNotFound { partition, .. } => vec![u64::from(*partition)],
            E::OffsetOutOfRange { requested, start, end } => vec![*requested, *start, *end],
            E::Fenced {
                producer_id,
                epoch,
                current_epoch,
            } => vec![*producer_id, u64::from(*epoch), u64::from(*current_epoch)],
            E::OutOfOrderSequence { expected, got } => vec![u64::from(*expected), u64::from(*got)],
            E::UnknownProducer { producer_id } => vec![*producer_id],
            E::NoSpace { requested_bytes, .. } => vec![*requested_bytes],
            E::GroupLimit { groups_max, .. } => vec![*groups_max],
            _ => Vec::new(),
        };
        WireError {
            code: engine_code(error),
            message: error.to_string(),
            details,
        }
    }
}

impl From<ServiceError> for WireError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Engine(error) => WireError::from(&error),
            ServiceError::InvalidInput(message) => WireError::new(ErrorCode::InvalidInput, message),
            ServiceError::PermissionDenied(message) => WireError::new(ErrorCode::PermissionDenied, message),
            ServiceError::Internal(message) => WireError::new(ErrorCode::Internal, message),
            ServiceError::Refused(error) => error,
        }
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::InvalidInput, message)
}

// Requests: wire → engine.

pub fn producer_stamp(stamp: ProducerStamp) -> millrace::ProducerStamp {
    millrace::ProducerStamp {
        producer_id: stamp.producer_id,
        epoch: stamp.epoch,
        base_sequence: stamp.base_sequence,
    }
}

pub fn isolation(isolation: Isolation) -> millrace::Isolation {
    match isolation {
        Isolation::ReadCommitted => millrace::Isolation::ReadCommitted,
        Isolation::ReadUncommitted => millrace::Isolation::ReadUncommitted,
    }
}

pub fn fetch_query(fetch: &Fetch) -> FetchQuery<'_> {
    FetchQuery {
        topic: &fetch.topic,
        partition: fetch.partition,
        from: match fetch.position {
            Position::Offset(offset) => FetchFrom::Offset(offset),
            Position::Time(timestamp_ms) => FetchFrom::Time(timestamp_ms),
        },
        max_bytes: fetch.max_bytes,
        max_records: fetch.max_records,
        max_wait_ms: fetch.max_wait_ms,
        isolation: isolation(fetch.isolation),
    }
}

/// The native fetch response encodes records straight from the engine's views.
impl FetchSink for FetchedEncoded {
    fn is_empty(&self) -> bool {
        self.count == 0
    }
    fn bytes_with(&self, record: &millrace::batch::RecordView<'_>) -> usize {
        self.records.len() + FetchedEncoded::stored_len(record)
    }
    fn push(&mut self, record: &millrace::batch::RecordView<'_>) {
        FetchedEncoded::push(self, record);
    }
}

/// (topic, partition, offset, metadata), as the engine commits them.
pub fn commits(offsets: Vec<PartitionOffset>) -> Vec<(String, u32, u64, Vec<u8>)> {
    offsets
        .into_iter()
        .map(|o| (o.topic, o.partition, o.offset, o.metadata))
        .collect()
}

pub fn reset_scope(reset: &mut ResetOffsets) -> Result<millrace::ResetScope, WireError> {
    let partitions = std::mem::take(&mut reset.partitions);
    Ok(match reset.topic.take() {
        None if partitions.is_empty() => millrace::ResetScope::AllCommitted,
        None => return Err(invalid("reset: partitions given without a topic")),
        Some(topic) if partitions.is_empty() => millrace::ResetScope::Topic(topic),
        Some(topic) => millrace::ResetScope::Partitions { topic, partitions },
    })
}

pub fn reset_target(target: ResetTarget) -> millrace::ResetTarget {
    match target {
        ResetTarget::Earliest => millrace::ResetTarget::Earliest,
        ResetTarget::Latest => millrace::ResetTarget::Latest,
        ResetTarget::ToOffset(offset) => millrace::ResetTarget::Offset(offset),
        ResetTarget::ShiftBy(delta) => millrace::ResetTarget::ShiftBy(delta),
        ResetTarget::ToTime(timestamp_ms) => millrace::ResetTarget::DateTime { timestamp_ms },
        ResetTarget::ByDuration(ms) => millrace::ResetTarget::ByDuration(Duration::from_millis(ms)),
    }
}

pub fn record_failure(fail: &FailRecord) -> RecordFailure<'_> {
    RecordFailure {
        producer: millrace::ProducerId::new(fail.producer_id, fail.epoch),
        group: &fail.group,
        topic: &fail.topic,
        partition: fail.partition,
        offset: fail.offset,
        stage: &fail.stage,
        error_class: &fail.error_class,
        error_message: &fail.error_message,
        max_attempts: fail.max_attempts,
    }
}

/// The record as the client read it (its `dlq.redrive_count` header counts
/// towards the redrive cap); without a timestamp, now.
pub fn consumed_record(letter: &mut TxnDeadLetter) -> millrace::ConsumedRecord {
    let record = std::mem::replace(&mut letter.record, millrace::Record::new(Vec::new()));
    millrace::ConsumedRecord {
        topic: std::mem::take(&mut letter.source_topic),
        partition: letter.source_partition,
        record: millrace::StoredRecord {
            offset: letter.source_offset,
            timestamp_ms: record.timestamp_ms.unwrap_or_else(now_ms),
            key: record.key,
            value: record.value,
            headers: record.headers,
            nulls: record.nulls,
        },
    }
}

pub fn dlq_filter(list: DlqList) -> millrace::dlq::DlqFilter {
    let max_records = match list.max_records {
        0 => DLQ_LIST_RECORDS_DEFAULT,
        n => n,
    };
    millrace::dlq::DlqFilter {
        error_contains: list.error_contains,
        source_partition: list.source_partition,
        since_ms: list.since_ms,
        until_ms: list.until_ms,
        from_offset: Some(list.from_offset),
        limit: Some(max_records as usize),
    }
}

pub fn redrive_options(redrive: DlqRedrive) -> millrace::dlq::RedriveOptions {
    millrace::dlq::RedriveOptions {
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

/// Build a `TopicConfig` from wire key/value pairs; unknown keys are refused.
pub fn topic_config(create: &CreateTopic) -> Result<TopicConfig, WireError> {
    let mut config = TopicConfig::with_partitions(create.partitions);
    for ConfigEntry { key, value } in &create.config {
        match key.as_str() {
            "durability" => {
                config.durability = if value == "default" {
                    None
                } else {
                    Some(millrace::Durability::parse(value).map_err(|e| WireError::from(&e))?)
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

/// Whether the client set `record_bytes_max` itself.
pub fn sets_record_bytes_max(create: &CreateTopic) -> bool {
    create.config.iter().any(|entry| entry.key == "record_bytes_max")
}

// Responses: engine → wire.

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

pub fn topic_description(description: millrace::TopicDescription) -> TopicDescription {
    TopicDescription {
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
        name: description.name,
    }
}

/// Most entries a `DescribeDamage` answer holds (also bounded by the frame).
pub const DAMAGE_ENTRIES_MAX: usize = 1000;

/// The damage a `DescribeDamage` answers, at most [`DAMAGE_ENTRIES_MAX`]
/// entries within `room` bytes (the first always), `truncated` when some
/// were left out.
pub fn damage_report(damage: Vec<millrace::Damage>, room: usize) -> DamageReport {
    let mut report = DamageReport::default();
    let mut used = 0usize;
    for d in damage {
        let (topic, partition) = match d.scope {
            millrace::DamagedScope::Topic { topic } => (topic, None),
            millrace::DamagedScope::Partition { topic, partition } => (topic, Some(partition)),
        };
        let entry = DamageEntry {
            topic,
            partition,
            code: engine_code(&d.error).code(),
            message: d.error.to_string(),
        };
        let size = entry.encoded_bytes();
        if report.entries.len() >= DAMAGE_ENTRIES_MAX || (!report.entries.is_empty() && used + size > room) {
            report.truncated = true;
            break;
        }
        used += size;
        report.entries.push(entry);
    }
    report
}

pub fn producer_init(session: &millrace::ProducerSession) -> ProducerInit {
    ProducerInit {
        producer_id: session.producer_id,
        epoch: session.epoch,
        sequences: session
            .last_sequences
            .keys()
            .map(|(topic, partition)| ProducerSequence {
                topic: topic.clone(),
                partition: *partition,
                next_sequence: session.next_sequence(topic, *partition),
            })
            .collect(),
    }
}

/// The answer to an acknowledged produce.
pub fn produced(append: millrace::ProducerAppend) -> crate::messages::Response {
    crate::messages::Response::Produced(crate::messages::Produced {
        base_offset: append.base_offset,
        next_offset: append.next_offset,
        duplicate: append.duplicate,
    })
}

pub fn committed_offsets(
    offsets: Vec<((String, u32), millrace::offset_table::CommittedOffset)>,
) -> Vec<CommittedOffset> {
    offsets
        .into_iter()
        .map(|((topic, partition), committed)| CommittedOffset {
            topic,
            partition,
            offset: committed.offset,
            metadata: committed.metadata,
            commit_time_ms: committed.commit_time_ms,
        })
        .collect()
}

pub fn lags(lags: Vec<millrace::PartitionLag>) -> Vec<PartitionLag> {
    lags.into_iter()
        .map(|l| PartitionLag {
            topic: l.topic,
            partition: l.partition,
            committed: l.committed,
            log_start_offset: l.log_start_offset,
            high_watermark: l.high_watermark,
            lag: l.lag,
        })
        .collect()
}

pub fn txn_committed(info: millrace::txn::CommitInfo) -> TxnCommitted {
    TxnCommitted {
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
    }
}

pub fn dlq_listing(entries: Vec<millrace::dlq::DlqEntry>, stats: millrace::dlq::DlqStats) -> DlqListing {
    DlqListing {
        depth: stats.depth,
        start_offset: stats.start_offset,
        end_offset: stats.end_offset,
        oldest_age_ms: stats.oldest_age_ms,
        entries,
    }
}

pub fn redrive_report(report: millrace::dlq::RedriveReport) -> RedriveReport {
    RedriveReport {
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
    }
}

pub fn reset_plan(plan: millrace::ResetPlan) -> ResetPlan {
    let clamp = |v: i128| i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX });
    ResetPlan {
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
    }
}

pub fn record_failed(outcome: millrace::dlq::FailOutcome) -> RecordFailed {
    match outcome {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    #[expect(clippy::too_many_lines, reason = "one line per engine error")]
    fn engine_errors_map_one_to_one() {
        use millrace::Error as E;
        let errors = vec![
            (
                E::Io {
                    op: "write",
                    path: PathBuf::from("x"),
                    source: std::io::Error::other("boom"),
                },
                ErrorCode::Io,
            ),
            (
                E::Corruption {
                    segment: PathBuf::from("s"),
                    position: 9,
                    kind: millrace::CorruptionKind::BadMagic,
                },
                ErrorCode::Corruption,
            ),
            (
                E::InvalidInput {
                    what: "w",
                    detail: "d".into(),
                },
                ErrorCode::InvalidInput,
            ),
            (E::Poisoned, ErrorCode::Poisoned),
            (
                E::QuotaExceeded {
                    quota_bytes: 1,
                    used_bytes: 2,
                    requested_bytes: 3,
                },
                ErrorCode::QuotaExceeded,
            ),
            (
                E::Locked {
                    path: PathBuf::from("d"),
                    pid: None,
                },
                ErrorCode::Locked,
            ),
            (E::TopicNotFound("t".into()), ErrorCode::TopicNotFound),
            (E::TopicExists("t".into()), ErrorCode::TopicExists),
            (
                E::PartitionNotFound {
                    topic: "t".into(),
                    partition: 3,
                },
                ErrorCode::PartitionNotFound,
            ),
            (
                E::OffsetOutOfRange {
                    requested: 9,
                    start: 0,
                    end: 5,
                },
                ErrorCode::OffsetOutOfRange,
            ),
            (
                E::Fenced {
                    producer_id: 1,
                    epoch: 2,
                    current_epoch: 3,
                },
                ErrorCode::Fenced,
            ),
            (
                E::OutOfOrderSequence { expected: 4, got: 6 },
                ErrorCode::OutOfOrderSequence,
            ),
            (E::UnknownProducer { producer_id: 7 }, ErrorCode::UnknownProducer),
            (E::Closed, ErrorCode::Closed),
            (
                E::GroupActive {
                    group: "g".into(),
                    idle_ms: 5,
                },
                ErrorCode::GroupActive,
            ),
            (
                E::NoSpace {
                    path: PathBuf::from("p"),
                    requested_bytes: 4,
                },
                ErrorCode::NoSpace,
            ),
            (
                E::NotADataDir {
                    path: PathBuf::from("d"),
                    problem: millrace::DataDirProblem::NotADirectory,
                },
                ErrorCode::NotADataDir,
            ),
            (
                E::InternalName {
                    what: "topic",
                    name: "__offsets".into(),
                },
                ErrorCode::InternalName,
            ),
            (
                E::GroupLimit {
                    group: "g".into(),
                    groups_max: 3,
                },
                ErrorCode::GroupLimit,
            ),
        ];
        let mut seen = std::collections::HashSet::new();
        for (error, expected) in &errors {
            let wire = WireError::from(error);
            assert_eq!(wire.code, *expected, "{error}");
            assert!(seen.insert(wire.code.code()), "duplicate code {}", wire.code.code());
            assert!(
                (1..=crate::error_code::ENGINE_CODE_LAST).contains(&wire.code.code()),
                "{error}"
            );
        }
        let fenced = WireError::from(&errors[10].0);
        assert_eq!(fenced.details, vec![1, 2, 3]);
    }

    /// A `DescribeDamage` answer holds at most 1,000 entries and stops
    /// before the frame budget (its first entry always), saying `truncated`.
    #[test]
    fn damage_report_is_bounded() {
        let damage = |n: u32| {
            (0..n)
                .map(|partition| millrace::Damage {
                    scope: millrace::DamagedScope::Partition {
                        topic: "t".into(),
                        partition,
                    },
                    error: std::sync::Arc::new(millrace::Error::Corruption {
                        segment: PathBuf::from("topics/t/00000/00000000000000000000.log"),
                        position: 9,
                        kind: millrace::CorruptionKind::BadMagic,
                    }),
                })
                .collect::<Vec<_>>()
        };
        let all = damage_report(damage(3), usize::MAX);
        assert_eq!(all.entries.len(), 3);
        assert!(!all.truncated);
        assert_eq!(all.entries[2].partition, Some(2));
        assert_eq!(all.entries[0].code, ErrorCode::Corruption.code());
        let many = damage_report(damage(DAMAGE_ENTRIES_MAX as u32 + 1), usize::MAX);
        assert_eq!(many.entries.len(), DAMAGE_ENTRIES_MAX);
        assert!(many.truncated);
        let one = all.entries[0].encoded_bytes();
        let room = damage_report(damage(3), 2 * one + 1);
        assert_eq!((room.entries.len(), room.truncated), (2, true));
        let first = damage_report(damage(3), 0);
        assert_eq!((first.entries.len(), first.truncated), (1, true));
    }
}
