//! The producer feature's way in ([`Store::producers`]) and `Store`'s
//! forwards to it.

use super::*;
use crate::producer::{Producer, ProducerSession, Producers};

impl Store {
    /// The producer feature: registration (names, ids, epochs, owners) and
    /// sequenced appends. The methods below are forwards to it.
    pub fn producers(&self) -> Producers {
        Producers::new(self.inner.catalog.clone(), self.inner.producers.clone())
            .with_splitter(Arc::new(self.pipeline()))
    }

    /// Register `name` or start its next epoch, fencing the previous
    /// instance: [`Producers::init_producer`].
    pub fn init_producer(&self, name: &str) -> Result<ProducerSession> {
        self.producers().init_producer(name)
    }

    /// The producer of `millrace replay`'s job `job`: [`Producers::init_replay_producer`].
    pub fn init_replay_producer(&self, job: &str) -> Result<ProducerSession> {
        self.producers().init_replay_producer(job)
    }

    /// [`Store::init_producer`] on behalf of `owner`: [`Producers::init_producer_as`].
    pub fn init_producer_as(&self, name: &str, owner: &str) -> Result<Option<ProducerSession>> {
        self.producers().init_producer_as(name, owner)
    }

    /// May `owner` write as `producer_id` (claiming it if it has no owner)?
    /// [`Producers::producer_usable_by`].
    pub fn producer_usable_by(&self, producer_id: u64, owner: &str) -> Result<bool> {
        self.producers().producer_usable_by(producer_id, owner)
    }

    /// The owner recorded for `producer_id`: [`Producers::producer_owner`].
    pub fn producer_owner(&self, producer_id: u64) -> Option<String> {
        self.producers().producer_owner(producer_id)
    }

    /// Append `records` as one batch from a registered producer:
    /// [`Producers::append_sequenced`].
    pub fn append_sequenced(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        stamp: ProducerStamp,
    ) -> Result<ProducerAppend> {
        self.producers().append_sequenced(topic, partition, records, stamp)
    }

    /// The current epoch of a registered producer id: [`Producers::producer_epoch`].
    pub fn producer_epoch(&self, producer_id: u64) -> Option<u16> {
        self.producers().producer_epoch(producer_id)
    }
}

impl Producer {
    /// `init_producer(name)` and resume where the previous instance stopped.
    pub fn init(store: &Store, name: &str) -> Result<Producer> {
        Producer::init_with(&store.producers(), name)
    }
}
