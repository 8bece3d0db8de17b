//! Where a compiled contract finds its schemas: the few registry calls it
//! makes ([`SchemaSource`]), and the validators it builds from them, cached
//! per schema id (bounded).

use crate::contract::fast::{AvroPlan, JsonPlan};
use crate::error::Result;
use crate::sync::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;

/// The type of a registered schema, as far as contracts decode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// Apache Avro (binary datum after the framing).
    Avro,
    /// JSON Schema (JSON text after the framing).
    Json,
    /// Protobuf: its records are checked for framing, id and subject only.
    Protobuf,
}

/// A registered schema: its global id and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaText {
    /// The registry's global id.
    pub id: u32,
    /// Its type.
    pub kind: SchemaKind,
    /// The registered text.
    pub text: String,
}

/// The registry calls a contract makes. The store's registry implements it
/// (`Store::contracts` passes it); tests and the fuzz target pass a
/// [`FixedSchemas`].
pub trait SchemaSource: Send + Sync + std::fmt::Debug {
    /// The schema of global id `id`.
    fn by_id(&self, id: u32) -> Result<Option<SchemaText>>;
    /// The (subject, version) pairs registered with id `id`.
    fn subjects_of(&self, id: u32) -> Result<Vec<(String, u32)>>;
    /// Version `version` of `subject` (`None`: the latest), with its version number.
    fn version(&self, subject: &str, version: Option<u32>) -> Result<Option<(u32, SchemaText)>>;
    /// Whether `schema` may follow version `from_version` of `subject`
    /// under `level` (a contract's promise, whatever level the registry
    /// holds for the subject): against `from_version` alone, or against it
    /// and every live version before it for a transitive level; the
    /// reasons if not.
    fn check_change(
        &self,
        subject: &str,
        kind: SchemaKind,
        schema: &str,
        from_version: u32,
        level: crate::contract::model::CompatibilityLevel,
    ) -> Result<(bool, Vec<String>)>;
}

/// A fixed set of schemas: the registry of tests and of the fuzz target
/// (and of an embedder without one: `FixedSchemas::default()` knows none).
#[derive(Debug, Default, Clone)]
pub struct FixedSchemas {
    /// (subject, version, schema), in registration order.
    pub entries: Vec<(String, u32, SchemaText)>,
}

impl FixedSchemas {
    /// Register `text` under `subject` as its next version with id `id`.
    pub fn with(mut self, subject: &str, id: u32, kind: SchemaKind, text: &str) -> FixedSchemas {
        let version = self.entries.iter().filter(|(s, _, _)| s == subject).count() as u32 + 1;
        self.entries.push((
            subject.to_string(),
            version,
            SchemaText {
                id,
                kind,
                text: text.to_string(),
            },
        ));
        self
    }
}

impl SchemaSource for FixedSchemas {
    fn by_id(&self, id: u32) -> Result<Option<SchemaText>> {
        Ok(self
            .entries
            .iter()
            .find(|(_, _, s)| s.id == id)
            .map(|(_, _, s)| s.clone()))
    }

    fn subjects_of(&self, id: u32) -> Result<Vec<(String, u32)>> {
        Ok(self
            .entries
            .iter()
            .filter(|(_, _, s)| s.id == id)
            .map(|(subject, version, _)| (subject.clone(), *version))
            .collect())
    }

    fn version(&self, subject: &str, version: Option<u32>) -> Result<Option<(u32, SchemaText)>> {
        Ok(self
            .entries
            .iter()
            .rfind(|(s, v, _)| s == subject && version.is_none_or(|want| want == *v))
            .map(|(_, v, s)| (*v, s.clone())))
    }

    fn check_change(
        &self,
        _: &str,
        _: SchemaKind,
        _: &str,
        _: u32,
        _: crate::contract::model::CompatibilityLevel,
    ) -> Result<(bool, Vec<String>)> {
        Ok((true, Vec::new()))
    }
}

/// Largest Avro datum decoded (bytes allocated by the decoder for one record).
pub(crate) const AVRO_ALLOCATION_BYTES_MAX: usize = 64 << 20;
/// Most compiled schemas a contract keeps.
pub(crate) const COMPILED_SCHEMAS_MAX: usize = 64;
/// Largest JSON Schema's compiled patterns (the `regex` crate's size limit, bytes).
const SCHEMA_REGEX_BYTES_MAX: usize = 1 << 20;
/// Largest record decoded with a schema that refers to itself: each level
/// of nesting takes at least a byte, so this bounds the decoder's depth.
pub(crate) const AVRO_RECURSIVE_BYTES_MAX: usize = 2 * 1024;
/// Nesting of an Avro schema past which (or with recursion) a record is
/// decoded on a thread of its own with [`AVRO_DEEP_STACK_BYTES`] of stack:
/// the decoder recurses per level and takes kilobytes of stack for each.
pub(crate) const AVRO_NESTING_MAX: usize = 16;
/// Stack of the thread that decodes deep Avro records.
pub(crate) const AVRO_DEEP_STACK_BYTES: usize = 64 << 20;

