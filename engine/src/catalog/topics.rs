//! Creating and deleting a topic's directory, atomically: a crash leaves
//! either no topic or the whole topic (an unfinished `.creating` or
//! `.deleting` directory is removed at the next open). What else a topic
//! takes with it (its DLQ, committed offsets, applied transactions) is the
//! facade's business: the catalog knows no feature.

use super::changes::{ConfigChange, ConfigChangeKind};
use super::{
    load_topic, partition_dir_name, Catalog, OpenFloors, CREATING_SUFFIX, DELETING_SUFFIX, TOPICS_DIR, TOPIC_META,
};
use crate::clock::now_ms;
use crate::config::TopicConfig;
use crate::error::{DamagedScope, Error, Result};
use crate::io::checked::IoContext;
use crate::io::write_atomic;
use crate::log::partition::Partition;
use std::sync::Arc;

impl Catalog {
    /// Create topic `name` (its name and config already validated): its
    /// directory is written under a staging name, then renamed into place
    /// and the parent fsynced. With an `actor`, the creation is first
    /// recorded in the config change log (`changes.rs`).
    pub(crate) fn create_topic(&self, name: &str, config: TopicConfig, actor: Option<&str>) -> Result<()> {
        let log = actor.map(|_| self.config_changes_log()).transpose()?;
        let _admin = self.lock_admin();
        if self.contains(name) {
            return Err(Error::TopicExists(name.to_string()));
        }
        if let Some(error) = self.damaged_topics.read().get(name) {
            return Err(Error::Damaged {
                scope: DamagedScope::Topic {
                    topic: name.to_string(),
                },
                source: error.clone(),
            });
        }
        self.check_writable()?;
        if let (Some(log), Some(actor)) = (&log, actor) {
            let change = ConfigChange {
                at_ms: now_ms(),
                actor: actor.to_string(),
                topic: name.to_string(),
                kind: ConfigChangeKind::Create,
                old: None,
                new: Some(config.clone()),
            };
            self.record_config_change(log, &change)?;
        }
        self.make_topic(name, &config)
    }

    /// Write topic `name`'s directory under a staging name, rename it into
    /// place, fsync the parent and open it (the caller holds the admin lock
    /// and has recorded the creation if it is to be recorded). A read-only
    /// open (which renames no directory) writes it in place, in its memory.
    pub(crate) fn make_topic(&self, name: &str, config: &TopicConfig) -> Result<()> {
        let storage = self.storage.as_ref();
        let topics_dir = self.path.join(TOPICS_DIR);
        let dir = topics_dir.join(name);
        let staging = if storage.is_read_only() {
            dir.clone()
        } else {
            topics_dir.join(format!("{name}{CREATING_SUFFIX}"))
        };
        if storage.exists(&staging) {
            storage.remove_dir_all(&staging).at("remove staging", &staging)?;
        }
        storage.create_dir_all(&staging).at("create topic dir", &staging)?;
        for p in 0..config.partitions {
            Partition::create_files(storage, &staging.join(partition_dir_name(p)))?;
        }
        let meta = staging.join(TOPIC_META);
        write_atomic(storage, &meta, &config.encode()).at("write topic meta", &meta)?;
        if staging != dir {
            storage.rename(&staging, &dir).at("rename topic dir", &dir)?;
        }
        storage.sync_dir(&topics_dir).at("fsync dir", &topics_dir)?;
        let no_floors = OpenFloors::default();
        let topic = load_topic(&self.storage, &dir, name, &self.options, &self.shared, &no_floors)?;
        self.topics.write().insert(name.to_string(), Arc::new(topic));
        Ok(())
    }

