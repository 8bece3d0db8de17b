//! The registry's handle ([`crate::Store::schemas`]): every operation takes
//! the table's lock, loads `__schemas` on first use, writes its change as
//! one batch (all of a change or none survives a crash) and only then
//! applies it in memory. A registration found already durable (a crash
//! after the write, before the answer) is answered from the log: an id is
//! given out once.

use super::compat::{self, Compatibility, CompatibilityReport};
use super::parse::{parse_schema, ParsedSchema};
use super::record::SchemaRecord;
use super::state::{Entry, State};
use super::{
    validate_subject, SchemaType, StoredSchema, SubjectVersion, REGISTRY_BYTES_MAX, SCHEMAS_MAX, SCHEMAS_TOPIC,
    SUBJECTS_MAX, VERSIONS_PER_SUBJECT_MAX,
};
use crate::catalog::OpenCatalog;
use crate::error::{CorruptionKind, Error, Result};
use crate::log::batch::Record;
use crate::log::partition::{Isolation, ReadOptions};
use parking_lot::Mutex;
use std::sync::Arc;

/// Records past the live ones before a compaction rewrites the log.
const COMPACT_MIN: u64 = 1024;
/// Bytes of records per batch of a compaction's rewrite.
const REWRITE_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Ids stay below this: Confluent's clients read them as a signed 32-bit number.
const ID_LIMIT: u32 = i32::MAX as u32;

/// The registry's state, loaded on first use (the store's, shared by every handle).
#[derive(Debug, Default)]
pub(crate) struct RegistryTable {
    loaded: Mutex<Option<State>>,
}

/// The schema registry of one store: schemas by global id, subjects and
/// their versions, compatibility levels. Cheap to clone; keeps the store
/// open while it lives. Every method blocks; the first loads `__schemas`
/// (a damaged record there is [`Error::Corruption`] naming it, for the
/// registry's calls only).
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    catalog: Arc<OpenCatalog>,
    table: Arc<RegistryTable>,
}

fn identity_of(schema_type: SchemaType, text: &str) -> String {
    parse_schema(schema_type, text).map_or_else(|_| text.to_string(), |p| p.identity)
}

fn limit(detail: String) -> Error {
    Error::invalid("schema registry", detail)
}

impl SchemaRegistry {
    pub(crate) fn new(catalog: Arc<OpenCatalog>, table: Arc<RegistryTable>) -> SchemaRegistry {
        SchemaRegistry { catalog, table }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut guard = self.table.loaded.lock();
        if guard.is_none() {
            *guard = Some(self.load()?);
        }
        match guard.as_mut() {
            Some(state) => f(state),
            None => Err(Error::invalid("schema registry", "not loaded")),
        }
    }

    fn load(&self) -> Result<State> {
        let mut state = State::new();
        let Some(p) = self.catalog.internal_log(SCHEMAS_TOPIC)? else {
            return Ok(state);
        };
        let mut offset = p.start_offset();
        while offset < p.high_watermark() {
            let r = p.read(offset, ReadOptions::default(), Isolation::ReadUncommitted)?;
            for rec in &r.records {
                let damaged = || Error::corruption(&p.dir, rec.offset, CorruptionKind::BadRecord);
                let record = SchemaRecord::decode(&rec.value).ok_or_else(damaged)?;
                state.apply(record, identity_of).map_err(|e| {
                    tracing::error!(offset = rec.offset, problem = %e.0, "schema registry record does not fit the records before it");
                    damaged()
                })?;
            }
            if r.next_offset <= offset {
                break;
            }
            offset = r.next_offset;
        }
        state.prune();
        state.records = p.high_watermark() - p.start_offset();
        Ok(state)
    }

