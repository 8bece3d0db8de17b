// Over 600 lines: the seam's types (a record's view, verdicts, what a check keeps), the checks in force and their adherence counters share the tally; tests at the end.
//! The seam between the append paths and the checks of a topic's contract.
//!
//! A [`RecordCheck`] judges one record at a time, before it is appended; the
//! append path decides what each [`Action`] means (refuse the request's
//! record, dead-letter it atomically with the valid ones, or count it).
//! [`RecordCheck::observe`] is told of records once they are appended, for
//! rules that are measured over a window and never refuse (uniqueness,
//! completeness, freshness).

use crate::error::Error;
use crate::sync::{AtomicU64, Mutex, Ordering, RwLock};
use crate::{AppendRecord, Record};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What the append path does with a record that breaks a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Count it; append the record.
    Warn,
    /// Append it to the topic's DLQ (atomically with the request's valid records), not to the topic.
    Dlq,
    /// Refuse the record: the producer gets an invalid-record error naming the rule.
    Reject,
}

impl Action {
    /// The name a contract file and the metrics use: `warn`, `dlq`, `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Warn => "warn",
            Action::Dlq => "dlq",
            Action::Reject => "reject",
        }
    }
}

/// One broken rule of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule's name, stable for metrics and the DLQ's provenance (e.g.
    /// `schema`, `schema.id`, `amount.maximum`).
    pub rule: String,
    /// Where: a JSON pointer into the value (`/amount`), `""` for the whole
    /// value, or `key` / `key/...` for the key.
    pub path: String,
    /// What is wrong, for a human (bounded by the check: at most 1 KiB).
    pub message: String,
    /// What the contract says to do about it.
    pub action: Action,
}

/// The verdict on one record: every violation found (none: the record is valid).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The version of the contract that judged.
    pub contract_version: u32,
    /// The broken rules, in the contract's order.
    pub violations: Vec<Violation>,
}

impl Verdict {
    /// The strongest action among the violations (`Reject` > `Dlq` > `Warn`); `None` when valid.
    pub fn action(&self) -> Option<Action> {
        self.violations.iter().map(|v| v.action).max()
    }

    /// The first violation with the verdict's action: the one an error or a DLQ record names.
    pub fn decisive(&self) -> Option<&Violation> {
        let action = self.action()?;
        self.violations.iter().find(|v| v.action == action)
    }
}

/// A record as a check reads it: its key and value, borrowed from an owned
/// [`Record`] or from where a protocol front holds them (the Kafka front's
/// request: its records are judged there, not copied first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The key, if any.
    pub key: Option<&'a [u8]>,
    /// The value; `None` when it is null (a Kafka tombstone).
    pub value: Option<&'a [u8]>,
}

impl<'a> RecordView<'a> {
    /// The key and value of `record`.
    pub fn of<R: AppendRecord>(record: &'a R) -> Self {
        RecordView {
            key: record.key(),
            value: record.value(),
        }
    }

    /// An owned record with this key and value (what [`RecordCheck::check`] takes).
    pub fn to_record(self) -> Record {
        let mut record = match self.value {
            Some(value) => Record::new(value),
            None => Record::tombstone(),
        };
        record.key = self.key.map(<[u8]>::to_vec);
        record
    }
}

/// What a check kept of a request's records for
/// [`RecordCheck::observe_views`] (the fields its windowed rules read, from
/// the check's own read of each record), so that observing the records
/// once appended need not read them again. Opaque to the append paths.
pub struct Kept(Box<dyn std::any::Any + Send + Sync>);

impl Kept {
    /// Keep `what`.
    pub fn new<T: std::any::Any + Send + Sync>(what: T) -> Kept {
        Kept(Box::new(what))
    }

    /// What was kept, if it is a `T`.
    pub fn get<T: std::any::Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kept")
    }
}

/// A topic's compiled contract, as the append paths see it.
///
/// Implementations must be bounded in time and memory for any record (the
/// bytes come from producers) and never panic.
pub trait RecordCheck: Send + Sync + std::fmt::Debug {
    /// Judge `record`, about to be appended to `partition` of the topic.
    fn check(&self, partition: u32, record: &Record) -> Verdict;

    /// Judge each of `records` (one request, about to be appended to
    /// `partition`) in order, handing each verdict to `verdict` with the
    /// record's index as soon as it is known (the caller times each check
    /// from the previous call). The same verdicts as [`RecordCheck::check`]
    /// per record; an implementation may share work between the records of
    /// a request (what it looked up for one, it need not look up again).
    fn check_each(&self, partition: u32, records: &[Record], verdict: &mut dyn FnMut(usize, Verdict)) {
        for (index, record) in records.iter().enumerate() {
            verdict(index, self.check(partition, record));
        }
    }

