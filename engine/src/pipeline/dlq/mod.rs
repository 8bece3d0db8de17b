//! The dead-letter partition. Every topic `t` has a built-in DLQ: the internal
//! topic `__dlq.t` (one partition, `Always`), created on first use. A record
//! that cannot be processed is moved there with its original key, value,
//! headers and timestamp plus provenance headers, in the same transaction that
//! commits the consumer's offset past it. A redriven record is marked in the
//! internal topic `__redriven` in the same transaction that re-appends it, so
//! no run redrives it twice whatever its start offset, and it leaves the
//! depth. Lifecycle: design/semantics.md, "DLQ".

mod attempts;
mod queue;
mod redrive;
pub(crate) mod route;

pub use queue::DeadLetterQueue;
pub use redrive::{RedriveMark, RedriveOptions, RedriveReport};

use crate::clock::now_ms;
use crate::codec::{Decoder, Encoder};
use crate::error::{Error, Result};
use crate::log::batch::{Record, StoredRecord};
use crate::log::partition::{Isolation, ReadOptions};
use crate::pipeline::context::Pipeline;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Prefix of every DLQ topic: `__dlq.<source topic>`.
pub const DLQ_PREFIX: &str = crate::names::DLQ_PREFIX;
/// Internal topic holding the durable failure counts of `record_failure`.
pub const ATTEMPTS_TOPIC: &str = "__attempts";
/// Redrive marks: one record per DLQ record redriven (see `RedriveMark`).
pub const REDRIVEN_TOPIC: &str = "__redriven";

/// Provenance header names.
pub mod header {
    /// Topic the record came from.
    pub const SOURCE_TOPIC: &str = "dlq.source.topic";
    /// Partition the record came from.
    pub const SOURCE_PARTITION: &str = "dlq.source.partition";
    /// Offset the record had there.
    pub const SOURCE_OFFSET: &str = "dlq.source.offset";
    /// Group that failed it.
    pub const GROUP: &str = "dlq.group";
    /// Stage that failed it.
    pub const STAGE: &str = "dlq.stage";
    /// Kind of failure.
    pub const ERROR_CLASS: &str = "dlq.error.class";
    /// Failure message.
    pub const ERROR_MESSAGE: &str = "dlq.error.message";
    /// Failures counted.
    pub const ATTEMPTS: &str = "dlq.attempts";
    /// First failure time, ms since the Unix epoch.
    pub const FIRST_FAILURE_MS: &str = "dlq.first_failure_ms";
    /// Last failure time, ms since the Unix epoch.
    pub const LAST_FAILURE_MS: &str = "dlq.last_failure_ms";
    /// How many times the record has been redriven (kept when redriven).
    pub const REDRIVE_COUNT: &str = "dlq.redrive_count";
    /// The version of the contract that sent the record here (contract failures only).
    pub const CONTRACT_VERSION: &str = "dlq.contract.version";
    /// The contract rule the record broke (contract failures only).
    pub const CONTRACT_RULE: &str = "dlq.contract.rule";
    /// Where the record broke it: a JSON pointer into the value (contract failures only).
    pub const CONTRACT_PATH: &str = "dlq.contract.path";
    /// Every provenance header but `REDRIVE_COUNT` (which a redrive keeps).
    pub const ALL: [&str; 10] = [
        SOURCE_TOPIC,
        SOURCE_PARTITION,
        SOURCE_OFFSET,
        GROUP,
        STAGE,
        ERROR_CLASS,
        ERROR_MESSAGE,
        ATTEMPTS,
        FIRST_FAILURE_MS,
        LAST_FAILURE_MS,
    ];
}

/// The redrive count a consumed record carries (0 if never redriven).
fn redrive_count_of(record: &StoredRecord) -> u32 {
    record
        .header(header::REDRIVE_COUNT)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// The DLQ topic of `topic`: `__dlq.<topic>`.
pub fn dlq_topic_name(topic: &str) -> String {
    format!("{DLQ_PREFIX}{topic}")
}

pub(crate) fn ensure_dlq_topic(pipeline: &Pipeline, source_topic: &str) -> Result<String> {
    let name = dlq_topic_name(source_topic);
    pipeline.catalog().ensure_internal_topic(&name)?;
    Ok(name)
}

/// Why a record failed: the provenance a dead letter carries besides
/// where the record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure<'a> {
    /// Which step failed: e.g. `consume`, `transform`, `produce`.
    pub stage: &'a str,
    /// A short, stable name for the kind of failure (e.g. `ParseError`).
    pub error_class: &'a str,
    /// What went wrong (the first 4096 characters are kept).
    pub error_message: &'a str,
}

