//! A topic's adherence at a glance (`millrace contract status`): the
//! contract in force, the freshness of the newest record and the DLQ depth
//! against the contract's service levels, and the windowed measures.

use crate::contract::compiled::ContractMeasures;
use crate::contract::entry::ContractEntry;
use crate::contract::window::WindowMeasure;

/// How a measure stands against its warn and error thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SlaLevel {
    /// No threshold, or nothing to measure yet.
    Unknown,
    /// Within both thresholds.
    Ok,
    /// Past the warn threshold.
    Warn,
    /// Past the error threshold.
    Error,
}

impl SlaLevel {
    /// `unknown`, `ok`, `warn`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaLevel::Unknown => "unknown",
            SlaLevel::Ok => "ok",
            SlaLevel::Warn => "warn",
            SlaLevel::Error => "error",
        }
    }

    /// `value` against `(warn, error)`: past a threshold is strictly above it.
    pub fn of(value: Option<u64>, thresholds: (Option<u64>, Option<u64>)) -> SlaLevel {
        match (value, thresholds) {
            (_, (None, None)) | (None, _) => SlaLevel::Unknown,
            (Some(v), (_, Some(e))) if v > e => SlaLevel::Error,
            (Some(v), (Some(w), _)) if v > w => SlaLevel::Warn,
            _ => SlaLevel::Ok,
        }
    }
}

/// One topic's contract adherence.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractStatus {
    /// The topic.
    pub topic: String,
    /// The contract version in force (`None`: it failed to load).
    pub version: Option<u32>,
    /// The owner the contract names.
    pub owner: Option<String>,
    /// The applied entry (who, when, forced).
    pub entry: Option<ContractEntry>,
    /// Why the contract failed to load (the topic refuses every record meanwhile).
    pub load_error: Option<String>,
    /// Age of the newest record (append or event time), seconds.
    pub freshness_age_seconds: Option<u64>,
    /// Freshness warn and error thresholds, seconds.
    pub freshness_thresholds: (Option<u64>, Option<u64>),
    /// Freshness against its thresholds.
    pub freshness: SlaLevel,
    /// Records waiting in the topic's DLQ.
    pub dlq_depth: u64,
    /// DLQ depth warn and error thresholds.
    pub dlq_thresholds: (Option<u64>, Option<u64>),
    /// DLQ depth against its thresholds.
    pub dlq: SlaLevel,
    /// The windowed rules' measures (in this process, since the contract was installed).
    pub windows: Vec<WindowMeasure>,
}

impl ContractStatus {
    /// The status of a contract in force, from what it measured, at `now_ms`.
    pub fn from_measures(measures: &ContractMeasures, owner: &str, dlq_depth: u64, now_ms: i64) -> ContractStatus {
        let age = measures
            .newest_ms
            .map(|t| (now_ms.saturating_sub(t).max(0) / 1000) as u64);
        ContractStatus {
            topic: measures.topic.clone(),
            version: Some(measures.version),
            owner: Some(owner.to_string()),
            entry: None,
            load_error: None,
            freshness_age_seconds: age,
            freshness_thresholds: measures.freshness_seconds,
            freshness: SlaLevel::of(age, measures.freshness_seconds),
            dlq_depth,
            dlq_thresholds: measures.dlq_depth,
            dlq: SlaLevel::of(Some(dlq_depth), measures.dlq_depth),
            windows: measures.windows.clone(),
        }
    }

    /// The worst level of the topic's service levels (a contract that
    /// failed to load is an error).
    pub fn worst(&self) -> SlaLevel {
        if self.load_error.is_some() {
            return SlaLevel::Error;
        }
        let windows = if self.windows.iter().any(|w| w.breached) {
            SlaLevel::Warn
        } else {
            SlaLevel::Unknown
        };
        self.freshness.max(self.dlq).max(windows)
    }
}
