//! The fast check (issue 22, "Figures"): whether a record surely passes,
//! judged in one pass over its bytes, without building a
//! `serde_json::Value`.
//!
//! A JSON Schema in a small subset (an object of typed properties with
//! `enum`, numeric bounds and lengths, `required`, `additionalProperties`)
//! compiles into a [`JsonPlan`]; a flat Avro record of primitive fields
//! into an [`AvroPlan`]. A JSON payload in the common shape is read by
//! `reader` (SSE2 string scans; serde_json's grammar, a strict subset of
//! it); any other by `serde_json`'s own parser (the same acceptance as the
//! reference path's `from_slice::<Value>`) through a visitor that judges
//! each named field as it is read and skips the others without
//! allocating; an Avro datum is decoded straight into the scalars the rules
//! look at.
//!
//! The fast check only ever answers "passes" or "cannot tell": a record it
//! cannot vouch for (anything broken, or outside what the plans model) goes
//! to the reference path (`CompiledContract::check_reference`), which builds
//! the value and writes the messages. Verdicts and messages are therefore
//! the reference path's; the fast check must only never pass a record the
//! reference would find a violation in (the differential test
//! `contract_fast` and the `contract_check` fuzz target hold it to that).

mod avro;
mod names;
mod pick;
mod reader;

use crate::contract::rules::FieldRule;
pub(crate) use avro::{avro_passes, avro_pick, AvroPlan};
pub(crate) use names::Names;
pub(crate) use pick::json_pick;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

/// Most properties (schema plan) and rules (contract) the fast check tracks
/// with one bit each; more and every record takes the reference path.
pub(crate) const TRACKED_MAX: usize = 64;

/// A number as `serde_json` holds it (`PosInt`, `NegInt`, `Float`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    /// A non-negative integer.
    U(u64),
    /// A negative integer.
    I(i64),
    /// A float (finite).
    F(f64),
}

impl Num {
    /// `serde_json::Number::from(i)`.
    pub(crate) fn from_i64(i: i64) -> Num {
        u64::try_from(i).map_or(Num::I(i), Num::U)
    }

    /// `Number::as_f64` (always `Some` without arbitrary precision).
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::U(u) => u as f64,
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }

    /// `Number::as_i64`.
    pub(crate) fn as_i64(self) -> Option<i64> {
        match self {
            Num::U(u) => i64::try_from(u).ok(),
            Num::I(i) => Some(i),
            Num::F(_) => None,
        }
    }

    /// The number as an `f64` if that is exact (integers up to 2^53).
    fn exact_f64(self) -> Option<f64> {
        const EXACT: u64 = 1 << 53;
        match self {
            Num::U(u) => (u <= EXACT).then_some(u as f64),
            Num::I(i) => (i.unsigned_abs() <= EXACT).then_some(i as f64),
            Num::F(f) => Some(f),
        }
    }
}

/// A value as the rules look at it: scalars in full, containers by kind.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(&'a str),
    Object,
    Array,
}

/// A JSON Schema type name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Null,
    Object,
    Array,
}

/// One property of a [`JsonPlan`].
#[derive(Debug, Default)]
struct PropertyPlan {
    name: String,
    required: bool,
    kind: Option<JsonType>,
    /// `enum`: its string members (a value passes only as one of them).
    allowed: Option<Vec<String>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
}

/// A JSON Schema the fast check can judge.
#[derive(Debug)]
pub(crate) struct JsonPlan {
    properties: Vec<PropertyPlan>,
    /// `additionalProperties: false`.
    closed: bool,
    /// The bits of the required properties.
    required: u64,
    /// The properties' names and the contract's rules naming them.
    names: Names,
    /// The properties' names and the fields `observe` picks.
    pick_names: Names,
}

/// Keywords that annotate and never decide validity.
fn annotation(keyword: &str) -> bool {
    matches!(
        keyword,
        "title" | "description" | "$comment" | "examples" | "default" | "deprecated" | "readOnly" | "writeOnly"
    )
}

/// A schema's number as an exact `f64`.
fn exact_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Num::U(u).exact_f64(),
            (None, Some(i), _) => Num::I(i).exact_f64(),
            (None, None, f) => f,
        },
        _ => None,
    }
}

fn property_plan(name: &str, schema: &Value) -> Option<PropertyPlan> {
    let mut plan = PropertyPlan {
        name: name.to_string(),
        ..PropertyPlan::default()
    };
    for (keyword, value) in schema.as_object()? {
        match keyword.as_str() {
            "type" => {
                plan.kind = Some(match value.as_str()? {
                    "string" => JsonType::String,
                    "integer" => JsonType::Integer,
                    "number" => JsonType::Number,
                    "boolean" => JsonType::Boolean,
                    "null" => JsonType::Null,
                    "object" => JsonType::Object,
                    "array" => JsonType::Array,
                    _ => return None,
                });
            }
            "enum" => {
                let members = value.as_array()?;
                plan.allowed = Some(members.iter().filter_map(|m| m.as_str().map(str::to_string)).collect());
            }
            "minimum" => plan.minimum = Some(exact_number(value)?),
            "maximum" => plan.maximum = Some(exact_number(value)?),
            "minLength" => plan.min_length = Some(value.as_u64()?),
            "maxLength" => plan.max_length = Some(value.as_u64()?),
            other if annotation(other) => {}
            _ => return None,
        }
    }
    Some(plan)
}

