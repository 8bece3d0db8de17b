//! Creating and deleting a topic's directory, atomically: a crash leaves
//! either no topic or the whole topic (an unfinished `.creating` or
//! `.deleting` directory is removed at the next open). What else a topic
//! takes with it (its DLQ, committed offsets, applied transactions) is the
//! facade's business: the catalog knows no feature.

use super::{
    load_topic, partition_dir_name, Catalog, OpenFloors, CREATING_SUFFIX, DELETING_SUFFIX, TOPICS_DIR, TOPIC_META,
};
use crate::config::TopicConfig;
use crate::error::{DamagedScope, Error, Result};
use crate::io::checked::IoContext;
use crate::io::write_atomic;
use crate::log::partition::Partition;
use std::sync::Arc;

impl Catalog {
    /// Create topic `name` (its name and config already validated): its
    /// directory is written under a staging name, then renamed into place
    /// and the parent fsynced.
    pub(crate) fn create_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
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
        let storage = self.storage.as_ref();
        let topics_dir = self.path.join(TOPICS_DIR);
        let staging = topics_dir.join(format!("{name}{CREATING_SUFFIX}"));
        if storage.exists(&staging) {
            storage.remove_dir_all(&staging).at("remove staging", &staging)?;
        }
        storage.create_dir_all(&staging).at("create topic dir", &staging)?;
        for p in 0..config.partitions {
            Partition::create_files(storage, &staging.join(partition_dir_name(p)))?;
        }
        let meta = staging.join(TOPIC_META);
        write_atomic(storage, &meta, &config.encode()).at("write topic meta", &meta)?;
        let dir = topics_dir.join(name);
        storage.rename(&staging, &dir).at("rename topic dir", &dir)?;
        storage.sync_dir(&topics_dir).at("fsync dir", &topics_dir)?;
        let no_floors = OpenFloors::default();
        let topic = load_topic(&self.storage, &dir, name, &self.options, &self.shared, &no_floors)?;
        self.topics.write().insert(name.to_string(), Arc::new(topic));
        Ok(())
    }

    /// Delete topic `name` (open or damaged) and its files: renamed to a
    /// `.deleting` name (fsynced), then removed; its bytes leave the quota.
    pub(crate) fn remove_topic(&self, name: &str) -> Result<()> {
        let _admin = self.lock_admin();
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
        let doomed = topics_dir.join(format!("{name}{DELETING_SUFFIX}"));
        storage.rename(&dir, &doomed).at("rename topic dir", &doomed)?;
        storage.sync_dir(&topics_dir).at("fsync dir", &topics_dir)?;
        storage.remove_dir_all(&doomed).at("remove topic dir", &doomed)?;
        storage.sync_dir(&topics_dir).at("fsync dir", &topics_dir)?;
        for p in &partitions {
            self.shared.release(p.info().bytes);
        }
        Ok(())
    }
}
