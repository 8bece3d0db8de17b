//! The durable audit trail of topic configuration changes: internal topic
//! `__config_changes`, one record per create, alter or delete of a user
//! topic (who, when, the whole configuration before and after). Layout in
//! design/format.md ("Config change record").
//!
//! A record is an intent written before the change (design/durability.md,
//! "Topic configuration changes"): under the admin lock the record is
//! appended and fdatasynced (the topic is `Always`), then `topic.meta` is
//! replaced. A crash before the record's fsync leaves neither (a torn record
//! is cut at the next open); a crash after it leaves the record, and the
//! next open ([`Catalog::finish_config_changes`]) rolls the change forward:
//! for each topic whose last record is an alter, a `topic.meta` that still
//! holds the record's old configuration is replaced by its new one. So a
//! configuration is never in force without its record, nor a record's
//! alter without its configuration. The same for creates and deletes: a
//! topic whose last record is a create and which has no directory is
//! created with the record's configuration; one whose last record is a
//! delete and which still has its directory is deleted (by the store, once
//! open: the DLQ and committed offsets go with it, as in any delete). So the
//! trail's last word on a topic and the catalog always agree.

use super::Catalog;
use crate::codec::{Decoder, Encoder};
use crate::config::TopicConfig;
use crate::error::{CorruptionKind, Error, Result};
use crate::io::checked::IoContext;
use crate::io::write_atomic;
use crate::log::batch::Record;
use crate::log::partition::Partition;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The internal topic of config change records.
pub const CONFIG_CHANGES_TOPIC: &str = "__config_changes";
/// Longest actor recorded (longer ones are cut at a character boundary).
pub const CONFIG_ACTOR_BYTES_MAX: usize = 255;
const RECORD_VERSION: u8 = 1;

/// What a config change record records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigChangeKind {
    /// The topic was created with `new`.
    Create,
    /// The topic's configuration went from `old` to `new`.
    Alter,
    /// The topic (with configuration `old`, if it opened) was deleted.
    Delete,
}

impl ConfigChangeKind {
    fn code(self) -> u8 {
        match self {
            ConfigChangeKind::Create => 1,
            ConfigChangeKind::Alter => 2,
            ConfigChangeKind::Delete => 3,
        }
    }

    fn of_code(code: u8) -> Option<ConfigChangeKind> {
        match code {
            1 => Some(ConfigChangeKind::Create),
            2 => Some(ConfigChangeKind::Alter),
            3 => Some(ConfigChangeKind::Delete),
            _ => None,
        }
    }

