// Over 600 lines: the contract file's typed model, its parse and its limit checks are one format (design/contracts.md, "Contracts"); splitting it is an open item.
//! A contract file as written (YAML, the Open Data Contract Standard v3
//! vocabulary where it fits; design/contracts.md "Contracts"), parsed into
//! typed structs and checked against the limits below. Unknown keys and bad
//! values are errors naming their place in the file.

// Over 600 lines: one file format (the contract YAML), its typed structs and their bounds checked together; splitting it is an open item.

use crate::contract::check::Action;
use crate::error::{Error, Result};
use serde::Deserialize;

/// Largest contract file accepted.
pub const CONTRACT_BYTES_MAX: usize = 1 << 20;
/// Most per-field rules (properties, nested ones included) in one contract.
pub const PROPERTIES_MAX: usize = 256;
/// Deepest nesting of object properties.
pub const PROPERTY_DEPTH_MAX: usize = 8;
/// Most windowed quality rules in one contract.
pub const QUALITY_RULES_MAX: usize = 32;
/// Most values in one `enum`.
pub const ENUM_VALUES_MAX: usize = 1024;
/// Longest `pattern` (bytes of its source).
pub const PATTERN_BYTES_MAX: usize = 1024;
/// Size limit of one compiled `pattern` (the `regex` crate's, bytes).
pub const REGEX_BYTES_MAX: usize = 1 << 20;
/// Largest window of a windowed rule, in records; also the most entries a
/// time window keeps per partition.
pub const WINDOW_RECORDS_MAX: u64 = 100_000;
/// Longest window of a windowed rule.
pub const WINDOW_SECONDS_MAX: u64 = 7 * 86_400;
/// Longest name (topic, subject, property, rule, owner).
pub const NAME_BYTES_MAX: usize = 255;

/// A contract file, as parsed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContractFile {
    /// The ODCS version the file follows: `v3.0.0`, `v3.0.1`, ... (`v3.*`).
    pub api_version: String,
    /// `DataContract`.
    pub kind: String,
    /// The contract's identifier (free text, e.g. a URN).
    pub id: String,
    /// A human name.
    #[serde(default)]
    pub name: Option<String>,
    /// The author's version of the contract (free text, e.g. `1.2.0`);
    /// the store numbers the versions it applies itself (1, 2, ...).
    pub version: String,
    /// `proposed`, `draft`, `active`, `deprecated` or `retired`.
    pub status: Status,
    /// The team that owns the topic.
    pub owner: String,
    /// The topic the contract governs.
    pub topic: String,
    /// What the data is, for a human.
    #[serde(default)]
    pub description: Option<String>,
    /// The key and value schemas (registry subjects).
    #[serde(default)]
    pub schema: SchemaBlock,
    /// Per-field rules on the value (a JSON object, or an Avro record seen as one).
    #[serde(default)]
    pub properties: Vec<Property>,
    /// Windowed rules: measured, never refusing.
    #[serde(default)]
    pub quality: Vec<QualityRule>,
    /// Service levels: freshness, DLQ depth.
    #[serde(default)]
    pub sla_properties: Vec<SlaProperty>,
}

/// The ODCS status of a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Proposed.
    Proposed,
    /// Draft.
    Draft,
    /// Active.
    Active,
    /// Deprecated.
    Deprecated,
    /// Retired.
    Retired,
}

/// The schemas of the key and the value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SchemaBlock {
    /// The key's schema.
    #[serde(default)]
    pub key: Option<SideSchema>,
    /// The value's schema.
    #[serde(default)]
    pub value: Option<SideSchema>,
}

/// The schema of the key or of the value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SideSchema {
    /// The registry subject (default `<topic>-value` / `<topic>-key`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Whether records carry Confluent's framing (magic byte 0, 4-byte
    /// schema id). Default `required`.
    #[serde(default)]
    pub framing: Option<Framing>,
    /// The compatibility the contract promises for the subject; a schema
    /// change between two applied versions that breaks it is refused
    /// unless forced.
    #[serde(default)]
    pub compatibility: Option<CompatibilityLevel>,
    /// What to do with a record that breaks the schema (framing, id,
    /// subject, payload). Default `reject`.
    #[serde(default)]
    pub action: Option<ActionName>,
}

