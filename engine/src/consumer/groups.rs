//! The consumer-group feature's handle ([`crate::Store::consumer_groups`]):
//! committed offsets (consumer/offsets.rs), their resets and audit
//! (consumer/reset.rs) and lag (consumer/lag.rs), over the catalog and the
//! store's offset table. Like every handle it keeps the store open while it
//! lives.

use super::offsets::OffsetTable;
use crate::catalog::OpenCatalog;
use crate::config::StoreOptions;
use crate::error::Result;
use crate::log::partition::Partition;
use std::sync::Arc;

/// Consumer groups of one store: committed offsets, resets and their audit,
/// lag, group deletion and activity. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConsumerGroups {
    catalog: Arc<OpenCatalog>,
    table: Arc<OffsetTable>,
}

impl ConsumerGroups {
    /// The consumer groups over `catalog`, with the store's offset table.
    pub(crate) fn new(catalog: Arc<OpenCatalog>, table: Arc<OffsetTable>) -> ConsumerGroups {
        ConsumerGroups { catalog, table }
    }

    /// The catalog the groups live in.
    pub(crate) fn catalog(&self) -> &Arc<OpenCatalog> {
        &self.catalog
    }

    pub(crate) fn offset_table(&self) -> &OffsetTable {
        &self.table
    }

    pub(super) fn options(&self) -> &StoreOptions {
        &self.catalog.options
    }

    pub(super) fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Partition>> {
        self.catalog.partition(topic, partition)
    }

    pub(super) fn internal_log(&self, topic: &str) -> Result<Option<Arc<Partition>>> {
        self.catalog.internal_log(topic)
    }

    pub(super) fn partition_count(&self, topic: &str) -> Result<u32> {
        Ok(self.catalog.topic(topic)?.config.partitions)
    }

    /// Offsets `[start, high watermark)` of a partition.
    pub(super) fn offsets(&self, topic: &str, partition: u32) -> Result<(u64, u64)> {
        let p = self.partition(topic, partition)?;
        Ok((p.start_offset(), p.high_watermark()))
    }

    pub(super) fn offset_for_time(&self, topic: &str, partition: u32, timestamp_ms: i64) -> Result<Option<u64>> {
        self.partition(topic, partition)?.offset_for_time(timestamp_ms)
    }
}
