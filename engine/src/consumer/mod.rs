//! A consumer for embedders: a group reads a set of partitions from its
//! committed offsets, `poll` blocks until records arrive or a timeout, and
//! `commit` makes the current positions durable (Kafka semantics: a committed
//! offset is the next offset to read). There is no group membership or
//! rebalancing: consumers of one group in one process must be assigned
//! disjoint partitions (design/semantics.md, "Consumers").

pub(crate) mod groups;
pub(crate) mod lag;
pub mod mirror;
pub mod offsets;
pub(crate) mod reset;
pub(crate) mod scanner;

use crate::consumer::offsets::validate_commit;
use crate::error::{Error, Result};
use crate::log::batch::StoredRecord;
use crate::log::partition::{Isolation, ReadOptions};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use groups::ConsumerGroups;

/// Upper bound on partitions one consumer may be assigned.
pub const ASSIGNMENT_PARTITIONS_MAX: usize = 65_536;

/// Where a partition without a usable committed offset starts (Kafka's
/// `auto.offset.reset`). Also applied when a position falls out of the log
/// (retention deleted it, or a seek went past the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoOffsetReset {
    /// The log start offset.
    #[default]
    Earliest,
    /// The high watermark: only records appended from now on.
    Latest,
    /// Fail the poll with `OffsetOutOfRange` (or `InvalidInput` when nothing is committed).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// How a [`Consumer`] starts and how much one poll returns.
pub struct ConsumerOptions {
    /// Where to start where the group has no committed offset.
    pub auto_offset_reset: AutoOffsetReset,
    /// `ReadCommitted` (default: records of transactions only once committed) or `ReadUncommitted`.
    pub isolation: Isolation,
    /// At most this many records per poll (at least one partition's first record is always returned).
    pub poll_records_max: usize,
    /// Stop a poll after about this many bytes of records.
    pub poll_bytes_max: usize,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            auto_offset_reset: AutoOffsetReset::Earliest,
            isolation: Isolation::ReadCommitted,
            poll_records_max: 500,
            poll_bytes_max: 1024 * 1024,
        }
    }
}

/// A record with the partition it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The topic it came from.
    pub topic: String,
    /// The partition it came from.
    pub partition: u32,
    /// The record (its `offset` is in that partition).
    pub record: StoredRecord,
}

type TopicPartition = (String, u32);

/// Assigned partitions and their position (`None` until first needed, and
/// again after a rewind: then the committed offset). Shared with the
/// transactions of [`Consumer::begin_transaction`], which commit them and,
/// if they do not commit, rewind them.
pub(crate) type Positions = Arc<Mutex<BTreeMap<TopicPartition, Option<u64>>>>;

/// What a transaction begun by [`Consumer::begin_transaction`] holds of its
/// consumer: the group and the positions.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerBinding {
    pub(crate) group: String,
    pub(crate) positions: Positions,
}

impl ConsumerBinding {
    /// (topic, partition, position) of every partition with a position.
    pub(crate) fn current(&self) -> Vec<(String, u32, u64)> {
        self.positions
            .lock()
            .iter()
            .filter_map(|((t, p), pos)| pos.map(|o| (t.clone(), *p, o)))
            .collect()
    }

    /// Back to the committed offsets: every position is taken again from
    /// the group's committed offset at the next poll.
    pub(crate) fn rewind(&self) {
        for position in self.positions.lock().values_mut() {
            *position = None;
        }
    }
}