impl<'a> Failure<'a> {
    /// A failure of `stage` with its class and message.
    pub fn new(stage: &'a str, error_class: &'a str, error_message: &'a str) -> Failure<'a> {
        Failure {
            stage,
            error_class,
            error_message,
        }
    }
}

/// A record that failed, with where it came from and why: what the DLQ
/// holds, as listed by [`Store::dlq_list`](crate::Store::dlq_list). Dead letters are written only
/// from the consumed record they came from ([`Store::fail_record`](crate::Store::fail_record),
/// [`crate::txn::Transaction::fail_record`], `Transaction::dead_letter`), so
/// that its counts (redrive count, attempts) travel with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Topic of the failed record.
    pub source_topic: String,
    /// Partition of the failed record.
    pub source_partition: u32,
    /// Offset of the failed record (`NO_SOURCE_OFFSET` if it never had one).
    pub source_offset: u64,
    /// Consumer group that failed it.
    pub group: String,
    /// Which step failed: e.g. `consume`, `transform`, `produce`.
    pub stage: String,
    /// Kind of failure, e.g. an error type name (what `dlq list --error` matches).
    pub error_class: String,
    /// Human-readable failure (cut to 4096 characters in the record).
    pub error_message: String,
    /// Failures counted before it was dead-lettered.
    pub attempts: u32,
    /// Time of the first failure (ms since the Unix epoch).
    pub first_failure_ms: i64,
    /// Time of the last failure (ms since the Unix epoch).
    pub last_failure_ms: i64,
    /// How many times it has been redriven already (the redrive cap compares this).
    pub redrive_count: u32,
    /// The original record (key, value, user headers, timestamp).
    pub record: Record,
    /// For a record the topic's contract sent here: which contract version,
    /// rule and field (headers `dlq.contract.*`).
    pub contract: Option<ContractFailure>,
}

/// Why a topic's contract sent a record to the DLQ: its provenance headers
/// `dlq.contract.version`, `dlq.contract.rule` and `dlq.contract.path` (the
/// letter's error class is `contract.<rule>`, its message the violation's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractFailure {
    /// The version of the contract that judged.
    pub contract_version: u32,
    /// The rule broken.
    pub rule: String,
    /// Where: a JSON pointer into the value (`""`: the whole value).
    pub path: String,
}

impl ContractFailure {
    /// Add the `dlq.contract.*` headers to `record`.
    pub fn add_to(&self, record: &mut Record) {
        let mut add = |name: &str, value: String| record.headers.push((name.to_string(), value.into_bytes()));
        add(header::CONTRACT_VERSION, self.contract_version.to_string());
        add(header::CONTRACT_RULE, self.rule.clone());
        add(header::CONTRACT_PATH, self.path.clone());
    }

    /// The provenance the `dlq.contract.*` headers of `record` carry (none
    /// without `dlq.contract.rule`), taking those headers out of it.
    pub fn take_from(record: &mut Record) -> Option<ContractFailure> {
        let text = |name: &str| {
            record
                .header(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_string)
        };
        let failure = text(header::CONTRACT_RULE).map(|rule| ContractFailure {
            contract_version: text(header::CONTRACT_VERSION).and_then(|v| v.parse().ok()).unwrap_or(0),
            rule,
            path: text(header::CONTRACT_PATH).unwrap_or_default(),
        });
        record.retain_headers(|n| !n.starts_with("dlq.contract."));
        failure
    }
}

impl DeadLetter {
    /// The dead letter of `consumed`, read by `group`: the record as it was
    /// read, with the redrive count its own `dlq.redrive_count` header
    /// carries (a redriven record keeps counting towards the cap).
    pub(crate) fn from_consumed(
        group: &str,
        consumed: &crate::ConsumedRecord,
        failure: &Failure<'_>,
        attempts: Attempts,
    ) -> DeadLetter {
        let source = (consumed.topic.as_str(), consumed.partition, consumed.record.offset);
        let redrive_count = redrive_count_of(&consumed.record);
        DeadLetter::new(
            source,
            group,
            failure,
            attempts,
            redrive_count,
            consumed.record.to_record(),
        )
    }

