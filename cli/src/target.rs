// Over 600 lines: one small API with two arms per method (embedded store, `--server`), side by side on purpose.
//! Where a data command runs: on a data directory opened in this process
//! (offline), or against a running server through `millrace_server::Client`
//! (`--server ADDR`). Commands see one small API either way.

use crate::cli::GlobalArgs;
use crate::data;
use crate::error::{CliError, CliResult};
use millrace::offset_table::CommittedOffset;
use millrace::{DamagedScope, Durability, ReadOptions, Record, Store, StoredRecord, TopicConfig};
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::{Fetch, Isolation, Position};
use millrace_server::ClientError;
use std::time::{Duration, Instant};

/// A topic as both backends can describe it.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub config: TopicConfig,
    /// The durability in effect (the topic's or the store default).
    pub durability: Durability,
    pub partitions: Vec<PartitionNumbers>,
    /// Records in the topic's dead-letter partition.
    pub dlq_depth: u64,
    /// Partitions that failed to open, with their error (over a server:
    /// filled by [`Target::damaged`], the command's last request).
    pub damaged: Vec<(u32, String)>,
}

/// A topic (`partition` absent) or partition that failed to open.
#[derive(Debug, Clone)]
pub struct DamageRow {
    pub topic: String,
    pub partition: Option<u32>,
    pub error: String,
}

impl TopicInfo {
    /// Take the partitions of this topic among `rows` (a server's
    /// `DescribeDamage`, whose `DescribeTopic` lists only the partitions that
    /// opened): they count among the topic's partitions.
    pub fn add_damage(&mut self, rows: Vec<DamageRow>) {
        for row in rows {
            if let (true, Some(p)) = (row.topic == self.name, row.partition) {
                if !self.damaged.iter().any(|(q, _)| *q == p) {
                    self.damaged.push((p, row.error));
                }
            }
        }
        self.damaged.sort_by_key(|(p, _)| *p);
        let known = self.partitions.len() + self.damaged.len();
        self.config.partitions = self.config.partitions.max(u32::try_from(known).unwrap_or(u32::MAX));
    }
}

#[derive(Debug, Clone)]
pub struct PartitionNumbers {
    pub partition: u32,
    pub start_offset: u64,
    /// Offset just past the last visible record.
    pub end_offset: u64,
    /// Known offline only.
    pub segments: Option<usize>,
    pub bytes: u64,
}

impl TopicInfo {
    pub fn records(&self) -> u64 {
        self.partitions
            .iter()
            .map(|p| p.end_offset.saturating_sub(p.start_offset))
            .sum()
    }
}

/// What one read returned.
#[derive(Debug)]
pub struct ReadOutcome {
    pub records: Vec<StoredRecord>,
    pub next_offset: u64,
}

pub enum Target {
    Local(Store),
    Remote(Box<Remote>),
}

mod remote;

use remote::config_from_entries;
pub use remote::{client_options, remote_error, resolve_server, Remote};

impl Target {
    /// Connect to `--server`, or open `--data` (never creating it).
    pub fn open(global: &GlobalArgs) -> CliResult<Target> {
        match &global.server {
            Some(server) => Ok(Target::Remote(Box::new(Remote::connect(global, server)?))),
            None => Ok(Target::Local(data::open_existing(global)?)),
        }
    }

    /// Like `open`, for a command that only reads: offline, the data
    /// directory is not modified (`data::open_read_only`).
    pub fn open_read_only(global: &GlobalArgs) -> CliResult<Target> {
        match &global.server {
            Some(server) => Ok(Target::Remote(Box::new(Remote::connect(global, server)?))),
            None => Ok(Target::Local(data::open_read_only(global)?)),
        }
    }

    /// Like `open`, but creates the data directory offline.
    pub fn open_or_create(global: &GlobalArgs) -> CliResult<Target> {
        match &global.server {
            Some(server) => Ok(Target::Remote(Box::new(Remote::connect(global, server)?))),
            None => Ok(Target::Local(data::open_or_create(global, false)?)),
        }
    }

