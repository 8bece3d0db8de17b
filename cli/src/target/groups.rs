//! Consumer groups on either side: committed offsets, listings, lag,
//! the reset audit, deletion and offset commits.

use super::Target;
use crate::error::CliResult;
use millrace::offset_table::CommittedOffset;
use millrace_server::error_code::ErrorCode;
pub use millrace_server::messages::KafkaMember;
use millrace_server::ClientError;

/// Names per `DescribeGroups`: at most 1000, and at most 2 KiB of them,
/// so that a request and its answer fit the smallest frame a server may
/// be configured with (4 KiB).
fn request_chunks(groups: &[String]) -> Vec<&[String]> {
    let mut chunks = Vec::new();
    let mut rest = groups;
    while !rest.is_empty() {
        let mut bytes = 0usize;
        let take = rest
            .iter()
            .take(1000)
            .take_while(|group| {
                bytes += group.len() + 16;
                bytes <= 2048
            })
            .count()
            .max(1);
        let (chunk, tail) = rest.split_at(take.min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// Whether a group is in use now ([`Target::group_states`]).
#[derive(Debug, Clone, Default)]
pub struct GroupActivity {
    /// Live Kafka members, or a commit or poll within the last 30 s.
    pub active: bool,
    /// Live members of the Kafka front's group coordinator.
    pub kafka_members: bool,
    /// Since its last commit or poll on the server.
    pub idle_ms: Option<u64>,
    /// Who the Kafka members are, in join order (`None`: a server older
    /// than `DescribeGroupMembers` did not say).
    pub members: Option<Vec<KafkaMember>>,
    /// How many Kafka members the group has (`members` may hold fewer when
    /// a server cut a very large answer).
    pub members_total: u32,
    /// The server refused to describe the group to this token (outside its
    /// `groups` patterns): its refusal, `server ADDR: ...`; nothing else of
    /// the group is known.
    pub refused: Option<String>,
}

impl GroupActivity {
    /// `active`, `active (Kafka members)`, `empty`, or `not authorized`
    /// (the server would not describe it to this token).
    pub fn state(&self) -> &'static str {
        if self.refused.is_some() {
            return "not authorized";
        }
        match (self.active, self.kafka_members) {
            (true, true) => "active (Kafka members)",
            (true, false) => "active",
            (false, _) => "empty",
        }
    }
}

/// `DescribeGroups` of `chunk` into `states`, in order. A group the token
/// may not describe (`PermissionDenied` with its index in the request as
/// details) is marked refused, and the groups after it asked again.
fn describe_visible(
    remote: &super::Remote,
    chunk: &[String],
    states: &mut Vec<GroupActivity>,
) -> Result<(), ClientError> {
    let mut rest = chunk;
    // Each round answers the whole rest or drops one group from it.
    while !rest.is_empty() {
        match remote.runtime.block_on(remote.client.describe_groups(rest)) {
            Ok(answer) => {
                states.extend(answer.into_iter().map(|s| GroupActivity {
                    active: s.active,
                    kafka_members: s.kafka_members,
                    idle_ms: s.idle_ms,
                    members: Some(Vec::new()),
                    members_total: 0,
                    refused: None,
                }));
                return Ok(());
            }
            Err(ClientError::Server(wire)) if wire.code == ErrorCode::PermissionDenied => {
                let hidden = wire.details.first().and_then(|i| usize::try_from(*i).ok());
                let Some(hidden) = hidden.filter(|i| *i < rest.len()) else {
                    return Err(ClientError::Server(wire));
                };
                let (before, after) = rest.split_at(hidden);
                if !before.is_empty() {
                    describe_visible(remote, before, states)?;
                }
                states.push(GroupActivity {
                    refused: Some(format!("server {}: {}", remote.addr, wire.message)),
                    ..GroupActivity::default()
                });
                rest = after.get(1..).unwrap_or_default();
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Target {
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

    /// Whether each group is in use now, in `groups`' order: offline
    /// every group is empty (the data directory's lock rules out its
    /// consumers); through the server its `DescribeGroups`, `None` from a
    /// server older than it (which closes the connection: call this last).
    pub fn group_states(&self, groups: &[String]) -> CliResult<Option<Vec<GroupActivity>>> {
        match self {
            Target::Local(_) => Ok(Some(groups.iter().map(|_| GroupActivity::default()).collect())),
            Target::Remote(r) => {
                let mut states = Vec::with_capacity(groups.len());
                for chunk in request_chunks(groups) {
                    match describe_visible(r, chunk, &mut states) {
                        Ok(()) => {}
                        Err(ClientError::Server(wire)) if wire.code == ErrorCode::UnknownOpcode => return Ok(None),
                        Err(e) => return Err(super::remote_error(r.addr, e)),
                    }
                }
                // Who the Kafka members are: asked last, as a server older
                // than `DescribeGroupMembers` closes the connection on it.
                let with_members: Vec<String> = groups
                    .iter()
                    .zip(&states)
                    .filter(|(_, s)| s.kafka_members)
                    .map(|(g, _)| g.clone())
                    .collect();
                let mut described = Vec::with_capacity(with_members.len());
                for chunk in request_chunks(&with_members) {
                    match r.runtime.block_on(r.client.describe_group_members(chunk)) {
                        Ok(answer) => described.extend(answer),
                        Err(ClientError::Server(wire)) if wire.code == ErrorCode::UnknownOpcode => {
                            for state in states.iter_mut().filter(|s| s.kafka_members) {
                                state.members = None;
                            }
                            return Ok(Some(states));
                        }
                        Err(e) => return Err(super::remote_error(r.addr, e)),
                    }
                }
                let mut described = described.into_iter();
                for state in states.iter_mut().filter(|s| s.kafka_members) {
                    if let Some(d) = described.next() {
                        state.members_total = d.members_total;
                        state.members = Some(d.members);
                    }
                }
                Ok(Some(states))
            }
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

    /// Delete a consumer group's committed offsets, every one or only those
    /// on `topic` (refused while active unless `force`), audited; offline
    /// with `actor`, through the server with the token's name. Returns the
    /// removed (topic, partition, committed offset).
    pub fn delete_group(
        &self,
        group: &str,
        topic: Option<&str>,
        actor: &str,
        force: bool,
    ) -> CliResult<Vec<(String, u32, u64)>> {
        match self {
            Target::Local(store) => Ok(store
                .delete_group_offsets(group, topic, actor, force)?
                .into_iter()
                .map(|((t, p), c)| (t, p, c.offset))
                .collect()),
            Target::Remote(r) => {
                let removed = match topic {
                    Some(topic) => r.call(r.client.delete_group_offsets(group, topic, force))?,
                    None => r.call(r.client.delete_group(group, force))?,
                };
                Ok(removed.into_iter().map(|c| (c.topic, c.partition, c.offset)).collect())
            }
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
}
