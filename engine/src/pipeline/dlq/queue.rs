//! The handle of one topic's DLQ ([`crate::Store::dlq`]): its records, its
//! depth, redrive and purge, and the failures counted on the topic's records.

use super::{
    Attempts, DlqEntry, DlqFilter, DlqStats, FailOutcome, Failure, RedriveOptions, RedriveReport, RoutedAppend,
};
use crate::error::Result;
use crate::log::batch::{Record, StoredRecord};
use crate::pipeline::context::Pipeline;
use crate::producer::ProducerId;

/// The dead-letter queue of one topic (`__dlq.<topic>`) and the failure
/// counts of the topic's records. Cheap to clone; like every handle it keeps
/// the store open while it lives. A topic that does not exist is reported by
/// each call, not by [`crate::Store::dlq`].
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    pipeline: Pipeline,
    topic: String,
}

impl DeadLetterQueue {
    pub(crate) fn new(pipeline: Pipeline, topic: &str) -> DeadLetterQueue {
        DeadLetterQueue {
            pipeline,
            topic: topic.to_string(),
        }
    }

    /// The source topic whose DLQ this is.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The DLQ records matching `filter`.
    pub fn list(&self, filter: &DlqFilter) -> Result<Vec<DlqEntry>> {
        self.pipeline.dlq_list(&self.topic, filter)
    }

    /// The DLQ record at `offset`, if there is one (nothing is removed).
    pub fn get(&self, offset: u64) -> Result<Option<DlqEntry>> {
        self.pipeline.dlq_get(&self.topic, offset)
    }

    /// Depth and oldest age.
    pub fn stats(&self) -> Result<DlqStats> {
        self.pipeline.dlq_stats(&self.topic)
    }

    /// Remove the DLQ records below `offset`.
    pub fn purge(&self, offset: u64) -> Result<u64> {
        self.pipeline.dlq_purge(&self.topic, offset)
    }

    /// Re-append DLQ records to their source topic (or `target_topic`).
    /// Exactly once: each re-appended record's mark (`__redriven`) and the
    /// progress (the committed offset of the group `__redrive.<target>` on
    /// the DLQ) are written in the same transaction as the records, and a
    /// marked record is never appended again, so a second run, a resumed one
    /// or one started lower with `from_offset` never appends a record twice.
    pub fn redrive(&self, options: &RedriveOptions) -> Result<RedriveReport> {
        self.pipeline.dlq_redrive(&self.topic, options)
    }

    /// Append with the topic's routing rule: when `route_invalid_to_dlq` is set,
    /// records refused by validation go to the DLQ (stage `produce`, error
    /// class `InvalidRecord`) and the rest are appended as one batch; otherwise
    /// this is `append`. The DLQ records are durable before the valid batch is
    /// written, so a crash between the two can leave them in the DLQ without
    /// the batch (a producer retry then dead-letters them again).
    pub fn append_routed(&self, partition: u32, records: &[Record]) -> Result<RoutedAppend> {
        self.pipeline.append_routed(&self.topic, partition, records)
    }

    /// Durably count one failed attempt of `group` at the record at `offset`.
    pub fn record_failure(&self, group: &str, partition: u32, offset: u64) -> Result<Attempts> {
        self.pipeline.record_failure(group, &self.topic, partition, offset)
    }

    /// Failures counted so far for `group` on the record at `offset`.
    pub fn attempts(&self, group: &str, partition: u32, offset: u64) -> Result<Option<Attempts>> {
        self.pipeline.attempts(group, &self.topic, partition, offset)
    }

    /// Mark `record` (read from this topic's `partition` by `group`) failed
    /// for `failure`:
    /// count the attempt durably, and at `max_attempts` failures move it to
    /// the DLQ in one transaction.
    ///
    /// The group's committed offset moves past the record in that
    /// transaction only if the record is the group's next one (the
    /// committed offset is the record's offset, or nothing is committed and
    /// the record is the first in the partition): then no earlier record the
    /// caller polled with it can still be unfinished. Otherwise the offset
    /// stays where it is, and the caller's own commit moves past the record
    /// once everything before it is done. A record the group already
    /// dead-lettered (redelivered because that commit did not happen) is not
    /// dead-lettered again: the answer names the DLQ record it has. Inside
    /// a transaction, use [`crate::txn::Transaction::fail_record`].
    pub fn fail_record(
        &self,
        producer: ProducerId,
        group: &str,
        partition: u32,
        record: &StoredRecord,
        failure: &Failure<'_>,
        max_attempts: u32,
    ) -> Result<FailOutcome> {
        self.pipeline.fail_record(
            producer,
            group,
            &self.topic,
            partition,
            record,
            failure.stage,
            failure.error_class,
            failure.error_message,
            max_attempts,
        )
    }
}
