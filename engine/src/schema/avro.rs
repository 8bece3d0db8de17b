//! Avro compatibility: whether data written with one schema can be read
//! with another, by the Avro specification's schema resolution
//! (`apache_avro::schema_compatibility`). Only a full resolution counts: a
//! reader that resolves some of what the writer may write (a union narrowed)
//! is incompatible.

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;

/// Why `reader` cannot read everything written with `writer`; `None` if it can.
pub(super) fn cannot_read(writer: &Schema, reader: &Schema) -> Option<String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => None,
        Ok(Compatibility::Partial) => {
            Some("the reader resolves only some of the values the writer may write (a narrowed union)".into())
        }
        Err(e) => Some(e.to_string()),
    }
}