    /// The server connection, when online.
    pub fn remote(&self) -> Option<&Remote> {
        match self {
            Target::Local(_) => None,
            Target::Remote(r) => Some(r),
        }
    }

    /// The open store, when offline.
    pub fn local(&self) -> Option<&Store> {
        match self {
            Target::Local(store) => Some(store),
            Target::Remote(_) => None,
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Target::Remote(_))
    }

    pub fn create_topic(&self, name: &str, config: TopicConfig) -> CliResult<()> {
        match self {
            Target::Local(store) => Ok(store.create_topic(name, config)?),
            Target::Remote(r) => {
                // Only the keys set, so that an older server that does not
                // know a newer key (left at its default) still creates the topic.
                let entries = config.entries_set();
                let pairs: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (*k, v.as_str())).collect();
                r.call(r.client.create_topic(name, config.partitions, &pairs))
            }
        }
    }

    pub fn delete_topic(&self, name: &str) -> CliResult<()> {
        match self {
            Target::Local(store) => Ok(store.delete_topic(name)?),
            Target::Remote(r) => r.call(r.client.delete_topic(name)),
        }
    }

    /// Topics and partitions that failed to open: `topic`'s, or every
    /// topic's. Over a server this is `DescribeDamage`; a server older than
    /// it answers `UnknownOpcode` and closes the connection, so this must be
    /// the last request of a command, and such a server shows no damage.
    pub fn damaged(&self, topic: Option<&str>) -> CliResult<Vec<DamageRow>> {
        match self {
            Target::Local(store) => Ok(store
                .damaged()
                .into_iter()
                .map(|d| match d.scope {
                    DamagedScope::Topic { topic } => DamageRow {
                        topic,
                        partition: None,
                        error: d.error.to_string(),
                    },
                    DamagedScope::Partition { topic, partition } => DamageRow {
                        topic,
                        partition: Some(partition),
                        error: d.error.to_string(),
                    },
                })
                .filter(|row| topic.is_none_or(|t| t == row.topic))
                .collect()),
            Target::Remote(r) => match r.runtime.block_on(r.client.describe_damage(topic)) {
                Ok(report) => {
                    let mut rows: Vec<DamageRow> = report
                        .entries
                        .into_iter()
                        .map(|e| DamageRow {
                            topic: e.topic,
                            partition: e.partition,
                            error: e.message,
                        })
                        .collect();
                    if report.truncated {
                        rows.push(DamageRow {
                            topic: topic.unwrap_or("*").to_string(),
                            partition: None,
                            error: "more damage than the server's answer holds: run `millrace check` on its data \
                                    directory for the whole list"
                                .to_string(),
                        });
                    }
                    Ok(rows)
                }
                Err(ClientError::Server(wire)) if wire.code == ErrorCode::UnknownOpcode => Ok(Vec::new()),
                Err(e) => Err(remote_error(r.addr, e)),
            },
        }
    }

    /// Whether topic `name` as a whole failed to open (offline only: over a
    /// server the delete itself answers).
    pub fn whole_topic_damaged(&self, name: &str) -> bool {
        match self {
            Target::Local(store) => store
                .damaged()
                .iter()
                .any(|d| matches!(&d.scope, DamagedScope::Topic { topic } if topic == name)),
            Target::Remote(_) => false,
        }
    }

    pub fn list_topics(&self) -> CliResult<Vec<String>> {
        match self {
            Target::Local(store) => Ok(store.list_topics()),
            Target::Remote(r) => Ok(r
                .call(r.client.list_topics())?
                .into_iter()
                .filter(|n| !millrace::names::is_internal(n))
                .collect()),
        }
    }

    pub fn describe(&self, name: &str) -> CliResult<TopicInfo> {
        match self {
            Target::Local(store) => {
                let d = store.describe_topic(name)?;
                let dlq_depth = store.dlq_stats(name)?.depth;
                Ok(TopicInfo {
                    dlq_depth,
                    damaged: d.damaged_partitions.iter().map(|(p, e)| (*p, e.to_string())).collect(),
                    name: d.name,
                    durability: d.durability,
                    config: d.config,
                    partitions: d
                        .partitions
                        .iter()
                        .map(|p| PartitionNumbers {
                            partition: p.partition,
                            start_offset: p.log_start_offset,
                            end_offset: p.high_watermark,
                            segments: Some(p.segments),
                            bytes: p.bytes,
                        })
                        .collect(),
                })
            }
            Target::Remote(r) => {
                let d = r.call(r.client.describe_topic(name))?;
                let (config, durability) = config_from_entries(r.addr, name, d.partitions.len() as u32, &d.config)?;
                let listing = r.request(millrace_server::messages::Request::DlqList(
                    millrace_server::messages::DlqList {
                        topic: name.to_string(),
                        from_offset: 0,
                        max_records: 1,
                        error_contains: None,
                        source_partition: None,
                        since_ms: None,
                        until_ms: None,
                    },
                ))?;
                let dlq_depth = match listing {
                    millrace_server::messages::Response::DlqListing(l) => l.depth,
                    other => return Err(r.unexpected(&other)),
                };
                Ok(TopicInfo {
                    dlq_depth,
                    damaged: Vec::new(),
                    name: d.name,
                    config,
                    durability: durability.unwrap_or(Durability::Always),
                    partitions: d
                        .partitions
                        .iter()
                        .map(|p| PartitionNumbers {
                            partition: p.partition,
                            start_offset: p.start_offset,
                            end_offset: p.end_offset,
                            segments: None,
                            bytes: p.bytes,
                        })
                        .collect(),
                })
            }
        }
    }

    pub fn partition_count(&self, topic: &str) -> CliResult<u32> {
        match self {
            Target::Local(store) => Ok(store.partition_count(topic)?),
            Target::Remote(_) => Ok(self.describe(topic)?.partitions.len() as u32),
        }
    }

    /// `[start, end)` offsets of a partition.
    pub fn offsets(&self, topic: &str, partition: u32) -> CliResult<(u64, u64)> {
        match self {
            Target::Local(store) => Ok(store.offsets(topic, partition)?),
            Target::Remote(_) => {
                let info = self.describe(topic)?;
                let p = info
                    .partitions
                    .iter()
                    .find(|p| p.partition == partition)
                    .ok_or_else(|| CliError::new(format!("partition {partition} does not exist in topic {topic:?}")))?;
                Ok((p.start_offset, p.end_offset))
            }
        }
    }

    /// Append one batch; returns `(base_offset, next_offset)`.
    pub fn append(&self, topic: &str, partition: u32, records: Vec<Record>) -> CliResult<(u64, u64)> {
        match self {
            Target::Local(store) => {
                let info = store.append(topic, partition, &records)?;
                Ok((info.base_offset, info.next_offset))
            }
            Target::Remote(r) => {
                let produced = r.call(r.client.produce(topic, partition, records))?;
                Ok((produced.base_offset, produced.next_offset))
            }
        }
    }

    /// Earliest offset with a timestamp at or after `timestamp_ms`.
    pub fn offset_for_time(&self, topic: &str, partition: u32, timestamp_ms: i64) -> CliResult<Option<u64>> {
        match self {
            Target::Local(store) => Ok(store.offset_for_time(topic, partition, timestamp_ms)?),
            Target::Remote(r) => {
                let fetched = r.call(r.client.fetch_with(Fetch {
                    topic: topic.to_string(),
                    partition,
                    position: Position::Time(timestamp_ms),
                    max_bytes: 64 * 1024,
                    max_records: 1,
                    isolation: Isolation::ReadCommitted,
                    max_wait_ms: 0,
                }))?;
                Ok(fetched.records.first().map(|r| r.offset))
            }
        }
    }

    /// Read from `offset`; with `wait`, block up to that long for a first record.
    pub fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
        wait: Option<Duration>,
    ) -> CliResult<ReadOutcome> {
        match self {
            Target::Local(store) => {
                if let Some(wait) = wait {
                    store.wait_for(topic, partition, offset, wait)?;
                }
                let options = ReadOptions {
                    max_records,
                    ..ReadOptions::default()
                };
                let result = store.read(topic, partition, offset, options)?;
                Ok(ReadOutcome {
                    records: result.records,
                    next_offset: result.next_offset,
                })
            }
            Target::Remote(r) => {
                let fetched = r.call(r.client.fetch_with(Fetch {
                    topic: topic.to_string(),
                    partition,
                    position: Position::Offset(offset),
                    max_bytes: 1024 * 1024,
                    max_records: u32::try_from(max_records).unwrap_or(u32::MAX),
                    isolation: Isolation::ReadCommitted,
                    max_wait_ms: wait.map_or(0, |w| u32::try_from(w.as_millis()).unwrap_or(u32::MAX)),
                }))?;
                Ok(ReadOutcome {
                    records: fetched.records,
                    next_offset: fetched.next_offset,
                })
            }
        }
    }

    /// Wait until something new may be readable anywhere (offline: the
    /// store's notifier; online: callers long-poll in `read` instead).
    pub fn wait_any(&self, generation: u64, deadline: Instant) {
        if let Target::Local(store) = self {
            store.wait_any(generation, deadline);
        }
    }

    pub fn generation(&self) -> u64 {
        match self {
            Target::Local(store) => store.generation(),
            Target::Remote(_) => 0,
        }
    }

    /// A group's committed offset.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: u32) -> CliResult<Option<u64>> {
        Ok(self
            .committed_with_metadata(group, topic, partition)?
            .map(|(offset, _)| offset))
    }

    /// A group's committed offset and the metadata committed with it.
    pub fn committed_with_metadata(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> CliResult<Option<(u64, Vec<u8>)>> {
        match self {
            Target::Local(store) => Ok(store
                .committed(group, topic, partition)?
                .map(|c| (c.offset, c.metadata))),
            Target::Remote(_) => Ok(self
                .group_offsets(group, Some(topic))?
                .into_iter()
                .find(|(t, p, _)| t == topic && *p == partition)
                .map(|(_, _, c)| (c.offset, c.metadata))),
        }
    }

    /// Every consumer group with committed offsets (internal `__` groups
    /// included), sorted; through the server page by page, however many.
    pub fn list_groups(&self) -> CliResult<Vec<String>> {
        match self {
            Target::Local(store) => Ok(store.groups()?),
            Target::Remote(r) => r.call(r.client.list_groups()),
        }
    }

    /// A group's committed offsets (of `topic`, or all) as (topic,
    /// partition, committed), in that order; through the server page by page.
    pub fn group_offsets(&self, group: &str, topic: Option<&str>) -> CliResult<Vec<(String, u32, CommittedOffset)>> {
        match self {
            Target::Local(store) => Ok(store
                .group_offsets(group)?
                .into_iter()
                .filter(|((t, _), _)| topic.is_none_or(|wanted| wanted == t))
                .map(|((t, p), c)| (t, p, c))
                .collect()),
            Target::Remote(r) => Ok(r
                .call(r.client.committed_offsets(group, topic))?
                .into_iter()
                .map(|c| {
                    let committed = CommittedOffset {
                        offset: c.offset,
                        metadata: c.metadata,
                        commit_time_ms: c.commit_time_ms,
                    };
                    (c.topic, c.partition, committed)
                })
                .collect()),
        }
    }

    /// Applied offset resets, oldest first (of `group`, or all); through
    /// the server page by page (`ResetAuditPage`).
    pub fn reset_audit(&self, group: Option<&str>) -> CliResult<Vec<millrace::ResetAuditEntry>> {
        match self {
            Target::Local(store) => Ok(store.reset_audit(group)?),
            Target::Remote(r) => r.call(r.client.reset_audit(group)),
        }
    }

    /// A group's lag (on every partition of `topic`, or on every partition
    /// it committed to); through the server page by page (`LagPage`).
    pub fn consumer_lag(&self, group: &str, topic: Option<&str>) -> CliResult<Vec<millrace::PartitionLag>> {
        match self {
            Target::Local(store) => Ok(match topic {
                Some(topic) => store.consumer_lag_for_topic(group, topic)?,
                None => store.consumer_lag(group)?,
            }),
            Target::Remote(r) => Ok(r
                .call(r.client.lag(group, topic))?
                .into_iter()
                .map(|l| millrace::PartitionLag {
                    topic: l.topic,
                    partition: l.partition,
                    committed: l.committed,
                    log_start_offset: l.log_start_offset,
                    high_watermark: l.high_watermark,
                    lag: l.lag,
                })
                .collect()),
        }
    }

    /// Delete a consumer group (refused while active unless `force`),
    /// audited; offline with `actor`, through the server with the token's
    /// name. Returns the removed (topic, partition, committed offset).
    pub fn delete_group(&self, group: &str, actor: &str, force: bool) -> CliResult<Vec<(String, u32, u64)>> {
        match self {
            Target::Local(store) => Ok(store
                .delete_group(group, actor, force)?
                .into_iter()
                .map(|((t, p), c)| (t, p, c.offset))
                .collect()),
            Target::Remote(r) => Ok(r
                .call(r.client.delete_group(group, force))?
                .into_iter()
                .map(|c| (c.topic, c.partition, c.offset))
                .collect()),
        }
    }

    /// Commit `(partition, next offset)` positions for a group, in one batch.
    pub fn commit_offsets(&self, group: &str, topic: &str, positions: &[(u32, u64)]) -> CliResult<()> {
        match self {
            Target::Local(store) => {
                let commits: Vec<(String, u32, u64, Vec<u8>)> = positions
                    .iter()
                    .map(|(p, o)| (topic.to_string(), *p, *o, Vec::new()))
                    .collect();
                Ok(store.commit_offsets(group, &commits)?)
            }
            Target::Remote(r) => {
                // A request carries at most OFFSET_COMMIT_ENTRIES_MAX entries
                // (each request is all or none; partitions are independent).
                for chunk in positions.chunks(millrace_server::handler::OFFSET_COMMIT_ENTRIES_MAX) {
                    let request =
                        millrace_server::messages::Request::CommitOffsets(millrace_server::messages::CommitOffsets {
                            group: group.to_string(),
                            offsets: chunk
                                .iter()
                                .map(|(p, o)| millrace_server::messages::PartitionOffset {
                                    topic: topic.to_string(),
                                    partition: *p,
                                    offset: *o,
                                    metadata: Vec::new(),
                                })
                                .collect(),
                        });
                    r.request(request)?;
                }
                Ok(())
            }
        }
    }

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
                for (partition, records) in batches {
                    txn.append(topic, *partition, records)?;
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

    /// Server statistics (online) as name/value pairs.
    pub fn server_stats(&self) -> CliResult<Option<Vec<(String, u64)>>> {
        match self {
            Target::Local(_) => Ok(None),
            Target::Remote(r) => Ok(Some(
                r.call(r.client.stats())?
                    .into_iter()
                    .map(|s| (s.name, s.value))
                    .collect(),
            )),
        }
    }

    pub fn close(self) -> CliResult<()> {
        match self {
            Target::Local(store) => Ok(store.close()?),
            Target::Remote(_) => Ok(()),
        }
    }
}
