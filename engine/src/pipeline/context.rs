//! What the pipeline features (transactions, the DLQ) work over: the
//! catalog, their state (the transaction coordinator, the DLQ's attempt
//! table), the producer registry (transactions write as a producer) and the
//! consumer groups (transactions commit offsets). The facade builds it from
//! the state it holds; the public handles ([`super::txn::Transactions`],
//! [`super::dlq::DeadLetterQueue`]) wrap it.

use super::dlq::AttemptTable;
use super::txn::Coordinator;
use crate::catalog::{CommitGuard, OpenCatalog, Topic};
use crate::consumer::ConsumerGroups;
use crate::error::Result;
use crate::log::partition::Partition;
use crate::producer::registry::ProducerRegistry;
use crate::producer::Producers;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    catalog: Arc<OpenCatalog>,
    coordinator: Arc<Coordinator>,
    attempts: Arc<AttemptTable>,
    registry: Arc<ProducerRegistry>,
    groups: ConsumerGroups,
}

impl Pipeline {
    pub(crate) fn new(
        coordinator: Arc<Coordinator>,
        attempts: Arc<AttemptTable>,
        registry: Arc<ProducerRegistry>,
        groups: ConsumerGroups,
    ) -> Pipeline {
        Pipeline {
            catalog: groups.catalog().clone(),
            coordinator,
            attempts,
            registry,
            groups,
        }
    }

    pub(crate) fn catalog(&self) -> &Arc<OpenCatalog> {
        &self.catalog
    }

    pub(crate) fn coordinator(&self) -> &Coordinator {
        &self.coordinator
    }

    pub(crate) fn attempt_table(&self) -> &AttemptTable {
        &self.attempts
    }

    pub(crate) fn producer_registry(&self) -> &ProducerRegistry {
        &self.registry
    }

    /// The producer feature (transactions write as a registered producer).
    pub(crate) fn producers(&self) -> Producers {
        Producers::new(self.catalog.clone(), self.registry.clone())
    }

    /// The consumer groups (transactions commit their offsets).
    pub(crate) fn groups(&self) -> &ConsumerGroups {
        &self.groups
    }

    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.catalog.topic(name)
    }

    pub(crate) fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Partition>> {
        self.catalog.partition(topic, partition)
    }

    pub(crate) fn internal_log(&self, topic: &str) -> Result<Option<Arc<Partition>>> {
        self.catalog.internal_log(topic)
    }

    pub(crate) fn partition_count(&self, topic: &str) -> Result<u32> {
        Ok(self.topic(topic)?.config.partitions)
    }

    /// Offsets `[start, high watermark)` of a partition.
    pub(crate) fn offsets(&self, topic: &str, partition: u32) -> Result<(u64, u64)> {
        let p = self.partition(topic, partition)?;
        Ok((p.start_offset(), p.high_watermark()))
    }

    pub(crate) fn lock_commits(&self) -> CommitGuard<'_> {
        self.catalog.lock_commits()
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        self.catalog.check_writable()
    }
}