/// A schema ready to decode and validate with.
#[derive(Debug)]
pub(crate) enum Compiled {
    /// A JSON Schema validator (no remote `$ref`: the crate is built without retrieval).
    Json {
        /// The validator (the reference path).
        validator: Box<jsonschema::Validator>,
        /// The fast check's plan, if the schema is in its subset.
        plan: Option<JsonPlan>,
    },
    /// An Avro writer schema; `deep` when it refers to itself or nests past [`AVRO_NESTING_MAX`].
    Avro {
        /// The writer schema.
        schema: Box<apache_avro::Schema>,
        /// It refers to itself (records are bounded by [`AVRO_RECURSIVE_BYTES_MAX`]).
        recursive: bool,
        /// Decode on a thread with a deep stack.
        deep: bool,
        /// The deepest level of nesting of its types (a datum's JSON form
        /// nests at most one level deeper unless it refers to itself).
        nesting: usize,
        /// The fast check's plan, if the schema is a flat record of primitives.
        plan: Option<AvroPlan>,
    },
    /// Protobuf: framing, id and subject only.
    Protobuf,
    /// The registered text did not compile: every record naming it breaks the contract.
    Broken(String),
}

/// Compile `schema`; the fast check's plan resolved against the rules
/// named `rules` (the contract's per-field rules, in order) and the
/// top-level fields `picks` (those `observe` decodes).
pub(crate) fn compile(schema: &SchemaText, rules: &[&str], picks: &[&str]) -> Compiled {
    match schema.kind {
        SchemaKind::Json => {
            let parsed: serde_json::Value = match serde_json::from_str(&schema.text) {
                Ok(v) => v,
                Err(e) => return Compiled::Broken(format!("schema {} is not JSON: {e}", schema.id)),
            };
            let options = jsonschema::options().with_pattern_options(
                jsonschema::PatternOptions::regex()
                    .size_limit(SCHEMA_REGEX_BYTES_MAX)
                    .dfa_size_limit(SCHEMA_REGEX_BYTES_MAX),
            );
            match options.build(&parsed) {
                Ok(v) => Compiled::Json {
                    validator: Box::new(v),
                    plan: JsonPlan::compile(&parsed, rules, picks),
                },
                Err(e) => Compiled::Broken(format!("schema {} does not compile: {e}", schema.id)),
            }
        }
        SchemaKind::Avro => match apache_avro::Schema::parse_str(&schema.text) {
            Ok(parsed) => {
                let mut nesting = 0;
                let recursive = refers_to_itself(&parsed, &mut Vec::new(), 0, &mut nesting);
                let named = names_a_type(&parsed);
                let deep = recursive || nesting > AVRO_NESTING_MAX;
                let plan = if recursive || deep || named {
                    None
                } else {
                    AvroPlan::compile(
                        &parsed,
                        apache_avro::util::max_allocation_bytes(AVRO_ALLOCATION_BYTES_MAX),
                        rules,
                        picks,
                    )
                };
                Compiled::Avro {
                    schema: Box::new(parsed),
                    recursive,
                    deep,
                    // A named type used again by name nests as deep as its
                    // definition wherever it is used: not counted above.
                    nesting: if named { usize::MAX } else { nesting },
                    plan,
                }
            }
            Err(e) => Compiled::Broken(format!("schema {} does not parse: {e}", schema.id)),
        },
        SchemaKind::Protobuf => Compiled::Protobuf,
    }
}

/// True if `schema` uses a named type by its name anywhere.
fn names_a_type(schema: &apache_avro::Schema) -> bool {
    use apache_avro::Schema;
    match schema {
        Schema::Ref { .. } => true,
        Schema::Record(r) => r.fields.iter().any(|f| names_a_type(&f.schema)),
        Schema::Array(a) => names_a_type(&a.items),
        Schema::Map(m) => names_a_type(&m.types),
        Schema::Union(u) => u.variants().iter().any(names_a_type),
        _ => false,
    }
}

