//! The dead-letter partition. Every topic `t` has a built-in DLQ: the internal
//! topic `__dlq.t` (one partition, `Always`), created on first use. A record
//! that cannot be processed is moved there with its original key, value,
//! headers and timestamp plus provenance headers, in the same transaction that
//! commits the consumer's offset past it. A redriven record is marked in the
//! internal topic `__redriven` in the same transaction that re-appends it, so
//! no run redrives it twice whatever its start offset, and it leaves the
//! depth. Lifecycle: design/semantics.md, "DLQ".

use crate::batch::{Record, StoredRecord};
use crate::config::{Durability, TopicConfig};
use crate::error::{Error, Result};
use crate::codec::{Decoder, Encoder};
use crate::clock::now_ms;
use crate::partition::{Isolation, ReadOptions};
use crate::store::Store;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Prefix of every DLQ topic: `__dlq.<source topic>`.
pub const DLQ_PREFIX: &str = "__dlq.";
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

pub(crate) fn ensure_dlq_topic(store: &Store, source_topic: &str) -> Result<String> {
    let name = dlq_topic_name(source_topic);
    ensure_internal_topic(store, &name)?;
    Ok(name)
}

pub(crate) fn ensure_internal_topic(store: &Store, name: &str) -> Result<()> {
    if store.partition(name, 0).is_ok() {
        return Ok(());
    }
    let config = TopicConfig {
        durability: Some(Durability::Always),
        // A DLQ takes records its source topic refused for size.
        record_bytes_max: crate::batch::BATCH_BYTES_MAX / 2,
        ..TopicConfig::default()
    };
    match store.create_topic_inner(name, config, true) {
        Ok(()) | Err(Error::TopicExists(_)) => Ok(()),
        Err(e) => Err(e),
    }
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
/// holds, as listed by [`Store::dlq_list`]. Dead letters are written only
/// from the consumed record they came from ([`Store::fail_record`],
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
        DeadLetter::new(source, group, failure, attempts, redrive_count, consumed.record.to_record())
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
        record.headers.retain(|(n, _)| !n.starts_with("dlq."));
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
        }
    }

    /// The DLQ record: the original plus provenance headers.
    pub(crate) fn to_record(&self) -> Record {
        let mut record = self.record.clone();
        record.headers.retain(|(n, _)| !n.starts_with("dlq."));
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
        record.headers.retain(|(n, _)| !n.starts_with("dlq."));
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

/// Where and when a DLQ record was redriven. Written to `__redriven` in the
/// redrive's transaction (with the re-appended record and the progress), so
/// it is durable exactly when the redriven copy is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveMark {
    /// Topic it was appended to.
    pub topic: String,
    /// Partition it was appended to.
    pub partition: u32,
    /// When (ms since the Unix epoch).
    pub redriven_at_ms: i64,
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

#[derive(Debug, Clone)]
/// How [`Store::dlq_redrive`](crate::Store::dlq_redrive) runs.
pub struct RedriveOptions {
    /// Re-append to this topic instead of each record's source topic.
    pub target_topic: Option<String>,
    /// Plan only: report what would be redriven, append nothing.
    pub dry_run: bool,
    /// At most this many records per second.
    pub rate_per_second: Option<u32>,
    /// Stop after this many records (resume later from where it stopped).
    pub max_records: Option<u64>,
    /// A record already redriven this many times stays in the DLQ.
    pub redrive_cap: u32,
    /// Records per transaction.
    pub batch_records: usize,
    /// Start at this DLQ offset (clamped up to the DLQ's start) instead of
    /// the durable progress of earlier runs: `Some(0)` goes over the whole
    /// DLQ again, e.g. after raising the cap. Records already redriven are
    /// skipped by their marks, so no start offset redrives one twice.
    pub from_offset: Option<u64>,
}

impl Default for RedriveOptions {
    fn default() -> Self {
        RedriveOptions {
            target_topic: None,
            dry_run: false,
            rate_per_second: None,
            max_records: None,
            redrive_cap: 3,
            batch_records: 100,
            from_offset: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
/// What a redrive did (or would do, on a dry run).
pub struct RedriveReport {
    /// DLQ offset the run started from (the durable progress of earlier runs,
    /// or `RedriveOptions::from_offset`).
    pub resumed_from: u64,
    /// DLQ offset to resume from next time.
    pub next_offset: u64,
    /// (dlq offset, target topic, target partition) redriven (or planned on dry run).
    pub redriven: Vec<(u64, String, u32)>,
    /// DLQ offsets left in place because they hit the redrive cap.
    pub capped: Vec<u64>,
}

/// `source_offset` of a record dead-lettered at stage `produce`: it never had one.
pub const NO_SOURCE_OFFSET: u64 = u64::MAX;

/// What `append_routed` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutedAppend {
    /// Where the valid records landed (one batch), if any.
    pub appended: Option<crate::partition::AppendInfo>,
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
    /// [`Store::fail_record`]); otherwise the caller's own commit moves past it.
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
}

const MARK_VERSION: u8 = 1;

fn encode_mark(source_topic: &str, dlq_offset: u64, mark: &RedriveMark) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u8(MARK_VERSION).short_str(source_topic).u64(dlq_offset);
    e.short_str(&mark.topic).u32(mark.partition).i64(mark.redriven_at_ms);
    e.seal_with_crc()
}

fn decode_mark(bytes: &[u8]) -> Option<(String, u64, RedriveMark)> {
    let mut d = Decoder::with_crc(bytes)?;
    if d.u8()? != MARK_VERSION {
        return None;
    }
    let (source_topic, dlq_offset) = (d.short_str()?, d.u64()?);
    let mark = RedriveMark {
        topic: d.short_str()?,
        partition: d.u32()?,
        redriven_at_ms: d.i64()?,
    };
    d.is_empty().then_some((source_topic, dlq_offset, mark))
}

fn encode_attempt(key: &AttemptKey, attempts: &Attempts) -> Vec<u8> {
    let mut e = Encoder::new();
    e.short_str(&key.0).short_str(&key.1).u32(key.2).u64(key.3);
    e.u32(attempts.count)
        .i64(attempts.first_failure_ms)
        .i64(attempts.last_failure_ms);
    e.seal_with_crc()
}

fn decode_attempt(bytes: &[u8]) -> Option<(AttemptKey, Attempts)> {
    let mut d = Decoder::with_crc(bytes)?;
    let key = (d.short_str()?, d.short_str()?, d.u32()?, d.u64()?);
    let attempts = Attempts {
        count: d.u32()?,
        first_failure_ms: d.i64()?,
        last_failure_ms: d.i64()?,
    };
    d.is_empty().then_some((key, attempts))
}

impl Store {
    fn attempts_map<T>(&self, f: impl FnOnce(&mut HashMap<AttemptKey, Attempts>) -> T) -> Result<T> {
        let table = self.attempt_table();
        let mut loaded = table.loaded.lock();
        if loaded.is_none() {
            let mut map = HashMap::new();
            if let Some(p) = self.internal_log(ATTEMPTS_TOPIC)? {
                let mut offset = p.start_offset();
                while offset < p.high_watermark() {
                    let r = p.read(offset, ReadOptions::default(), Isolation::ReadUncommitted)?;
                    for rec in &r.records {
                        let (key, attempts) = decode_attempt(&rec.value).ok_or_else(|| {
                            Error::corruption(&p.dir, rec.offset, crate::error::CorruptionKind::BadRecord)
                        })?;
                        map.insert(key, attempts);
                    }
                    if r.next_offset <= offset {
                        break;
                    }
                    offset = r.next_offset;
                }
            }
            *loaded = Some(map);
        }
        Ok(f(loaded.get_or_insert_with(HashMap::new)))
    }

    /// `f` of the redrive marks, loaded from `__redriven` on first use.
    fn redrive_marks<T>(&self, f: impl FnOnce(&mut MarkMap) -> T) -> Result<T> {
        let table = self.attempt_table();
        let mut loaded = table.redriven.lock();
        if loaded.is_none() {
            let mut map = MarkMap::new();
            if let Ok(p) = self.partition(REDRIVEN_TOPIC, 0) {
                let mut offset = p.start_offset();
                // Marks are written only by committed transactions (their
                // commit point is passed before any part is written).
                while offset < p.high_watermark() {
                    let r = p.read(offset, ReadOptions::default(), Isolation::ReadUncommitted)?;
                    for rec in &r.records {
                        let (source_topic, dlq_offset, mark) = decode_mark(&rec.value).ok_or_else(|| {
                            Error::corruption(&p.dir, rec.offset, crate::error::CorruptionKind::BadRecord)
                        })?;
                        map.entry(source_topic).or_default().insert(dlq_offset, mark);
                    }
                    if r.next_offset <= offset {
                        break;
                    }
                    offset = r.next_offset;
                }
            }
            *loaded = Some(map);
        }
        Ok(f(loaded.get_or_insert_with(MarkMap::new)))
    }

    /// The mark of DLQ record `dlq_offset` of `topic`, if it was redriven.
    fn redrive_mark(&self, topic: &str, dlq_offset: u64) -> Result<Option<RedriveMark>> {
        self.redrive_marks(|m| m.get(topic).and_then(|marks| marks.get(&dlq_offset)).cloned())
    }

    /// Durably forget the DLQ bookkeeping of a deleted topic: the redrive
    /// marks of its DLQ (`__redriven`), its records' failure counts
    /// (`__attempts`) and the in-memory index of its DLQ. Marks and counts
    /// are keyed by topic name and offset, and a topic created again under
    /// the name restarts its DLQ and its offsets at 0: an old mark would hide
    /// a new dead letter from the depth and from redrive, an old count would
    /// dead-letter a record early. Called once the DLQ itself is gone (never
    /// before: a mark dropped while its DLQ record exists would let it be
    /// redriven twice) by `delete_topic`, and again by `create_topic` before
    /// the new topic exists, so that a delete interrupted before this step
    /// is finished first. Each log is rewritten with the entries it keeps,
    /// then its prefix dropped (`rewrite_internal_log`): a crash in between
    /// keeps every entry (the forgotten ones too, until the next call).
    pub(crate) fn forget_dlq_bookkeeping(&self, topic: &str) -> Result<()> {
        let table = self.attempt_table();
        table.dead_lettered.lock().remove(topic);
        {
            let _running = table.redrive_running.lock();
            let kept = self.redrive_marks(|m| {
                m.contains_key(topic).then(|| {
                    m.iter()
                        .filter(|(source, _)| source.as_str() != topic)
                        .flat_map(|(source, marks)| {
                            marks
                                .iter()
                                .map(|(offset, mark)| Record::new(encode_mark(source, *offset, mark)))
                        })
                        .collect::<Vec<Record>>()
                })
            })?;
            if let Some(kept) = kept {
                self.rewrite_internal_log(REDRIVEN_TOPIC, &kept)?;
                let forgotten = self.redrive_marks(|m| m.remove(topic).map_or(0, |marks| marks.len()))?;
                tracing::info!(topic, forgotten, "forgot the redrive marks of a deleted topic's DLQ");
            }
        }
        let _writing = table.attempts_writing.write();
        let kept = self.attempts_map(|m| {
            m.keys().any(|key| key.1 == topic).then(|| {
                m.iter()
                    .filter(|(key, _)| key.1 != topic)
                    .map(|(key, attempts)| Record::new(encode_attempt(key, attempts)))
                    .collect::<Vec<Record>>()
            })
        })?;
        if let Some(kept) = kept {
            self.rewrite_internal_log(ATTEMPTS_TOPIC, &kept)?;
            let forgotten = self.attempts_map(|m| {
                let before = m.len();
                m.retain(|key, _| key.1 != topic);
                before - m.len()
            })?;
            tracing::info!(topic, forgotten, "forgot the failure counts of a deleted topic");
        }
        Ok(())
    }

    /// Replace what internal log `topic` holds by `records`: append them
    /// after a roll, then move the start past everything before them. A
    /// crash before the start moves keeps the old entries in front of the
    /// new ones (a reader applies both, later wins); the caller keeps writers
    /// of the log out meanwhile.
    fn rewrite_internal_log(&self, topic: &str, records: &[Record]) -> Result<()> {
        let p = self.partition(topic, 0)?;
        let end = p.high_watermark();
        // Seal the segment holding the old entries so that moving the start
        // past them deletes them from disk, not only from view.
        p.roll_now()?;
        for chunk in records.chunks(1000) {
            p.append(chunk, None, 0)?;
        }
        p.truncate_prefix(end)?;
        Ok(())
    }

    /// Durably count one failed attempt at processing a record.
    pub fn record_failure(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<Attempts> {
        crate::offset_table::check_client_commit(group, topic)?;
        self.partition(topic, partition)?;
        ensure_internal_topic(self, ATTEMPTS_TOPIC)?;
        let _writing = self.attempt_table().attempts_writing.read();
        let key: AttemptKey = (group.to_string(), topic.to_string(), partition, offset);
        let now = now_ms();
        let attempts = self.attempts_map(|m| {
            m.get(&key).map_or(
                Attempts {
                    count: 1,
                    first_failure_ms: now,
                    last_failure_ms: now,
                },
                |a| Attempts {
                    count: a.count + 1,
                    first_failure_ms: a.first_failure_ms,
                    last_failure_ms: now,
                },
            )
        })?;
        self.partition(ATTEMPTS_TOPIC, 0)?
            .append(&[Record::new(encode_attempt(&key, &attempts))], None, 0)?;
        self.attempts_map(|m| m.insert(key, attempts))?;
        Ok(attempts)
    }

    /// Failures counted so far for a record.
    pub fn attempts(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<Option<Attempts>> {
        let key: AttemptKey = (group.to_string(), topic.to_string(), partition, offset);
        self.attempts_map(|m| m.get(&key).copied())
    }

    /// The DLQ offset of `group`'s dead letter of `topic`/`partition` at
    /// `offset`, if the group dead-lettered that record (and it was not
    /// purged). Only a record with counted failures can have one: others
    /// are answered without reading the DLQ. The index of a DLQ (one entry
    /// per record) is built on first need and kept up to date from there.
    pub(crate) fn dead_lettered_at(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<Option<u64>> {
        if self.attempts(group, topic, partition, offset)?.is_none() {
            return Ok(None);
        }
        let Some(p) = self.internal_log(&dlq_topic_name(topic))? else {
            return Ok(None);
        };
        let mut indexes = self.attempt_table().dead_lettered.lock();
        let index = indexes.entry(topic.to_string()).or_default();
        let mut from = index.indexed_upto.max(p.start_offset());
        let end = p.last_stable_offset();
        while from < end {
            let r = p.read(from, ReadOptions::default(), Isolation::ReadCommitted)?;
            for rec in &r.records {
                if let Some(letter) = DeadLetter::from_stored(rec) {
                    if letter.source_offset != NO_SOURCE_OFFSET {
                        index
                            .letters
                            .entry((letter.group, letter.source_partition, letter.source_offset))
                            .or_insert(rec.offset);
                    }
                }
            }
            if r.next_offset <= from {
                break;
            }
            from = r.next_offset;
        }
        index.indexed_upto = from;
        let start = p.start_offset();
        Ok(index
            .letters
            .get(&(group.to_string(), partition, offset))
            .copied()
            .filter(|dlq_offset| *dlq_offset >= start))
    }

    /// Mark `record` (read from `topic`/`partition` by `group`) failed:
    /// count the attempt durably, and at `max_attempts` failures move it to
    /// the DLQ in one transaction.
    ///
    /// The group's committed offset moves past the record in that
    /// transaction only if the record is the group's next one (the
    /// committed offset is the record's offset, or nothing is committed and
    /// the record is the first in the partition): then no earlier record the
    /// caller polled with it can still be unfinished. Otherwise the offset
    /// stays where it is, and the caller's own commit moves past the record
    /// once everything before it is done. A record the group already
    /// dead-lettered (redelivered because that commit did not happen) is not
    /// dead-lettered again: the answer names the DLQ record it has. Inside
    /// a transaction, use [`crate::txn::Transaction::fail_record`].
    #[allow(clippy::too_many_arguments)]
    pub fn fail_record(
        &self,
        producer: crate::ProducerId,
        group: &str,
        topic: &str,
        partition: u32,
        record: &StoredRecord,
        stage: &str,
        error_class: &str,
        error_message: &str,
        max_attempts: u32,
    ) -> Result<FailOutcome> {
        if max_attempts == 0 {
            return Err(Error::invalid("max_attempts", "must be at least 1"));
        }
        crate::offset_table::check_client_commit(group, topic)?;
        if let Some(dlq_offset) = self.dead_lettered_at(group, topic, partition, record.offset)? {
            let attempts = self
                .attempts(group, topic, partition, record.offset)?
                .unwrap_or_else(Attempts::first_now);
            return Ok(FailOutcome::DeadLettered { dlq_offset, attempts });
        }
        let attempts = self.record_failure(group, topic, partition, record.offset)?;
        if attempts.count < max_attempts {
            return Ok(FailOutcome::Retry(attempts));
        }
        let consumed = crate::ConsumedRecord {
            topic: topic.to_string(),
            partition,
            record: record.clone(),
        };
        let mut txn = self.begin_transaction(producer)?;
        txn.stage_dead_letter(
            group,
            &consumed,
            &Failure::new(stage, error_class, error_message),
            attempts,
        )?;
        let next_record = match self.committed_offset(group, topic, partition)? {
            Some(committed) => committed == record.offset,
            None => record.offset <= self.offsets(topic, partition)?.0,
        };
        if next_record {
            // Past the record, never back: a commit made since is kept.
            txn.advance_offset(group, topic, partition, record.offset + 1)?;
        }
        let info = txn.commit()?;
        let dlq = dlq_topic_name(topic);
        let dlq_offset = info.parts.iter().find(|p| p.topic == dlq).map_or(0, |p| p.base_offset);
        Ok(FailOutcome::DeadLettered { dlq_offset, attempts })
    }

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
        self.truncate_prefix_internal(&name, 0, offset)
    }

    /// Re-append DLQ records to their source topic (or `target_topic`).
    /// Exactly once: each re-appended record's mark (`__redriven`) and the
    /// progress (the committed offset of the group `__redrive.<target>` on
    /// the DLQ) are written in the same transaction as the records, and a
    /// marked record is never appended again, so a second run, a resumed one
    /// or one started lower with `from_offset` never appends a record twice.
    pub fn dlq_redrive(&self, topic: &str, options: &RedriveOptions) -> Result<RedriveReport> {
        crate::names::refuse_internal_topic(topic)?;
        self.topic(topic)?;
        if options.batch_records == 0 {
            return Err(Error::invalid("batch_records", "must be at least 1"));
        }
        if let Some(target) = &options.target_topic {
            // Records are redriven into user topics only (each record's
            // target is also checked by the transaction's `append`).
            crate::names::refuse_internal_topic(target)?;
            self.topic(target)?;
        }
        let dlq = dlq_topic_name(topic);
        let group = format!(
            "{}{}",
            crate::names::REDRIVE_PREFIX,
            options.target_topic.as_deref().unwrap_or(topic)
        );
        let Some(p) = self.internal_log(&dlq)? else {
            return Ok(RedriveReport::default());
        };
        let start = match options.from_offset {
            Some(from) => from,
            None => self.committed_offset(&group, &dlq, 0)?.unwrap_or(0),
        }
        .max(p.start_offset());
        let mut report = RedriveReport {
            resumed_from: start,
            next_offset: start,
            ..RedriveReport::default()
        };
        let _running = (!options.dry_run).then(|| self.attempt_table().redrive_running.lock());
        let producer = if options.dry_run {
            None
        } else {
            ensure_internal_topic(self, REDRIVEN_TOPIC)?;
            let session = self.init_producer_internal(&group)?;
            Some(session.id())
        };
        let started = Instant::now();
        let mut done: u64 = 0;
        let mut offset = start;
        let end = p.last_stable_offset();
        while offset < end && options.max_records.is_none_or(|m| done < m) {
            let want = options
                .batch_records
                .min(options.max_records.map_or(usize::MAX, |m| (m - done) as usize));
            let r = p.read(
                offset,
                ReadOptions {
                    max_bytes: 4 * 1024 * 1024,
                    max_records: want,
                },
                Isolation::ReadCommitted,
            )?;
            if r.records.is_empty() {
                break;
            }
            let mut txn = match producer {
                Some(producer) => Some(self.begin_transaction(producer)?),
                None => None,
            };
            let mut next = offset;
            let mut marks = Vec::new();
            for rec in &r.records {
                next = rec.offset + 1;
                if self.redrive_mark(topic, rec.offset)?.is_some() {
                    continue;
                }
                done += 1;
                let Some(letter) = DeadLetter::from_stored(rec) else {
                    report.capped.push(rec.offset);
                    continue;
                };
                if letter.redrive_count >= options.redrive_cap {
                    report.capped.push(rec.offset);
                    continue;
                }
                let target = options
                    .target_topic
                    .clone()
                    .unwrap_or_else(|| letter.source_topic.clone());
                let partitions = self.partition_count(&target)?;
                let target_partition = letter.source_partition % partitions.max(1);
                let mut record = letter.record.clone();
                record.headers.push((
                    header::REDRIVE_COUNT.to_string(),
                    (letter.redrive_count + 1).to_string().into_bytes(),
                ));
                if let Some(txn) = txn.as_mut() {
                    let mark = RedriveMark {
                        topic: target.clone(),
                        partition: target_partition,
                        redriven_at_ms: now_ms(),
                    };
                    txn.append(&target, target_partition, &[record])?;
                    txn.append_internal(REDRIVEN_TOPIC, 0, &[Record::new(encode_mark(topic, rec.offset, &mark))])?;
                    marks.push((rec.offset, mark));
                }
                report.redriven.push((rec.offset, target, target_partition));
            }
            if let Some(mut txn) = txn {
                txn.commit_offset_internal(&group, &dlq, 0, next)?;
                txn.commit()?;
                self.redrive_marks(|m| m.entry(topic.to_string()).or_default().extend(marks))?;
            }
            offset = next;
            report.next_offset = next;
            if let Some(rate) = options.rate_per_second.filter(|r| *r > 0) {
                let due = Duration::from_secs_f64(done as f64 / f64::from(rate));
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        Ok(report)
    }

    /// Append with the topic's routing rule: when `route_invalid_to_dlq` is set,
    /// records refused by validation go to the DLQ (stage `produce`, error
    /// class `InvalidRecord`) and the rest are appended as one batch; otherwise
    /// this is `append`. The DLQ records are durable before the valid batch is
    /// written, so a crash between the two can leave them in the DLQ without
    /// the batch (a producer retry then dead-letters them again).
    pub fn append_routed(&self, topic: &str, partition: u32, records: &[Record]) -> Result<RoutedAppend> {
        crate::names::refuse_internal_topic(topic)?;
        let p = self.partition(topic, partition)?;
        if !p.config().route_invalid_to_dlq {
            return Ok(RoutedAppend {
                appended: Some(self.append(topic, partition, records)?),
                dead_lettered: Vec::new(),
            });
        }
        let limit = p.config().record_bytes_max as usize;
        let mut valid = Vec::with_capacity(records.len());
        let mut letters = Vec::new();
        let once = Attempts::first_now();
        for (i, record) in records.iter().enumerate() {
            match crate::batch::validate_record(record, limit) {
                Ok(()) => valid.push(record.clone()),
                Err(detail) => {
                    let failure = Failure::new("produce", "InvalidRecord", &detail);
                    let source = (topic, partition, NO_SOURCE_OFFSET);
                    let letter = DeadLetter::new(source, "", &failure, once, 0, record.clone());
                    letters.push((i, letter.to_record()));
                }
            }
        }
        let mut routed = RoutedAppend::default();
        if !letters.is_empty() {
            let dlq = ensure_dlq_topic(self, topic)?;
            let dlq_records: Vec<Record> = letters.iter().map(|(_, r)| r.clone()).collect();
            let info = self.partition(&dlq, 0)?.append(&dlq_records, None, 0)?;
            routed.dead_lettered = letters
                .iter()
                .zip(info.base_offset..)
                .map(|((i, _), offset)| (*i, offset))
                .collect();
        }
        if !valid.is_empty() {
            routed.appended = Some(self.append(topic, partition, &valid)?);
        }
        Ok(routed)
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
