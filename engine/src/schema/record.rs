//! The records of `__schemas` (design/format.md "Schema registry record"):
//! each is one change, CRC-sealed; replaying them in order rebuilds the
//! registry. Layout: `u8 format (1)`, `u8 kind`, the kind's fields, `u32 crc`.

use super::compat::Compatibility;
use super::SchemaType;
use crate::codec::{Decoder, Encoder};

const FORMAT: u8 = 1;

/// One change to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SchemaRecord {
    /// Kind 1: schema `id` has this type and text (written once per id,
    /// again by a compaction).
    Schema {
        id: u32,
        schema_type: SchemaType,
        text: String,
    },
    /// Kind 2: `version` of `subject` names schema `id`; `deleted` = soft-deleted.
    Version {
        subject: String,
        version: u32,
        id: u32,
        deleted: bool,
    },
    /// Kind 3: `version` of `subject` is deleted for good.
    VersionGone { subject: String, version: u32 },
    /// Kind 4: the compatibility level of `subject` (empty = global), or
    /// `None`: back to the default (global) or to the global level (subject).
    Config {
        subject: String,
        level: Option<Compatibility>,
    },
    /// Kind 5: every id below `next_id` was given out (written by a
    /// compaction, which may leave out the schemas of deleted versions).
    IdFloor { next_id: u32 },
    /// Kind 6: every version of `subject` below `next_version` was given
    /// out (written by a compaction).
    VersionFloor { subject: String, next_version: u32 },
}

impl SchemaRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(FORMAT);
        match self {
            SchemaRecord::Schema { id, schema_type, text } => {
                e.u8(1).u32(*id).u8(schema_type.code()).long_bytes(text.as_bytes());
            }
            SchemaRecord::Version {
                subject,
                version,
                id,
                deleted,
            } => {
                e.u8(2).short_str(subject).u32(*version).u32(*id).u8(u8::from(*deleted));
            }
            SchemaRecord::VersionGone { subject, version } => {
                e.u8(3).short_str(subject).u32(*version);
            }
            SchemaRecord::Config { subject, level } => {
                e.u8(4).short_str(subject).u8(level.map_or(0, Compatibility::code));
            }
            SchemaRecord::IdFloor { next_id } => {
                e.u8(5).u32(*next_id);
            }
            SchemaRecord::VersionFloor { subject, next_version } => {
                e.u8(6).short_str(subject).u32(*next_version);
            }
        }
        e.seal_with_crc()
    }

    /// The record in `bytes`, or `None` if it does not decode (a bad CRC, an
    /// unknown format or kind, a field out of range, bytes left over).
    pub(crate) fn decode(bytes: &[u8]) -> Option<SchemaRecord> {
        let mut d = Decoder::with_crc(bytes)?;
        if d.u8()? != FORMAT {
            return None;
        }
        let record = match d.u8()? {
            1 => {
                let id = d.u32()?;
                let schema_type = SchemaType::from_code(d.u8()?)?;
                let text = String::from_utf8(d.long_bytes()?).ok()?;
                SchemaRecord::Schema { id, schema_type, text }
            }
            2 => SchemaRecord::Version {
                subject: d.short_str()?,
                version: d.u32()?,
                id: d.u32()?,
                deleted: match d.u8()? {
                    0 => false,
                    1 => true,
                    _ => return None,
                },
            },
            3 => SchemaRecord::VersionGone {
                subject: d.short_str()?,
                version: d.u32()?,
            },
            4 => {
                let subject = d.short_str()?;
                let level = match d.u8()? {
                    0 => None,
                    code => Some(Compatibility::from_code(code)?),
                };
                SchemaRecord::Config { subject, level }
            }
            5 => SchemaRecord::IdFloor { next_id: d.u32()? },
            6 => SchemaRecord::VersionFloor {
                subject: d.short_str()?,
                next_version: d.u32()?,
            },
            _ => return None,
        };
        d.is_empty().then_some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_a_cut_one_does_not_decode() {
        let records = [
            SchemaRecord::Schema {
                id: 7,
                schema_type: SchemaType::Json,
                text: "{}".into(),
            },
            SchemaRecord::Version {
                subject: "s".into(),
                version: 2,
                id: 7,
                deleted: true,
            },
            SchemaRecord::VersionGone {
                subject: "s".into(),
                version: 2,
            },
            SchemaRecord::Config {
                subject: String::new(),
                level: Some(Compatibility::FullTransitive),
            },
            SchemaRecord::Config {
                subject: "s".into(),
                level: None,
            },
            SchemaRecord::IdFloor { next_id: 9 },
            SchemaRecord::VersionFloor {
                subject: "s".into(),
                next_version: 4,
            },
        ];
        for record in records {
            let bytes = record.encode();
            assert_eq!(SchemaRecord::decode(&bytes), Some(record));
            assert_eq!(
                SchemaRecord::decode(bytes.get(..bytes.len() - 1).unwrap_or_default()),
                None
            );
        }
    }
}
