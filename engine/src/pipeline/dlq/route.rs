//! Routing a request's records by the topic's contract (contract/check.rs)
//! and, for a topic with `route_invalid_to_dlq`, by its limits: records for
//! the DLQ are written in ONE transaction with the request's valid records
//! (a crash leaves both or neither: recovery applies the commit record
//! again), a `reject` verdict refuses the whole request before anything is
//! written. Rules: design/contracts.md, "Enforcement".

use super::{ensure_dlq_topic, Attempts, ContractFailure, DeadLetter, Failure, RoutedAppend, NO_SOURCE_OFFSET};
use crate::contract::check::{violation, Action, Checks, Judge, Kept, RecordView, Tally};
use crate::error::{Error, Result};
use crate::log::batch::{AppendRecord, ProducerStamp, Record};
use crate::log::dedup::Admission;
use crate::log::partition::AppendInfo;
use crate::pipeline::context::Pipeline;
use crate::producer::ProducerId;

/// The producer the store's routed appends commit their transactions as.
const ROUTER_PRODUCER: &str = "__contracts";

/// What the topic's check made of a request that may be appended: the
/// records for the DLQ (none: append the request as it is).
#[derive(Debug, Default)]
pub(crate) struct Routing {
    /// The topic's check with its counters, to tell of the records appended.
    pub(crate) judge: Option<Judge>,
    /// (index in the request, DLQ record) of each record for the DLQ, in order.
    pub(crate) letters: Vec<(usize, Record)>,
    /// The first record for the DLQ as a refusal, for the requests that
    /// refuse a record for the DLQ (a redrive).
    first_letter: Option<Error>,
    /// The verdicts, added to the topic's adherence counters when the
    /// routing is dropped, unless the request was a retry answered as a
    /// duplicate ([`Routing::duplicate`]): a retried batch counts once.
    tally: Option<Tally>,
    /// What the check kept of the request's records for observing them.
    kept: Option<Kept>,
    /// How many records the request had.
    judged: usize,
}

impl Drop for Routing {
    fn drop(&mut self) {
        if let (Some(judge), Some(tally)) = (&self.judge, self.tally.take()) {
            judge.count(&tally);
        }
    }
}

impl Routing {
    /// The request was a retry of a batch already appended (and counted):
    /// its verdicts are not counted again.
    pub(crate) fn duplicate(&mut self) {
        self.tally = None;
    }

    /// Tell the check of the records appended at `base_offset..` (owned,
    /// or borrowed from a request: looked at where they are). What the
    /// check kept of the request's records goes with them when they are
    /// the request's records, every one appended.
    pub(crate) fn observe<R: AppendRecord>(&self, partition: u32, base_offset: u64, appended: &[R]) {
        if let Some(judge) = &self.judge {
            if !appended.is_empty() {
                let views: Vec<RecordView<'_>> = appended.iter().map(RecordView::of).collect();
                let whole = self.letters.is_empty() && appended.len() == self.judged;
                judge.observe_views(partition, base_offset, &views, self.kept.as_ref().filter(|_| whole));
            }
        }
    }

    /// The first record for the DLQ, as the violation it broke.
    pub(crate) fn first_letter(&self) -> Option<&Error> {
        self.first_letter.as_ref()
    }

    /// The records of `records` not routed to the DLQ.
    pub(crate) fn valid(&self, records: &[Record]) -> Vec<Record> {
        let mut routed = self.letters.iter().map(|(i, _)| *i).peekable();
        let mut valid = Vec::with_capacity(records.len().saturating_sub(self.letters.len()));
        for (i, record) in records.iter().enumerate() {
            if routed.peek() == Some(&i) {
                routed.next();
            } else {
                valid.push(record.clone());
            }
        }
        valid
    }
}

