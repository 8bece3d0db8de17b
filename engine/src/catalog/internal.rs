//! The store's own topics (`__offsets`, `__transactions`, `__dlq.<topic>`,
//! ...), as the features that own them create and trim them: created on
//! first use, `Always`, partition 0 only. The catalog knows no feature: each
//! feature names its topics and calls these.

use super::Catalog;
use crate::config::{Durability, TopicConfig};
use crate::error::{Error, Result};
use crate::log::partition::{Isolation, Partition, ReadOptions};
use std::sync::Arc;

/// The configuration of an internal topic (`Always`, one partition), which
/// takes records up to half a batch: a DLQ holds records its source topic
/// refused for size.
pub(crate) fn internal_topic_config() -> TopicConfig {
    TopicConfig {
        durability: Some(Durability::Always),
        record_bytes_max: crate::log::batch::BATCH_BYTES_MAX / 2,
        ..TopicConfig::default()
    }
}

impl Catalog {
    /// One page of an append-only internal log (`__offset_resets`,
    /// `__config_changes`): at most `max` entries whose offset is above
    /// `after` (absent: from the log start), oldest first, with their offsets
    /// (the cursor of the next call). `entry` decodes a record's value (its
    /// error, a corruption naming the log and offset, ends the walk) and
    /// returns `None` for an entry the caller filters out. No log yet: empty.
    pub(crate) fn internal_log_page<T>(
        &self,
        topic: &str,
        after: Option<u64>,
        max: usize,
        mut entry: impl FnMut(&Partition, u64, &[u8]) -> Result<Option<T>>,
    ) -> Result<Vec<(u64, T)>> {
        let Some(log) = self.internal_log(topic)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let from = after.map_or(0, |a| a.saturating_add(1));
        let mut offset = log.start_offset().max(from);
        let end = log.high_watermark();
        while offset < end && out.len() < max {
            let read = log.read(offset, ReadOptions::default(), Isolation::ReadUncommitted)?;
            for record in read.records.iter().filter(|r| r.offset >= from) {
                if let Some(kept) = entry(&log, record.offset, &record.value)? {
                    out.push((record.offset, kept));
                    if out.len() >= max {
                        break;
                    }
                }
            }
            if read.next_offset <= offset {
                break;
            }
            offset = read.next_offset;
        }
        Ok(out)
    }

    /// Create internal topic `name` (a `__*` name) with `config`.
    pub(crate) fn create_internal_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        crate::names::validate_internal_topic_name(name)?;
        config.validate()?;
        self.create_topic(name, config, None)
    }

    /// Internal topic `name` with [`internal_topic_config`], created if it
    /// does not exist yet (a creation that raced another is no error).
    pub(crate) fn ensure_internal_topic(&self, name: &str) -> Result<()> {
        if self.partition(name, 0).is_ok() {
            return Ok(());
        }
        match self.create_internal_topic(name, internal_topic_config()) {
            Ok(()) | Err(Error::TopicExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Partition 0 of internal topic `name`, created with `config` if the
    /// topic does not exist yet.
    pub(crate) fn internal_log_or_create(&self, name: &str, config: TopicConfig) -> Result<Arc<Partition>> {
        match self.partition(name, 0) {
            Err(Error::TopicNotFound(_)) => match self.create_internal_topic(name, config) {
                Ok(()) | Err(Error::TopicExists(_)) => self.partition(name, 0),
                Err(e) => Err(e),
            },
            other => other,
        }
    }

    /// Make records below `offset` unreadable and delete the segments wholly
    /// below it, under the commit lock (a transaction's apply never writes
    /// into a range a log-start move deletes). Any topic: the callers check
    /// which they may trim.
    pub(crate) fn truncate_prefix(&self, topic: &str, partition: u32, offset: u64) -> Result<u64> {
        self.check_writable()?;
        let partition = self.partition(topic, partition)?;
        let _commits = self.lock_commits();
        self.check_writable()?;
        partition.truncate_prefix(offset)
    }
}