    /// The one way a dead letter is built: `record` from `source` (topic,
    /// partition, offset), failed by `group` for `failure`, with its counts.
    /// Provenance headers the record already carries (`dlq.*`) are dropped:
    /// the letter's own fields replace them.
    fn new(
        source: (&str, u32, u64),
        group: &str,
        failure: &Failure<'_>,
        attempts: Attempts,
        redrive_count: u32,
        mut record: Record,
    ) -> DeadLetter {
        let (source_topic, source_partition, source_offset) = source;
        record.retain_headers(|n| !n.starts_with("dlq."));
        DeadLetter {
            source_topic: source_topic.to_string(),
            source_partition,
            source_offset,
            group: group.to_string(),
            stage: failure.stage.to_string(),
            error_class: failure.error_class.to_string(),
            error_message: failure.error_message.to_string(),
            attempts: attempts.count,
            first_failure_ms: attempts.first_failure_ms,
            last_failure_ms: attempts.last_failure_ms,
            redrive_count,
            record,
            contract: None,
        }
    }

    /// The DLQ record: the original plus provenance headers.
    pub(crate) fn to_record(&self) -> Record {
        let mut record = self.record.clone();
        record.retain_headers(|n| !n.starts_with("dlq."));
        let mut add = |name: &str, value: String| record.headers.push((name.to_string(), value.into_bytes()));
        add(header::SOURCE_TOPIC, self.source_topic.clone());
        add(header::SOURCE_PARTITION, self.source_partition.to_string());
        add(header::SOURCE_OFFSET, self.source_offset.to_string());
        add(header::GROUP, self.group.clone());
        add(header::STAGE, self.stage.clone());
        add(header::ERROR_CLASS, self.error_class.clone());
        add(header::ERROR_MESSAGE, self.error_message.chars().take(4096).collect());
        add(header::ATTEMPTS, self.attempts.to_string());
        add(header::FIRST_FAILURE_MS, self.first_failure_ms.to_string());
        add(header::LAST_FAILURE_MS, self.last_failure_ms.to_string());
        add(header::REDRIVE_COUNT, self.redrive_count.to_string());
        if let Some(contract) = &self.contract {
            contract.add_to(&mut record);
        }
        record
    }

    /// Parse a DLQ record back; `None` if provenance headers are missing.
    pub fn from_stored(stored: &StoredRecord) -> Option<DeadLetter> {
        let text = |name: &str| {
            stored
                .header(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_string)
        };
        let number = |name: &str| text(name).and_then(|v| v.parse::<i64>().ok());
        let mut record = stored.to_record();
        let contract = ContractFailure::take_from(&mut record);
        record.retain_headers(|n| !n.starts_with("dlq."));
        Some(DeadLetter {
            source_topic: text(header::SOURCE_TOPIC)?,
            source_partition: u32::try_from(number(header::SOURCE_PARTITION)?).ok()?,
            source_offset: text(header::SOURCE_OFFSET)?.parse().ok()?,
            group: text(header::GROUP).unwrap_or_default(),
            stage: text(header::STAGE).unwrap_or_default(),
            error_class: text(header::ERROR_CLASS).unwrap_or_default(),
            error_message: text(header::ERROR_MESSAGE).unwrap_or_default(),
            attempts: number(header::ATTEMPTS)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            first_failure_ms: number(header::FIRST_FAILURE_MS).unwrap_or(0),
            last_failure_ms: number(header::LAST_FAILURE_MS).unwrap_or(0),
            redrive_count: number(header::REDRIVE_COUNT)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            record,
            contract,
        })
    }
}

/// A DLQ record and its offset in the DLQ partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqEntry {
    /// Its offset in the DLQ partition.
    pub dlq_offset: u64,
    /// The dead letter with its provenance.
    pub letter: DeadLetter,
    /// Set once the record was redriven: it no longer counts in the depth,
    /// and no redrive appends it again.
    pub redriven: Option<RedriveMark>,
}

/// Filters for listing; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct DlqFilter {
    /// Error class or message contains this text.
    pub error_contains: Option<String>,
    /// Only records from this source partition.
    pub source_partition: Option<u32>,
    /// Last failure at or after (ms since epoch).
    pub since_ms: Option<i64>,
    /// Last failure before (ms since epoch).
    pub until_ms: Option<i64>,
    /// Start at this DLQ offset.
    pub from_offset: Option<u64>,
    /// At most this many entries.
    pub limit: Option<usize>,
}

/// For alerting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqStats {
    /// Records between the start and the end not yet redriven.
    pub depth: u64,
    /// First offset of the DLQ partition.
    pub start_offset: u64,
    /// Next offset of the DLQ partition.
    pub end_offset: u64,
    /// Age of the oldest record not yet redriven, by its last failure time.
    pub oldest_age_ms: Option<i64>,
}