    /// `create`, `alter` or `delete`.
    pub fn name(self) -> &'static str {
        match self {
            ConfigChangeKind::Create => "create",
            ConfigChangeKind::Alter => "alter",
            ConfigChangeKind::Delete => "delete",
        }
    }

    /// The kind called [`ConfigChangeKind::name`] `name`.
    pub fn parse(name: &str) -> Option<ConfigChangeKind> {
        [
            ConfigChangeKind::Create,
            ConfigChangeKind::Alter,
            ConfigChangeKind::Delete,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// One recorded configuration change of a topic (`Store::config_history`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// When it was asked for (ms since the Unix epoch).
    pub at_ms: i64,
    /// Who asked (`token@peer` through a server, `user@host` offline).
    pub actor: String,
    /// The topic.
    pub topic: String,
    /// Create, alter or delete.
    pub kind: ConfigChangeKind,
    /// The configuration before (absent for a create, and for the delete of
    /// a topic that did not open).
    pub old: Option<TopicConfig>,
    /// The configuration after (absent for a delete).
    pub new: Option<TopicConfig>,
}

/// One key of a change: its name, its value before and after (as text,
/// [`TopicConfig::entries`]); absent where the configuration is.
pub type KeyChange = (&'static str, Option<String>, Option<String>);

impl ConfigChange {
    /// The keys whose value differs between `old` and `new`, in
    /// [`crate::config::TOPIC_CONFIG_KEYS`] order, with `partitions` first
    /// when it differs; for a create, `partitions` and the keys not left
    /// at their "not set" spelling ([`TopicConfig::entries_set`]); none for
    /// a delete.
    pub fn keys_changed(&self) -> Vec<KeyChange> {
        let entries = |c: &Option<TopicConfig>| {
            c.as_ref().map(|c| {
                let mut all = vec![("partitions", c.partitions.to_string())];
                all.extend(c.entries());
                all
            })
        };
        match (entries(&self.old), entries(&self.new)) {
            (Some(old), Some(new)) => old
                .into_iter()
                .zip(new)
                .filter(|((_, a), (_, b))| a != b)
                .map(|((key, a), (_, b))| (key, Some(a), Some(b)))
                .collect(),
            (None, Some(_)) => self
                .new
                .iter()
                .flat_map(|new| {
                    let mut set = vec![("partitions", new.partitions.to_string())];
                    set.extend(new.entries_set());
                    set.into_iter().map(|(key, b)| (key, None, Some(b)))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// `actor` cut to [`CONFIG_ACTOR_BYTES_MAX`] bytes at a character boundary.
fn bounded_actor(actor: &str) -> &str {
    let mut end = actor.len().min(CONFIG_ACTOR_BYTES_MAX);
    while !actor.is_char_boundary(end) {
        end -= 1;
    }
    actor.get(..end).unwrap_or_default()
}

fn encode(change: &ConfigChange) -> Vec<u8> {
    let config = |c: &Option<TopicConfig>| c.as_ref().map(TopicConfig::encode).unwrap_or_default();
    let mut e = Encoder::new();
    e.u8(RECORD_VERSION)
        .i64(change.at_ms)
        .short_str(bounded_actor(&change.actor))
        .short_str(&change.topic)
        .u8(change.kind.code())
        .long_bytes(&config(&change.old))
        .long_bytes(&config(&change.new));
    e.seal_with_crc()
}

/// Decode a record read from `partition` at `offset`: `Corruption`
/// (`BadRecord`, naming the partition and the offset) if it does not.
fn decode(bytes: &[u8], partition: &Partition, offset: u64) -> Result<ConfigChange> {
    decode_change(bytes).ok_or_else(|| Error::corruption(&partition.dir, offset, CorruptionKind::BadRecord))
}

/// Decode a config change record (`None`: it does not decode); also what
/// `millrace check` reads the log's files with.
pub(crate) fn decode_change(bytes: &[u8]) -> Option<ConfigChange> {
    let mut d = Decoder::with_crc(bytes)?;
    if d.u8() != Some(RECORD_VERSION) {
        return None;
    }
    let at_ms = d.i64()?;
    let actor = d.short_str()?;
    let topic = d.short_str()?;
    let kind = d.u8().and_then(ConfigChangeKind::of_code)?;
    let mut config = || -> Option<Option<TopicConfig>> {
        let bytes = d.long_bytes()?;
        if bytes.is_empty() {
            return Some(None);
        }
        TopicConfig::decode(&bytes, std::path::Path::new(CONFIG_CHANGES_TOPIC))
            .ok()
            .map(Some)
    };
    let old = config()?;
    let new = config()?;
    if !d.is_empty() {
        return None;
    }
    Some(ConfigChange {
        at_ms,
        actor,
        topic,
        kind,
        old,
        new,
    })
}

impl Catalog {
    /// The config change log, created if it does not exist yet. Called
    /// before the admin lock is taken (creating it takes that lock).
    pub(crate) fn config_changes_log(&self) -> Result<Arc<Partition>> {
        self.internal_log_or_create(CONFIG_CHANGES_TOPIC, super::internal::internal_topic_config())
    }

    /// Append `change` to `log` and return once it is durable (the log is
    /// `Always`). Called under the admin lock, before the change is made.
    pub(crate) fn record_config_change(&self, log: &Partition, change: &ConfigChange) -> Result<()> {
        log.append(&[Record::new(encode(change))], None, 0)?;
        Ok(())
    }

    /// At most `max` recorded changes (of `topic`, or of every topic) whose
    /// offset in the log is above `after` (absent: from the log start),
    /// oldest first, with their offsets (the cursor of the next call).
    pub(crate) fn config_changes_page(
        &self,
        topic: Option<&str>,
        after: Option<u64>,
        max: usize,
    ) -> Result<Vec<(u64, ConfigChange)>> {
        self.internal_log_page(CONFIG_CHANGES_TOPIC, after, max, |log, offset, value| {
            let change = decode(value, log, offset)?;
            Ok(topic.is_none_or(|t| t == change.topic).then_some(change))
        })
    }

    /// Replace `topic.meta` of `topic` with `new` and hand `new` to its open
    /// partitions (their durability switched at once) and the catalog (the
    /// caller holds the admin lock).
    pub(crate) fn install_config(&self, topic: &super::Topic, new: &TopicConfig) -> Result<()> {
        let meta = topic.dir.join(super::TOPIC_META);
        write_atomic(self.storage.as_ref(), &meta, &new.encode()).at("write topic meta", &meta)?;
        for p in &topic.partitions {
            p.set_config(new.clone());
        }
        let altered = super::Topic {
            name: topic.name.clone(),
            config: new.clone(),
            dir: topic.dir.clone(),
            partitions: topic.partitions.clone(),
            damaged: topic.damaged.clone(),
        };
        self.topics.write().insert(topic.name.clone(), Arc::new(altered));
        // Once `topic.meta` holds it: a mode is never in force without it.
        // Each switch fsyncs its partition (`Partition::set_durability`).
        let durability = new.durability.unwrap_or(self.options.durability);
        for p in &topic.partitions {
            p.set_durability(durability)?;
        }
        Ok(())
    }

    /// Roll forward the alters whose record was written and whose
    /// `topic.meta` was not, and the creates whose record was written and
    /// whose directory was not (module docs), at open. Returns the topics
    /// whose last record is a delete, each with whether its directory is
    /// still there: the store finishes those deletes once open, and checks
    /// that the others left nothing behind (`Store::open_with_storage`). A damaged
    /// or unreadable log is left to `millrace check`: the store opens, with
    /// a warning. A live read-only view of a store a writer holds finishes
    /// only alters: a create or delete it sees recorded may be under way.
    pub(crate) fn finish_config_changes(&self) -> Result<Vec<(String, bool)>> {
        let changes = match self.config_changes_page(None, None, usize::MAX) {
            Ok(changes) => changes,
            Err(e @ (Error::Corruption { .. } | Error::Damaged { .. })) => {
                tracing::error!(error = %e, "the config change log is damaged: interrupted topic changes are not finished; run `millrace check`");
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let mut last: BTreeMap<String, ConfigChange> = BTreeMap::new();
        for (_, change) in changes {
            last.insert(change.topic.clone(), change);
        }
        let live = self.storage.is_live_view();
        let mut deletes = Vec::new();
        let _admin = self.lock_admin();
        for change in last.into_values() {
            let exists = self.contains(&change.topic) || self.damaged_topics.read().contains_key(&change.topic);
            match (change.kind, &change.old, &change.new) {
                (ConfigChangeKind::Alter, Some(old), Some(new)) => {
                    let Ok(topic) = self.topic(&change.topic) else {
                        continue;
                    };
                    if topic.config == *old && topic.config != *new {
                        tracing::info!(topic = %change.topic, actor = %change.actor, "finishing a topic alter interrupted after its record was written");
                        self.install_config(&topic, new)?;
                    }
                }
                (ConfigChangeKind::Create, _, Some(new)) if !exists && !live => {
                    tracing::info!(topic = %change.topic, actor = %change.actor, "finishing a topic create interrupted after its record was written");
                    self.make_topic(&change.topic, new)?;
                }
                (ConfigChangeKind::Delete, ..) if !live => deletes.push((change.topic, exists)),
                _ => {}
            }
        }
        Ok(deletes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_actors() {
        for kind in [
            ConfigChangeKind::Create,
            ConfigChangeKind::Alter,
            ConfigChangeKind::Delete,
        ] {
            assert_eq!(ConfigChangeKind::of_code(kind.code()), Some(kind));
            assert_eq!(ConfigChangeKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(ConfigChangeKind::of_code(0), None);
        let long = "é".repeat(200);
        let cut = bounded_actor(&long);
        assert!(cut.len() <= CONFIG_ACTOR_BYTES_MAX && long.starts_with(cut) && cut.len() >= 250);
    }

    #[test]
    fn keys_changed_lists_what_moved() {
        let old = TopicConfig::with_partitions(2);
        let new = TopicConfig {
            retention_ms: Some(60_000),
            ..old.clone()
        };
        let change = ConfigChange {
            at_ms: 1,
            actor: "ops@host".into(),
            topic: "t".into(),
            kind: ConfigChangeKind::Alter,
            old: Some(old.clone()),
            new: Some(new),
        };
        assert_eq!(
            change.keys_changed(),
            [("retention_ms", Some("none".to_string()), Some("60000".to_string()))]
        );
        let created = ConfigChange {
            kind: ConfigChangeKind::Create,
            old: None,
            new: Some(old),
            ..change
        };
        assert_eq!(
            created.keys_changed().first(),
            Some(&("partitions", None, Some("2".to_string())))
        );
    }
}
