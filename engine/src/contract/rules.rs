//! The per-field rules of a contract, compiled (patterns built once, paths
//! split), and judged on a decoded value (a `serde_json::Value`: JSON as
//! parsed, Avro as its JSON form). Each broken rule is a [`Violation`] named
//! `<field path>.<rule>` with the field's JSON pointer.

use crate::contract::check::{Action, Violation};
use crate::contract::fast::{Num, Scalar};
use crate::contract::formats;
use crate::contract::model::{compile_pattern, escape_token, invalid, Format, LogicalType, Property};
use crate::error::Result;
use serde_json::Value;

/// Longest message of a violation.
pub(crate) const MESSAGE_BYTES_MAX: usize = 1024;

/// One property's rules.
#[derive(Debug)]
pub(crate) struct FieldRule {
    /// Its name in its object.
    name: String,
    /// `customer.email`: the prefix of its rule names.
    rule_prefix: String,
    /// `/customer/email`.
    pointer: String,
    required: bool,
    logical_type: Option<LogicalType>,
    allowed: Option<Vec<Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<regex::Regex>,
    /// `pattern` when it is a plain literal (matched without the regex engine).
    literal: Option<Literal>,
    format: Option<Format>,
    action: Action,
    children: Vec<FieldRule>,
}

/// Compile the properties of one object (nested ones under `prefix`/`pointer`).
pub(crate) fn compile(properties: &[Property], rule_prefix: &str, pointer: &str) -> Result<Vec<FieldRule>> {
    properties
        .iter()
        .map(|p| {
            let rule_prefix = if rule_prefix.is_empty() {
                p.name.clone()
            } else {
                format!("{rule_prefix}.{}", p.name)
            };
            let pointer = format!("{pointer}/{}", escape_token(&p.name));
            let pattern = p
                .pattern
                .as_deref()
                .map(compile_pattern)
                .transpose()
                .map_err(|e| invalid(format!("{rule_prefix}.pattern: {e}")))?;
            Ok(FieldRule {
                literal: p.pattern.as_deref().and_then(Literal::of),
                name: p.name.clone(),
                children: compile(&p.properties, &rule_prefix, &pointer)?,
                rule_prefix,
                pointer,
                required: p.required,
                logical_type: p.logical_type,
                allowed: p.allowed.clone(),
                minimum: p.minimum,
                maximum: p.maximum,
                min_length: p.min_length,
                max_length: p.max_length,
                pattern,
                format: p.format,
                action: p.action.map_or(Action::Reject, Action::from),
            })
        })
        .collect()
}

/// Judge `object` (the value, or a nested object) against `rules`, adding
/// what is broken to `out`.
pub(crate) fn judge(rules: &[FieldRule], object: &Value, out: &mut Vec<Violation>) {
    for rule in rules {
        rule.judge(object.get(&rule.name), out);
    }
}

