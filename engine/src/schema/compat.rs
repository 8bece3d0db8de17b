//! The seven compatibility levels over a subject's versions. BACKWARD: the
//! new schema reads data written with the last one (upgrade consumers
//! first); FORWARD: the last schema reads data written with the new one
//! (upgrade producers first); FULL: both; the TRANSITIVE variants against
//! every earlier version, not only the last; NONE: no check.

use super::parse::{Form, ParsedSchema};

/// A subject's (or the registry's) compatibility level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compatibility {
    /// No check.
    None,
    /// The new schema reads data of the last version (the default).
    #[default]
    Backward,
    /// The new schema reads data of every earlier version.
    BackwardTransitive,
    /// The last version reads data of the new schema.
    Forward,
    /// Every earlier version reads data of the new schema.
    ForwardTransitive,
    /// Backward and forward against the last version.
    Full,
    /// Backward and forward against every earlier version.
    FullTransitive,
}

pub(super) const ALL: [Compatibility; 7] = [
    Compatibility::None,
    Compatibility::Backward,
    Compatibility::BackwardTransitive,
    Compatibility::Forward,
    Compatibility::ForwardTransitive,
    Compatibility::Full,
    Compatibility::FullTransitive,
];

impl Compatibility {
    /// The registry's name of the level (`BACKWARD_TRANSITIVE`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Compatibility::None => "NONE",
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// The level named `name` (case-insensitive), if any.
    pub fn from_name(name: &str) -> Option<Compatibility> {
        ALL.into_iter().find(|level| level.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Compatibility::None => 1,
            Compatibility::Backward => 2,
            Compatibility::BackwardTransitive => 3,
            Compatibility::Forward => 4,
            Compatibility::ForwardTransitive => 5,
            Compatibility::Full => 6,
            Compatibility::FullTransitive => 7,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Compatibility> {
        ALL.into_iter().find(|level| level.code() == code)
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Compatibility::Backward
                | Compatibility::BackwardTransitive
                | Compatibility::Full
                | Compatibility::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Compatibility::Forward
                | Compatibility::ForwardTransitive
                | Compatibility::Full
                | Compatibility::FullTransitive
        )
    }

    /// Whether the level checks every earlier version (else only the last).
    pub fn transitive(self) -> bool {
        matches!(
            self,
            Compatibility::BackwardTransitive | Compatibility::ForwardTransitive | Compatibility::FullTransitive
        )
    }

    /// The level checked against one version: its directions without the
    /// transitivity (`FULL_TRANSITIVE` → `FULL`).
    pub fn against_one(self) -> Compatibility {
        match self {
            Compatibility::BackwardTransitive => Compatibility::Backward,
            Compatibility::ForwardTransitive => Compatibility::Forward,
            Compatibility::FullTransitive => Compatibility::Full,
            other => other,
        }
    }
}

impl std::fmt::Display for Compatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of a compatibility check: `compatible`, or the reasons not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatibilityReport {
    /// True when the schema passes the level against the versions checked.
    pub compatible: bool,
    /// Why not, one line per reason (empty when compatible).
    pub messages: Vec<String>,
    /// The versions checked against, ascending (empty: none to check).
    pub checked: Vec<u32>,
}

/// Why `reader` cannot read everything written with `writer` (empty: it can).
fn cannot_read(writer: &ParsedSchema, reader: &ParsedSchema) -> Vec<String> {
    match (&writer.form, &reader.form) {
        (Form::Avro(w), Form::Avro(r)) => super::avro::cannot_read(w, r).into_iter().collect(),
        (Form::Json(w), Form::Json(r)) => super::json::cannot_read(w, r),
        _ => vec![format!(
            "the schema type changes from {} to {}",
            writer.schema_type, reader.schema_type
        )],
    }
}

/// `new` against one `old` schema under `level` (ignoring transitivity):
/// the reasons it fails, each prefixed with the direction.
pub fn check_pair(level: Compatibility, old: &ParsedSchema, new: &ParsedSchema) -> Vec<String> {
    let mut messages = Vec::new();
    if level.backward() {
        for m in cannot_read(old, new) {
            messages.push(format!("the new schema cannot read data written with it: {m}"));
        }
    }
    if level.forward() {
        for m in cannot_read(new, old) {
            messages.push(format!("it cannot read data written with the new schema: {m}"));
        }
    }
    messages
}

/// `new` under `level` against `earlier` ((version, schema), oldest first):
/// the last one only, or every one for a transitive level.
pub(crate) fn check(level: Compatibility, new: &ParsedSchema, earlier: &[(u32, ParsedSchema)]) -> CompatibilityReport {
    let against: &[(u32, ParsedSchema)] = if level.transitive() {
        earlier
    } else {
        earlier.split_last().map_or(&[], |(last, _)| std::slice::from_ref(last))
    };
    let mut messages = Vec::new();
    for (version, old) in against {
        for m in check_pair(level, old, new) {
            messages.push(format!("version {version}: {m}"));
        }
    }
    CompatibilityReport {
        compatible: messages.is_empty(),
        messages,
        checked: against.iter().map(|(version, _)| *version).collect(),
    }
}
