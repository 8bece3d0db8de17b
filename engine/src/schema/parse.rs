//! A schema's text to its parsed form, checked, and its identity: the key
//! under which the same schema registered twice (under any subject) gets the
//! same id. Avro: the parsed schema written back as JSON (whitespace, key
//! order and the `"type": {"type": "string"}` spellings fold together;
//! defaults, aliases and docs stay, as they change what readers do). JSON
//! Schema: the document with its object keys sorted and no whitespace.

use super::{SchemaType, SCHEMA_BYTES_MAX};
use crate::error::{Error, Result};
use serde_json::Value;

/// A schema parsed and checked as its type.
#[derive(Debug, Clone)]
pub struct ParsedSchema {
    /// Its language.
    pub schema_type: SchemaType,
    /// The normalized text that identifies it.
    pub identity: String,
    pub(crate) form: Form,
}

#[derive(Debug, Clone)]
pub(crate) enum Form {
    Avro(Box<apache_avro::Schema>),
    Json(Value),
}

fn invalid(schema_type: SchemaType, reason: impl Into<String>) -> Error {
    Error::InvalidSchema {
        schema_type: schema_type.name(),
        reason: reason.into(),
    }
}

/// Parse and check `text` as a `schema_type` schema: Avro with the Avro
/// specification's rules; JSON Schema compiled (its keywords checked against
/// its draft's meta-schema, every `$ref` local: none is ever fetched).
/// Protobuf is refused. At most [`SCHEMA_BYTES_MAX`] bytes, and nesting at
/// most 128 levels deep (the JSON parser's limit).
pub fn parse_schema(schema_type: SchemaType, text: &str) -> Result<ParsedSchema> {
    if text.len() > SCHEMA_BYTES_MAX {
        return Err(invalid(
            schema_type,
            format!("{} bytes; a schema has at most {SCHEMA_BYTES_MAX}", text.len()),
        ));
    }
    match schema_type {
        SchemaType::Avro => {
            let schema = apache_avro::Schema::parse_str(text).map_err(|e| invalid(schema_type, e.to_string()))?;
            let identity = serde_json::to_string(&schema).map_err(|e| invalid(schema_type, e.to_string()))?;
            Ok(ParsedSchema {
                schema_type,
                identity,
                form: Form::Avro(Box::new(schema)),
            })
        }
        SchemaType::Json => {
            let value: Value = serde_json::from_str(text).map_err(|e| invalid(schema_type, e.to_string()))?;
            if !(value.is_object() || value.is_boolean()) {
                return Err(invalid(schema_type, "a JSON Schema is an object or a boolean"));
            }
            // Compiled with the crate's default features off: no HTTP or
            // file retrieval, so a remote `$ref` fails to compile here.
            jsonschema::validator_for(&value).map_err(|e| invalid(schema_type, e.to_string()))?;
            let mut identity = String::with_capacity(text.len());
            canonical_json(&value, &mut identity);
            Ok(ParsedSchema {
                schema_type,
                identity,
                form: Form::Json(value),
            })
        }
        SchemaType::Protobuf => Err(invalid(
            schema_type,
            "this registry takes AVRO and JSON schemas; PROTOBUF is not supported",
        )),
    }
}

/// `value` with object keys sorted and no whitespace.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    canonical_json(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_schema_share_an_identity() {
        let a = parse_schema(
            SchemaType::Avro,
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":"string"}]}"#,
        );
        let b = parse_schema(
            SchemaType::Avro,
            r#"{ "fields": [ {"type": {"type": "string"}, "name": "a"} ], "name": "r", "type": "record" }"#,
        );
        let (Ok(a), Ok(b)) = (a, b) else { panic!("both parse") };
        assert_eq!(a.identity, b.identity);
        let c = parse_schema(
            SchemaType::Json,
            r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        );
        let d = parse_schema(
            SchemaType::Json,
            r#"{ "properties": {"a": {"type": "string"}}, "type": "object" }"#,
        );
        let (Ok(c), Ok(d)) = (c, d) else { panic!("both parse") };
        assert_eq!(c.identity, d.identity);
    }

    #[test]
    fn invalid_schemas_are_refused_with_the_reason() {
        for (schema_type, text) in [
            (SchemaType::Avro, r#"{"type":"record","name":"r"}"#),
            (SchemaType::Avro, "not json"),
            (SchemaType::Json, r#"{"type": 12}"#),
            (SchemaType::Json, "3"),
            (SchemaType::Json, r#"{"$ref": "https://example.com/schema.json"}"#),
            (SchemaType::Protobuf, "syntax = \"proto3\";"),
        ] {
            match parse_schema(schema_type, text) {
                Err(Error::InvalidSchema { .. }) => {}
                other => panic!("{schema_type} {text}: {other:?}"),
            }
        }
    }
}
