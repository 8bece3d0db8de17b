//! Kafka transactions (issue 21, design/kafka.md "Transactions"): the
//! engine calls and checks of a transaction keyed by producer id. The
//! native front's transactions live in the [`Session`] (connection-scoped);
//! a Kafka client reaches its transaction coordinator over another
//! connection than its Produce requests, so the Kafka front keeps the open
//! [`Transaction`]s itself, keyed by producer id, and calls these methods
//! with the session of whichever connection the request came on.

use std::collections::BTreeSet;
use std::time::Duration;

use millrace::txn::Transaction;
use millrace::{ProducerId, ProducerSession};

use super::offsets::check_offset_commit_entries;
use super::{Service, ServiceResult, Session};

/// The registry name of a Kafka transactional producer.
pub const KAFKA_TRANSACTIONAL_PREFIX: &str = "kafka.txn/";

/// Kafka's producer epochs are `int16`.
pub const KAFKA_EPOCH_MAX: u16 = i16::MAX as u16;

impl Service {
    /// Register `kafka.txn/<transactional_id>` or start its next epoch,
    /// fencing the previous instance (as the native `InitProducer`, with the
    /// session's producer ownership).
    /// Kafka's epochs are `int16`: past [`KAFKA_EPOCH_MAX`] the name moves
    /// to a new producer id at epoch 0 (`Producers::init_producer_capped`),
    /// which fences the previous instance as surely.
    pub fn kafka_txn_init(&self, session: &Session, transactional_id: &str) -> ServiceResult<ProducerSession> {
        let name = format!("{KAFKA_TRANSACTIONAL_PREFIX}{transactional_id}");
        self.store
            .producers()
            .init_producer_capped(&name, session.producer_owner(), KAFKA_EPOCH_MAX)?
            .ok_or_else(super::producer_denied)
    }

    /// The longest transaction timeout a producer may ask for
    /// (`StoreOptions::transaction_timeout_max`).
    pub fn kafka_txn_timeout_max(&self) -> Duration {
        self.store.options().transaction_timeout_max
    }

    /// The store's default transaction timeout.
    pub fn kafka_txn_timeout_default(&self) -> Duration {
        self.store.options().transaction_timeout
    }

    /// Refuse a producer another principal registered.
    pub fn kafka_txn_check_producer(&self, session: &Session, producer_id: u64) -> ServiceResult<()> {
        session.check_producer(&self.store, producer_id)
    }

    /// The producer's current epoch (`None`: not registered).
    pub fn kafka_txn_current_epoch(&self, producer_id: u64) -> Option<u16> {
        self.store.producer_epoch(producer_id)
    }

    /// Begin a transaction of `producer` that cannot commit after `timeout`.
    pub fn kafka_txn_begin(
        &self,
        session: &Session,
        producer: ProducerId,
        timeout: Duration,
    ) -> ServiceResult<Transaction> {
        session.check_producer(&self.store, producer.id)?;
        Ok(self.store.begin_transaction_with_timeout(producer, timeout)?)
    }

    /// Does `topic`/`partition` exist?
    pub fn kafka_txn_partition(&self, topic: &str, partition: u32) -> ServiceResult<()> {
        self.store.offsets(topic, partition)?;
        Ok(())
    }

    /// Buffer `records` for `topic`/`partition` in `transaction`.
    pub fn kafka_txn_append<R: millrace::AppendRecord>(
        &self,
        transaction: &mut Transaction,
        topic: &str,
        partition: u32,
        records: &[R],
    ) -> ServiceResult<Option<i64>> {
        transaction.append_records(topic, partition, records)?;
        Ok(transaction.last_log_append_time_ms())
    }

    /// May the session commit offsets of `group`? Counted against the
    /// token's `groups_max` with the groups the transaction already staged
    /// (`staged`, noted there).
    pub fn kafka_txn_stage_group(
        &self,
        session: &Session,
        group: &str,
        staged: &mut BTreeSet<String>,
    ) -> ServiceResult<()> {
        session.check_group(group)?;
        self.group_budget.stage(&self.store, &session.principal, group, staged)
    }

    /// Commit `commits` (topic, partition, offset, metadata) of `group`
    /// with `transaction`.
    pub fn kafka_txn_commit_offsets(
        &self,
        session: &Session,
        transaction: &mut Transaction,
        group: &str,
        commits: &[(&str, u32, u64, &[u8])],
    ) -> ServiceResult<()> {
        session.check_group(group)?;
        check_offset_commit_entries(commits.len())?;
        for (topic, partition, offset, metadata) in commits {
            transaction.commit_offset(group, topic, *partition, *offset, metadata)?;
        }
        Ok(())
    }

    /// One durable commit record, answered there (as a Kafka broker answers
    /// EndTxn once its prepare record is written); the parts are written
    /// and synced after the answer, and everything becomes visible at once
    /// when they are durable (`Transaction::commit_at_commit_point`).
    /// Returns the transaction's sequence. The groups it adds (`staged`)
    /// are counted again with the commit.
    pub fn kafka_txn_commit(
        &self,
        session: &Session,
        transaction: Transaction,
        staged: &BTreeSet<String>,
    ) -> ServiceResult<u32> {
        let _admitted = self
            .group_budget
            .admit(&self.store, &session.principal, staged.iter().map(String::as_str))?;
        Ok(transaction.commit_at_commit_point()?)
    }
}