fn bounded(mut message: String) -> String {
    if message.len() > MESSAGE_BYTES_MAX {
        let mut cut = MESSAGE_BYTES_MAX;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    message
}

/// A short, bounded rendering of a value for a message.
fn shown(value: &Value) -> String {
    let mut s = value.to_string();
    if s.len() > 64 {
        let mut cut = 61;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl FieldRule {
    fn violation(&self, rule: &str, message: String, out: &mut Vec<Violation>) {
        out.push(Violation {
            rule: format!("{}.{rule}", self.rule_prefix),
            path: self.pointer.clone(),
            message: bounded(message),
            action: self.action,
        });
    }

    fn type_matches(&self, value: &Value) -> bool {
        match self.logical_type {
            None => true,
            Some(LogicalType::String) => value.is_string(),
            Some(LogicalType::Integer) => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            Some(LogicalType::Number) => value.is_number(),
            Some(LogicalType::Boolean) => value.is_boolean(),
            Some(LogicalType::Object) => value.is_object(),
            Some(LogicalType::Array) => value.is_array(),
            Some(LogicalType::Date) => value.as_str().is_some_and(|s| formats::matches(Format::Date, s)),
        }
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one rule after the other, in the order design/contracts.md lists them"
    )]
    fn judge(&self, value: Option<&Value>, out: &mut Vec<Violation>) {
        let value = match value {
            None | Some(Value::Null) => {
                if self.required {
                    self.violation(
                        "required",
                        format!("{} is required and is missing or null", self.pointer),
                        out,
                    );
                }
                return;
            }
            Some(v) => v,
        };
        if !self.type_matches(value) {
            let expected = self.logical_type.map_or("", |t| match t {
                LogicalType::String => "string",
                LogicalType::Integer => "integer",
                LogicalType::Number => "number",
                LogicalType::Boolean => "boolean",
                LogicalType::Object => "object",
                LogicalType::Array => "array",
                LogicalType::Date => "date (YYYY-MM-DD)",
            });
            self.violation(
                "type",
                format!(
                    "{} is {} {}, expected {expected}",
                    self.pointer,
                    type_name(value),
                    shown(value)
                ),
                out,
            );
            return;
        }
        if let Some(allowed) = &self.allowed {
            if !allowed.iter().any(|a| same(a, value)) {
                self.violation(
                    "enum",
                    format!("{} is {}, not one of the allowed values", self.pointer, shown(value)),
                    out,
                );
            }
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = self.minimum.filter(|m| n < *m) {
                self.violation(
                    "minimum",
                    format!("{} is {n}, below the minimum {min}", self.pointer),
                    out,
                );
            }
            if let Some(max) = self.maximum.filter(|m| n > *m) {
                self.violation(
                    "maximum",
                    format!("{} is {n}, above the maximum {max}", self.pointer),
                    out,
                );
            }
        }
        let length = match value {
            Value::String(s) => Some(s.chars().count() as u64),
            Value::Array(a) => Some(a.len() as u64),
            _ => None,
        };
        if let Some(len) = length {
            if let Some(min) = self.min_length.filter(|m| len < *m) {
                self.violation(
                    "minLength",
                    format!("{} has length {len}, below the minimum {min}", self.pointer),
                    out,
                );
            }
            if let Some(max) = self.max_length.filter(|m| len > *m) {
                self.violation(
                    "maxLength",
                    format!("{} has length {len}, above the maximum {max}", self.pointer),
                    out,
                );
            }
        }
        if let Value::String(s) = value {
            if let Some(pattern) = self.pattern.as_ref().filter(|_| !self.pattern_matches(s)) {
                self.violation(
                    "pattern",
                    format!(
                        "{} is {}, which does not match {:?}",
                        self.pointer,
                        shown(value),
                        pattern.as_str()
                    ),
                    out,
                );
            }
            if let Some(format) = self.format.filter(|f| !formats::matches(*f, s)) {
                self.violation(
                    "format",
                    format!("{} is {}, not a valid {}", self.pointer, shown(value), format.as_str()),
                    out,
                );
            }
        }
        if value.is_object() {
            judge(&self.children, value, out);
        }
    }
}

impl FieldRule {
    /// Whether `s` contains a match of the rule's pattern (no pattern: yes).
    fn pattern_matches(&self, s: &str) -> bool {
        match (&self.literal, &self.pattern) {
            (Some(literal), _) => literal.matches(s),
            (None, Some(pattern)) => pattern.is_match(s),
            (None, None) => true,
        }
    }

    /// The property's name in its object.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether [`FieldRule::judge`] surely finds nothing wrong with `value`
    /// (`None`: missing), seen as a [`Scalar`]; `false` also when that
    /// cannot tell (the contents of a container are needed).
    pub(crate) fn passes(&self, value: Option<Scalar<'_>>) -> bool {
        let value = match value {
            None | Some(Scalar::Null) => return !self.required,
            Some(v) => v,
        };
        let type_ok = match self.logical_type {
            None => true,
            Some(LogicalType::String) => matches!(value, Scalar::Str(_)),
            Some(LogicalType::Integer) => match value {
                Scalar::Num(Num::F(f)) => f.fract() == 0.0,
                Scalar::Num(_) => true,
                _ => false,
            },
            Some(LogicalType::Number) => matches!(value, Scalar::Num(_)),
            Some(LogicalType::Boolean) => matches!(value, Scalar::Bool(_)),
            Some(LogicalType::Object) => matches!(value, Scalar::Object),
            Some(LogicalType::Array) => matches!(value, Scalar::Array),
            Some(LogicalType::Date) => matches!(value, Scalar::Str(s) if formats::matches(Format::Date, s)),
        };
        if !type_ok {
            return false;
        }
        if let Some(allowed) = &self.allowed {
            let found = match value {
                Scalar::Str(s) => allowed.iter().any(|a| a.as_str() == Some(s)),
                Scalar::Bool(b) => allowed.iter().any(|a| a.as_bool() == Some(b)),
                Scalar::Num(n) => allowed.iter().any(|a| match a {
                    Value::Number(x) => match (x.as_i64(), n.as_i64()) {
                        (Some(i), Some(j)) => i == j,
                        _ => x.as_f64() == Some(n.as_f64()),
                    },
                    _ => false,
                }),
                Scalar::Null | Scalar::Object | Scalar::Array => false,
            };
            if !found {
                return false;
            }
        }
        if let Scalar::Num(n) = value {
            let n = n.as_f64();
            if self.minimum.is_some_and(|m| n < m) || self.maximum.is_some_and(|m| n > m) {
                return false;
            }
        }
        match value {
            Scalar::Str(s) => {
                if self.min_length.is_some() || self.max_length.is_some() {
                    let len = s.chars().count() as u64;
                    if self.min_length.is_some_and(|m| len < m) || self.max_length.is_some_and(|m| len > m) {
                        return false;
                    }
                }
                self.pattern_matches(s) && self.format.is_none_or(|f| formats::matches(f, s))
            }
            Scalar::Array => self.min_length.is_none() && self.max_length.is_none(),
            Scalar::Object => self.children.is_empty(),
            Scalar::Null | Scalar::Bool(_) | Scalar::Num(_) => true,
        }
    }
}

/// A `pattern` that is a plain literal, optionally anchored with `^` and
/// `$` (`@example\.com$`): the regex crate's `is_match` of it is a
/// substring, prefix, suffix or equality test of its text (without the
/// `m`, `i` or `x` flags, which such a pattern cannot set, `^` and `$`
/// anchor at the haystack's ends only). Anything else in the pattern (a
/// class, a repetition, a group, an escape other than of a metacharacter)
/// leaves it to the regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    /// No anchor: the text anywhere.
    Anywhere(String),
    /// `^text`.
    Start(String),
    /// `text$`.
    End(String),
    /// `^text$`.
    Whole(String),
}

/// The metacharacters a literal pattern may escape (`\.`).
const METACHARACTERS: &str = "\\.+*?()|[]{}^$";

impl Literal {
    /// The literal `pattern` stands for, if it is one.
    pub(crate) fn of(pattern: &str) -> Option<Literal> {
        let (start, rest) = match pattern.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let mut text = String::with_capacity(rest.len());
        let mut end = false;
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let escaped = chars.next()?;
                    if !METACHARACTERS.contains(escaped) {
                        return None;
                    }
                    text.push(escaped);
                }
                '$' if chars.as_str().is_empty() => end = true,
                c if METACHARACTERS.contains(c) => return None,
                c => text.push(c),
            }
        }
        Some(match (start, end) {
            (false, false) => Literal::Anywhere(text),
            (true, false) => Literal::Start(text),
            (false, true) => Literal::End(text),
            (true, true) => Literal::Whole(text),
        })
    }

    /// Whether `s` matches (as the pattern's regex would find a match in it).
    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            Literal::Anywhere(text) => s.contains(text.as_str()),
            Literal::Start(text) => s.starts_with(text.as_str()),
            Literal::End(text) => s.ends_with(text.as_str()),
            Literal::Whole(text) => s == text,
        }
    }
}