impl JsonPlan {
    /// The plan of `schema`, `None` if it uses anything outside the subset;
    /// its keys resolved against the contract's rules named `rules` and
    /// the top-level fields `picks` (named by the windowed rules and freshness).
    pub(crate) fn compile(schema: &Value, rules: &[&str], picks: &[&str]) -> Option<JsonPlan> {
        let mut properties: Vec<PropertyPlan> = Vec::new();
        let mut required: Vec<&str> = Vec::new();
        let mut closed = false;
        for (keyword, value) in schema.as_object()? {
            match keyword.as_str() {
                "type" if value.as_str() == Some("object") => {}
                "properties" => {
                    for (name, property) in value.as_object()? {
                        properties.push(property_plan(name, property)?);
                    }
                }
                "required" => {
                    for name in value.as_array()? {
                        required.push(name.as_str()?);
                    }
                }
                "additionalProperties" => closed = !value.as_bool()?,
                "$schema" if value.is_string() => {}
                other if annotation(other) => {}
                _ => return None,
            }
        }
        for name in required {
            match properties.iter_mut().find(|p| p.name == name) {
                Some(p) => p.required = true,
                // Required but not a property: with no others allowed, no
                // record passes (and the plan would take it for declared).
                None if closed => return None,
                None => properties.push(PropertyPlan {
                    name: name.to_string(),
                    required: true,
                    ..PropertyPlan::default()
                }),
            }
        }
        if properties.len() > TRACKED_MAX {
            return None;
        }
        let required = properties
            .iter()
            .enumerate()
            .filter(|(_, p)| p.required)
            .fold(0u64, |bits, (i, _)| bits | (1u64 << i));
        let named: Vec<&str> = properties.iter().map(|p| p.name.as_str()).collect();
        let names = Names::with_picks(&named, rules, picks);
        let pick_names = Names::new(&named, picks);
        Some(JsonPlan {
            properties,
            closed,
            required,
            names,
            pick_names,
        })
    }

    /// Its properties' names, resolved against the contract's rules (and
    /// marked where `observe` picks them).
    pub(crate) fn names(&self) -> &Names {
        &self.names
    }

    /// Its properties' names, resolved against the fields `observe` picks.
    pub(crate) fn pick_names(&self) -> &Names {
        &self.pick_names
    }
}

impl PropertyPlan {
    /// Whether `value` surely passes this property's schema.
    fn passes(&self, value: Scalar<'_>) -> bool {
        let kind_ok = matches!(
            (self.kind, value),
            (None, _)
                | (Some(JsonType::String), Scalar::Str(_))
                | (Some(JsonType::Integer), Scalar::Num(Num::U(_) | Num::I(_)))
                | (Some(JsonType::Number), Scalar::Num(_))
                | (Some(JsonType::Boolean), Scalar::Bool(_))
                | (Some(JsonType::Null), Scalar::Null)
                | (Some(JsonType::Object), Scalar::Object)
                | (Some(JsonType::Array), Scalar::Array)
        );
        if !kind_ok {
            return false;
        }
        if let Some(allowed) = &self.allowed {
            let Scalar::Str(s) = value else { return false };
            if !allowed.iter().any(|a| a == s) {
                return false;
            }
        }
        if let Scalar::Num(n) = value {
            if self.minimum.is_some() || self.maximum.is_some() {
                let Some(v) = n.exact_f64() else { return false };
                if self.minimum.is_some_and(|m| v < m) || self.maximum.is_some_and(|m| v > m) {
                    return false;
                }
            }
        }
        if let Scalar::Str(s) = value {
            if self.min_length.is_some() || self.max_length.is_some() {
                let len = s.chars().count() as u64;
                if self.min_length.is_some_and(|m| len < m) || self.max_length.is_some_and(|m| len > m) {
                    return false;
                }
            }
        }
        true
    }
}

/// The mask of the rule bits a check of `rules` may use with names
/// resolved by `names`: none without rules (the key side), all when the
/// names were resolved against these rules, `None` (cannot tell) otherwise.
fn rule_mask(names: &Names, rules: &[FieldRule]) -> Option<u64> {
    if rules.is_empty() {
        Some(0)
    } else if rules.len() <= TRACKED_MAX && names.resolved_for(rules.len()) {
        Some(u64::MAX)
    } else {
        None
    }
}

/// Whether every rule whose bit is in `bits` surely passes `value` (bits
/// past the last rule are ignored).
#[inline]
fn rules_pass(rules: &[FieldRule], mut bits: u64, value: Option<Scalar<'_>>) -> bool {
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        match rules.get(i) {
            Some(rule) if !rule.passes(value) => return false,
            Some(_) => {}
            None => return true,
        }
    }
    true
}

