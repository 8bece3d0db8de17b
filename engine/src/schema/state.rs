//! The registry in memory, rebuilt by replaying `__schemas` in order and
//! changed only by applying a record that was written first.

use super::compat::Compatibility;
use super::record::SchemaRecord;
use super::{SchemaType, StoredSchema, SubjectVersion};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
pub(super) struct Schema {
    pub(super) schema_type: SchemaType,
    pub(super) text: String,
    /// `parse::ParsedSchema::identity`, or the text itself for a schema
    /// that no longer parses (it keeps its id, and matches only itself).
    pub(super) identity: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) id: u32,
    pub(super) deleted: bool,
}

#[derive(Debug, Default, Clone)]
pub(super) struct Subject {
    pub(super) versions: BTreeMap<u32, Entry>,
    /// Every version below this was given out (never reused).
    pub(super) next_version: u32,
}

impl Subject {
    pub(super) fn live(&self) -> impl DoubleEndedIterator<Item = (u32, Entry)> + '_ {
        self.versions.iter().filter(|(_, e)| !e.deleted).map(|(v, e)| (*v, *e))
    }
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) schemas: BTreeMap<u32, Schema>,
    pub(super) by_identity: HashMap<(SchemaType, String), u32>,
    pub(super) subjects: BTreeMap<String, Subject>,
    pub(super) global: Option<Compatibility>,
    pub(super) subject_levels: BTreeMap<String, Compatibility>,
    /// Every id below this was given out (ids start at 1, never reused).
    pub(super) next_id: u32,
    /// Bytes of schema text held.
    pub(super) text_bytes: usize,
    /// Records replayed or written since the log's start (for compaction).
    pub(super) records: u64,
}

/// A record that does not fit the state built so far (a version naming an
/// unknown schema): the log is damaged.
#[derive(Debug)]
pub(super) struct Inconsistent(pub(super) String);

impl State {
    pub(super) fn new() -> State {
        State {
            next_id: 1,
            ..State::default()
        }
    }

    pub(super) fn apply(
        &mut self,
        record: SchemaRecord,
        identity: impl FnOnce(SchemaType, &str) -> String,
    ) -> Result<(), Inconsistent> {
        self.records += 1;
        match record {
            SchemaRecord::Schema { id, schema_type, text } => {
                if id == 0 || id == u32::MAX {
                    return Err(Inconsistent(format!("schema id {id} out of range")));
                }
                self.next_id = self.next_id.max(id + 1);
                if !self.schemas.contains_key(&id) {
                    let identity = identity(schema_type, &text);
                    self.text_bytes += text.len();
                    self.by_identity.insert((schema_type, identity.clone()), id);
                    self.schemas.insert(
                        id,
                        Schema {
                            schema_type,
                            text,
                            identity,
                        },
                    );
                }
            }
            SchemaRecord::Version {
                subject,
                version,
                id,
                deleted,
            } => {
                if !self.schemas.contains_key(&id) {
                    return Err(Inconsistent(format!(
                        "version {version} of subject {subject:?} names schema {id}, which no record defined"
                    )));
                }
                if version == 0 || version == u32::MAX {
                    return Err(Inconsistent(format!(
                        "version {version} of subject {subject:?} out of range"
                    )));
                }
                let s = self.subjects.entry(subject).or_default();
                s.next_version = s.next_version.max(version + 1);
                s.versions.insert(version, Entry { id, deleted });
            }
            SchemaRecord::VersionGone { subject, version } => {
                if let Some(s) = self.subjects.get_mut(&subject) {
                    s.versions.remove(&version);
                }
            }
            SchemaRecord::Config { subject, level } => match (subject.is_empty(), level) {
                (true, level) => self.global = level,
                (false, Some(level)) => {
                    self.subject_levels.insert(subject, level);
                }
                (false, None) => {
                    self.subject_levels.remove(&subject);
                }
            },
            SchemaRecord::IdFloor { next_id } => self.next_id = self.next_id.max(next_id),
            SchemaRecord::VersionFloor { subject, next_version } => {
                let s = self.subjects.entry(subject).or_default();
                s.next_version = s.next_version.max(next_version);
            }
        }
        Ok(())
    }

    /// Drop the schemas no version names any more (hard-deleted), and the
    /// subjects with no version left (their version floor stays while the
    /// process runs; a compaction writes it).
    pub(super) fn prune(&mut self) {
        let mut named = std::collections::HashSet::new();
        for s in self.subjects.values() {
            named.extend(s.versions.values().map(|e| e.id));
        }
        let gone: Vec<u32> = self.schemas.keys().filter(|id| !named.contains(id)).copied().collect();
        for id in gone {
            if let Some(schema) = self.schemas.remove(&id) {
                self.text_bytes -= schema.text.len();
                self.by_identity.remove(&(schema.schema_type, schema.identity));
            }
        }
    }

    pub(super) fn stored(&self, id: u32) -> Option<StoredSchema> {
        self.schemas.get(&id).map(|s| StoredSchema {
            id,
            schema_type: s.schema_type,
            schema: s.text.clone(),
        })
    }

    pub(super) fn subject_version(&self, subject: &str, version: u32, id: u32) -> Option<SubjectVersion> {
        self.schemas.get(&id).map(|s| SubjectVersion {
            subject: subject.to_string(),
            version,
            id,
            schema_type: s.schema_type,
            schema: s.text.clone(),
            deleted: false,
        })
    }

    /// The level in force for `subject`: its own, else the global one, else BACKWARD.
    pub(super) fn level(&self, subject: &str) -> Compatibility {
        self.subject_levels
            .get(subject)
            .copied()
            .or(self.global)
            .unwrap_or_default()
    }

    /// The records that rebuild this state (what a compaction writes):
    /// floors first, then schemas, then versions, then configs.
    pub(super) fn snapshot(&self) -> Vec<SchemaRecord> {
        let mut records = vec![SchemaRecord::IdFloor { next_id: self.next_id }];
        for (name, s) in &self.subjects {
            records.push(SchemaRecord::VersionFloor {
                subject: name.clone(),
                next_version: s.next_version,
            });
        }
        for (id, s) in &self.schemas {
            records.push(SchemaRecord::Schema {
                id: *id,
                schema_type: s.schema_type,
                text: s.text.clone(),
            });
        }
        for (name, s) in &self.subjects {
            for (version, e) in &s.versions {
                records.push(SchemaRecord::Version {
                    subject: name.clone(),
                    version: *version,
                    id: e.id,
                    deleted: e.deleted,
                });
            }
        }
        if let Some(level) = self.global {
            records.push(SchemaRecord::Config {
                subject: String::new(),
                level: Some(level),
            });
        }
        for (name, level) in &self.subject_levels {
            records.push(SchemaRecord::Config {
                subject: name.clone(),
                level: Some(*level),
            });
        }
        records
    }

    /// Records that a compaction would keep.
    pub(super) fn live_records(&self) -> u64 {
        let versions: usize = self.subjects.values().map(|s| s.versions.len()).sum();
        (1 + 2 * self.subjects.len() + self.schemas.len() + versions + self.subject_levels.len() + 1) as u64
    }
}
