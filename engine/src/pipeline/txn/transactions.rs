//! The transaction feature's handle ([`crate::Store::transactions`]): begin
//! transactions (alone, or bound to a [`Consumer`]), and what recovery could
//! not apply at open.

use super::{Transaction, UnappliedPart};
use crate::consumer::Consumer;
use crate::error::{Error, Result};
use crate::pipeline::context::Pipeline;
use crate::producer::ProducerId;
use std::sync::Arc;
use std::time::Duration;

/// The transactions of one store. Cheap to clone; like every handle it
/// keeps the store open while it lives.
#[derive(Debug, Clone)]
pub struct Transactions {
    pipeline: Pipeline,
}

impl Transactions {
    pub(crate) fn new(pipeline: Pipeline) -> Transactions {
        Transactions { pipeline }
    }

    /// Begin a transaction for a registered producer, with the store-wide
    /// `StoreOptions::transaction_timeout`. Open transactions live in memory
    /// only: a crash, an abort, a re-initialised producer (new epoch) or the
    /// timeout discards them without a trace.
    pub fn begin(&self, producer: ProducerId) -> Result<Transaction> {
        self.begin_with_timeout(producer, self.pipeline.catalog().options.transaction_timeout)
    }

    /// [`Transactions::begin`] with its own timeout instead of the
    /// store-wide `StoreOptions::transaction_timeout` (a Kafka producer's
    /// `transaction.timeout.ms`): the transaction cannot commit once it is
    /// older than `timeout`. `InvalidInput` (`what` = `"transaction_timeout"`)
    /// for zero or above `StoreOptions::transaction_timeout_max`; nothing begins.
    pub fn begin_with_timeout(&self, producer: ProducerId, timeout: Duration) -> Result<Transaction> {
        check_transaction_timeout(timeout, self.pipeline.catalog().options.transaction_timeout_max)?;
        self.pipeline.check_writable()?;
        self.pipeline
            .producers()
            .check_producer_epoch(producer.id, producer.epoch)?;
        Ok(Transaction::new(
            self.pipeline.clone(),
            producer.id,
            producer.epoch,
            timeout,
        ))
    }

    /// Parts of the last commit record that recovery could not apply at
    /// open (each also logged as a warning and counted in
    /// `MetricsSnapshot::transaction_parts_unapplied`).
    pub fn unapplied_parts(&self) -> Vec<UnappliedPart> {
        self.pipeline.coordinator().state.lock().unapplied.clone()
    }

    /// Finish the last transaction whose commit point was reached before a
    /// crash (at open, before anyone can read).
    pub(crate) fn recover(&self) -> Result<()> {
        super::recover(&self.pipeline)
    }
}

/// A transaction timeout is positive and at most `max`
/// (`StoreOptions::transaction_timeout_max`), else `InvalidInput` naming it.
pub(crate) fn check_transaction_timeout(timeout: Duration, max: Duration) -> Result<()> {
    if timeout.is_zero() || timeout > max {
        return Err(Error::invalid(
            "transaction_timeout",
            format!("{timeout:?} (must be positive and at most transaction_timeout_max, {max:?})"),
        ));
    }
    Ok(())
}

impl Consumer {
    /// Begin a transaction that consumes with this consumer: at `commit` it
    /// commits the consumer's current positions (everything polled so far,
    /// also while the transaction was open) for its group, with the records
    /// it writes. If it does not commit (`abort`, dropped, or `commit` fails)
    /// every position returns to the group's committed offset, so the next
    /// poll delivers the records again: nothing polled is skipped by a later
    /// commit. Rules: design/semantics.md, "Consumers in transactions".
    pub fn begin_transaction(&self, producer: ProducerId) -> Result<Transaction> {
        let source: &Arc<dyn std::any::Any + Send + Sync> = &self.transaction_source().0;
        let Some(transactions) = source.downcast_ref::<Transactions>() else {
            return Err(Error::invalid(
                "consumer",
                "it was not made by a store with transactions (Consumer::new gives it the store's)",
            ));
        };
        let mut txn = transactions.begin(producer)?;
        txn.bind_consumer(self.binding());
        Ok(txn)
    }
}

impl Pipeline {
    /// [`Transactions::begin`] (for the DLQ's own transactions).
    pub(crate) fn begin_transaction(&self, producer: ProducerId) -> Result<Transaction> {
        Transactions::new(self.clone()).begin(producer)
    }
}