/// Whether a side's bytes carry Confluent's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framing {
    /// Magic byte 0 and a schema id registered under the subject, always.
    Required,
    /// Framed bytes are checked as `required`; unframed ones against the subject's latest version.
    Optional,
    /// Never framed: the bytes are checked against the subject's latest version.
    None,
}

/// A registry compatibility level, as Confluent spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityLevel {
    /// No check.
    None,
    /// New readers read the last writer's data.
    Backward,
    /// ... every earlier writer's.
    BackwardTransitive,
    /// The last reader reads the new writer's data.
    Forward,
    /// Every earlier reader does.
    ForwardTransitive,
    /// Both.
    Full,
    /// Both, against every version.
    FullTransitive,
}

impl CompatibilityLevel {
    /// Confluent's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }
}

/// A rule's action as a contract file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionName {
    /// Refuse the record.
    Reject,
    /// Dead-letter it.
    Dlq,
    /// Count it, append it.
    Warn,
}

impl From<ActionName> for Action {
    fn from(a: ActionName) -> Action {
        match a {
            ActionName::Reject => Action::Reject,
            ActionName::Dlq => Action::Dlq,
            ActionName::Warn => Action::Warn,
        }
    }
}

/// The JSON type a property must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogicalType {
    /// A string.
    String,
    /// A number without a fraction.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An object (its `properties` apply inside).
    Object,
    /// An array.
    Array,
    /// A string in RFC 3339 `full-date` form.
    Date,
}

/// A string format a property must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `8-4-4-4-12` hexadecimal digits.
    Uuid,
    /// `local@domain.tld`.
    Email,
    /// RFC 3339 date-time (`2026-12-06T21:40:00Z`, an offset or `Z` required).
    DateTime,
    /// RFC 3339 full-date (`2026-12-06`).
    Date,
    /// An absolute URI (`scheme:rest`, no spaces).
    Uri,
    /// A dotted-quad IPv4 address.
    Ipv4,
}

impl Format {
    /// The name a contract file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Uuid => "uuid",
            Format::Email => "email",
            Format::DateTime => "date-time",
            Format::Date => "date",
            Format::Uri => "uri",
            Format::Ipv4 => "ipv4",
        }
    }
}

/// One field of the value and its rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Property {
    /// The field's name in its object.
    pub name: String,
    /// Missing or null is a violation (`<name>.required`).
    #[serde(default)]
    pub required: bool,
    /// The JSON type it must have (`<name>.type`).
    #[serde(default)]
    pub logical_type: Option<LogicalType>,
    /// The values allowed (`<name>.enum`).
    #[serde(default, rename = "enum")]
    pub allowed: Option<Vec<serde_json::Value>>,
    /// Smallest number allowed (`<name>.minimum`).
    #[serde(default)]
    pub minimum: Option<f64>,
    /// Largest number allowed (`<name>.maximum`).
    #[serde(default)]
    pub maximum: Option<f64>,
    /// Fewest characters (or array items) allowed (`<name>.minLength`).
    #[serde(default)]
    pub min_length: Option<u64>,
    /// Most characters (or array items) allowed (`<name>.maxLength`).
    #[serde(default)]
    pub max_length: Option<u64>,
    /// A regular expression (the `regex` crate's syntax: linear time, no
    /// backreferences) a string must contain a match of (`<name>.pattern`).
    #[serde(default)]
    pub pattern: Option<String>,
    /// A format a string must have (`<name>.format`).
    #[serde(default)]
    pub format: Option<Format>,
    /// What to do when one of the field's rules is broken. Default `reject`.
    #[serde(default)]
    pub action: Option<ActionName>,
    /// For a human.
    #[serde(default)]
    pub description: Option<String>,
    /// Rules of the fields inside an object.
    #[serde(default)]
    pub properties: Vec<Property>,
}

/// What a windowed rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QualityKind {
    /// Records whose field repeats a value seen within the window.
    Uniqueness,
    /// The share of records in the window whose field is present and not null.
    Completeness,
}

/// A windowed rule: measured per partition, never refusing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct QualityRule {
    /// The rule's name (metrics' `rule` label).
    pub name: String,
    /// What it measures.
    #[serde(rename = "type")]
    pub kind: QualityKind,
    /// The field, as a JSON pointer into the value (`/customer/email`).
    pub field: String,
    /// The window.
    pub window: Window,
    /// Completeness: the ratio below which the rule is breached (0..=1).
    #[serde(default)]
    pub must_be_greater_or_equal_to: Option<f64>,
    /// Only `warn` (windowed rules never refuse a record).
    #[serde(default)]
    pub action: Option<ActionName>,
    /// For a human.
    #[serde(default)]
    pub description: Option<String>,
}

