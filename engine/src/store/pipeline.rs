//! The pipeline features' ways in ([`Store::transactions`], [`Store::dlq`])
//! and `Store`'s forwards to them.

use super::*;
use crate::pipeline::context::Pipeline;
use crate::pipeline::dlq::{
    Attempts, DeadLetterQueue, DlqEntry, DlqFilter, DlqStats, FailOutcome, Failure, RedriveOptions, RedriveReport,
    RoutedAppend,
};
use crate::pipeline::txn::{Transaction, Transactions, UnappliedPart};
use crate::ProducerId;

impl Store {
    /// What the transactions and the DLQ work over: the catalog and their state.
    pub(crate) fn pipeline(&self) -> Pipeline {
        Pipeline::new(
            self.inner.coordinator.clone(),
            self.inner.attempts.clone(),
            self.inner.producers.clone(),
            self.consumer_groups(),
        )
    }

    /// The transaction feature: begin transactions, what recovery could not
    /// apply. The methods below are forwards to it.
    pub fn transactions(&self) -> Transactions {
        Transactions::new(self.pipeline())
    }

    /// The DLQ of `topic` (`__dlq.<topic>`) and the failure counts of its
    /// records. The DLQ methods below are forwards to it.
    pub fn dlq(&self, topic: &str) -> DeadLetterQueue {
        DeadLetterQueue::new(self.pipeline(), topic)
    }

    /// [`Transactions::begin`].
    pub fn begin_transaction(&self, producer: ProducerId) -> Result<Transaction> {
        self.transactions().begin(producer)
    }

    /// [`Transactions::begin_with_timeout`].
    pub fn begin_transaction_with_timeout(&self, producer: ProducerId, timeout: Duration) -> Result<Transaction> {
        self.transactions().begin_with_timeout(producer, timeout)
    }

    /// [`Transactions::unapplied_parts`].
    pub fn unapplied_transaction_parts(&self) -> Vec<UnappliedPart> {
        self.transactions().unapplied_parts()
    }

    /// [`DeadLetterQueue::list`].
    pub fn dlq_list(&self, topic: &str, filter: &DlqFilter) -> Result<Vec<DlqEntry>> {
        self.dlq(topic).list(filter)
    }

    /// [`DeadLetterQueue::get`].
    pub fn dlq_get(&self, topic: &str, offset: u64) -> Result<Option<DlqEntry>> {
        self.dlq(topic).get(offset)
    }

    /// [`DeadLetterQueue::stats`].
    pub fn dlq_stats(&self, topic: &str) -> Result<DlqStats> {
        self.dlq(topic).stats()
    }

    /// [`DeadLetterQueue::purge`].
    pub fn dlq_purge(&self, topic: &str, offset: u64) -> Result<u64> {
        self.dlq(topic).purge(offset)
    }

    /// [`DeadLetterQueue::redrive`].
    pub fn dlq_redrive(&self, topic: &str, options: &RedriveOptions) -> Result<RedriveReport> {
        self.dlq(topic).redrive(options)
    }

    /// [`DeadLetterQueue::append_routed`].
    pub fn append_routed(&self, topic: &str, partition: u32, records: &[Record]) -> Result<RoutedAppend> {
        self.dlq(topic).append_routed(partition, records)
    }

    /// [`DeadLetterQueue::record_failure`].
    pub fn record_failure(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<Attempts> {
        self.dlq(topic).record_failure(group, partition, offset)
    }

    /// [`DeadLetterQueue::attempts`].
    pub fn attempts(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<Option<Attempts>> {
        self.dlq(topic).attempts(group, partition, offset)
    }

    /// [`DeadLetterQueue::fail_record`].
    #[expect(
        clippy::too_many_arguments,
        reason = "the record's coordinates and the failure, as before the handle; `store.dlq(topic).fail_record` takes a `Failure`"
    )]
    pub fn fail_record(
        &self,
        producer: ProducerId,
        group: &str,
        topic: &str,
        partition: u32,
        record: &crate::StoredRecord,
        stage: &str,
        error_class: &str,
        error_message: &str,
        max_attempts: u32,
    ) -> Result<FailOutcome> {
        let failure = Failure::new(stage, error_class, error_message);
        self.dlq(topic)
            .fail_record(producer, group, partition, record, &failure, max_attempts)
    }
}
