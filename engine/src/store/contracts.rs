//! The contracts feature's way in ([`Store::contracts`]) and the status of
//! every topic's contract (the one place that also reads the DLQ feature).

use super::*;
use crate::catalog::OpenCatalog;
use crate::contract::contracts::Contracts;
use crate::contract::model::CompatibilityLevel;
use crate::contract::schemas::{SchemaKind, SchemaSource, SchemaText};
use crate::contract::status::ContractStatus;
use crate::schema::{Compatibility, RegistryTable, SchemaRegistry, SchemaType};
use std::sync::Weak;

/// The store's schema registry as the contracts read it. It holds the
/// catalog weakly: a compiled contract lives in the store's checks, and a
/// strong hold would keep the store open for ever.
#[derive(Debug)]
struct StoreSchemas {
    catalog: Weak<OpenCatalog>,
    table: Arc<RegistryTable>,
}

impl StoreSchemas {
    fn registry(&self) -> Result<SchemaRegistry> {
        let catalog = self.catalog.upgrade().ok_or(Error::Closed)?;
        Ok(SchemaRegistry::new(catalog, self.table.clone()))
    }
}

fn kind_of(schema_type: SchemaType) -> SchemaKind {
    match schema_type {
        SchemaType::Avro => SchemaKind::Avro,
        SchemaType::Json => SchemaKind::Json,
        SchemaType::Protobuf => SchemaKind::Protobuf,
    }
}

impl SchemaSource for StoreSchemas {
    fn by_id(&self, id: u32) -> Result<Option<SchemaText>> {
        Ok(self.registry()?.by_id(id)?.map(|s| SchemaText {
            id: s.id,
            kind: kind_of(s.schema_type),
            text: s.schema,
        }))
    }

    fn subjects_of(&self, id: u32) -> Result<Vec<(String, u32)>> {
        self.registry()?.subjects_of(id)
    }

    fn version(&self, subject: &str, version: Option<u32>) -> Result<Option<(u32, SchemaText)>> {
        Ok(self.registry()?.version(subject, version)?.map(|v| {
            (
                v.version,
                SchemaText {
                    id: v.id,
                    kind: kind_of(v.schema_type),
                    text: v.schema,
                },
            )
        }))
    }

    fn check_change(
        &self,
        subject: &str,
        kind: SchemaKind,
        schema: &str,
        from_version: u32,
        level: CompatibilityLevel,
    ) -> Result<(bool, Vec<String>)> {
        let schema_type = match kind {
            SchemaKind::Avro => SchemaType::Avro,
            SchemaKind::Json => SchemaType::Json,
            SchemaKind::Protobuf => SchemaType::Protobuf,
        };
        let level = match level {
            CompatibilityLevel::None => Compatibility::None,
            CompatibilityLevel::Backward => Compatibility::Backward,
            CompatibilityLevel::BackwardTransitive => Compatibility::BackwardTransitive,
            CompatibilityLevel::Forward => Compatibility::Forward,
            CompatibilityLevel::ForwardTransitive => Compatibility::ForwardTransitive,
            CompatibilityLevel::Full => Compatibility::Full,
            CompatibilityLevel::FullTransitive => Compatibility::FullTransitive,
        };
        let report = self
            .registry()?
            .check_change(subject, schema_type, schema, from_version, level)?;
        Ok((report.compatible, report.messages))
    }
}

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

    /// The registry the contracts read schemas from ([`Store::schemas`]).
    fn schema_source(&self) -> Arc<dyn SchemaSource> {
        Arc::new(StoreSchemas {
            catalog: Arc::downgrade(&self.inner.catalog),
            table: self.inner.schemas.clone(),
        })
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
