//! The per-input check of the `schema_compat` fuzz target
//! (`fuzz/fuzz_targets/schema_compat.rs`), replayed over its corpus by
//! `engine/tests/it/schema_compat_fuzz.rs`: two arbitrary schema texts of one
//! type through parsing and the compatibility checker at every level. It
//! must not panic, and every step is bounded: the schema size limit, the
//! JSON depth limit, the JSON checker's depth and step budget, the Avro
//! checker's guard on recursive schemas; no `$ref` is ever fetched (parsing
//! compiles JSON Schemas without retrieval, the checker follows local
//! pointers only).
//!
//! Input layout: the first byte picks the type (even: Avro, odd: JSON
//! Schema); the rest is the old schema, the byte `0xFF`, the new schema.

use super::compat::{check, check_pair, ALL};
use super::parse::parse_schema;
use super::SchemaType;

/// Run one input; returns the number of reasons found over all levels, or
/// `None` when a schema does not parse (for the corpus replay's assertions).
pub fn compat(data: &[u8]) -> Option<usize> {
    let (selector, rest) = data.split_first()?;
    let schema_type = if selector % 2 == 0 {
        SchemaType::Avro
    } else {
        SchemaType::Json
    };
    let mut parts = rest.splitn(2, |b| *b == 0xFF);
    let old = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let new = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let old = parse_schema(schema_type, &old).ok()?;
    let new = parse_schema(schema_type, &new).ok()?;
    // The identity parses again as the same type (the registry stores it).
    let _ = parse_schema(schema_type, &new.identity);
    let mut found = 0;
    for level in ALL {
        found += check_pair(level, &old, &new).len();
        let earlier = [(1, old.clone()), (2, new.clone())];
        found += check(level, &new, &earlier).messages.len();
    }
    Some(found)
}
