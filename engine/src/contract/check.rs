//! The seam between the append paths and the checks of a topic's contract.
//!
//! A [`RecordCheck`] judges one record at a time, before it is appended; the
//! append path decides what each [`Action`] means (refuse the request's
//! record, dead-letter it atomically with the valid ones, or count it).
//! [`RecordCheck::observe`] is told of records once they are appended, for
//! rules that are measured over a window and never refuse (uniqueness,
//! completeness, freshness).

use crate::sync::RwLock;
use crate::Record;
use std::collections::HashMap;
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

/// A topic's compiled contract, as the append paths see it.
///
/// Implementations must be bounded in time and memory for any record (the
/// bytes come from producers) and never panic.
pub trait RecordCheck: Send + Sync + std::fmt::Debug {
    /// Judge `record`, about to be appended to `partition` of the topic.
    fn check(&self, partition: u32, record: &Record) -> Verdict;

    /// `records` were appended to `partition` at `base_offset..` (after the
    /// check; dead-lettered and refused records are not among them). For
    /// windowed measures; never refuses anything.
    fn observe(&self, partition: u32, base_offset: u64, records: &[Record]) {
        let _ = (partition, base_offset, records);
    }
}

/// The checks in force, per topic: one read lock and one map lookup per
/// append, none installed for most topics.
#[derive(Debug, Default)]
pub struct Checks {
    by_topic: RwLock<HashMap<String, Arc<dyn RecordCheck>>>,
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
