//! What `observe` decodes for the windowed rules and freshness: only the
//! top-level fields they name, in a visitor of its own (the check's visitor
//! is left as it is: sharing it made the main check slower, s12's results
//! README section 7).
//!
//! A pick answers the object of the named fields the reference decode
//! (`CompiledContract::decode_value`) would have found, or "cannot tell"
//! (`None`), and `observe` then decodes the whole value as before. It
//! vouches only for a record that surely decodes and, with a plan, surely
//! passes the schema (the reference decode gives no value otherwise): the
//! plan's checks are the fast check's, without the contract's rules (they
//! do not decide whether a value is decoded).

use super::{Field, JsonPlan, Names, Num, Scalar, Skip};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The named fields of the JSON document `body`, as decoding it whole and
/// keeping those would give; `names`: the plan's names (or the contract's
/// without a schema) resolved against the picked fields.
pub(crate) fn json_pick(body: &[u8], plan: Option<&JsonPlan>, names: &Names) -> Option<Value> {
    let text = super::text(body)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let picked = Top { plan, names }.deserialize(&mut de).ok().flatten()?;
    de.end().is_ok().then_some(Value::Object(picked))
}

/// A scalar as the reference's JSON form has it (`None`: bytes, whose
/// contents a scalar does not keep, or a number JSON cannot hold).
pub(super) fn value_of(value: Scalar<'_>) -> Option<Value> {
    Some(match value {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Num(Num::U(u)) => Value::from(u),
        Scalar::Num(Num::I(i)) => Value::from(i),
        Scalar::Num(Num::F(f)) => Value::Number(serde_json::Number::from_f64(f)?),
        Scalar::Str(s) => Value::String(s.to_string()),
        Scalar::Object | Scalar::Array => return None,
    })
}

/// A decoded value as the plan's checks look at it.
fn scalar_of(value: &Value) -> Scalar<'_> {
    match value {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Scalar::Num(Num::U(u)),
            (None, Some(i), _) => Scalar::Num(Num::I(i)),
            (None, None, Some(f)) => Scalar::Num(Num::F(f)),
            // Not without arbitrary precision; judged as a container: never passes a typed property.
            (None, None, None) => Scalar::Object,
        },
        Value::String(s) => Scalar::Str(s),
        Value::Array(_) => Scalar::Array,
        Value::Object(_) => Scalar::Object,
    }
}

/// The top object.
struct Top<'p> {
    plan: Option<&'p JsonPlan>,
    names: &'p Names,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = Option<Map<String, Value>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A key: its property's index in the plan and whether it is picked.
struct Key<'p> {
    names: &'p Names,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = (Option<usize>, bool, String);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = (Option<usize>, bool, String);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(match self.names.get(key) {
            Some(n) if n.bits != 0 => (n.property, true, key.to_string()),
            Some(n) => (n.property, false, String::new()),
            None => (None, false, String::new()),
        })
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Option<Map<String, Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut picked = Map::new();
        let mut seen = 0u64;
        while let Some((index, pick, key)) = map.next_key_seed(Key { names: self.names })? {
            let property = match (index, self.plan) {
                (Some(i), Some(plan)) => {
                    // A key given twice: left to the reference (it keeps the last).
                    if seen & (1u64 << i) != 0 {
                        return Ok(None);
                    }
                    seen |= 1u64 << i;
                    plan.properties.get(i)
                }
                (_, Some(plan)) if plan.closed => return Ok(None),
                _ => None,
            };
            if pick {
                let value: Value = map.next_value()?;
                if property.is_some_and(|p| !p.passes(scalar_of(&value))) {
                    return Ok(None);
                }
                // A repeated key (no plan property): the last one, as the reference keeps.
                picked.insert(key, value);
            } else if property.is_some() {
                let passed = map.next_value_seed(Field {
                    property,
                    rules: &[],
                    bits: 0,
                })?;
                if !passed {
                    return Ok(None);
                }
            } else {
                map.next_value::<Skip>()?;
            }
        }
        let required_seen = self.plan.is_none_or(|plan| seen & plan.required == plan.required);
        Ok(required_seen.then_some(picked))
    }
}
