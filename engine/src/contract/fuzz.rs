//! The per-input check of the `contract_check` fuzz target
//! (`fuzz/fuzz_targets/contract_check.rs`), replayed over its corpus by
//! `engine/tests/it/contract_fuzz.rs`: arbitrary contract YAML, an arbitrary
//! registered schema and arbitrary records through parse, compile, check and
//! observe. It must not panic (a verdict of the fast check that differs
//! from the reference path's is a panic), and every step is bounded (the limits of
//! `model`, the regex size limits, the JSON depth limit, the Avro allocation
//! limit and recursion guard).
//!
//! Input layout: parts separated by the byte `0xFF`: the contract file, then
//! the schema (its first byte picks the type: `a` Avro, `j` JSON, else
//! Protobuf; registered as id 1 under `<topic>-value`), then each record's
//! value (its first byte: `0` framed as given, `1` framed with id 1 added
//! in front, `2` a tombstone, else the bytes as they are).

use crate::contract::check::RecordCheck;
use crate::contract::schemas::{FixedSchemas, SchemaKind};
use crate::contract::{compile, parse};
use crate::Record;
use std::sync::Arc;

/// Most records one input is split into.
const RECORDS_MAX: usize = 64;

/// Run one input; returns the number of violations found (for the corpus replay's assertions).
pub fn check(data: &[u8]) -> usize {
    let mut parts = data.split(|b| *b == 0xFF);
    let Some(yaml) = parts.next() else { return 0 };
    let Ok(yaml) = std::str::from_utf8(yaml) else { return 0 };
    let Ok(file) = parse(yaml) else { return 0 };
    let schema = parts.next().unwrap_or_default();
    let kind = match schema.first() {
        Some(b'a') => SchemaKind::Avro,
        Some(b'j') => SchemaKind::Json,
        _ => SchemaKind::Protobuf,
    };
    let text = String::from_utf8_lossy(schema.get(1..).unwrap_or_default()).into_owned();
    let subject = format!("{}-value", file.topic);
    let schemas = FixedSchemas::default().with(&subject, 1, kind, &text);
    let Ok(contract) = compile(file, 1, Arc::new(schemas)) else {
        return 0;
    };
    let records: Vec<Record> = parts
        .take(RECORDS_MAX)
        .map(|part| match part.split_first() {
            Some((0, rest)) => Record::new(rest),
            Some((1, rest)) => {
                let mut framed = vec![0, 0, 0, 0, 1];
                framed.extend_from_slice(rest);
                Record::new(framed)
            }
            Some((2, _)) => Record::tombstone(),
            _ => Record::new(part),
        })
        .collect();
    let mut found = 0;
    for record in &records {
        let verdict = contract.check(0, record);
        // The fast check must never pass what the reference path breaks:
        // both give the same verdict, messages included.
        assert_eq!(verdict, contract.check_reference(record), "the fast check differs");
        found += verdict.violations.len();
    }
    contract.observe(0, 0, &records);
    let _ = contract.measures();
    found
}