/// True if a named type refers to itself (or to a type enclosing it);
/// `nesting` is raised to the deepest level met.
fn refers_to_itself(
    schema: &apache_avro::Schema,
    enclosing: &mut Vec<String>,
    level: usize,
    nesting: &mut usize,
) -> bool {
    use apache_avro::Schema;
    *nesting = (*nesting).max(level);
    let level = level + 1;
    match schema {
        Schema::Ref { name } => enclosing.contains(&name.fullname(None)),
        Schema::Record(r) => {
            enclosing.push(r.name.fullname(None));
            let mut found = false;
            for f in &r.fields {
                found |= refers_to_itself(&f.schema, enclosing, level, nesting);
            }
            enclosing.pop();
            found
        }
        Schema::Array(a) => refers_to_itself(&a.items, enclosing, level, nesting),
        Schema::Map(m) => refers_to_itself(&m.types, enclosing, level, nesting),
        Schema::Union(u) => {
            let mut found = false;
            for v in u.variants() {
                found |= refers_to_itself(v, enclosing, level, nesting);
            }
            found
        }
        _ => false,
    }
}

/// Compiled schemas by id (a registered id's text never changes), and, fetched
/// again at most once a second, the latest version of each subject the
/// contract reads and the subjects each id is registered under (a soft
/// delete is seen within that second). Read-locked per record: no registry
/// call, no allocation.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// The names of the contract's per-field rules, in order: the fast
    /// check's plans are resolved against them when compiled.
    rules: Vec<String>,
    /// The top-level fields the contract's windowed rules and freshness name.
    picks: Vec<String>,
    by_id: RwLock<HashMap<u32, Arc<Compiled>>>,
    latest: Mutex<HashMap<String, (std::time::Instant, Latest)>>,
    subjects: RwLock<HashMap<u32, (std::time::Instant, Subjects)>>,
}

/// The subjects a schema id is registered under.
type Subjects = Arc<[String]>;

/// A subject's latest version: its id and compiled schema.
type Latest = Option<(u32, Arc<Compiled>)>;

/// How long a subject's latest version is reused before the registry is asked again.
const LATEST_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl Cache {
    /// An empty cache for a contract whose per-field rules are named
    /// `rules` and whose windowed rules and freshness name the top-level
    /// fields `picks`.
    pub(crate) fn for_rules(rules: Vec<String>, picks: Vec<String>) -> Cache {
        Cache {
            rules,
            picks,
            ..Cache::default()
        }
    }

    /// The compiled schema of id `id`, `None` if the registry does not know it.
    pub(crate) fn by_id(&self, source: &dyn SchemaSource, id: u32) -> Result<Option<Arc<Compiled>>> {
        if let Some(c) = self.by_id.read().get(&id) {
            return Ok(Some(c.clone()));
        }
        let Some(text) = source.by_id(id)? else {
            return Ok(None);
        };
        let rules: Vec<&str> = self.rules.iter().map(String::as_str).collect();
        let picks: Vec<&str> = self.picks.iter().map(String::as_str).collect();
        let compiled = Arc::new(compile(&text, &rules, &picks));
        let mut map = self.by_id.write();
        if map.len() >= COMPILED_SCHEMAS_MAX {
            map.clear();
        }
        map.insert(id, compiled.clone());
        Ok(Some(compiled))
    }

    /// The subjects whose undeleted versions name schema `id`.
    pub(crate) fn subjects_of(&self, source: &dyn SchemaSource, id: u32) -> Result<Arc<[String]>> {
        if let Some((at, found)) = self.subjects.read().get(&id) {
            if at.elapsed() < LATEST_TTL {
                return Ok(found.clone());
            }
        }
        let found: Arc<[String]> = source.subjects_of(id)?.into_iter().map(|(s, _)| s).collect();
        let mut map = self.subjects.write();
        if map.len() >= COMPILED_SCHEMAS_MAX {
            map.clear();
        }
        map.insert(id, (std::time::Instant::now(), found.clone()));
        Ok(found)
    }

    /// The latest version of `subject`: its id and compiled schema.
    pub(crate) fn latest(&self, source: &dyn SchemaSource, subject: &str) -> Result<Option<(u32, Arc<Compiled>)>> {
        if let Some((at, found)) = self.latest.lock().get(subject) {
            if at.elapsed() < LATEST_TTL {
                return Ok(found.clone());
            }
        }
        let found = match source.version(subject, None)? {
            Some((_, text)) => self.by_id(source, text.id)?.map(|c| (text.id, c)),
            None => None,
        };
        let mut map = self.latest.lock();
        if map.len() >= COMPILED_SCHEMAS_MAX {
            map.clear();
        }
        map.insert(subject.to_string(), (std::time::Instant::now(), found.clone()));
        Ok(found)
    }
}