/// The store's transaction feature as the facade hands it to a consumer,
/// for [`Consumer::begin_transaction`] (pipeline/txn): opaque here, as
/// consumer/ sits below pipeline/, which defines it.
#[derive(Clone)]
pub(crate) struct TransactionSource(pub(crate) Arc<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for TransactionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransactionSource")
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Consumer {
    groups: ConsumerGroups,
    transactions: TransactionSource,
    group: String,
    options: ConsumerOptions,
    /// Assigned partitions and their position (`None` until first needed).
    positions: Positions,
    /// Round-robin start, so one busy partition cannot starve the others.
    cursor: usize,
}

impl Consumer {
    /// A consumer of group `group` over `groups` ([`Consumer::new`], in the
    /// facade, gives the store's groups and transactions).
    pub(crate) fn with_groups(
        groups: ConsumerGroups,
        transactions: TransactionSource,
        group: &str,
        options: ConsumerOptions,
    ) -> Result<Consumer> {
        validate_commit(group, &[])?;
        if options.poll_records_max == 0 || options.poll_bytes_max == 0 {
            return Err(Error::invalid("consumer options", "poll limits must be positive"));
        }
        Ok(Consumer {
            groups,
            transactions,
            group: group.to_string(),
            options,
            positions: Positions::default(),
            cursor: 0,
        })
    }

    /// The consumer's group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Assign every partition of `topics` (replacing the current assignment).
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        let mut wanted = Vec::new();
        for topic in topics {
            let count = self.groups.partition_count(topic)?;
            wanted.extend((0..count).map(|p| (topic.to_string(), p)));
        }
        self.set_assignment(wanted)
    }

    /// Assign exactly these partitions (replacing the current assignment).
    pub fn assign(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        let mut wanted = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            self.groups.offsets(topic, *partition)?;
            wanted.push((topic.to_string(), *partition));
        }
        self.set_assignment(wanted)
    }

    fn set_assignment(&mut self, wanted: Vec<TopicPartition>) -> Result<()> {
        if wanted.len() > ASSIGNMENT_PARTITIONS_MAX {
            return Err(Error::invalid(
                "assignment",
                format!("{} partitions; at most {ASSIGNMENT_PARTITIONS_MAX}", wanted.len()),
            ));
        }
        let mut current = self.positions.lock();
        let mut positions = BTreeMap::new();
        for key in wanted {
            let position = current.get(&key).copied().flatten();
            positions.insert(key, position);
        }
        *current = positions;
        drop(current);
        self.cursor = 0;
        Ok(())
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<(String, u32)> {
        self.positions.lock().keys().cloned().collect()
    }

    /// The next offset `poll` will return for a partition.
    pub fn position(&mut self, topic: &str, partition: u32) -> Result<u64> {
        let key = self.assigned(topic, partition)?;
        self.ensure_position(&key)
    }

    /// Move a partition's position; takes effect at the next poll. An offset
    /// outside the log is handled there by `auto_offset_reset`.
    pub fn seek(&mut self, topic: &str, partition: u32, offset: u64) -> Result<()> {
        let key = self.assigned(topic, partition)?;
        self.positions.lock().insert(key, Some(offset));
        Ok(())
    }

    /// Set the position to the partition's log start.
    pub fn seek_to_beginning(&mut self, topic: &str, partition: u32) -> Result<()> {
        let (start, _) = self.groups.offsets(topic, partition)?;
        self.seek(topic, partition, start)
    }

    /// Set the position to the partition's high watermark.
    pub fn seek_to_end(&mut self, topic: &str, partition: u32) -> Result<()> {
        let (_, end) = self.groups.offsets(topic, partition)?;
        self.seek(topic, partition, end)
    }

    /// The group's committed offset of a partition.
    pub fn committed(&self, topic: &str, partition: u32) -> Result<Option<u64>> {
        self.groups.committed_offset(&self.group, topic, partition)
    }

    /// Records from the assigned partitions, waiting up to `timeout` for the
    /// first one. Positions advance past what is returned.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumedRecord>> {
        self.groups.note_group_activity(&self.group);
        // A timeout too large for an Instant waits "forever" (a year).
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
        loop {
            let seen = self.groups.catalog().shared.notifier.generation();
            let records = self.fetch_once()?;
            if !records.is_empty() || Instant::now() >= deadline {
                return Ok(records);
            }
            self.groups.catalog().shared.notifier.wait_past(seen, deadline);
        }
    }

    /// Durably commit the current position of every assigned partition that
    /// has one, in one batch (all or none after a crash).
    pub fn commit(&mut self) -> Result<()> {
        let commits: Vec<(String, u32, u64, Vec<u8>)> = self
            .positions
            .lock()
            .iter()
            .filter_map(|((t, p), pos)| pos.map(|o| (t.clone(), *p, o, Vec::new())))
            .collect();
        self.groups.commit_offsets(&self.group, &commits)
    }

    /// Durably commit chosen offsets (with metadata, at most 4096 bytes each).
    pub fn commit_offsets(&mut self, offsets: &[(&str, u32, u64, &[u8])]) -> Result<()> {
        let commits: Vec<(String, u32, u64, Vec<u8>)> = offsets
            .iter()
            .map(|(t, p, o, m)| (t.to_string(), *p, *o, m.to_vec()))
            .collect();
        self.groups.commit_offsets(&self.group, &commits)
    }

    /// What a transaction begun with this consumer holds of it: the group
    /// and the positions it commits (and rewinds if it does not commit).
    pub(crate) fn binding(&self) -> ConsumerBinding {
        ConsumerBinding {
            group: self.group.clone(),
            positions: self.positions.clone(),
        }
    }

    /// The store's transactions, as the facade gave them.
    pub(crate) fn transaction_source(&self) -> &TransactionSource {
        &self.transactions
    }

    fn assigned(&self, topic: &str, partition: u32) -> Result<TopicPartition> {
        let key = (topic.to_string(), partition);
        if !self.positions.lock().contains_key(&key) {
            return Err(Error::invalid(
                "partition",
                format!("{topic}/{partition} is not assigned to this consumer"),
            ));
        }
        Ok(key)
    }

    /// Position of a partition: set, else committed, else by the reset policy.
    fn ensure_position(&mut self, key: &TopicPartition) -> Result<u64> {
        if let Some(Some(position)) = self.positions.lock().get(key) {
            return Ok(*position);
        }
        let (topic, partition) = (key.0.as_str(), key.1);
        let position = match self.groups.committed_offset(&self.group, topic, partition)? {
            Some(committed) => committed,
            None => self.reset_position(topic, partition, None)?,
        };
        self.positions.lock().insert(key.clone(), Some(position));
        Ok(position)
    }

    fn reset_position(&self, topic: &str, partition: u32, out_of_range: Option<Error>) -> Result<u64> {
        let (start, end) = self.groups.offsets(topic, partition)?;
        match self.options.auto_offset_reset {
            AutoOffsetReset::Earliest => Ok(start),
            AutoOffsetReset::Latest => Ok(end),
            AutoOffsetReset::None => Err(out_of_range.unwrap_or_else(|| {
                Error::invalid(
                    "position",
                    format!(
                        "group {:?} has no committed offset for {topic}/{partition} and auto_offset_reset is None",
                        self.group
                    ),
                )
            })),
        }
    }

    /// One pass over the assigned partitions without waiting.
    fn fetch_once(&mut self) -> Result<Vec<ConsumedRecord>> {
        let keys: Vec<TopicPartition> = self.positions.lock().keys().cloned().collect();
        let count = keys.len();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for i in 0..count {
            let remaining = self.options.poll_records_max.saturating_sub(out.len());
            if remaining == 0 || bytes >= self.options.poll_bytes_max {
                break;
            }
            let Some(key) = keys.get((self.cursor + i) % count) else {
                break;
            };
            let position = self.ensure_position(key)?;
            let options = ReadOptions {
                max_records: remaining,
                max_bytes: self.options.poll_bytes_max - bytes,
            };
            let read = match self
                .groups
                .partition(&key.0, key.1)
                .and_then(|p| p.read(position, options, self.options.isolation))
            {
                Ok(read) => read,
                Err(e @ Error::OffsetOutOfRange { .. }) => {
                    let reset = self.reset_position(&key.0, key.1, Some(e))?;
                    tracing::warn!(group = %self.group, topic = %key.0, partition = key.1, position, reset, "position out of range; reset");
                    self.positions.lock().insert(key.clone(), Some(reset));
                    continue;
                }
                // Records already taken from other partitions moved their
                // positions: hand them out; the error comes back to the
                // poll that reaches this partition first.
                Err(error) if !out.is_empty() => {
                    tracing::warn!(group = %self.group, topic = %key.0, partition = key.1, position, %error, "read failed; returning the records polled before it");
                    break;
                }
                Err(e) => return Err(e),
            };
            for record in read.records {
                bytes += record.value.len() + record.key.as_ref().map_or(0, Vec::len);
                out.push(ConsumedRecord {
                    topic: key.0.clone(),
                    partition: key.1,
                    record,
                });
            }
            self.positions.lock().insert(key.clone(), Some(read.next_offset));
        }
        if count > 0 {
            self.cursor = (self.cursor + 1) % count;
        }
        Ok(out)
    }
}