/// The window of a windowed rule: the last `records` records, or the
/// records of the last `seconds` seconds (at most [`WINDOW_RECORDS_MAX`] of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// The last N records of the partition.
    #[serde(default)]
    pub records: Option<u64>,
    /// The records appended in the last T seconds.
    #[serde(default)]
    pub seconds: Option<u64>,
}

/// A service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SlaKind {
    /// Age of the newest record (append time, or the event time in `element`).
    Freshness,
    /// Records waiting in the topic's DLQ.
    DlqDepth,
}

/// A threshold: a number, or (freshness) a duration such as `90s`, `5m`, `2h`, `1d`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    /// Seconds (freshness) or records (DLQ depth).
    Number(u64),
    /// A duration with a unit.
    Text(String),
}

/// One service level of the topic.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlaProperty {
    /// What is measured.
    pub property: SlaKind,
    /// Past this, the level is breached at `warn`.
    #[serde(default)]
    pub warn: Option<Threshold>,
    /// Past this, at `error` (`contract status` exits non-zero).
    #[serde(default)]
    pub error: Option<Threshold>,
    /// Freshness: the event-time field (a JSON pointer; an RFC 3339 string
    /// or milliseconds since the Unix epoch); absent: the append time.
    #[serde(default)]
    pub element: Option<String>,
}

/// Parse a contract file: YAML into [`ContractFile`], then its limits and
/// values checked. Errors are `InvalidInput` naming the line and column (a
/// syntax error, an unknown key, a bad value) or the rule (a limit).
pub fn parse(text: &str) -> Result<ContractFile> {
    if text.len() > CONTRACT_BYTES_MAX {
        return Err(invalid(format!(
            "the file is {} bytes; at most {CONTRACT_BYTES_MAX}",
            text.len()
        )));
    }
    let file: ContractFile = serde_norway::from_str(text).map_err(|e| invalid(yaml_error(&e)))?;
    file.validate()?;
    Ok(file)
}

/// A YAML error as "line L column C: message", the place said once: the
/// parser's own text ends with (or, for a syntax error, contains) " at line L
/// column C", which is cut where it matches the location put in front.
fn yaml_error(e: &serde_norway::Error) -> String {
    let text = e.to_string();
    let Some(l) = e.location() else {
        return text;
    };
    let mark = format!(" at line {} column {}", l.line(), l.column());
    format!(
        "line {} column {}: {}",
        l.line(),
        l.column(),
        text.replacen(&mark, "", 1)
    )
}

pub(crate) fn invalid(detail: impl Into<String>) -> Error {
    Error::invalid("contract", detail)
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > NAME_BYTES_MAX || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} {name:?}: 1 to {NAME_BYTES_MAX} bytes, no control characters"
        )));
    }
    Ok(())
}

/// A JSON pointer (RFC 6901) split into its unescaped tokens.
pub(crate) fn pointer_tokens(what: &str, pointer: &str) -> Result<Vec<String>> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(invalid(format!(
            "{what} {pointer:?} is not a JSON pointer (it starts with /)"
        )));
    };
    if pointer.len() > NAME_BYTES_MAX {
        return Err(invalid(format!(
            "{what} {pointer:?} is longer than {NAME_BYTES_MAX} bytes"
        )));
    }
    let mut tokens = Vec::new();
    for token in rest.split('/') {
        let mut out = String::new();
        let mut chars = token.chars();
        while let Some(c) = chars.next() {
            if c == '~' {
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => return Err(invalid(format!("{what} {pointer:?}: `~` must be followed by 0 or 1"))),
                }
            } else {
                out.push(c);
            }
        }
        tokens.push(out);
    }
    Ok(tokens)
}

/// Escape one token for a JSON pointer.
pub(crate) fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Seconds of a freshness threshold: a number of seconds, or digits with a
/// unit `s`, `m`, `h` or `d`.
pub(crate) fn threshold_seconds(threshold: &Threshold) -> Result<u64> {
    let text = match threshold {
        Threshold::Number(n) => return Ok(*n),
        Threshold::Text(t) => t.trim(),
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| invalid(format!("duration {text:?}: digits then s, m, h or d (e.g. 90s, 5m)")))?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid(format!("duration {text:?}: the unit is s, m, h or d"))),
    };
    n.checked_mul(scale)
        .ok_or_else(|| invalid(format!("duration {text:?} is too long")))
}

