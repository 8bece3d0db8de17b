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
            if let Some(pattern) = self.pattern.as_ref().filter(|p| !p.is_match(s)) {
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
                self.pattern.as_ref().is_none_or(|p| p.is_match(s))
                    && self.format.is_none_or(|f| formats::matches(f, s))
            }
            Scalar::Array => self.min_length.is_none() && self.max_length.is_none(),
            Scalar::Object => self.children.is_empty(),
            Scalar::Null | Scalar::Bool(_) | Scalar::Num(_) => true,
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