/// `source_offset` of a record dead-lettered at stage `produce`: it never had one.
pub const NO_SOURCE_OFFSET: u64 = u64::MAX;

/// What `append_routed` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutedAppend {
    /// Where the valid records landed (one batch), if any.
    pub appended: Option<crate::log::partition::AppendInfo>,
    /// (index in the input, DLQ offset) of each record routed to the DLQ.
    pub dead_lettered: Vec<(usize, u64)>,
}

/// A durable failure count for one (group, topic, partition, offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    /// Failures counted so far.
    pub count: u32,
    /// Time of the first failure (ms since the Unix epoch).
    pub first_failure_ms: i64,
    /// Time of the last failure (ms since the Unix epoch).
    pub last_failure_ms: i64,
}

impl Attempts {
    /// One failure, now (a record dead-lettered without counted attempts).
    pub(crate) fn first_now() -> Attempts {
        let now = now_ms();
        Attempts {
            count: 1,
            first_failure_ms: now,
            last_failure_ms: now,
        }
    }
}

/// What `fail_record` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailOutcome {
    /// Below the attempt limit: deliver it again.
    Retry(Attempts),
    /// In the DLQ at this offset (written now, or by an earlier call for the
    /// same group and record). The group's committed offset was moved past
    /// the record only if the record was the group's next one (see
    /// [`Store::fail_record`](crate::Store::fail_record)); otherwise the caller's own commit moves past it.
    DeadLettered {
        /// Its offset in the DLQ partition.
        dlq_offset: u64,
        /// The failures counted.
        attempts: Attempts,
    },
}

type AttemptKey = (String, String, u32, u64);

/// Redrive marks of one source topic's DLQ, by DLQ offset.
type MarkMap = HashMap<String, BTreeMap<u64, RedriveMark>>;

/// What a DLQ holds, by (group, source partition, source offset): built
/// from the DLQ on first need and caught up from `indexed_upto` on each use.
#[derive(Debug, Default)]
struct DlqIndex {
    indexed_upto: u64,
    letters: HashMap<(String, u32, u64), u64>,
}

/// In-memory views of `__attempts` and `__redriven`, rebuilt on first use.
#[derive(Debug, Default)]
pub(crate) struct AttemptTable {
    /// Source topic → what its DLQ holds (`Store::dead_lettered_at`).
    dead_lettered: Mutex<HashMap<String, DlqIndex>>,
    loaded: Mutex<Option<HashMap<AttemptKey, Attempts>>>,
    /// Source topic → redrive marks of its DLQ.
    redriven: Mutex<Option<MarkMap>>,
    /// Held by a redrive that writes: two runs at once would both see a
    /// record unmarked and both append it. Also held while `__redriven` is
    /// rewritten (a mark committed meanwhile would be cut with the prefix).
    redrive_running: Mutex<()>,
    /// Read by `record_failure` from its count to its append, written while
    /// `__attempts` is rewritten (a count appended meanwhile would be cut
    /// with the prefix or superseded by an older one).
    attempts_writing: RwLock<()>,
    /// The producer routed appends commit as (`route.rs`), once registered.
    router: Mutex<Option<crate::producer::ProducerId>>,
    /// Held by a split idempotent batch from its admission to its claim
    /// (`route.rs`): a retry sent meanwhile waits, then is a duplicate.
    split: Mutex<()>,
}

impl Pipeline {
    /// List DLQ records of `topic` matching `filter`.
    pub fn dlq_list(&self, topic: &str, filter: &DlqFilter) -> Result<Vec<DlqEntry>> {
        crate::names::refuse_internal_topic(topic)?;
        self.topic(topic)?;
        let name = dlq_topic_name(topic);
        let Some(p) = self.internal_log(&name)? else {
            return Ok(Vec::new());
        };
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut offset = filter.from_offset.unwrap_or(0).max(p.start_offset());
        while offset < p.last_stable_offset() && out.len() < limit {
            let r = p.read(offset, ReadOptions::default(), Isolation::ReadCommitted)?;
            for rec in &r.records {
                let Some(letter) = DeadLetter::from_stored(rec) else {
                    continue;
                };
                let matches = filter.source_partition.is_none_or(|sp| sp == letter.source_partition)
                    && filter.since_ms.is_none_or(|t| letter.last_failure_ms >= t)
                    && filter.until_ms.is_none_or(|t| letter.last_failure_ms < t)
                    && filter
                        .error_contains
                        .as_deref()
                        .is_none_or(|e| letter.error_class.contains(e) || letter.error_message.contains(e));
                if matches && out.len() < limit {
                    out.push(DlqEntry {
                        dlq_offset: rec.offset,
                        letter,
                        redriven: self.redrive_mark(topic, rec.offset)?,
                    });
                }
            }
            if r.next_offset <= offset {
                break;
            }
            offset = r.next_offset;
        }
        Ok(out)
    }

