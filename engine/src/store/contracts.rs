//! The contracts feature's way in ([`Store::contracts`]) and the status of
//! every topic's contract (the one place that also reads the DLQ feature).

use super::*;
use crate::contract::contracts::Contracts;
use crate::contract::schemas::{FixedSchemas, SchemaSource};
use crate::contract::status::ContractStatus;

impl Store {
    /// The contracts feature: apply, remove and show a topic's contract
    /// (every change a record of `__contracts`, the audit log), and the
    /// contracts in force. Each installs its compiled check into
    /// [`Store::record_checks`].
    pub fn contracts(&self) -> Contracts {
        Contracts::new(
            self.inner.catalog.clone(),
            self.inner.contracts.clone(),
            self.inner.checks.clone(),
            self.schema_source(),
        )
    }

    /// The registry the contracts read schemas from.
    fn schema_source(&self) -> Arc<dyn SchemaSource> {
        Arc::new(FixedSchemas::default())
    }

    /// The adherence of each topic's contract (of `topic` only, if given):
    /// the version in force, freshness and DLQ depth against the contract's
    /// service levels, the windowed measures, and the topics whose contract
    /// failed to load.
    pub fn contract_status(&self, topic: Option<&str>) -> Result<Vec<ContractStatus>> {
        let contracts = self.contracts();
        let now = now_ms();
        let mut out = Vec::new();
        for contract in contracts.installed() {
            if topic.is_some_and(|t| t != contract.topic()) {
                continue;
            }
            let depth = match self.dlq_stats(contract.topic()) {
                Ok(stats) => stats.depth,
                Err(Error::TopicNotFound(_)) => 0,
                Err(e) => return Err(e),
            };
            let mut status = ContractStatus::from_measures(&contract.measures(), &contract.file().owner, depth, now);
            status.entry = contracts.show(contract.topic(), Some(contract.version()))?;
            out.push(status);
        }
        for (failed, reason) in contracts.load_errors() {
            if topic.is_some_and(|t| t != failed) {
                continue;
            }
            out.push(ContractStatus {
                topic: failed,
                version: None,
                owner: None,
                entry: None,
                load_error: Some(reason),
                freshness_age_seconds: None,
                freshness_thresholds: (None, None),
                freshness: crate::contract::status::SlaLevel::Unknown,
                dlq_depth: 0,
                dlq_thresholds: (None, None),
                dlq: crate::contract::status::SlaLevel::Unknown,
                windows: Vec::new(),
            });
        }
        out.sort_by(|a, b| a.topic.cmp(&b.topic));
        Ok(out)
    }
}
