//! Topics on either side: create, delete, list, describe (with their
//! damage) and the offsets of a partition.

use super::{config_from_entries, remote_error, DamageRow, PartitionNumbers, Target, TopicInfo};
use crate::error::{CliError, CliResult};
use millrace::{DamagedScope, Durability, TopicConfig};
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::ConfigHistoryEntry;
use millrace_server::ClientError;

/// Who an offline `millrace topic COMMAND` records as the actor of the
/// change (through a server, the server records the session's token@peer).
fn cli_actor(command: &str) -> String {
    crate::actor::offline_actor(&format!("millrace topic {command}"))
}

impl Target {
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> CliResult<()> {
        match self {
            Target::Local(store) => Ok(store.create_topic_as(&cli_actor("create"), name, config)?),
            Target::Remote(r) => {
                // Only the keys set, so that an older server that does not
                // know a newer key (left at its default) still creates the topic.
                let entries = config.entries_set();
                let pairs: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (*k, v.as_str())).collect();
                r.call(r.client.create_topic(name, config.partitions, &pairs))
            }
        }
    }

    /// Change keys of a topic's configuration (`dry_run`: validate only):
    /// the configuration before and after (`durability` as stored:
    /// `None` is the store's default).
    pub fn alter_topic(
        &self,
        name: &str,
        changes: &[(String, String)],
        dry_run: bool,
    ) -> CliResult<(TopicConfig, TopicConfig)> {
        match self {
            Target::Local(store) => Ok(store.alter_topic_as(&cli_actor("alter"), name, changes, dry_run)?),
            Target::Remote(r) => {
                let altered = r.call(r.client.alter_topic(name, changes, dry_run))?;
                let (before, _) = config_from_entries(r.addr, name, 1, &altered.before)?;
                let (after, _) = config_from_entries(r.addr, name, 1, &altered.after)?;
                Ok((before, after))
            }
        }
    }

    pub fn delete_topic(&self, name: &str) -> CliResult<()> {
        match self {
            Target::Local(store) => Ok(store.delete_topic_as(&cli_actor("delete"), name)?),
            Target::Remote(r) => r.call(r.client.delete_topic(name)),
        }
    }

    /// Every recorded create, alter and delete (of `topic`, or of every
    /// topic), oldest first, in the wire's form (the keys that moved).
    pub fn config_history(&self, topic: Option<&str>) -> CliResult<Vec<ConfigHistoryEntry>> {
        match self {
            Target::Local(store) => Ok(store
                .config_history(topic)?
                .iter()
                .map(ConfigHistoryEntry::of)
                .collect()),
            Target::Remote(r) => r.call(r.client.config_history(topic)),
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
                // An internal topic (a DLQ read with `consume __dlq.T`) has
                // no DLQ of its own: asking for one is refused as internal.
                let dlq_depth = if millrace::names::is_internal(name) {
                    0
                } else {
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
                    match listing {
                        millrace_server::messages::Response::DlqListing(l) => l.depth,
                        other => return Err(r.unexpected(&other)),
                    }
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
}

/// The partitions a command reads of `topic`, which has `count`: `partition`
/// if the topic has it, else every one of them.
pub fn selected_partitions(topic: &str, count: u32, partition: Option<u32>) -> CliResult<Vec<u32>> {
    match partition {
        Some(p) if p < count => Ok(vec![p]),
        Some(p) => Err(CliError::new(format!(
            "partition {p} does not exist in topic {topic:?} (it has {count})"
        ))),
        None => Ok((0..count).collect()),
    }
}