    /// Write `records` as one batch, then apply them.
    fn write(&self, state: &mut State, records: Vec<SchemaRecord>, parsed: Option<&ParsedSchema>) -> Result<()> {
        self.catalog.ensure_internal_topic(SCHEMAS_TOPIC)?;
        let p = self.catalog.partition(SCHEMAS_TOPIC, 0)?;
        let batch: Vec<Record> = records.iter().map(|r| Record::new(r.encode())).collect();
        p.append(&batch, None, 0)?;
        for record in records {
            let applied = state.apply(record, |schema_type, text| match parsed {
                Some(p) if p.schema_type == schema_type => p.identity.clone(),
                _ => identity_of(schema_type, text),
            });
            if let Err(e) = applied {
                return Err(Error::invalid("schema registry", e.0));
            }
        }
        state.prune();
        self.maybe_compact(state)
    }

    fn maybe_compact(&self, state: &mut State) -> Result<()> {
        if state.records <= 2 * state.live_records() + COMPACT_MIN {
            return Ok(());
        }
        self.compact_now(state)
    }

    fn compact_now(&self, state: &mut State) -> Result<()> {
        let p = self.catalog.partition(SCHEMAS_TOPIC, 0)?;
        let end = p.high_watermark();
        // Seal the segment of the superseded records, so that moving the
        // start past them deletes them from disk.
        p.roll_now()?;
        let snapshot = state.snapshot();
        let mut batch: Vec<Record> = Vec::new();
        let mut batch_bytes = 0;
        // A rewrite of what is already durable: a crash in between leaves
        // both copies, and replaying both gives the same state.
        for record in &snapshot {
            let bytes = record.encode();
            if batch_bytes + bytes.len() > REWRITE_BATCH_BYTES && !batch.is_empty() {
                p.append(&batch, None, 0)?;
                batch.clear();
                batch_bytes = 0;
            }
            batch_bytes += bytes.len();
            batch.push(Record::new(bytes));
        }
        if !batch.is_empty() {
            p.append(&batch, None, 0)?;
        }
        self.catalog.truncate_prefix(SCHEMAS_TOPIC, 0, end)?;
        state.records = snapshot.len() as u64;
        Ok(())
    }

    /// Rewrite `__schemas` with only what it holds now; returns the records kept.
    pub fn compact(&self) -> Result<u64> {
        self.with_state(|state| {
            if self.catalog.internal_log(SCHEMAS_TOPIC)?.is_none() {
                return Ok(0);
            }
            self.compact_now(state)?;
            Ok(state.records)
        })
    }

    /// The schema with global id `id` (also when only soft-deleted versions name it).
    pub fn by_id(&self, id: u32) -> Result<Option<StoredSchema>> {
        self.with_state(|state| Ok(state.stored(id)))
    }

    /// The (subject, version) pairs whose undeleted version names schema `id`.
    pub fn subjects_of(&self, id: u32) -> Result<Vec<(String, u32)>> {
        self.with_state(|state| {
            let mut pairs = Vec::new();
            for (name, s) in &state.subjects {
                pairs.extend(s.live().filter(|(_, e)| e.id == id).map(|(v, _)| (name.clone(), v)));
            }
            Ok(pairs)
        })
    }

    /// Subjects with an undeleted version (`include_deleted`: also those
    /// whose versions are all soft-deleted), sorted.
    pub fn subjects(&self, include_deleted: bool) -> Result<Vec<String>> {
        self.with_state(|state| {
            Ok(state
                .subjects
                .iter()
                .filter(|(_, s)| {
                    if include_deleted {
                        !s.versions.is_empty()
                    } else {
                        s.live().next().is_some()
                    }
                })
                .map(|(name, _)| name.clone())
                .collect())
        })
    }

    /// The undeleted versions of `subject`, ascending (`include_deleted`:
    /// the soft-deleted ones too); [`Error::SubjectNotFound`] if there are none.
    pub fn versions(&self, subject: &str, include_deleted: bool) -> Result<Vec<u32>> {
        self.with_state(|state| {
            let versions: Vec<u32> = state
                .subjects
                .get(subject)
                .map(|s| {
                    s.versions
                        .iter()
                        .filter(|(_, e)| include_deleted || !e.deleted)
                        .map(|(v, _)| *v)
                        .collect()
                })
                .unwrap_or_default();
            if versions.is_empty() {
                return Err(Error::SubjectNotFound {
                    subject: subject.to_string(),
                });
            }
            Ok(versions)
        })
    }

