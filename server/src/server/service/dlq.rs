//! Failed records and dead-letter topics.

use millrace::{ProducerId, ReadOptions};

use super::{invalid, Service, ServiceResult, Session, DLQ_LIST_RECORDS_MAX};

/// A failed record to count (and dead-letter once out of attempts).
#[derive(Debug, Clone)]
pub struct RecordFailure<'a> {
    pub producer: ProducerId,
    pub group: &'a str,
    pub topic: &'a str,
    pub partition: u32,
    pub offset: u64,
    pub stage: &'a str,
    pub error_class: &'a str,
    pub error_message: &'a str,
    pub max_attempts: u32,
}

impl Service {
    /// The record is read by the server (never taken from the client) so
    /// that what lands in the DLQ is what the log holds.
    pub fn fail_record(
        &self,
        session: &Session,
        failure: &RecordFailure<'_>,
    ) -> ServiceResult<millrace::dlq::FailOutcome> {
        session.check_group(failure.group)?;
        session.check_producer(&self.store, failure.producer.id)?;
        let _admitted = self
            .group_budget
            .admit(&self.store, &session.principal, [failure.group])?;
        let read = self.store.read_with(
            failure.topic,
            failure.partition,
            failure.offset,
            ReadOptions {
                max_bytes: 1,
                max_records: 1,
            },
            millrace::Isolation::ReadCommitted,
        )?;
        let record = read
            .records
            .into_iter()
            .find(|r| r.offset == failure.offset)
            .ok_or_else(|| {
                invalid(format!(
                    "no committed record at offset {} of {}/{}",
                    failure.offset, failure.topic, failure.partition
                ))
            })?;
        let cause = millrace::dlq::Failure::new(failure.stage, failure.error_class, failure.error_message);
        Ok(self.store.dlq(failure.topic).fail_record(
            failure.producer,
            failure.group,
            failure.partition,
            &record,
            &cause,
            failure.max_attempts,
        )?)
    }

    /// The DLQ's entries under `filter` (at most [`DLQ_LIST_RECORDS_MAX`])
    /// and its stats.
    pub fn dlq_list(
        &self,
        topic: &str,
        filter: &millrace::dlq::DlqFilter,
    ) -> ServiceResult<(Vec<millrace::dlq::DlqEntry>, millrace::dlq::DlqStats)> {
        if let Some(n) = filter.limit.filter(|n| *n > DLQ_LIST_RECORDS_MAX as usize) {
            return Err(invalid(format!(
                "dlq list max_records {n} is above {DLQ_LIST_RECORDS_MAX}"
            )));
        }
        let dlq = self.store.dlq(topic);
        let entries = dlq.list(filter)?;
        let stats = dlq.stats()?;
        Ok((entries, stats))
    }

    pub fn dlq_redrive(
        &self,
        topic: &str,
        options: &millrace::dlq::RedriveOptions,
    ) -> ServiceResult<millrace::dlq::RedriveReport> {
        Ok(self.store.dlq(topic).redrive(options)?)
    }

    /// Records purged.
    pub fn dlq_purge(&self, topic: &str, up_to_offset: u64) -> ServiceResult<u64> {
        Ok(self.store.dlq(topic).purge(up_to_offset)?)
    }
}