/// A DLQ-depth threshold: a number of records.
pub(crate) fn threshold_count(threshold: &Threshold) -> Result<u64> {
    match threshold {
        Threshold::Number(n) => Ok(*n),
        Threshold::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| invalid(format!("dlqDepth threshold {t:?}: a number of records"))),
    }
}

impl ContractFile {
    fn validate(&self) -> Result<()> {
        if !self.api_version.starts_with("v3") {
            return Err(invalid(format!(
                "apiVersion {:?}: this store reads Open Data Contract Standard v3 files (v3.0.0, ...)",
                self.api_version
            )));
        }
        if self.kind != "DataContract" {
            return Err(invalid(format!("kind {:?}: must be DataContract", self.kind)));
        }
        check_name("id", &self.id)?;
        check_name("version", &self.version)?;
        check_name("owner", &self.owner)?;
        crate::names::validate_topic_name(&self.topic).map_err(|e| invalid(format!("topic: {e}")))?;
        for (side, schema) in [("key", &self.schema.key), ("value", &self.schema.value)] {
            if let Some(SideSchema { subject: Some(s), .. }) = schema {
                check_name(&format!("schema.{side}.subject"), s)?;
            }
        }
        let mut count = 0;
        validate_properties(&self.properties, "properties", 1, &mut count)?;
        if self.quality.len() > QUALITY_RULES_MAX {
            return Err(invalid(format!(
                "quality: {} rules; at most {QUALITY_RULES_MAX}",
                self.quality.len()
            )));
        }
        let mut names = std::collections::HashSet::new();
        for (i, rule) in self.quality.iter().enumerate() {
            let at = format!("quality[{i}] ({})", rule.name);
            check_name(&format!("quality[{i}].name"), &rule.name)?;
            if !names.insert(rule.name.as_str()) {
                return Err(invalid(format!("{at}: a second rule of that name")));
            }
            pointer_tokens(&format!("{at}.field"), &rule.field)?;
            match (rule.window.records, rule.window.seconds) {
                (Some(n), None) if (1..=WINDOW_RECORDS_MAX).contains(&n) => {}
                (None, Some(t)) if (1..=WINDOW_SECONDS_MAX).contains(&t) => {}
                _ => {
                    return Err(invalid(format!(
                        "{at}.window: exactly one of records (1..={WINDOW_RECORDS_MAX}) or seconds (1..={WINDOW_SECONDS_MAX})"
                    )))
                }
            }
            if let Some(ratio) = rule.must_be_greater_or_equal_to {
                if rule.kind != QualityKind::Completeness || !(0.0..=1.0).contains(&ratio) {
                    return Err(invalid(format!(
                        "{at}.mustBeGreaterOrEqualTo: a ratio in 0..=1, for completeness rules"
                    )));
                }
            }
            if matches!(rule.action, Some(a) if a != ActionName::Warn) {
                return Err(invalid(format!(
                    "{at}.action: windowed rules are measured and never refuse a record: only warn"
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, sla) in self.sla_properties.iter().enumerate() {
            let at = format!("slaProperties[{i}]");
            if !seen.insert(sla.property as u8) {
                return Err(invalid(format!("{at}: a second {:?} level", sla.property)));
            }
            let (warn, error) = match sla.property {
                SlaKind::Freshness => {
                    if let Some(e) = &sla.element {
                        pointer_tokens(&format!("{at}.element"), e)?;
                    }
                    (
                        sla.warn.as_ref().map(threshold_seconds).transpose()?,
                        sla.error.as_ref().map(threshold_seconds).transpose()?,
                    )
                }
                SlaKind::DlqDepth => {
                    if sla.element.is_some() {
                        return Err(invalid(format!("{at}.element: only for freshness")));
                    }
                    (
                        sla.warn.as_ref().map(threshold_count).transpose()?,
                        sla.error.as_ref().map(threshold_count).transpose()?,
                    )
                }
            };
            match (warn, error) {
                (None, None) => return Err(invalid(format!("{at}: give warn, error or both"))),
                (Some(w), Some(e)) if w > e => {
                    return Err(invalid(format!("{at}: warn ({w}) is above error ({e})")));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn validate_properties(properties: &[Property], at: &str, depth: usize, count: &mut usize) -> Result<()> {
    if depth > PROPERTY_DEPTH_MAX {
        return Err(invalid(format!("{at}: nested deeper than {PROPERTY_DEPTH_MAX}")));
    }
    let mut names = std::collections::HashSet::new();
    for (i, p) in properties.iter().enumerate() {
        let here = format!("{at}[{i}]");
        *count += 1;
        if *count > PROPERTIES_MAX {
            return Err(invalid(format!("{here}: more than {PROPERTIES_MAX} properties")));
        }
        check_name(&format!("{here}.name"), &p.name)?;
        if !names.insert(p.name.as_str()) {
            return Err(invalid(format!("{here} ({}): a second property of that name", p.name)));
        }
        let here = format!("{here} ({})", p.name);
        if let (Some(lo), Some(hi)) = (p.minimum, p.maximum) {
            if lo > hi {
                return Err(invalid(format!("{here}: minimum {lo} is above maximum {hi}")));
            }
        }
        if p.minimum.is_some_and(|v| !v.is_finite()) || p.maximum.is_some_and(|v| !v.is_finite()) {
            return Err(invalid(format!("{here}: minimum and maximum are finite numbers")));
        }
        if let (Some(lo), Some(hi)) = (p.min_length, p.max_length) {
            if lo > hi {
                return Err(invalid(format!("{here}: minLength {lo} is above maximLength {hi}")));
            }
        }
        if let Some(values) = &p.allowed {
            if values.is_empty() || values.len() > ENUM_VALUES_MAX {
                return Err(invalid(format!("{here}.enum: 1 to {ENUM_VALUES_MAX} values")));
            }
        }
        if let Some(pattern) = &p.pattern {
            compile_pattern(pattern).map_err(|e| invalid(format!("{here}.pattern: {e}")))?;
        }
        if !p.properties.is_empty() && !matches!(p.logical_type, None | Some(LogicalType::Object)) {
            return Err(invalid(format!("{here}: nested properties need logicalType object")));
        }
        validate_properties(&p.properties, &format!("{here}.properties"), depth + 1, count)?;
    }
    Ok(())
}

/// Compile a property's pattern with the size limits ([`PATTERN_BYTES_MAX`], [`REGEX_BYTES_MAX`]).
pub(crate) fn compile_pattern(pattern: &str) -> std::result::Result<regex::Regex, String> {
    if pattern.len() > PATTERN_BYTES_MAX {
        return Err(format!("{} bytes; at most {PATTERN_BYTES_MAX}", pattern.len()));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_BYTES_MAX)
        .dfa_size_limit(REGEX_BYTES_MAX)
        .nest_limit(64)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "apiVersion: v3.0.0\nkind: DataContract\nid: c\nversion: 1.0.0\nstatus: active\nowner: team\ntopic: orders\n";

    #[test]
    fn a_minimal_contract_parses() {
        let c = parse(MINIMAL).expect("parses");
        assert_eq!(c.topic, "orders");
        assert!(c.properties.is_empty());
    }

    #[test]
    fn an_unknown_key_names_its_line() {
        let text = format!("{MINIMAL}propertees: []\n");
        let e = parse(&text).expect_err("unknown key").to_string();
        assert!(e.contains("line 8"), "{e}");
        assert!(e.contains("propertees"), "{e}");
        assert_eq!(e.matches("line 8").count(), 1, "the place is said once: {e}");
    }

    #[test]
    fn a_syntax_error_names_its_place_once() {
        let text = format!("{MINIMAL}properties: [\n");
        let e = parse(&text).expect_err("syntax").to_string();
        assert_eq!(e.matches(" column ").count(), 1, "the place is said once: {e}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(threshold_seconds(&Threshold::Text("5m".into())).ok(), Some(300));
        assert_eq!(threshold_seconds(&Threshold::Number(7)).ok(), Some(7));
        assert!(threshold_seconds(&Threshold::Text("5y".into())).is_err());
        assert!(threshold_seconds(&Threshold::Text("99999999999999999999d".into())).is_err());
    }

    #[test]
    fn pointers_unescape() {
        assert_eq!(
            pointer_tokens("f", "/a~1b/c~0").ok(),
            Some(vec!["a/b".to_string(), "c~".to_string()])
        );
        assert!(pointer_tokens("f", "a").is_err());
    }
}
