//! Windowed rules (uniqueness of a field within N records or T seconds,
//! completeness ratio of a field) and the freshness of the newest record:
//! measured from the records `observe` is told of, per partition, in
//! bounded state; they never refuse a record.

use crate::contract::model::{QualityKind, QualityRule, WINDOW_RECORDS_MAX};
use crate::contract::rules;
use crate::sync::{AtomicU64, Mutex, Ordering};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

/// One windowed rule and its state.
#[derive(Debug)]
pub(crate) struct WindowRule {
    pub(crate) name: String,
    pub(crate) kind: QualityKind,
    pub(crate) tokens: Vec<String>,
    records: Option<u64>,
    seconds: Option<u64>,
    pub(crate) threshold: Option<f64>,
    partitions: Mutex<HashMap<u32, PartitionWindow>>,
    duplicates_total: AtomicU64,
}

#[derive(Debug, Default)]
struct PartitionWindow {
    /// (append time, the field's hash when present and not null), oldest first.
    entries: VecDeque<(i64, Option<u64>)>,
    /// How many entries hold each hash (uniqueness).
    counts: HashMap<u64, u32>,
    /// Entries whose field is present (completeness).
    present: u64,
}

/// What a windowed rule measured so far.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowMeasure {
    /// The rule's name.
    pub rule: String,
    /// `uniqueness` or `completeness`.
    pub kind: &'static str,
    /// Uniqueness: records whose field repeated a value within the window, since the contract was installed.
    pub duplicates_total: u64,
    /// Completeness: present / records over the windows of every partition (`None`: no record yet).
    pub completeness_ratio: Option<f64>,
    /// Completeness: the ratio the contract asks for at least.
    pub threshold: Option<f64>,
    /// The threshold is not met (completeness below it).
    pub breached: bool,
}

impl PartitionWindow {
    /// Drop the oldest entries while `drop(len, their time)` says so.
    fn evict(&mut self, drop: impl Fn(u64, i64) -> bool) {
        while let Some(&(at, gone)) = self.entries.front() {
            if !drop(self.entries.len() as u64, at) {
                break;
            }
            self.entries.pop_front();
            if let Some(h) = gone {
                self.present = self.present.saturating_sub(1);
                if let Some(c) = self.counts.get_mut(&h) {
                    *c -= 1;
                    if *c == 0 {
                        self.counts.remove(&h);
                    }
                }
            }
        }
    }
}

impl WindowRule {
    pub(crate) fn new(rule: &QualityRule, tokens: Vec<String>) -> WindowRule {
        WindowRule {
            name: rule.name.clone(),
            kind: rule.kind,
            tokens,
            records: rule.window.records,
            seconds: rule.window.seconds,
            threshold: rule.must_be_greater_or_equal_to,
            partitions: Mutex::new(HashMap::new()),
            duplicates_total: AtomicU64::new(0),
        }
    }

    /// The hash a record's field counts under (`None`: absent or null).
    fn hash(&self, value: &Value) -> Option<u64> {
        let field = rules::at(value, &self.tokens).filter(|v| !v.is_null());
        field.map(|v| match self.kind {
            QualityKind::Completeness => 1,
            QualityKind::Uniqueness => {
                // Equal hashes for equal text forms, as hashing `to_string()`
                // gave; a string is hashed without being quoted into a new one.
                let mut h = std::collections::hash_map::DefaultHasher::new();
                match v {
                    Value::String(s) => {
                        0u8.hash(&mut h);
                        s.hash(&mut h);
                    }
                    other => {
                        1u8.hash(&mut h);
                        other.to_string().hash(&mut h);
                    }
                }
                h.finish()
            }
        })
    }

    /// Count the records of `partition` appended at `at_ms` whose decoded
    /// values are `values`, in order, under one lock (a request's records).
    pub(crate) fn observe(&self, partition: u32, at_ms: i64, values: &[Value]) {
        let keep = self.records.unwrap_or(WINDOW_RECORDS_MAX).min(WINDOW_RECORDS_MAX);
        let oldest = self
            .seconds
            .map_or(i64::MIN, |s| at_ms.saturating_sub(s.saturating_mul(1000) as i64));
        let mut partitions = self.partitions.lock();
        let w = partitions.entry(partition).or_default();
        for value in values {
            let hash = self.hash(value);
            // The window this record is judged against: the previous `keep`
            // records, those not older than `seconds`.
            w.evict(|len, at| len > keep || at < oldest);
            if let Some(h) = hash {
                let count = w.counts.entry(h).or_insert(0);
                if self.kind == QualityKind::Uniqueness && *count > 0 {
                    self.duplicates_total.fetch_add(1, Ordering::Relaxed);
                }
                *count += 1;
                w.present += 1;
            }
            w.entries.push_back((at_ms, hash));
            w.evict(|len, _| len > keep);
        }
    }