    /// Depth and oldest age of a topic's DLQ.
    pub fn dlq_stats(&self, topic: &str) -> Result<DlqStats> {
        crate::names::refuse_internal_topic(topic)?;
        self.topic(topic)?;
        let Some(p) = self.internal_log(&dlq_topic_name(topic))? else {
            return Ok(DlqStats {
                depth: 0,
                start_offset: 0,
                end_offset: 0,
                oldest_age_ms: None,
            });
        };
        let (start, end) = (p.start_offset(), p.last_stable_offset());
        let redriven = self.redrive_marks(|m| m.get(topic).map_or(0, |marks| marks.range(start..end).count()))?;
        // The oldest record not redriven: skip the marked ones in memory, then
        // read; a marked record found after an unmarked non-letter is skipped too.
        let mut from = start;
        let mut oldest = None;
        while from < end && oldest.is_none() {
            from = self.redrive_marks(|m| {
                let mut at = from;
                if let Some(marks) = m.get(topic) {
                    while marks.contains_key(&at) {
                        at += 1;
                    }
                }
                at
            })?;
            let filter = DlqFilter {
                from_offset: Some(from),
                limit: Some(1),
                ..DlqFilter::default()
            };
            match self.dlq_list(topic, &filter)?.into_iter().next() {
                Some(e) if e.redriven.is_some() => from = e.dlq_offset + 1,
                Some(e) => oldest = Some(e),
                None => break,
            }
        }
        Ok(DlqStats {
            depth: (end - start).saturating_sub(redriven as u64),
            start_offset: start,
            end_offset: end,
            oldest_age_ms: oldest.map(|e| now_ms().saturating_sub(e.letter.last_failure_ms)),
        })
    }

    /// Remove DLQ records below `offset`.
    pub fn dlq_purge(&self, topic: &str, offset: u64) -> Result<u64> {
        crate::names::refuse_internal_topic(topic)?;
        self.topic(topic)?;
        let name = dlq_topic_name(topic);
        self.catalog().truncate_prefix(&name, 0, offset)
    }

    /// [`DeadLetterQueue::append_routed`] of `topic`: the topic's contract
    /// first (a `reject` refuses the request), then, with
    /// `route_invalid_to_dlq`, its limits; every record for the DLQ is
    /// written in one transaction with the valid ones (`route.rs`).
    pub fn append_routed(&self, topic: &str, partition: u32, records: &[Record]) -> Result<RoutedAppend> {
        crate::names::refuse_internal_topic(topic)?;
        let p = self.partition(topic, partition)?;
        let mut routing = route::judge_request(self.checks(), topic, partition, records, "produce")?;
        if p.config().route_invalid_to_dlq {
            let limit = p.config().record_bytes_max as usize;
            let once = Attempts::first_now();
            for (i, record) in records.iter().enumerate() {
                if routing.letters.iter().any(|(routed, _)| *routed == i) {
                    continue;
                }
                if let Err(detail) = crate::log::batch::validate_topic_record(record, limit, topic) {
                    let failure = Failure::new("produce", "InvalidRecord", &detail);
                    let source = (topic, partition, NO_SOURCE_OFFSET);
                    let letter = DeadLetter::new(source, "", &failure, once, 0, record.clone());
                    routing.letters.push((i, letter.to_record()));
                }
            }
            routing.letters.sort_by_key(|(i, _)| *i);
        }
        if routing.letters.is_empty() {
            let info = p.append(records, None, 0)?;
            routing.observe(partition, info.base_offset, records);
            return Ok(RoutedAppend {
                appended: Some(info),
                dead_lettered: Vec::new(),
            });
        }
        self.commit_routed(topic, partition, records, &routing)
    }

    /// Remove nothing; read the DLQ record at `offset` (inspect).
    pub fn dlq_get(&self, topic: &str, offset: u64) -> Result<Option<DlqEntry>> {
        let list = self.dlq_list(
            topic,
            &DlqFilter {
                from_offset: Some(offset),
                limit: Some(1),
                ..DlqFilter::default()
            },
        )?;
        Ok(list.into_iter().find(|e| e.dlq_offset == offset))
    }
}