    /// Alter topic `name`: `change` edits a copy of its configuration (and
    /// may refuse); unless `dry_run`, the result is written to `topic.meta`
    /// whole (`write_atomic`: a new file fsynced, renamed over the old one,
    /// the directory fsynced: a crash leaves the old file or the new one,
    /// never a mix), then handed to every open partition. With an `actor`,
    /// the change is recorded in the config change log first, durably (a
    /// crash after the record is rolled forward at the next open:
    /// `changes.rs`). Returns the configuration before and after.
    /// Serialised with topic creation and deletion (the admin lock). The
    /// partition count never changes.
    pub(crate) fn alter_topic(
        &self,
        name: &str,
        dry_run: bool,
        actor: Option<&str>,
        change: impl FnOnce(&mut TopicConfig) -> Result<()>,
    ) -> Result<(TopicConfig, TopicConfig)> {
        let log = match actor {
            Some(_) if !dry_run => Some(self.config_changes_log()?),
            _ => None,
        };
        let _admin = self.lock_admin();
        let topic = self.topic(name)?;
        let old = topic.config.clone();
        let mut new = old.clone();
        change(&mut new)?;
        if new.partitions != old.partitions {
            return Err(crate::error::Error::invalid(
                "partitions",
                format!("{name} has {} partitions, fixed at creation", old.partitions),
            ));
        }
        new.validate()?;
        if dry_run || new == old {
            return Ok((old, new));
        }
        self.check_writable()?;
        if let (Some(log), Some(actor)) = (&log, actor) {
            let change = ConfigChange {
                at_ms: now_ms(),
                actor: actor.to_string(),
                topic: name.to_string(),
                kind: ConfigChangeKind::Alter,
                old: Some(old.clone()),
                new: Some(new.clone()),
            };
            self.record_config_change(log, &change)?;
        }
        self.install_config(&topic, &new)?;
        Ok((old, new))
    }

    /// Delete topic `name` (open or damaged) and its files: renamed to a
    /// `.deleting` name (fsynced), then removed; its bytes leave the quota.
    /// With an `actor`, the deletion is first recorded in the config change
    /// log (`changes.rs`).
    pub(crate) fn remove_topic(&self, name: &str, actor: Option<&str>) -> Result<()> {
        let log = actor.map(|_| self.config_changes_log()).transpose()?;
        let _admin = self.lock_admin();
        if let (Some(log), Some(actor)) = (&log, actor) {
            let old = match self.topic(name) {
                Ok(topic) => Some(topic.config.clone()),
                Err(Error::Damaged { .. }) => None,
                Err(e) => return Err(e),
            };
            let change = ConfigChange {
                at_ms: now_ms(),
                actor: actor.to_string(),
                topic: name.to_string(),
                kind: ConfigChangeKind::Delete,
                old,
                new: None,
            };
            self.record_config_change(log, &change)?;
        }
        let topics_dir = self.path.join(TOPICS_DIR);
        let removed = self.topics.write().remove(name);
        let (dir, partitions) = match removed {
            Some(topic) => (topic.dir.clone(), topic.partitions.clone()),
            // A topic that failed to open can still be deleted (the way out
            // for damage an operator does not want to repair).
            None => match self.damaged_topics.write().remove(name) {
                Some(_) => (topics_dir.join(name), Vec::new()),
                None => return Err(Error::TopicNotFound(name.to_string())),
            },
        };
        let storage = self.storage.as_ref();
        // A read-only open (finishing a recorded delete in its memory)
        // renames no directory: it removes the topic's in place.
        let doomed = if storage.is_read_only() {
            dir
        } else {
            let doomed = topics_dir.join(format!("{name}{DELETING_SUFFIX}"));
            storage.rename(&dir, &doomed).at("rename topic dir", &doomed)?;
            storage.sync_dir(&topics_dir).at("fsync dir", &topics_dir)?;
            doomed
        };
        storage.remove_dir_all(&doomed).at("remove topic dir", &doomed)?;
        storage.sync_dir(&topics_dir).at("fsync dir", &topics_dir)?;
        for p in &partitions {
            self.shared.release(p.info().bytes);
        }
        Ok(())
    }
}
