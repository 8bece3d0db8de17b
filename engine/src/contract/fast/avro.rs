//! The fast check of an Avro datum: a flat record of primitive fields (or
//! unions of them) decoded straight into the scalars the rules read,
//! accepting only what `apache_avro`'s reader decodes the same way.

use super::{rule_bits, rules_pass, Num, Scalar, TRACKED_MAX};
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

/// A flat Avro record of primitive (or union of primitive) fields.
#[derive(Debug)]
pub(crate) struct AvroPlan {
    fields: Vec<(String, AvroField)>,
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
    /// The plan of `schema`, `None` if it is not a flat record of primitives.
    pub(crate) fn compile(schema: &apache_avro::Schema, allocation_max: usize) -> Option<AvroPlan> {
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
                Some((f.name.clone(), field))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(AvroPlan {
            fields,
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
        Prim::String => Scalar::Str(std::str::from_utf8(read_len(at, allocation_max)?).ok()?),
        Prim::Bytes => {
            read_len(at, allocation_max)?;
            Scalar::Array
        }
    })
}

/// Whether the Avro datum `body` surely decodes with `plan`'s schema
/// (every byte read) and passes `rules`.
pub(crate) fn avro_passes(body: &[u8], plan: &AvroPlan, rules: &[FieldRule]) -> bool {
    if rules.len() > TRACKED_MAX {
        return false;
    }
    let mut at = body;
    let mut seen = 0u64;
    for (name, field) in &plan.fields {
        let p = match field {
            AvroField::Prim(p) => *p,
            AvroField::Union(variants) => {
                let Some(p) = read_long(&mut at)
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| variants.get(i))
                else {
                    return false;
                };
                *p
            }
        };
        let Some(value) = read_prim(p, &mut at, plan.allocation_max) else {
            return false;
        };
        let bits = rule_bits(rules, name);
        if !rules_pass(rules, bits, Some(value)) {
            return false;
        }
        seen |= bits;
    }
    at.is_empty() && rules_pass(rules, !seen, None)
}