    /// Version `version` of `subject` (`None`: the latest), if it exists
    /// and is not deleted.
    pub fn version(&self, subject: &str, version: Option<u32>) -> Result<Option<SubjectVersion>> {
        self.with_state(|state| {
            let Some(s) = state.subjects.get(subject) else {
                return Ok(None);
            };
            let found = match version {
                None => s.live().next_back(),
                Some(v) => s.live().find(|(n, _)| *n == v),
            };
            Ok(found.and_then(|(v, e)| state.subject_version(subject, v, e.id)))
        })
    }

    /// Version `version` of `subject` (`None`: the latest), soft-deleted or
    /// not (`deleted` says which), if it exists.
    pub fn version_including_deleted(&self, subject: &str, version: Option<u32>) -> Result<Option<SubjectVersion>> {
        self.with_state(|state| {
            let Some(s) = state.subjects.get(subject) else {
                return Ok(None);
            };
            let found = match version {
                None => s.versions.iter().next_back(),
                Some(v) => s.versions.get_key_value(&v),
            };
            Ok(found.and_then(|(v, e)| {
                state.subject_version(subject, *v, e.id).map(|found| SubjectVersion {
                    deleted: e.deleted,
                    ..found
                })
            }))
        })
    }

    /// The undeleted version of `subject` whose schema is `schema` (the
    /// same identity), if any.
    pub fn lookup(&self, subject: &str, schema_type: SchemaType, schema: &str) -> Result<Option<SubjectVersion>> {
        let parsed = parse_schema(schema_type, schema)?;
        self.with_state(|state| Ok(find_live(state, subject, &parsed)))
    }

    /// Register `schema` under `subject`: its version if the subject already
    /// has it undeleted (same id and version again); else a new version
    /// (the schema's id if any subject registered the same schema, else a
    /// new one), if it passes the subject's compatibility level
    /// ([`Error::IncompatibleSchema`] otherwise). Durable on return.
    pub fn register(&self, subject: &str, schema_type: SchemaType, schema: &str) -> Result<SubjectVersion> {
        validate_subject(subject)?;
        let parsed = parse_schema(schema_type, schema)?;
        self.with_state(|state| {
            if let Some(found) = find_live(state, subject, &parsed) {
                return Ok(found);
            }
            let report = compat::check(state.level(subject), &parsed, &earlier(state, subject, None)?);
            if !report.compatible {
                return Err(Error::IncompatibleSchema {
                    subject: subject.to_string(),
                    messages: report.messages,
                });
            }
            let existing = state.by_identity.get(&(schema_type, parsed.identity.clone())).copied();
            let mut records = Vec::with_capacity(2);
            let id = match existing {
                Some(id) => id,
                None => {
                    if state.schemas.len() >= SCHEMAS_MAX || state.text_bytes + schema.len() > REGISTRY_BYTES_MAX {
                        return Err(limit(format!(
                            "holds {} schemas of {} bytes in all; at most {SCHEMAS_MAX} and {REGISTRY_BYTES_MAX} bytes: delete unused subjects permanently",
                            state.schemas.len(),
                            state.text_bytes
                        )));
                    }
                    let id = state.next_id;
                    if id >= ID_LIMIT {
                        return Err(limit("every schema id was given out".into()));
                    }
                    records.push(SchemaRecord::Schema {
                        id,
                        schema_type,
                        text: schema.to_string(),
                    });
                    id
                }
            };
            let version = match state.subjects.get(subject) {
                Some(s) => {
                    if s.versions.len() >= VERSIONS_PER_SUBJECT_MAX {
                        return Err(limit(format!(
                            "subject {subject:?} has {} versions; at most {VERSIONS_PER_SUBJECT_MAX}: delete old versions permanently",
                            s.versions.len()
                        )));
                    }
                    s.next_version.max(1)
                }
                None => {
                    if state.subjects.len() >= SUBJECTS_MAX {
                        return Err(limit(format!("at most {SUBJECTS_MAX} subjects")));
                    }
                    1
                }
            };
            if version >= ID_LIMIT {
                return Err(limit(format!("every version of subject {subject:?} was given out")));
            }
            records.push(SchemaRecord::Version {
                subject: subject.to_string(),
                version,
                id,
                deleted: false,
            });
            self.write(state, records, Some(&parsed))?;
            state
                .subject_version(subject, version, id)
                .ok_or(Error::SchemaNotFound { id })
        })
    }

