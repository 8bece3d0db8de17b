//! Consumer lag per group and partition: high watermark − committed offset.

use crate::consumer::groups::ConsumerGroups;
use crate::error::{Error, Result};

/// How far a group is behind on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The group's committed offset (next to read), if any.
    pub committed: Option<u64>,
    /// The partition's first offset.
    pub log_start_offset: u64,
    /// Offset just past the last visible record.
    pub high_watermark: u64,
    /// Records between the committed offset (or the log start when nothing
    /// is committed, or when the committed offset fell below it) and the
    /// high watermark.
    pub lag: u64,
}

impl ConsumerGroups {
    /// Lag of `group` on every partition it has committed offsets for
    /// (partitions of deleted topics are skipped).
    pub fn consumer_lag(&self, group: &str) -> Result<Vec<PartitionLag>> {
        let mut out = Vec::new();
        for ((topic, partition), committed) in self.group_offsets(group)? {
            match self.partition_lag(&topic, partition, Some(committed.offset)) {
                Ok(lag) => out.push(lag),
                Err(Error::TopicNotFound(_) | Error::PartitionNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Lag of `group` on every partition of `topic`, committed or not.
    pub fn consumer_lag_for_topic(&self, group: &str, topic: &str) -> Result<Vec<PartitionLag>> {
        let count = self.partition_count(topic)?;
        let mut out = Vec::with_capacity(count as usize);
        for partition in 0..count {
            let committed = self.committed_offset(group, topic, partition)?;
            out.push(self.partition_lag(topic, partition, committed)?);
        }
        Ok(out)
    }

    fn partition_lag(&self, topic: &str, partition: u32, committed: Option<u64>) -> Result<PartitionLag> {
        let (log_start_offset, high_watermark) = self.offsets(topic, partition)?;
        let from = committed.unwrap_or(log_start_offset).max(log_start_offset);
        Ok(PartitionLag {
            topic: topic.to_string(),
            partition,
            committed,
            log_start_offset,
            high_watermark,
            lag: high_watermark.saturating_sub(from),
        })
    }
}
