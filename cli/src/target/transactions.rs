//! Producers and transactions on either side: registering a producer
//! and one transaction of appends and an offset commit.

use super::Target;
use crate::error::CliResult;
use millrace::Record;

impl Target {
    /// Register (or re-register, fencing the previous instance) a producer;
    /// a replay job's (`__replay.<job>`) through the engine's replay path
    /// (the server routes it the same way).
    pub fn init_producer(&self, name: &str) -> CliResult<(u64, u16)> {
        use millrace_server::messages::{InitProducer, Request, Response};
        match self {
            Target::Local(store) => {
                let session = match name.strip_prefix(millrace::names::REPLAY_PREFIX) {
                    Some(job) => store.init_replay_producer(job)?,
                    None => store.init_producer(name)?,
                };
                Ok((session.producer_id, session.epoch))
            }
            Target::Remote(r) => match r.request(Request::InitProducer(InitProducer { name: name.to_string() }))? {
                Response::ProducerInit(init) => Ok((init.producer_id, init.epoch)),
                other => Err(r.unexpected(&other)),
            },
        }
    }

    /// One transaction: append `batches` to `topic` and commit `group`'s
    /// offset `(source, partition) = offset` with `metadata`; all visible
    /// together or not at all.
    pub fn commit_transaction(
        &self,
        producer: (u64, u16),
        topic: &str,
        batches: &[(u32, Vec<Record>)],
        group: &str,
        source: (&str, u32, u64),
        metadata: &[u8],
    ) -> CliResult<()> {
        use millrace_server::messages::{
            PartitionOffset, Request, Response, TxnAppend, TxnBegin, TxnCommitOffsets, TxnEnd,
        };
        match self {
            Target::Local(store) => {
                let mut txn = store.begin_transaction(millrace::ProducerId::new(producer.0, producer.1))?;
                // A replay job's copies are checked against the destination's
                // contract of today, with stage `replay` in a dead letter's provenance.
                let stage = if group.starts_with(millrace::names::REPLAY_PREFIX) {
                    "replay"
                } else {
                    "produce"
                };
                for (partition, records) in batches {
                    txn.append_judged(topic, *partition, records, stage)?;
                }
                match group.strip_prefix(millrace::names::REPLAY_PREFIX) {
                    Some(job) => txn.commit_replay_progress(job, source.0, source.1, source.2, metadata)?,
                    None => txn.commit_offset(group, source.0, source.1, source.2, metadata)?,
                }
                txn.commit()?;
                Ok(())
            }
            Target::Remote(r) => {
                let transaction_id = match r.request(Request::TxnBegin(TxnBegin {
                    producer_id: producer.0,
                    epoch: producer.1,
                }))? {
                    Response::TxnBegun(begun) => begun.transaction_id,
                    other => return Err(r.unexpected(&other)),
                };
                for (partition, records) in batches {
                    r.request(Request::TxnAppend(TxnAppend {
                        transaction_id,
                        topic: topic.to_string(),
                        partition: *partition,
                        records: records.clone(),
                    }))?;
                }
                r.request(Request::TxnCommitOffsets(TxnCommitOffsets {
                    transaction_id,
                    group: group.to_string(),
                    offsets: vec![PartitionOffset {
                        topic: source.0.to_string(),
                        partition: source.1,
                        offset: source.2,
                        metadata: metadata.to_vec(),
                    }],
                }))?;
                r.request(Request::TxnCommit(TxnEnd { transaction_id }))?;
                Ok(())
            }
        }
    }
}
