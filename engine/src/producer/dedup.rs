//! The producer feature's side of the log's seam (`log::dedup`): the store's
//! registry decides epochs, a [`ProducerTable`] per partition decides
//! sequences, and `snapshot.rs` persists the tables.

use crate::error::Result;
use crate::io::Storage;
use crate::log::batch::ProducerStamp;
use crate::log::dedup::{Admission, DedupTable, ProducerDedup};
use crate::log::segment::Segment;
use crate::metrics::Metrics;
use crate::producer::registry::ProducerRegistry;
use crate::producer::snapshot;
use crate::producer::state::{admit, ProducerTable};
use std::path::Path;
use std::sync::Arc;

/// The seam's implementation handed to the log: every partition's table
/// checks epochs against this one registry.
#[derive(Debug)]
pub(crate) struct RegistryDedup {
    registry: Arc<ProducerRegistry>,
}

impl RegistryDedup {
    pub(crate) fn new(registry: Arc<ProducerRegistry>) -> Self {
        RegistryDedup { registry }
    }
}

impl ProducerDedup for RegistryDedup {
    fn open_table(
        &self,
        storage: &dyn Storage,
        dir: &Path,
        segments: &[Arc<Segment>],
        log_end: u64,
        metrics: &Metrics,
    ) -> Result<Box<dyn DedupTable>> {
        let table = snapshot::rebuild(storage, dir, segments, log_end, self.registry.window, metrics)?;
        Ok(Box::new(PartitionDedup {
            table,
            registry: self.registry.clone(),
        }))
    }

    fn durable_end_past(&self, storage: &dyn Storage, dir: &Path, log_end: u64) -> Result<Option<u64>> {
        snapshot::durable_end_past(storage, dir, log_end)
    }

    fn write_snapshot(&self, storage: &dyn Storage, dir: &Path, offset: u64, bytes: &[u8]) -> Result<()> {
        snapshot::write_encoded(storage, dir, offset, bytes)
    }
}

/// One partition's table and the registry its epochs are checked against.
#[derive(Debug)]
struct PartitionDedup {
    table: ProducerTable,
    registry: Arc<ProducerRegistry>,
}

impl DedupTable for PartitionDedup {
    fn admit(&self, stamp: ProducerStamp, record_count: u32, now_ms: i64) -> Result<Admission> {
        admit(&self.table, &self.registry.epochs, stamp, record_count, now_ms)
    }

    fn remembered(&self, stamp: ProducerStamp, record_count: u32) -> Option<(u64, u64)> {
        if self.registry.epochs.current_epoch(stamp.producer_id) != Some(stamp.epoch) {
            return None;
        }
        self.table.remembered(stamp, record_count)
    }

    fn record(&mut self, stamp: ProducerStamp, base_offset: u64, record_count: u32, now_ms: i64) {
        self.table.record(stamp, base_offset, record_count, now_ms);
    }

    fn record_split(&mut self, stamp: ProducerStamp, base_offset: u64, record_count: u32, appended: u32, now_ms: i64) {
        self.table
            .record_split(stamp, base_offset, record_count, appended, now_ms);
    }

    fn last_sequence(&self, producer_id: u64) -> Option<u32> {
        self.table.last_sequence(producer_id)
    }

    fn last_sequence_at(&self, producer_id: u64, epoch: u16) -> Option<u32> {
        let restarts = self.registry.epochs.is_anonymous(producer_id);
        self.table.last_sequence_at(producer_id, epoch, restarts)
    }

    fn activity(&self) -> Vec<(u64, i64)> {
        self.table.iter().map(|(id, e)| (id, e.last_append_ms)).collect()
    }

    /// An expired producer's state goes once its batches are gone from the
    /// log (then the registry may forget the name); before that it is the
    /// name's position (`ProducerEpochs::forget_expired`).
    fn forget_gone(&mut self, start_offset: u64, now_ms: i64) {
        let epochs = &self.registry.epochs;
        let gone: Vec<u64> = self
            .table
            .iter()
            .filter(|(id, entry)| {
                !epochs.is_live(*id, now_ms) && entry.batches.back().is_none_or(|b| b.next_offset() <= start_offset)
            })
            .map(|(id, _)| id)
            .collect();
        self.table.retain(|id| epochs.knows(id) && !gone.contains(&id));
    }

    fn encode_snapshot(&self, offset: u64) -> Vec<u8> {
        self.table.encode_snapshot(offset)
    }
}
