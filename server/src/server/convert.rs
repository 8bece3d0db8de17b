//! Every mapping between engine types (`millrace::`) and the native
//! protocol's wire types ([`crate::messages`]), in one place: the wire side
//! of the service layer ([`crate::server::service`]). Engine errors take
//! their wire code from `millrace::Error::code` ([`engine_code`]; the
//! engine's table is the one table, `design/protocol.md` "Error codes" lists
//! the same codes).

use millrace::clock::now_ms;
use std::time::Duration;

use millrace::TopicConfig;

use crate::error_code::{ErrorCode, WireError};
use crate::messages::{
    CommittedOffset, CommittedPart, ConfigEntry, CreateTopic, DamageEntry, DamageReport, DlqList, DlqListing,
    DlqRedrive, FailRecord, Fetch, FetchedEncoded, Isolation, PartitionInfo, PartitionLag, PartitionOffset, Position,
    ProducerInit, ProducerSequence, ProducerStamp, RecordFailed, RedriveReport, RedrivenRecord, RefusedRecord,
    ResetOffsets, ResetPlan, ResetPlanEntry, ResetTarget, ResetWarning, TopicDescription, TxnCommitted, TxnDeadLetter,
};
use crate::server::service::{FetchFrom, FetchQuery, FetchSink, RecordFailure, ServiceError};

/// `DlqList.max_records` when the client says 0.
pub const DLQ_LIST_RECORDS_DEFAULT: u32 = 100;
/// `DlqRedrive.redrive_cap` when the client says 0.
pub const REDRIVE_CAP_DEFAULT: u32 = 3;

/// The wire code of an engine error: exactly [`millrace::Error::code`],
/// the one table of engine codes (`1..=999`, design/protocol.md "Error
/// codes"); [`ErrorCode`] only names the numbers.
pub fn engine_code(error: &millrace::Error) -> ErrorCode {
    ErrorCode::from_code(error.code())
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
                ..
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
            E::ContractViolation {
                index,
                contract_version,
                ..
            } => vec![*index as u64, u64::from(*contract_version)],
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
            ServiceError::TokenGroupLimit {
                token,
                group,
                groups_max,
            } => WireError::new(
                ErrorCode::GroupLimit,
                format!(
                    "token {} may reach at most {groups_max} groups (its groups_max) and group {} would pass it; delete unused groups (`millrace offsets delete`) or raise the token's groups_max",
                    token.as_deref().unwrap_or("anonymous"),
                    crate::text::escape_quoted(&group)
                ),
            )
            .with_details(vec![groups_max]),
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
    /// Encodes the record, then takes it back if it went past `cap`: one
    /// walk over its headers instead of a measure and an encode.
    fn push_within(&mut self, record: &millrace::batch::RecordView<'_>, cap: usize) -> bool {
        FetchedEncoded::push_within(self, record, cap)
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

/// Build a `TopicConfig` from wire key/value pairs through the engine's
/// key table ([`millrace::config::TOPIC_CONFIG_KEYS`]); an unknown key or a
/// value that does not parse is refused naming it.
pub fn topic_config(create: &CreateTopic) -> Result<TopicConfig, WireError> {
    let mut config = TopicConfig::with_partitions(create.partitions);
    for ConfigEntry { key, value } in &create.config {
        config.set(key, value).map_err(|e| WireError::from(&e))?;
    }
    Ok(config)
}

/// Whether the client set `record_bytes_max` itself.
pub fn sets_record_bytes_max(create: &CreateTopic) -> bool {
    create.config.iter().any(|entry| entry.key == "record_bytes_max")
}

// Responses: engine → wire.

/// Every key of the engine's table, `durability` resolved (the store's
/// default shown as its value).
fn config_entries(config: &TopicConfig, durability: millrace::Durability) -> Vec<ConfigEntry> {
    let resolved = TopicConfig {
        durability: Some(durability),
        ..config.clone()
    };
    resolved
        .entries()
        .into_iter()
        .map(|(key, value)| ConfigEntry {
            key: key.to_string(),
            value,
        })
        .collect()
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
        refused: report
            .refused
            .into_iter()
            .map(|(dlq_offset, reason)| RefusedRecord { dlq_offset, reason })
            .collect(),
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