/// Equality for `enum`, numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

/// The value at `tokens` (an unescaped JSON pointer) inside `value`.
pub(crate) fn at<'v>(value: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens.iter().try_fold(value, |v, token| match v {
        Value::Object(map) => map.get(token),
        Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::model::compile_pattern;
    use proptest::prelude::*;

    /// Patterns a literal stands for, and patterns left to the regex.
    const PATTERNS: &[&str] = &[
        "@example\\.com$",
        "^order-",
        "^EUR$",
        "abc",
        "",
        "^",
        "$",
        "^$",
        "a\\$b",
        "\\^x",
        "x\\\\$",
        "é-ü",
        " a#b ",
        "a.b",
        "a+",
        "(?i)abc",
        "[ab]c",
        "a|b",
        "\\d",
        "a$b",
        "^^a",
        "(?m)^a$",
    ];

    #[test]
    fn literals_are_recognised_and_the_rest_left_to_the_regex() {
        assert_eq!(
            Literal::of("@example\\.com$"),
            Some(Literal::End("@example.com".into()))
        );
        assert_eq!(Literal::of("^EUR$"), Some(Literal::Whole("EUR".into())));
        assert_eq!(Literal::of("^order-"), Some(Literal::Start("order-".into())));
        assert_eq!(Literal::of("a\\$b"), Some(Literal::Anywhere("a$b".into())));
        for pattern in [
            "a.b", "a+", "(?i)abc", "[ab]c", "a|b", "\\d", "a$b", "^^a", "a\\-b", "(?m)^a$",
        ] {
            assert_eq!(Literal::of(pattern), None, "{pattern}");
        }
    }

    fn haystack() -> impl Strategy<Value = String> {
        // Pieces of the patterns' texts, so that matches are common.
        let piece = prop_oneof![
            Just("@example.com".to_string()),
            Just("order-".to_string()),
            Just("EUR".to_string()),
            Just("a$b".to_string()),
            Just("é-ü".to_string()),
            Just("\n".to_string()),
            Just(" a#b ".to_string()),
            "[a-c$^.\\\\x é]{0,3}",
        ];
        prop::collection::vec(piece, 0..5).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// A literal matches exactly where its pattern's regex finds a match.
        #[test]
        fn a_literal_matches_as_its_regex(s in haystack()) {
            for pattern in PATTERNS.iter().copied() {
                let regex = compile_pattern(pattern).expect("the test's patterns compile");
                if let Some(literal) = Literal::of(pattern) {
                    prop_assert_eq!(literal.matches(&s), regex.is_match(&s), "{:?} on {:?}", pattern, s);
                }
            }
        }
    }
}