/// Judge every record of a request to `topic`/`partition` with the topic's
/// check (`None` installed: nothing to do, one map lookup). Every record is
/// judged (and counted); the first whose verdict is `reject` refuses the
/// request (`ContractViolation`); `dlq` verdicts become DLQ records
/// (provenance: `stage`, error class `contract.<rule>`, the contract
/// version, rule and path); `warn` verdicts are appended. `records` are
/// owned or borrowed from a request ([`AppendRecord`]): judged where they
/// are, only a record for the DLQ is copied (into its DLQ record).
pub(crate) fn judge_request<R: AppendRecord>(
    checks: &Checks,
    topic: &str,
    partition: u32,
    records: &[R],
    stage: &str,
) -> Result<Routing> {
    let Some(judge) = checks.judge(topic) else {
        return Ok(Routing::default());
    };
    let mut letters = Vec::new();
    let mut refused = None;
    let mut first_letter = None;
    let mut tally = Tally::default();
    let views: Vec<RecordView<'_>> = records.iter().map(RecordView::of).collect();
    let kept = judge.check_each_into(partition, &views, &mut tally, &mut |index, verdict| {
        let (Some(action), Some(decisive), Some(record)) = (verdict.action(), verdict.decisive(), records.get(index))
        else {
            return;
        };
        match action {
            Action::Warn => {}
            Action::Reject => {
                if refused.is_none() {
                    refused = Some(violation(topic, partition, index, &verdict));
                }
            }
            Action::Dlq => {
                if first_letter.is_none() {
                    first_letter = Some(violation(topic, partition, index, &verdict));
                }
                let class = format!("contract.{}", decisive.rule);
                let failure = Failure::new(stage, &class, &decisive.message);
                let source = (topic, partition, NO_SOURCE_OFFSET);
                let mut letter = DeadLetter::new(source, "", &failure, Attempts::first_now(), 0, record.to_record());
                letter.contract = Some(ContractFailure {
                    contract_version: verdict.contract_version,
                    rule: decisive.rule.clone(),
                    path: decisive.path.clone(),
                });
                letters.push((index, letter.to_record()));
            }
        }
    });
    if let Some(error) = refused {
        // A refused batch is not remembered: each send of it counts.
        judge.count(&tally);
        return Err(error);
    }
    Ok(Routing {
        judge: Some(judge),
        letters,
        first_letter,
        tally: Some(tally),
        kept,
        judged: records.len(),
    })
}

impl Pipeline {
    /// The checks in force (contract/check.rs).
    pub(crate) fn checks(&self) -> &Checks {
        &self.catalog().checks
    }

    /// The producer routed appends commit as: registered (a new epoch) once
    /// per open store, again if the registry forgot it (idle expiry).
    fn router_producer(&self, renew: bool) -> Result<ProducerId> {
        let mut router = self.attempt_table().router.lock();
        if let Some(id) = *router {
            if !renew {
                return Ok(id);
            }
        }
        let id = self.producers().init_producer_internal(ROUTER_PRODUCER)?.id();
        *router = Some(id);
        Ok(id)
    }

    /// Append `records` to `topic`/`partition` without the records at the
    /// indices of `letters`, and `letters` to the topic's DLQ, in one
    /// transaction: both are written or neither (a crash after the commit
    /// point is finished by recovery). The valid records are acknowledged
    /// under the commit record's fdatasync (and their topic's durability).
    pub(crate) fn commit_routed(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        routing: &Routing,
    ) -> Result<RoutedAppend> {
        self.commit_routed_claiming(topic, partition, records, routing, None)
    }

    /// [`Pipeline::commit_routed`] for an idempotent producer's batch
    /// (design/contracts.md, "Idempotent batches"): a retry of a batch the
    /// partition remembers is answered its offsets and writes nothing (no
    /// record is dead-lettered twice); else the transaction also claims the
    /// batch's sequences (every record it carries, those sent to the DLQ
    /// too), so the producer's next batch follows it. `Ok((routed,
    /// duplicate))`; errors of a sequenced append (`OutOfOrderSequence`,
    /// `Fenced`, `UnknownProducer`) write nothing.
    pub(crate) fn commit_routed_sequenced(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        routing: &Routing,
        stamp: ProducerStamp,
    ) -> Result<(RoutedAppend, bool)> {
        let _one_at_a_time = self.attempt_table().split.lock();
        let count = u32::try_from(records.len()).map_err(|_| Error::invalid("records", "too many for one batch"))?;
        let p = self.partition(topic, partition)?;
        if let Admission::Duplicate {
            base_offset,
            next_offset,
        } = p.admit_sequence(stamp, count)?
        {
            let routed = RoutedAppend {
                appended: Some(AppendInfo {
                    base_offset,
                    next_offset,
                    log_append_time_ms: None,
                }),
                dead_lettered: Vec::new(),
            };
            return Ok((routed, true));
        }
        let routed = self.commit_routed_claiming(topic, partition, records, routing, Some((stamp, count)))?;
        Ok((routed, false))
    }