    pub(crate) fn measure(&self) -> WindowMeasure {
        let partitions = self.partitions.lock();
        let (present, total) = partitions
            .values()
            .fold((0u64, 0u64), |(p, t), w| (p + w.present, t + w.entries.len() as u64));
        let ratio = (self.kind == QualityKind::Completeness && total > 0).then(|| present as f64 / total as f64);
        WindowMeasure {
            rule: self.name.clone(),
            kind: match self.kind {
                QualityKind::Uniqueness => "uniqueness",
                QualityKind::Completeness => "completeness",
            },
            duplicates_total: self.duplicates_total.load(Ordering::Relaxed),
            completeness_ratio: ratio,
            threshold: self.threshold,
            breached: matches!((ratio, self.threshold), (Some(r), Some(t)) if r < t),
        }
    }
}

/// The freshness SLA's measure: the newest append (or event) time seen.
#[derive(Debug)]
pub(crate) struct Freshness {
    /// The event-time field, if the SLA names one.
    pub(crate) tokens: Option<Vec<String>>,
    pub(crate) warn_seconds: Option<u64>,
    pub(crate) error_seconds: Option<u64>,
    newest_ms: Mutex<Option<i64>>,
}

impl Freshness {
    pub(crate) fn new(tokens: Option<Vec<String>>, warn_seconds: Option<u64>, error_seconds: Option<u64>) -> Self {
        Freshness {
            tokens,
            warn_seconds,
            error_seconds,
            newest_ms: Mutex::new(None),
        }
    }

    /// A record (or the log's newest one) at `at_ms`.
    pub(crate) fn saw(&self, at_ms: i64) {
        let mut newest = self.newest_ms.lock();
        if newest.is_none_or(|n| n < at_ms) {
            *newest = Some(at_ms);
        }
    }

    pub(crate) fn newest_ms(&self) -> Option<i64> {
        *self.newest_ms.lock()
    }

    /// The event time in a decoded value: an RFC 3339 string or ms since the epoch.
    pub(crate) fn event_time(tokens: &[String], value: &Value) -> Option<i64> {
        match rules::at(value, tokens)? {
            Value::String(s) => crate::contract::formats::parse_date_time_ms(s),
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::model::Window;

    fn rule(kind: QualityKind, records: Option<u64>, seconds: Option<u64>) -> WindowRule {
        let r = QualityRule {
            name: "r".into(),
            kind,
            field: "/id".into(),
            window: Window { records, seconds },
            must_be_greater_or_equal_to: Some(0.9),
            action: None,
            description: None,
        };
        WindowRule::new(&r, vec!["id".into()])
    }

    #[test]
    fn uniqueness_counts_repeats_inside_the_window_only() {
        let w = rule(QualityKind::Uniqueness, Some(2), None);
        for (i, id) in [1, 2, 1, 3, 4, 1].iter().enumerate() {
            w.observe(0, i as i64, &[serde_json::json!({ "id": id })]);
        }
        // 1,2,1 (dup: 1 within the last 2), 3, 4, 1 (1 left the window).
        assert_eq!(w.measure().duplicates_total, 1);
        let t = rule(QualityKind::Uniqueness, None, Some(1));
        t.observe(0, 0, &[serde_json::json!({ "id": 1 })]);
        t.observe(0, 2000, &[serde_json::json!({ "id": 1 })]);
        t.observe(0, 2500, &[serde_json::json!({ "id": 1 })]);
        assert_eq!(t.measure().duplicates_total, 1);
    }

    #[test]
    fn completeness_is_a_ratio_over_the_window() {
        let w = rule(QualityKind::Completeness, Some(4), None);
        for v in [
            serde_json::json!({"id": 1}),
            serde_json::json!({}),
            serde_json::json!({"id": null}),
        ] {
            w.observe(0, 0, std::slice::from_ref(&v));
        }
        w.observe(1, 0, &[serde_json::json!({"id": 2})]);
        let m = w.measure();
        assert_eq!(m.completeness_ratio, Some(0.5));
        assert!(m.breached);
    }
}
