//! `Store`'s topic administration: create, delete (with what a topic takes
//! with it: its DLQ, committed offsets, applied transactions, DLQ
//! bookkeeping), list, describe, and the catalog lookups the features use.

use super::*;

use crate::catalog::changes::ConfigChange;

/// The actor of a config change made through the embedder API without one
/// (`Store::create_topic`, `alter_topic`, `delete_topic`).
pub const EMBEDDED_ACTOR: &str = "embedded";

/// A topic's configuration and per-partition numbers.
#[derive(Debug, Clone)]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// Its configuration.
    pub config: TopicConfig,
    /// Its effective durability (its own, or the store's default).
    pub durability: Durability,
    /// The partitions that opened (all unless `damaged_partitions` has some).
    pub partitions: Vec<PartitionInfo>,
    /// Partitions that failed to open, with the error every request on them answers.
    pub damaged_partitions: Vec<(u32, Arc<Error>)>,
}

/// A topic or partition that failed to open while the rest of the store did
/// ([`Store::damaged`]).
#[derive(Debug, Clone)]
pub struct Damage {
    /// The topic or partition.
    pub scope: DamagedScope,
    /// The error its open returned (it names the file).
    pub error: Arc<Error>,
}

impl Store {
    /// Create a topic with `config.partitions` partitions. Atomic: a crash
    /// leaves either no topic or the whole topic. The name follows
    /// [`crate::names::validate_topic_name`]: `__*` names are the store's own
    /// (`InternalName`), and names the data directory uses for itself are
    /// refused (`InvalidInput`). Recorded in the config change log with
    /// actor [`EMBEDDED_ACTOR`], as [`Store::create_topic_as`] records.
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.create_topic_as(EMBEDDED_ACTOR, name, config)
    }

    /// [`Store::create_topic`], recorded in the config change log
    /// ([`Store::config_history`]) as asked for by `actor` before the topic
    /// is created, once the store keeps that log: its first recorded change
    /// (an alter) creates it, so that a store whose topics were never
    /// altered keeps the files and numbers it always had.
    pub fn create_topic_as(&self, actor: &str, name: &str, config: TopicConfig) -> Result<()> {
        let actor = self.keeps_config_changes()?.then_some(actor);
        self.create_topic_with(actor, name, config)
    }

    /// Whether the store has a config change log: then every create and
    /// delete is recorded, so that the last record of a topic is always its
    /// latest change (what the open's roll forward relies on).
    fn keeps_config_changes(&self) -> Result<bool> {
        Ok(self
            .inner
            .catalog
            .internal_log(crate::catalog::changes::CONFIG_CHANGES_TOPIC)?
            .is_some())
    }

    fn create_topic_with(&self, actor: Option<&str>, name: &str, config: TopicConfig) -> Result<()> {
        crate::names::validate_topic_name(name)?;
        config.validate()?;
        if self.inner.catalog.contains(name) {
            return Err(Error::TopicExists(name.to_string()));
        }
        // Left by a delete that crashed before forgetting them (or by a
        // version that did not): a new topic inherits nothing. Before the
        // admin lock: the offset table may create `__offsets` under it.
        match self.forget_topic_dependents(name) {
            // A damaged `__attempts` costs the DLQ's failure counts (every
            // request that needs them answers its error until `millrace
            // repair`), not the creation of topics: it is read only to
            // forget the counts of a deleted topic of this name, and that
            // is the last step, after the DLQ and the offsets are gone.
            Err(Error::Damaged { scope, source }) if damaged_topic(&scope) == crate::pipeline::dlq::ATTEMPTS_TOPIC => {
                tracing::warn!(
                    topic = name,
                    error = %source,
                    "topic created without reading __attempts, which is damaged: failure counts left there by an unfinished delete of a topic of this name, if any, are not forgotten; run `millrace check`, then `millrace repair`"
                );
            }
            other => other?,
        }
        self.inner.catalog.create_topic(name, config, actor)
    }

    /// Delete a topic and all its data, with its DLQ (`__dlq.<topic>`) and
    /// every group's committed offsets on both: a topic created later under
    /// the same name starts with none of them. An internal topic (`__*`) is
    /// never deleted this way (`InternalName`): a DLQ goes with its topic or
    /// is purged (`dlq_purge`); damaged metadata is repaired (`millrace repair`).
    /// Recorded in the config change log with actor [`EMBEDDED_ACTOR`], as
    /// [`Store::delete_topic_as`] records.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.delete_topic_as(EMBEDDED_ACTOR, name)
    }

    /// [`Store::delete_topic`], recorded in the config change log as asked
    /// for by `actor` before the topic's directory goes, once the store keeps
    /// that log (as [`Store::create_topic_as`]).
    pub fn delete_topic_as(&self, actor: &str, name: &str) -> Result<()> {
        let actor = self.keeps_config_changes()?.then_some(actor);
        self.delete_topic_with(actor, name)
    }

    /// [`Store::delete_topic`], recorded with `actor` (`None`: not
    /// recorded, as when the open finishes a delete recorded before a crash).
    fn delete_topic_with(&self, actor: Option<&str>, name: &str) -> Result<()> {
        crate::names::refuse_internal_topic(name)?;
        self.delete_topic_files(name, actor)?;
        self.forget_topic_dependents(name)
    }

    /// At open, the deletes whose record was written (`deletes`: each topic
    /// whose last config change record is a delete, with whether its
    /// directory is still there): a topic still there is deleted, whole; one
    /// whose directory went but whose DLQ is still there (a crash between
    /// the two) loses its DLQ and what goes with it; one whose DLQ went too
    /// loses the committed offsets left on it or its DLQ, its DLQ's redrive
    /// marks and its failure counts (a crash before they were forgotten;
    /// none left: nothing is written). Not recorded
    /// again. A read-only open drops the topic and its DLQ from its view only.
    pub(super) fn finish_deletes(&self, deletes: &[(String, bool)]) -> Result<()> {
        let catalog = &self.inner.catalog;
        let mut gone: Vec<String> = Vec::new();
        for (name, exists) in deletes {
            let dlq = crate::pipeline::dlq::dlq_topic_name(name);
            if catalog.storage.is_read_only() {
                if *exists {
                    catalog.remove_topic(name, None)?;
                }
                if catalog.contains(&dlq) {
                    catalog.remove_topic(&dlq, None)?;
                }
            } else if *exists {
                tracing::info!(topic = %name, "finishing a topic delete interrupted after its record was written");
                self.delete_topic_with(None, name)?;
            } else if catalog.contains(&dlq) {
                tracing::info!(topic = %name, "finishing a topic delete interrupted before its DLQ went");
                self.forget_topic_dependents(name)?;
            } else {
                gone.push(name.clone());
                gone.push(dlq);
            }
        }
        if !gone.is_empty() {
            self.forget_leftover_offsets(&gone)?;
            // Its DLQ's redrive marks and its failure counts are keyed by
            // the topic's name (the `gone` list holds each topic, then its DLQ).
            let topics: Vec<&str> = gone.iter().step_by(2).map(String::as_str).collect();
            self.forget_leftover_bookkeeping(&topics)?;
        }
        Ok(())
    }

    /// The redrive marks and failure counts still kept for `topics` (deleted
    /// topics whose directory and DLQ are gone: a delete killed before its
    /// last step), all forgotten in one rewrite of `__redriven` and of
    /// `__attempts` (a read-only open drops them from its view); nothing is
    /// written when there are none. A damaged log is left to `millrace
    /// check`: the store opens, as with a damaged `__offsets`.
    fn forget_leftover_bookkeeping(&self, topics: &[&str]) -> Result<()> {
        let durable = !self.inner.catalog.storage.is_read_only();
        match self.pipeline().forget_dlq_bookkeeping_of(topics, durable) {
            Ok(0) => Ok(()),
            Ok(forgotten) => {
                tracing::info!(
                    forgotten,
                    ?topics,
                    "finishing a topic delete interrupted before its redrive marks and failure counts were forgotten"
                );
                Ok(())
            }
            Err(e @ (Error::Corruption { .. } | Error::Damaged { .. })) => {
                tracing::error!(error = %e, "the redrive marks or failure counts of deleted topics cannot be forgotten: `__redriven` or `__attempts` is damaged; run `millrace check`");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The committed offsets still kept on `topics` (deleted topics whose
    /// directory and DLQ are gone, and those DLQs), all forgotten in one
    /// pass (a read-only open hides them from its view); nothing is written
    /// when there are none. A damaged or unreadable
    /// `__offsets` is left to `millrace check` (reported there): the store
    /// opens, as it does with a damaged config change log.
    fn forget_leftover_offsets(&self, topics: &[String]) -> Result<()> {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let groups = self.consumer_groups();
        let forgotten = if self.inner.catalog.storage.is_read_only() {
            groups.hide_topic_offsets(&names)
        } else {
            groups.forget_topic_offsets(&names)
        };
        match forgotten {
            Ok(0) => Ok(()),
            Ok(forgotten) => {
                tracing::info!(
                    forgotten,
                    topics = ?names,
                    "finishing a topic delete interrupted before its committed offsets were forgotten"
                );
                Ok(())
            }
            Err(e @ (Error::Corruption { .. } | Error::Damaged { .. })) => {
                tracing::error!(error = %e, "the committed offsets of deleted topics cannot be forgotten: `__offsets` is damaged; run `millrace check`");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The DLQ of `name`, every committed offset on `name` or its DLQ, then
    /// the DLQ's redrive marks and the topic's failure counts.
    fn forget_topic_dependents(&self, name: &str) -> Result<()> {
        let dlq = crate::pipeline::dlq::dlq_topic_name(name);
        if self.inner.catalog.contains(&dlq) {
            tracing::info!(topic = name, dlq = %dlq, "deleting the DLQ of a deleted topic");
            self.delete_topic_files(&dlq, None)?;
        }
        let forgotten = self.consumer_groups().forget_topic_offsets(&[name, &dlq])?;
        if forgotten > 0 {
            tracing::info!(
                topic = name,
                forgotten,
                "forgot the committed offsets of a deleted topic"
            );
        }
        self.pipeline().forget_dlq_bookkeeping(name)
    }

    fn delete_topic_files(&self, name: &str, actor: Option<&str>) -> Result<()> {
        // Only a name the store listed (a directory of `topics/`) is deleted.
        match self.topic(name) {
            // A topic that failed to open can be deleted too (below).
            Ok(_) | Err(Error::Damaged { .. }) => {}
            Err(e) => return Err(e),
        }
        // The commit lock before the admin lock (`commit` may create
        // `__transactions` under both, in that order).
        let commits = self.lock_commits();
        self.check_open()?;
        let pipeline = self.pipeline();
        crate::pipeline::txn::forget_applied(&pipeline, &commits)?;
        self.inner.catalog.remove_topic(name, actor)
    }

    /// Change keys of a topic's configuration (`changes`: key and value as
    /// text, the keys of [`crate::config::TOPIC_CONFIG_KEYS`]), all or none:
    /// an unknown key, an unparsable value or a configuration
    /// [`TopicConfig::validate`] refuses changes nothing (`InvalidInput`).
    /// Unless `dry_run` the new configuration is durable when this returns
    /// (`topic.meta` replaced atomically: after a crash the topic opens with
    /// the old configuration or the new one, never a mix) and applies to
    /// appends, rolls and retention from then on, except `durability`,
    /// which applies when the store next opens (the partitions' sync mode is
    /// fixed while they are open). Returns the configuration before and
    /// after. An internal topic (`__*`) is refused (`InternalName`). An
    /// applied change is recorded in the config change log with actor
    /// [`EMBEDDED_ACTOR`] ([`Store::alter_topic_as`] names another).
    pub fn alter_topic(
        &self,
        name: &str,
        changes: &[(String, String)],
        dry_run: bool,
    ) -> Result<(TopicConfig, TopicConfig)> {
        self.alter_topic_as(EMBEDDED_ACTOR, name, changes, dry_run)
    }

    /// [`Store::alter_topic`], an applied change recorded in the config
    /// change log ([`Store::config_history`]) as asked for by `actor`, in
    /// the same call and atomically with it: after a crash the topic has
    /// the old configuration and no record of the change, or the new one
    /// and its record (design/durability.md, "Topic configuration changes").
    /// A damaged log refuses the change (`Damaged`): no change goes
    /// unrecorded.
    pub fn alter_topic_as(
        &self,
        actor: &str,
        name: &str,
        changes: &[(String, String)],
        dry_run: bool,
    ) -> Result<(TopicConfig, TopicConfig)> {
        crate::names::refuse_internal_topic(name)?;
        self.inner.catalog.alter_topic(name, dry_run, Some(actor), |config| {
            for (key, value) in changes {
                config.set(key, value)?;
            }
            Ok(())
        })
    }

    /// Every recorded create, alter and delete of a user topic (of `topic`,
    /// or of every topic), oldest first. A record that does not decode is
    /// `Corruption` naming the log and its offset; a damaged log answers
    /// `Damaged` (scope: `__config_changes`): the rest of the store is not
    /// concerned.
    pub fn config_history(&self, topic: Option<&str>) -> Result<Vec<ConfigChange>> {
        Ok(self
            .config_history_page(topic, None, usize::MAX)?
            .into_iter()
            .map(|(_, change)| change)
            .collect())
    }

    /// [`Store::config_history`] a page at a time: at most `max` changes
    /// whose offset in the log is above `after`, with their offsets (the
    /// cursor of the next call).
    pub fn config_history_page(
        &self,
        topic: Option<&str>,
        after: Option<u64>,
        max: usize,
    ) -> Result<Vec<(u64, ConfigChange)>> {
        self.inner.catalog.config_changes_page(topic, after, max)
    }

    /// Names of user topics (internal `__` topics are listed by `list_all_topics`).
    pub fn list_topics(&self) -> Vec<String> {
        let mut names = self.inner.catalog.names();
        names.retain(|n| !crate::names::is_internal(n));
        names
    }

    /// Every topic, the store's own (`__offsets`, `__dlq.*`, ...) included.
    pub fn list_all_topics(&self) -> Vec<String> {
        self.inner.catalog.names()
    }

    /// Topics and partitions that failed to open (the rest of the store
    /// did), with the error each answers; empty for an undamaged store.
    pub fn damaged(&self) -> Vec<Damage> {
        let damaged = self.inner.catalog.damaged().into_iter();
        damaged.map(|(scope, error)| Damage { scope, error }).collect()
    }

    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.inner.catalog.topic(name)
    }

    pub(crate) fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Partition>> {
        self.inner.catalog.partition(topic, partition)
    }

    /// A topic's configuration and per-partition numbers.
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topic = self.topic(name)?;
        Ok(TopicDescription {
            name: topic.name.clone(),
            config: topic.config.clone(),
            durability: self.inner.catalog.durability(&topic),
            partitions: topic.partitions.iter().map(|p| p.info()).collect(),
            damaged_partitions: topic.damaged.iter().map(|(p, e)| (*p, e.clone())).collect(),
        })
    }

    /// Number of partitions of `topic`.
    pub fn partition_count(&self, topic: &str) -> Result<u32> {
        Ok(self.topic(topic)?.config.partitions)
    }

    /// Which time `topic`'s records carry (its `timestamp_type`).
    pub fn timestamp_type(&self, topic: &str) -> Result<crate::TimestampType> {
        Ok(self.topic(topic)?.config.timestamp_type)
    }
}

/// The topic a damaged scope belongs to.
fn damaged_topic(scope: &DamagedScope) -> &str {
    match scope {
        DamagedScope::Topic { topic } | DamagedScope::Partition { topic, .. } => topic,
    }
}