    /// [`RecordCheck::check_each`] of records as the append paths hold
    /// them (owned, or borrowed from a request). The same verdicts; by
    /// default each record is copied into an owned one and judged by
    /// [`RecordCheck::check`]. May answer what it kept of the records for
    /// [`RecordCheck::observe_views`] (by default nothing).
    fn check_views(
        &self,
        partition: u32,
        records: &[RecordView<'_>],
        verdict: &mut dyn FnMut(usize, Verdict),
    ) -> Option<Kept> {
        for (index, record) in records.iter().enumerate() {
            verdict(index, self.check(partition, &record.to_record()));
        }
        None
    }

    /// `records` were appended to `partition` at `base_offset..` (after the
    /// check; dead-lettered and refused records are not among them). For
    /// windowed measures; never refuses anything.
    fn observe(&self, partition: u32, base_offset: u64, records: &[Record]) {
        let _ = (partition, base_offset, records);
    }

    /// [`RecordCheck::observe`] of records as the append paths hold them;
    /// `kept`: what [`RecordCheck::check_views`] kept of exactly these
    /// records (the request's, all appended), `None` otherwise. By default
    /// copied into owned records for [`RecordCheck::observe`].
    fn observe_views(&self, partition: u32, base_offset: u64, records: &[RecordView<'_>], kept: Option<&Kept>) {
        let _ = kept;
        let owned: Vec<Record> = records.iter().map(|r| r.to_record()).collect();
        self.observe(partition, base_offset, &owned);
    }
}

/// The checks in force, per topic: one read lock and one map lookup per
/// append, none installed for most topics.
#[derive(Debug, Default)]
pub struct Checks {
    by_topic: RwLock<HashMap<String, Arc<dyn RecordCheck>>>,
    /// Adherence counters per topic, kept when a check is removed (a
    /// counter never goes back: Prometheus `rate` needs that).
    adherence: RwLock<HashMap<String, Arc<Adherence>>>,
}

impl Checks {
    /// Install (`Some`) or remove (`None`) the check of `topic`.
    pub fn set(&self, topic: &str, check: Option<Arc<dyn RecordCheck>>) {
        let mut map = self.by_topic.write();
        match check {
            Some(c) => {
                map.insert(topic.to_string(), c);
            }
            None => {
                map.remove(topic);
            }
        }
    }

    /// The check of `topic`, if one is installed.
    pub fn get(&self, topic: &str) -> Option<Arc<dyn RecordCheck>> {
        self.by_topic.read().get(topic).cloned()
    }

    /// The check of `topic` with its adherence counters, for an append path:
    /// [`Judge::check`] judges a record and counts the verdict. `None` (one
    /// map lookup) when no check is installed.
    pub fn judge(&self, topic: &str) -> Option<Judge> {
        let check = self.get(topic)?;
        Some(Judge {
            check,
            adherence: self.adherence_of(topic),
        })
    }

    /// The counters of `topic`, created on first use.
    fn adherence_of(&self, topic: &str) -> Arc<Adherence> {
        if let Some(a) = self.adherence.read().get(topic) {
            return a.clone();
        }
        self.adherence.write().entry(topic.to_string()).or_default().clone()
    }

    /// What the append paths counted for `topic` since the store opened
    /// (`None`: no record of it was ever checked).
    pub fn adherence(&self, topic: &str) -> Option<AdherenceSnapshot> {
        self.adherence.read().get(topic).map(|a| a.snapshot())
    }

    /// [`Checks::adherence`] of every topic ever checked, by topic name.
    pub fn adherence_all(&self) -> Vec<(String, AdherenceSnapshot)> {
        let mut all: Vec<(String, AdherenceSnapshot)> = self
            .adherence
            .read()
            .iter()
            .map(|(topic, a)| (topic.clone(), a.snapshot()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Forget the counters of `topic` (the topic was deleted).
    pub fn forget_adherence(&self, topic: &str) {
        self.adherence.write().remove(topic);
    }
}

/// A topic's check and its counters, as an append path holds them for one
/// request ([`Checks::judge`]).
#[derive(Debug, Clone)]
pub struct Judge {
    check: Arc<dyn RecordCheck>,
    adherence: Arc<Adherence>,
}

impl Judge {
    /// Judge `record` (about to be appended to `partition`), timing the
    /// check and counting its verdict.
    pub fn check(&self, partition: u32, record: &Record) -> Verdict {
        let mut tally = Tally::default();
        let verdict = self.check_into(partition, record, &mut tally);
        self.count(&tally);
        verdict
    }

    /// Judge `record`, timing the check, and add its verdict to `tally`
    /// instead of the counters: for a request that may turn out to be a
    /// retry already counted ([`Judge::count`] once it is not).
    pub(crate) fn check_into(&self, partition: u32, record: &Record, tally: &mut Tally) -> Verdict {
        let started = std::time::Instant::now();
        let verdict = self.check.check(partition, record);
        tally.add(&verdict);
        tally.took(started.elapsed(), 1);
        verdict
    }

    /// Judge each of `records` ([`RecordCheck::check_views`]), adding each
    /// verdict to `tally` (as [`Judge::check_into`]) and handing it to
    /// `verdict` with its index. The request is timed once (two clock
    /// reads, not one per record): each of its records is counted in the
    /// latency histogram at the request's mean per record. Answers what
    /// the check kept for [`Judge::observe_views`].
    pub(crate) fn check_each_into(
        &self,
        partition: u32,
        records: &[RecordView<'_>],
        tally: &mut Tally,
        verdict: &mut dyn FnMut(usize, Verdict),
    ) -> Option<Kept> {
        let started = std::time::Instant::now();
        let kept = self.check.check_views(partition, records, &mut |index, judged| {
            tally.add(&judged);
            verdict(index, judged);
        });
        tally.took(started.elapsed(), records.len());
        kept
    }

    /// Add `tally` to the topic's counters.
    pub(crate) fn count(&self, tally: &Tally) {
        self.adherence.add(tally);
    }

    /// Tell the check of records appended ([`RecordCheck::observe`]).
    pub fn observe(&self, partition: u32, base_offset: u64, records: &[Record]) {
        self.check.observe(partition, base_offset, records);
    }

    /// Tell the check of records appended, as views ([`RecordCheck::observe_views`]).
    pub(crate) fn observe_views(
        &self,
        partition: u32,
        base_offset: u64,
        records: &[RecordView<'_>],
        kept: Option<&Kept>,
    ) {
        self.check.observe_views(partition, base_offset, records, kept);
    }
}

/// Upper bounds (seconds) of the validation latency histogram's buckets
/// (the last is `+Inf`).
pub const VALIDATION_BUCKETS_SECONDS: [f64; 9] = [1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 1e-2, f64::INFINITY];

/// The adherence counters of one topic: records checked by result,
/// violations by (rule, action), and the time the checks took.
#[derive(Debug, Default)]
pub struct Adherence {
    /// Records by result: valid, warn, dlq, reject.
    results: [AtomicU64; 4],
    violations: Mutex<BTreeMap<(String, Action), u64>>,
    nanos_total: AtomicU64,
    buckets: [AtomicU64; VALIDATION_BUCKETS_SECONDS.len()],
}

/// The verdicts of one request, counted before they are added to the
/// topic's [`Adherence`] (at most once: a retry answered as a duplicate is
/// not added again).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Tally {
    /// Records by result: valid, warn, dlq, reject.
    results: [u64; 4],
    /// Every violation's (rule, action).
    violations: Vec<(String, Action)>,
    nanos: u64,
    buckets: [u64; VALIDATION_BUCKETS_SECONDS.len()],
}

impl Tally {
    /// Count `verdict` (its result and violations).
    fn add(&mut self, verdict: &Verdict) {
        let result = match verdict.action() {
            None => 0,
            Some(Action::Warn) => 1,
            Some(Action::Dlq) => 2,
            Some(Action::Reject) => 3,
        };
        if let Some(c) = self.results.get_mut(result) {
            *c += 1;
        }
        self.violations
            .extend(verdict.violations.iter().map(|v| (v.rule.clone(), v.action)));
    }

    /// The checks of `records` records took `took` together: added to the
    /// time, and each record counted in the bucket of their mean.
    fn took(&mut self, took: std::time::Duration, records: usize) {
        if records == 0 {
            return;
        }
        self.nanos = self
            .nanos
            .saturating_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        let seconds = took.as_secs_f64() / records as f64;
        let bucket = VALIDATION_BUCKETS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(VALIDATION_BUCKETS_SECONDS.len() - 1);
        if let Some(b) = self.buckets.get_mut(bucket) {
            *b = b.saturating_add(u64::try_from(records).unwrap_or(u64::MAX));
        }
    }

    /// Records counted.
    pub(crate) fn records(&self) -> u64 {
        self.results.iter().sum()
    }
}

impl Adherence {
    fn add(&self, tally: &Tally) {
        if tally.records() == 0 {
            return;
        }
        for (counter, n) in self.results.iter().zip(tally.results) {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
        if !tally.violations.is_empty() {
            let mut violations = self.violations.lock();
            for (rule, action) in &tally.violations {
                *violations.entry((rule.clone(), *action)).or_default() += 1;
            }
        }
        self.nanos_total.fetch_add(tally.nanos, Ordering::Relaxed);
        for (counter, n) in self.buckets.iter().zip(tally.buckets) {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    fn snapshot(&self) -> AdherenceSnapshot {
        let load = |i: usize| self.results.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
        AdherenceSnapshot {
            valid: load(0),
            warned: load(1),
            dead_lettered: load(2),
            rejected: load(3),
            violations: self
                .violations
                .lock()
                .iter()
                .map(|((rule, action), n)| (rule.clone(), *action, *n))
                .collect(),
            validation_seconds_total: self.nanos_total.load(Ordering::Relaxed) as f64 / 1e9,
            validation_buckets: self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
        }
    }
}

/// A topic's adherence counters at one moment ([`Checks::adherence`]).
/// Counted per record checked, whatever became of its request (a record of
/// a refused request is still counted by its own verdict).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdherenceSnapshot {
    /// Records that broke no rule.
    pub valid: u64,
    /// Records whose strongest action was `warn` (appended).
    pub warned: u64,
    /// Records whose strongest action was `dlq`.
    pub dead_lettered: u64,
    /// Records whose strongest action was `reject`.
    pub rejected: u64,
    /// Violations counted by (rule, action), every violation of a record (not
    /// only the decisive one), sorted.
    pub violations: Vec<(String, Action, u64)>,
    /// Time spent in checks, in seconds.
    pub validation_seconds_total: f64,
    /// Checks per latency bucket of [`VALIDATION_BUCKETS_SECONDS`] (not cumulative).
    pub validation_buckets: Vec<u64>,
}

impl AdherenceSnapshot {
    /// Records checked.
    pub fn records(&self) -> u64 {
        self.valid + self.warned + self.dead_lettered + self.rejected
    }

    /// The share of records checked that broke no rule (1.0 when none was checked).
    pub fn adherence_ratio(&self) -> f64 {
        let total = self.records();
        if total == 0 {
            1.0
        } else {
            self.valid as f64 / total as f64
        }
    }

    /// `(result label, count)` as `millrace_contract_records_total{result}` shows them.
    pub fn by_result(&self) -> [(&'static str, u64); 4] {
        [
            ("valid", self.valid),
            ("warn", self.warned),
            ("dlq", self.dead_lettered),
            ("reject", self.rejected),
        ]
    }
}

/// The refusal naming `verdict`'s decisive violation of record `index`.
pub(crate) fn violation(topic: &str, partition: u32, index: usize, verdict: &Verdict) -> Error {
    let (rule, path, message) = verdict
        .decisive()
        .map(|v| (v.rule.clone(), v.path.clone(), v.message.clone()))
        .unwrap_or_default();
    Error::ContractViolation {
        topic: topic.to_string(),
        partition,
        index,
        rule,
        path,
        message,
        contract_version: verdict.contract_version,
    }
}

/// Judge a request that cannot be split between the topic and its DLQ (an
/// idempotent producer's sequenced batch): the first `reject` refuses it, and
/// so does the first `dlq` (its sequence numbers count every record, and a
/// batch in the log cannot hold fewer records than it numbers). The judge,
/// if the topic has a check, to tell of the records once appended, with the
/// verdicts' tally to count once the batch is found no duplicate (a refused
/// batch is counted at once).
pub(crate) fn judge_unsplittable(
    checks: &Checks,
    topic: &str,
    partition: u32,
    records: &[Record],
) -> crate::error::Result<Option<(Judge, Tally)>> {
    let Some(judge) = checks.judge(topic) else {
        return Ok(None);
    };
    let mut tally = Tally::default();
    let mut refused = None;
    let mut first_letter = None;
    let views: Vec<RecordView<'_>> = records.iter().map(RecordView::of).collect();
    judge.check_each_into(
        partition,
        &views,
        &mut tally,
        &mut |index, verdict| match verdict.action() {
            Some(Action::Reject) if refused.is_none() => refused = Some(violation(topic, partition, index, &verdict)),
            Some(Action::Dlq) if first_letter.is_none() => {
                first_letter = Some(violation(topic, partition, index, &verdict))
            }
            _ => {}
        },
    );
    if refused.is_some() || first_letter.is_some() {
        judge.count(&tally);
    }
    if let Some(error) = refused {
        return Err(error);
    }
    match first_letter {
        Some(Error::ContractViolation { topic, partition, index, rule, path, message, contract_version }) => Err(Error::ContractViolation {
            topic,
            partition,
            index,
            rule,
            path,
            message: format!(
                "{message} (the rule's action is dlq, but an idempotent producer's batch is never split between the topic and its DLQ: the batch is refused)"
            ),
            contract_version,
        }),
        Some(other) => Err(other),
        None => Ok(Some((judge, tally))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(rule: &str, action: Action) -> Violation {
        Violation {
            rule: rule.to_string(),
            path: String::new(),
            message: String::new(),
            action,
        }
    }

    #[test]
    fn the_strongest_action_decides() {
        let verdict = Verdict {
            contract_version: 3,
            violations: vec![
                violation("a", Action::Warn),
                violation("b", Action::Dlq),
                violation("c", Action::Reject),
                violation("d", Action::Dlq),
            ],
        };
        assert_eq!(verdict.action(), Some(Action::Reject));
        assert_eq!(verdict.decisive().map(|v| v.rule.as_str()), Some("c"));
        assert_eq!(Verdict::default().action(), None);
    }

    #[derive(Debug)]
    struct Always(Action);
    impl RecordCheck for Always {
        fn check(&self, _: u32, _: &Record) -> Verdict {
            Verdict {
                contract_version: 1,
                violations: vec![violation("always", self.0)],
            }
        }
    }

    #[test]
    fn adherence_counts_each_verdict_and_violation() {
        let checks = Checks::default();
        assert!(checks.judge("t").is_none());
        checks.set("t", Some(Arc::new(Always(Action::Dlq))));
        let judge = checks
            .judge("t")
            .map(|j| (j.check(0, &Record::new("a")), j.check(1, &Record::new("b"))));
        assert!(judge.is_some());
        let got = checks.adherence("t").unwrap_or_default();
        assert_eq!((got.valid, got.dead_lettered, got.records()), (0, 2, 2));
        assert_eq!(got.violations, vec![("always".to_string(), Action::Dlq, 2)]);
        assert_eq!(got.validation_buckets.iter().sum::<u64>(), 2);
        assert!(checks.adherence("u").is_none());
        checks.set("t", None);
        assert_eq!(checks.adherence_all().len(), 1, "counters outlive the check");
    }

    #[test]
    fn a_request_timed_once_counts_each_record_in_the_histogram() {
        let checks = Checks::default();
        checks.set("t", Some(Arc::new(Always(Action::Warn))));
        let judge = checks.judge("t").unwrap();
        let records = [Record::new("a"), Record::tombstone().with_key("k"), Record::new("c")];
        let views: Vec<RecordView<'_>> = records.iter().map(RecordView::of).collect();
        assert_eq!(
            views[1],
            RecordView {
                key: Some(b"k"),
                value: None
            }
        );
        assert_eq!(views[1].to_record().value_opt(), None, "a tombstone stays one");
        let mut tally = Tally::default();
        let mut seen = Vec::new();
        let kept = judge.check_each_into(0, &views, &mut tally, &mut |index, verdict| {
            seen.push((index, verdict.action()));
        });
        assert!(kept.is_none(), "the default check keeps nothing");
        assert_eq!(
            seen,
            vec![
                (0, Some(Action::Warn)),
                (1, Some(Action::Warn)),
                (2, Some(Action::Warn))
            ]
        );
        judge.count(&tally);
        let got = checks.adherence("t").unwrap();
        assert_eq!((got.warned, got.validation_buckets.iter().sum::<u64>()), (3, 3));
    }

    #[test]
    fn checks_are_installed_and_removed_per_topic() {
        let checks = Checks::default();
        checks.set("t", Some(Arc::new(Always(Action::Dlq))));
        let got = checks.get("t").map(|c| c.check(0, &Record::new("x")).action());
        assert_eq!(got, Some(Some(Action::Dlq)));
        assert!(checks.get("u").is_none());
        checks.set("t", None);
        assert!(checks.get("t").is_none());
    }
}
