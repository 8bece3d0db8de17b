//! The schema registry (issue 22; design/contracts.md "Schema registry"):
//! schemas with global ids, subjects with versions, compatibility levels
//! global and per subject, kept durably in the internal topic `__schemas`
//! (one record per change, compacted by rewrite as `__offsets` is) and
//! loaded on first use. [`SchemaRegistry`] is the handle
//! ([`crate::Store::schemas`]); the server's REST front and the CLI call it.
//!
//! - `record`: the `__schemas` record layout (design/format.md "Schema registry record").
//! - `state`: the registry in memory, rebuilt by replaying the records.
//! - `parse`: a schema's text to its parsed form and identity, per type.
//! - `fuzz`: the `schema_compat` fuzz target's per-input check.
//! - `compat`: the seven levels over a subject's versions; `avro` and
//!   `json` decide whether one schema reads what another wrote.

mod avro;
mod compat;
#[doc(hidden)]
pub mod fuzz;
mod json;
mod parse;
mod record;
mod registry;
mod state;

pub use compat::{check_pair, Compatibility, CompatibilityReport};
pub use parse::{parse_schema, ParsedSchema};
pub(crate) use registry::RegistryTable;
pub use registry::SchemaRegistry;

/// Internal topic holding the registry's records.
pub const SCHEMAS_TOPIC: &str = "__schemas";
/// Longest schema text accepted, in bytes.
pub const SCHEMA_BYTES_MAX: usize = 1024 * 1024;
/// Longest subject name, in bytes.
pub const SUBJECT_BYTES_MAX: usize = 255;
/// Most versions a subject may have had (soft-deleted ones count until
/// hard-deleted; the version numbers themselves are never reused).
pub const VERSIONS_PER_SUBJECT_MAX: usize = 1000;
/// Most subjects a registry holds.
pub const SUBJECTS_MAX: usize = 10_000;
/// Most distinct schemas a registry holds.
pub const SCHEMAS_MAX: usize = 10_000;
/// Most bytes of schema text a registry holds in all.
pub const REGISTRY_BYTES_MAX: usize = 256 * 1024 * 1024;

/// A schema's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaType {
    /// Apache Avro (the registry's default type).
    Avro,
    /// JSON Schema.
    Json,
    /// Protocol Buffers: named so that the type can be reported, but not
    /// registered (refused with [`crate::Error::InvalidSchema`]).
    Protobuf,
}

impl SchemaType {
    /// The registry's name of the type (`AVRO`, `JSON`, `PROTOBUF`).
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }

    /// The type named `name` (case-insensitive), if any.
    pub fn from_name(name: &str) -> Option<SchemaType> {
        [SchemaType::Avro, SchemaType::Json, SchemaType::Protobuf]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            SchemaType::Avro => 1,
            SchemaType::Json => 2,
            SchemaType::Protobuf => 3,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<SchemaType> {
        match code {
            1 => Some(SchemaType::Avro),
            2 => Some(SchemaType::Json),
            3 => Some(SchemaType::Protobuf),
            _ => None,
        }
    }
}

impl std::fmt::Display for SchemaType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A schema by its global id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchema {
    /// The global id (never reused).
    pub id: u32,
    /// Its language.
    pub schema_type: SchemaType,
    /// The text as first registered.
    pub schema: String,
}

/// One version of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectVersion {
    /// The subject.
    pub subject: String,
    /// The version within the subject (from 1; never reused).
    pub version: u32,
    /// The global id of its schema.
    pub id: u32,
    /// The schema's language.
    pub schema_type: SchemaType,
    /// The schema's text.
    pub schema: String,
    /// Soft-deleted (found only by the lookups that include such versions).
    pub deleted: bool,
}

/// `InvalidInput` unless `subject` is a subject name: 1 to
/// [`SUBJECT_BYTES_MAX`] bytes, no control characters.
pub fn validate_subject(subject: &str) -> crate::Result<()> {
    if subject.is_empty() || subject.len() > SUBJECT_BYTES_MAX {
        return Err(crate::Error::invalid(
            "subject",
            format!("{} bytes; a subject has 1 to {SUBJECT_BYTES_MAX}", subject.len()),
        ));
    }
    if subject.chars().any(char::is_control) {
        return Err(crate::Error::invalid(
            "subject",
            format!("{subject:?} holds a control character"),
        ));
    }
    Ok(())
}