/// `bytes` as text: an ASCII test (twice as fast as `from_utf8` on the
/// benchmark's kilobyte of text), `from_utf8` for the rest.
#[expect(
    unsafe_code,
    reason = "from_utf8_unchecked after is_ascii: std has no safe ASCII-to-str conversion that skips the UTF-8 check"
)]
pub(crate) fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

/// Whether the JSON document `body` surely passes `plan` (the schema, if
/// any) and `rules` (the contract's per-field rules on the top object);
/// `names`: the plan's names (`names` of the contract without a schema),
/// resolved against `rules` (or any rules when `rules` is empty: the key
/// side). A record in the common shape is read by [`reader`]; the rest
/// by serde_json. With `keep` (the names mark the fields `observe` picks),
/// a record the reader passes leaves there its picked fields, as
/// [`json_pick`] finds them; `keep` is left as it is otherwise (the caller
/// gives `None` and trusts it only on a pass).
pub(crate) fn json_passes(
    body: &[u8],
    plan: Option<&JsonPlan>,
    names: &Names,
    rules: &[FieldRule],
    keep: Option<&mut Option<Map<String, Value>>>,
) -> bool {
    let Some(mask) = rule_mask(names, rules) else {
        return false;
    };
    // Not UTF-8: never JSON (the serde_json path refuses it too).
    let Some(text) = text(body) else {
        return false;
    };
    reader::json_passes(text, plan, names, mask, rules, keep)
        .unwrap_or_else(|| json_passes_serde(body, plan, names, mask, rules))
}

/// [`json_passes`] read by serde_json; `mask`: [`rule_mask`].
fn json_passes_serde(body: &[u8], plan: Option<&JsonPlan>, names: &Names, mask: u64, rules: &[FieldRule]) -> bool {
    // One UTF-8 check of the whole text instead of one per string: for
    // UTF-8 text `from_str` accepts exactly what `from_slice` does (the
    // same reader, without its per-string check), and text that is not
    // UTF-8 is never JSON (outside strings JSON is ASCII): the reference
    // path refuses it.
    let Some(text) = text(body) else {
        return false;
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let passed = Top {
        plan,
        names,
        mask,
        rules,
    }
    .deserialize(&mut de)
    .unwrap_or(false);
    passed && de.end().is_ok()
}

/// The top object.
struct Top<'p> {
    plan: Option<&'p JsonPlan>,
    names: &'p Names,
    /// [`rule_mask`].
    mask: u64,
    rules: &'p [FieldRule],
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let (mut seen_properties, mut seen_rules) = (0u64, 0u64);
        while let Some((index, bits)) = map.next_key_seed(Key {
            names: self.names,
            mask: self.mask,
        })? {
            let property = match (index, self.plan) {
                (Some(i), Some(plan)) => {
                    // A key given twice: the reference keeps the last; leave it to it.
                    if seen_properties & (1u64 << i) != 0 {
                        return Ok(false);
                    }
                    seen_properties |= 1u64 << i;
                    plan.properties.get(i)
                }
                (_, Some(plan)) if plan.closed => return Ok(false),
                _ => None,
            };
            if seen_rules & bits != 0 {
                return Ok(false);
            }
            seen_rules |= bits;
            if property.is_none() && bits == 0 {
                map.next_value::<Skip>()?;
                continue;
            }
            let passed = map.next_value_seed(Field {
                property,
                rules: self.rules,
                bits,
            })?;
            if !passed {
                return Ok(false);
            }
        }
        let required_seen = self
            .plan
            .is_none_or(|plan| seen_properties & plan.required == plan.required);
        Ok(required_seen && rules_pass(self.rules, self.mask & !seen_rules, None))
    }
}

/// A key of the top object: its property's index in the plan and its rules' bits.
struct Key<'p> {
    names: &'p Names,
    mask: u64,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = (Option<usize>, u64);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = (Option<usize>, u64);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self
            .names
            .get(key)
            .map_or((None, 0), |n| (n.property, n.bits & self.mask)))
    }
}

/// A named field's value, judged as it is read.
struct Field<'p> {
    property: Option<&'p PropertyPlan>,
    rules: &'p [FieldRule],
    bits: u64,
}

impl Field<'_> {
    fn judge(&self, value: Scalar<'_>) -> bool {
        self.property.is_none_or(|p| p.passes(value)) && rules_pass(self.rules, self.bits, Some(value))
    }
}

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Field<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(self.judge(Scalar::Null))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(self.judge(Scalar::Bool(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<bool, E> {
        Ok(self.judge(Scalar::Num(Num::from_i64(v))))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<bool, E> {
        Ok(self.judge(Scalar::Num(Num::U(v))))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<bool, E> {
        Ok(self.judge(Scalar::Num(Num::F(v))))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(self.judge(Scalar::Str(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(self.judge(Scalar::Object))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(self.judge(Scalar::Array))
    }
}

/// A value no rule names: read (numbers parsed, as the reference does) and dropped.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Skip, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
}
