//! Transactions, held in the session (connection-scoped).

use millrace::{ProducerId, Record};

use super::offsets::check_offset_commit_entries;
use super::{invalid, Service, ServiceResult, Session, TRANSACTIONS_PER_CONNECTION_MAX};

impl Service {
    /// Begin a transaction; its id on this session.
    pub fn txn_begin(&self, session: &mut Session, producer: ProducerId) -> ServiceResult<u64> {
        if session.transactions.len() >= TRANSACTIONS_PER_CONNECTION_MAX {
            return Err(invalid(format!(
                "at most {TRANSACTIONS_PER_CONNECTION_MAX} open transactions per connection"
            )));
        }
        session.check_producer(&self.store, producer.id)?;
        let transaction = self.store.transactions().begin(producer)?;
        let transaction_id = session.next_transaction_id;
        session.next_transaction_id += 1;
        session.transactions.insert(transaction_id, transaction);
        Ok(transaction_id)
    }

    pub fn txn_append(
        &self,
        session: &mut Session,
        transaction_id: u64,
        topic: &str,
        partition: u32,
        records: &[Record],
    ) -> ServiceResult<()> {
        Ok(session.transaction(transaction_id)?.append(topic, partition, records)?)
    }

    /// `commits`: (topic, partition, offset, metadata). A group under the
    /// replay prefix records a replay job's progress (the front checked the
    /// admin permission): only in a transaction of the job's own producer.
    pub fn txn_commit_offsets(
        &self,
        session: &mut Session,
        transaction_id: u64,
        group: &str,
        commits: &[(String, u32, u64, Vec<u8>)],
    ) -> ServiceResult<()> {
        session.check_group(group)?;
        check_offset_commit_entries(commits.len())?;
        session.stage_group(self, transaction_id, group)?;
        let transaction = session.transaction(transaction_id)?;
        if let Some(job) = group.strip_prefix(millrace::names::REPLAY_PREFIX) {
            for (topic, partition, offset, metadata) in commits {
                transaction.commit_replay_progress(job, topic, *partition, *offset, metadata)?;
            }
            return Ok(());
        }
        for (topic, partition, offset, metadata) in commits {
            transaction.commit_offset(group, topic, *partition, *offset, metadata)?;
        }
        Ok(())
    }

    /// Dead-letter `consumed` (as the client read it) in the transaction.
    pub fn txn_dead_letter(
        &self,
        session: &mut Session,
        transaction_id: u64,
        group: &str,
        consumed: &millrace::ConsumedRecord,
        failure: &millrace::dlq::Failure<'_>,
    ) -> ServiceResult<()> {
        session.check_group(group)?;
        session.stage_group(self, transaction_id, group)?;
        Ok(session
            .transaction(transaction_id)?
            .dead_letter(group, consumed, failure)?)
    }

    pub fn txn_commit(&self, session: &mut Session, transaction_id: u64) -> ServiceResult<millrace::txn::CommitInfo> {
        let transaction = session.take_transaction(transaction_id)?;
        // The groups it adds, counted again with the commit: refused, the
        // transaction is aborted.
        let staged = session.staged_groups.remove(&transaction_id).unwrap_or_default();
        let _admitted = self
            .group_budget
            .admit(&self.store, &session.principal, staged.iter().map(String::as_str))?;
        Ok(transaction.commit()?)
    }

    pub fn txn_abort(&self, session: &mut Session, transaction_id: u64) -> ServiceResult<()> {
        let transaction = session.take_transaction(transaction_id)?;
        session.staged_groups.remove(&transaction_id);
        transaction.abort();
        Ok(())
    }
}