    /// Whether `schema` passes `subject`'s compatibility level: against
    /// version `against` only, or (`None`) against the versions the level
    /// names (the last one, or every one for a transitive level). A subject
    /// without versions takes any schema.
    pub fn check_compatibility(
        &self,
        subject: &str,
        schema_type: SchemaType,
        schema: &str,
        against: Option<u32>,
    ) -> Result<CompatibilityReport> {
        let parsed = parse_schema(schema_type, schema)?;
        self.with_state(|state| {
            let level = state.level(subject);
            let earlier = earlier(state, subject, against)?;
            Ok(compat::check(level, &parsed, &earlier))
        })
    }

    /// Whether `schema` may follow version `from_version` of `subject` under
    /// `level` (given, not the subject's: a contract's promise), against
    /// `from_version` alone or, for a transitive level, against it and every
    /// live version before it.
    pub fn check_change(
        &self,
        subject: &str,
        schema_type: SchemaType,
        schema: &str,
        from_version: u32,
        level: Compatibility,
    ) -> Result<CompatibilityReport> {
        let parsed = parse_schema(schema_type, schema)?;
        self.with_state(|state| {
            // A level that is not transitive needs `from_version` only:
            // the other versions are not parsed.
            let only = (!level.transitive()).then_some(from_version);
            let mut earlier = earlier(state, subject, only)?;
            earlier.retain(|(version, _)| *version <= from_version);
            if earlier.last().is_none_or(|(version, _)| *version != from_version) {
                return Err(Error::VersionNotFound {
                    subject: subject.to_string(),
                    version: from_version,
                    not_soft_deleted: false,
                });
            }
            Ok(compat::check(level, &parsed, &earlier))
        })
    }

    /// The level in force: `subject`'s own, else the global one, else
    /// BACKWARD (`None`: the global level).
    pub fn compatibility(&self, subject: Option<&str>) -> Result<Compatibility> {
        self.with_state(|state| {
            Ok(match subject {
                Some(subject) => state.level(subject),
                None => state.global.unwrap_or_default(),
            })
        })
    }

    /// The level set for `subject` itself (`None`: the global one, if set).
    pub fn configured_compatibility(&self, subject: Option<&str>) -> Result<Option<Compatibility>> {
        self.with_state(|state| {
            Ok(match subject {
                Some(subject) => state.subject_levels.get(subject).copied(),
                None => state.global,
            })
        })
    }

    /// Set `subject`'s level (`None`: the global one). Durable on return.
    pub fn set_compatibility(&self, subject: Option<&str>, level: Compatibility) -> Result<()> {
        if let Some(subject) = subject {
            validate_subject(subject)?;
        }
        self.with_state(|state| {
            if subject.is_some_and(|s| !state.subject_levels.contains_key(s))
                && state.subject_levels.len() >= SUBJECTS_MAX
            {
                return Err(limit(format!("at most {SUBJECTS_MAX} subject levels")));
            }
            let record = SchemaRecord::Config {
                subject: subject.unwrap_or_default().to_string(),
                level: Some(level),
            };
            self.write(state, vec![record], None)
        })
    }

    /// Remove `subject`'s own level (`None`: the global one, back to
    /// BACKWARD); returns the level it had. Durable on return.
    pub fn clear_compatibility(&self, subject: Option<&str>) -> Result<Compatibility> {
        self.with_state(|state| {
            let before = match subject {
                Some(s) => state.level(s),
                None => state.global.unwrap_or_default(),
            };
            let record = SchemaRecord::Config {
                subject: subject.unwrap_or_default().to_string(),
                level: None,
            };
            self.write(state, vec![record], None)?;
            Ok(before)
        })
    }