    fn commit_routed_claiming(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        routing: &Routing,
        claim: Option<(ProducerStamp, u32)>,
    ) -> Result<RoutedAppend> {
        let valid = routing.valid(records);
        let dlq = ensure_dlq_topic(self, topic)?;
        let dlq_records: Vec<Record> = routing.letters.iter().map(|(_, r)| r.clone()).collect();
        let producer = self.router_producer(false)?;
        let mut txn = match self.begin_transaction(producer) {
            Err(Error::UnknownProducer { .. } | Error::Fenced { .. }) => {
                self.begin_transaction(self.router_producer(true)?)?
            }
            other => other?,
        };
        let mut append_time = None;
        if !valid.is_empty() {
            // Already judged: appended as they are.
            txn.append_internal(topic, partition, &valid)?;
            append_time = txn.last_log_append_time_ms();
        }
        txn.append_internal(&dlq, 0, &dlq_records)?;
        if let Some((stamp, count)) = claim {
            let appended = u32::try_from(valid.len()).unwrap_or(count);
            txn.claim_sequence(topic, partition, stamp, count, appended);
        }
        let info = txn.commit()?;
        let mut routed = RoutedAppend::default();
        for part in &info.parts {
            if part.topic == dlq {
                routed.dead_lettered = routing
                    .letters
                    .iter()
                    .zip(part.base_offset..)
                    .map(|((i, _), offset)| (*i, offset))
                    .collect();
            } else if part.topic == topic && part.partition == partition {
                routed.appended = Some(AppendInfo {
                    base_offset: part.base_offset,
                    next_offset: part.next_offset,
                    log_append_time_ms: append_time,
                });
            }
        }
        if let Some(appended) = routed.appended {
            routing.observe(partition, appended.base_offset, &valid);
        }
        Ok(routed)
    }
}

impl crate::producer::SplitAppend for Pipeline {
    fn append_sequenced_judged(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        stamp: ProducerStamp,
    ) -> Result<crate::producer::ProducerAppend> {
        if self.checks().get(topic).is_some() {
            // A retry is answered before it is judged: a contract applied
            // since the original must not change its answer.
            if let Some(info) = self.partition(topic, partition)?.remembered_batch(stamp, records) {
                return Ok(crate::producer::ProducerAppend {
                    base_offset: info.base_offset,
                    next_offset: info.next_offset,
                    duplicate: true,
                    log_append_time_ms: None,
                });
            }
        }
        let mut routing = judge_request(self.checks(), topic, partition, records, "produce")?;
        if routing.letters.is_empty() {
            let appended = self
                .producers()
                .append_sequenced_with_flags(topic, partition, records, stamp, 0)?;
            if appended.duplicate {
                routing.duplicate();
            } else {
                routing.observe(partition, appended.base_offset, records);
            }
            return Ok(appended);
        }
        let (routed, duplicate) = self.commit_routed_sequenced(topic, partition, records, &routing, stamp)?;
        if duplicate {
            routing.duplicate();
        }
        let info = routed.appended.unwrap_or_else(|| {
            let end = self.partition(topic, partition).map_or(0, |p| p.high_watermark());
            AppendInfo {
                base_offset: end,
                next_offset: end,
                log_append_time_ms: None,
            }
        });
        Ok(crate::producer::ProducerAppend {
            base_offset: info.base_offset,
            next_offset: info.next_offset,
            duplicate,
            log_append_time_ms: info.log_append_time_ms,
        })
    }
}
