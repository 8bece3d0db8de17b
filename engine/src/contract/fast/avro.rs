//! The fast check of an Avro datum: a flat record of primitive fields (or
//! unions of them) decoded straight into the scalars the rules read,
//! accepting only what `apache_avro`'s reader decodes the same way.

use super::pick::value_of;
use super::{rule_mask, rules_pass, text, Names, Num, Scalar};
use crate::contract::rules::FieldRule;

/// An Avro primitive type.
#[derive(Debug, Clone, Copy)]
enum Prim {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    String,
    Bytes,
}

/// A field of an [`AvroPlan`]: a primitive or a union of primitives.
#[derive(Debug)]
enum AvroField {
    Prim(Prim),
    Union(Vec<Prim>),
}

/// One field of an [`AvroPlan`].
#[derive(Debug)]
struct FieldPlan {
    field: AvroField,
    /// The bits of the contract's rules naming it.
    bits: u64,
    /// Its name when a windowed rule or freshness names it (`observe` picks it).
    picked: Option<String>,
}

/// A flat Avro record of primitive (or union of primitive) fields.
#[derive(Debug)]
pub(crate) struct AvroPlan {
    fields: Vec<FieldPlan>,
    /// The fields' names, resolved against the contract's rules.
    names: Names,
    /// The decoder's allocation limit: a longer string or bytes fails there.
    allocation_max: u64,
}

fn prim(schema: &apache_avro::Schema) -> Option<Prim> {
    use apache_avro::Schema;
    Some(match schema {
        Schema::Null => Prim::Null,
        Schema::Boolean => Prim::Boolean,
        Schema::Int => Prim::Int,
        Schema::Long => Prim::Long,
        Schema::Float => Prim::Float,
        Schema::Double => Prim::Double,
        Schema::String => Prim::String,
        Schema::Bytes => Prim::Bytes,
        _ => return None,
    })
}

impl AvroPlan {
    /// The plan of `schema`, `None` if it is not a flat record of
    /// primitives; its fields resolved against the contract's rules named
    /// `rules` and the fields `picks` (top-level, named by the windowed
    /// rules and freshness).
    pub(crate) fn compile(
        schema: &apache_avro::Schema,
        allocation_max: usize,
        rules: &[&str],
        picks: &[&str],
    ) -> Option<AvroPlan> {
        let apache_avro::Schema::Record(record) = schema else {
            return None;
        };
        let fields = record
            .fields
            .iter()
            .map(|f| {
                let field = match &f.schema {
                    apache_avro::Schema::Union(u) => {
                        AvroField::Union(u.variants().iter().map(prim).collect::<Option<Vec<_>>>()?)
                    }
                    other => AvroField::Prim(prim(other)?),
                };
                Some(field)
            })
            .collect::<Option<Vec<_>>>()?;
        let named: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
        let names = Names::new(&named, rules);
        let fields = fields
            .into_iter()
            .zip(&named)
            .map(|(field, name)| FieldPlan {
                field,
                bits: names.get(name).map_or(0, |n| n.bits),
                picked: picks.contains(name).then(|| (*name).to_string()),
            })
            .collect();
        Some(AvroPlan {
            fields,
            names,
            allocation_max: allocation_max as u64,
        })
    }
}

/// A zigzag varint of at most 9 bytes (longer ones: cannot tell).
fn read_long(at: &mut &[u8]) -> Option<i64> {
    let mut z = 0u64;
    for j in 0..9 {
        let (byte, rest) = at.split_first()?;
        *at = rest;
        z |= u64::from(byte & 0x7f) << (j * 7);
        if byte & 0x80 == 0 {
            return Some(if z & 1 == 0 { (z >> 1) as i64 } else { !(z >> 1) as i64 });
        }
    }
    None
}

fn read_fixed<const N: usize>(at: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = at.split_first_chunk::<N>()?;
    *at = rest;
    Some(*head)
}

fn read_len<'b>(at: &mut &'b [u8], allocation_max: u64) -> Option<&'b [u8]> {
    let len = u64::try_from(read_long(at)?).ok().filter(|l| *l <= allocation_max)?;
    let len = usize::try_from(len).ok()?;
    let (head, rest) = at.split_at_checked(len)?;
    *at = rest;
    Some(head)
}

fn finite(f: f64) -> Option<Num> {
    f.is_finite().then_some(Num::F(f))
}

fn read_prim<'b>(p: Prim, at: &mut &'b [u8], allocation_max: u64) -> Option<Scalar<'b>> {
    Some(match p {
        Prim::Null => Scalar::Null,
        Prim::Boolean => match read_fixed::<1>(at)? {
            [0] => Scalar::Bool(false),
            [1] => Scalar::Bool(true),
            _ => return None,
        },
        Prim::Int => Scalar::Num(Num::from_i64(i64::from(i32::try_from(read_long(at)?).ok()?))),
        Prim::Long => Scalar::Num(Num::from_i64(read_long(at)?)),
        Prim::Float => Scalar::Num(finite(f64::from(f32::from_le_bytes(read_fixed(at)?)))?),
        Prim::Double => Scalar::Num(finite(f64::from_le_bytes(read_fixed(at)?))?),
        Prim::String => Scalar::Str(text(read_len(at, allocation_max)?)?),
        Prim::Bytes => {
            read_len(at, allocation_max)?;
            Scalar::Array
        }
    })
}

/// Whether the Avro datum `body` surely decodes with `plan`'s schema
/// (every byte read) and passes `rules`.
/// `rules`: the contract's rules the plan was compiled with, or none (the key side).
pub(crate) fn avro_passes(body: &[u8], plan: &AvroPlan, rules: &[FieldRule]) -> bool {
    let Some(mask) = rule_mask(&plan.names, rules) else {
        return false;
    };
    let mut at = body;
    let mut seen = 0u64;
    for f in &plan.fields {
        let Some(value) = read_field(&f.field, &mut at, plan.allocation_max) else {
            return false;
        };
        let bits = f.bits & mask;
        if !rules_pass(rules, bits, Some(value)) {
            return false;
        }
        seen |= bits;
    }
    at.is_empty() && rules_pass(rules, mask & !seen, None)
}

/// One field's value (a union's branch read first).
fn read_field<'b>(field: &AvroField, at: &mut &'b [u8], allocation_max: u64) -> Option<Scalar<'b>> {
    let p = match field {
        AvroField::Prim(p) => *p,
        AvroField::Union(variants) => *read_long(at)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| variants.get(i))?,
    };
    read_prim(p, at, allocation_max)
}

/// The fields of the Avro datum `body` of `plan`'s schema that `observe`
/// picks, as an object (the datum's JSON form keeping those fields), if
/// the datum surely decodes; `None`: cannot tell.
pub(crate) fn avro_pick(body: &[u8], plan: &AvroPlan) -> Option<serde_json::Value> {
    let mut at = body;
    let mut picked = serde_json::Map::new();
    for f in &plan.fields {
        let value = read_field(&f.field, &mut at, plan.allocation_max)?;
        if let Some(name) = &f.picked {
            // A repeated name: the last, as the JSON form's object keeps.
            picked.insert(name.clone(), value_of(value)?);
        }
    }
    at.is_empty().then_some(serde_json::Value::Object(picked))
}