    /// Delete every version of `subject`: soft (they stay readable by id and
    /// listed with `include_deleted`), or `permanent` (only versions
    /// soft-deleted before: [`Error::VersionNotFound`] with
    /// `not_soft_deleted` otherwise). Returns the versions deleted.
    pub fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<u32>> {
        self.with_state(|state| {
            let not_found = || Error::SubjectNotFound {
                subject: subject.to_string(),
            };
            let s = state.subjects.get(subject).ok_or_else(not_found)?;
            let (records, versions): (Vec<SchemaRecord>, Vec<u32>) = if permanent {
                if let Some((version, _)) = s.live().next() {
                    return Err(Error::VersionNotFound {
                        subject: subject.to_string(),
                        version,
                        not_soft_deleted: true,
                    });
                }
                s.versions
                    .keys()
                    .map(|v| {
                        (
                            SchemaRecord::VersionGone {
                                subject: subject.to_string(),
                                version: *v,
                            },
                            *v,
                        )
                    })
                    .unzip()
            } else {
                s.live().map(|(v, e)| (soft_deleted(subject, v, e), v)).unzip()
            };
            if versions.is_empty() {
                return Err(not_found());
            }
            self.write(state, records, None)?;
            Ok(versions)
        })
    }

    /// Delete `version` of `subject` (`None`: the latest undeleted one):
    /// soft, or `permanent` (only a version soft-deleted before). Returns
    /// the version deleted.
    pub fn delete_version(&self, subject: &str, version: Option<u32>, permanent: bool) -> Result<u32> {
        self.with_state(|state| {
            let s = state.subjects.get(subject).ok_or_else(|| Error::SubjectNotFound {
                subject: subject.to_string(),
            })?;
            let version = match version.or_else(|| s.live().next_back().map(|(v, _)| v)) {
                Some(v) => v,
                None => {
                    return Err(Error::SubjectNotFound {
                        subject: subject.to_string(),
                    })
                }
            };
            let missing = |not_soft_deleted| Error::VersionNotFound {
                subject: subject.to_string(),
                version,
                not_soft_deleted,
            };
            let entry = *s.versions.get(&version).ok_or_else(|| missing(false))?;
            let record = match (permanent, entry.deleted) {
                (true, true) => SchemaRecord::VersionGone {
                    subject: subject.to_string(),
                    version,
                },
                (true, false) => return Err(missing(true)),
                (false, true) => return Err(missing(false)),
                (false, false) => soft_deleted(subject, version, entry),
            };
            self.write(state, vec![record], None)?;
            Ok(version)
        })
    }
}

fn soft_deleted(subject: &str, version: u32, entry: Entry) -> SchemaRecord {
    SchemaRecord::Version {
        subject: subject.to_string(),
        version,
        id: entry.id,
        deleted: true,
    }
}

/// The latest undeleted version of `subject` with `parsed`'s identity.
fn find_live(state: &State, subject: &str, parsed: &ParsedSchema) -> Option<SubjectVersion> {
    let id = *state.by_identity.get(&(parsed.schema_type, parsed.identity.clone()))?;
    let s = state.subjects.get(subject)?;
    let (version, _) = s.live().rev().find(|(_, e)| e.id == id)?;
    state.subject_version(subject, version, id)
}

/// The undeleted versions of `subject`, parsed, oldest first (`only`: that
/// version alone, [`Error::VersionNotFound`] if it is not there).
fn earlier(state: &State, subject: &str, only: Option<u32>) -> Result<Vec<(u32, ParsedSchema)>> {
    let mut out = Vec::new();
    let Some(s) = state.subjects.get(subject) else {
        return match only {
            Some(_) => Err(Error::SubjectNotFound {
                subject: subject.to_string(),
            }),
            None => Ok(out),
        };
    };
    for (version, entry) in s.live() {
        if only.is_some_and(|v| v != version) {
            continue;
        }
        let Some(schema) = state.schemas.get(&entry.id) else {
            continue;
        };
        out.push((version, parse_schema(schema.schema_type, &schema.text)?));
    }
    if let (Some(version), true) = (only, out.is_empty()) {
        return Err(Error::VersionNotFound {
            subject: subject.to_string(),
            version,
            not_soft_deleted: false,
        });
    }
    Ok(out)
}
