//! The engine's `Error::code` is the one table of engine error codes: every
//! engine error kind (the list below is checked complete by an exhaustive
//! `match`) goes on the wire with exactly its `code()`, under the name
//! design/protocol.md's "Error codes" table gives that number, and that name
//! is the variant's own (but for the three kinds that reuse another's code).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use millrace::{CorruptionKind, DamagedScope, DataDirProblem, Error};
use millrace_server::error_code::{ErrorCode, WireError};

use crate::protocol_doc::{protocol_md, table_after};

/// The position of `error`'s kind among the engine's kinds. No wildcard: a
/// new kind does not compile until it gets a number here, and then
/// [`every_engine_error_kind_maps_to_its_documented_code`] fails until
/// [`one_of_each`] holds one of it.
fn kind_index(error: &Error) -> usize {
    match error {
        Error::Io { .. } => 0,
        Error::Corruption { .. } => 1,
        Error::InvalidInput { .. } => 2,
        Error::Poisoned => 3,
        Error::QuotaExceeded { .. } => 4,
        Error::Locked { .. } => 5,
        Error::TopicNotFound(_) => 6,
        Error::TopicExists(_) => 7,
        Error::PartitionNotFound { .. } => 8,
        Error::OffsetOutOfRange { .. } => 9,
        Error::Fenced { .. } => 10,
        Error::OutOfOrderSequence { .. } => 11,
        Error::UnknownProducer { .. } => 12,
        Error::Closed => 13,
        Error::Damaged { .. } => 14,
        Error::FormatTooNew { .. } => 15,
        Error::GroupActive { .. } => 16,
        Error::NoSpace { .. } => 17,
        Error::GroupLimit { .. } => 18,
        Error::SymlinkRefused { .. } => 19,
        Error::NotADataDir { .. } => 20,
        Error::InternalName { .. } => 21,
        Error::ContractViolation { .. } => 22,
        Error::SchemaNotFound { .. } => 23,
        Error::SubjectNotFound { .. } => 24,
        Error::VersionNotFound { .. } => 25,
        Error::IncompatibleSchema { .. } => 26,
        Error::InvalidSchema { .. } => 27,
    }
}

const KINDS: usize = 28;

fn one_of_each() -> Vec<Error> {
    vec![
        Error::Io {
            op: "write",
            path: PathBuf::from("x"),
            source: std::io::Error::other("boom"),
        },
        Error::Corruption {
            segment: PathBuf::from("s"),
            position: 9,
            kind: CorruptionKind::BadMagic,
        },
        Error::InvalidInput {
            what: "w",
            detail: "d".into(),
        },
        Error::Poisoned,
        Error::QuotaExceeded {
            quota_bytes: 1,
            used_bytes: 2,
            requested_bytes: 3,
            topic: None,
        },
        Error::Locked {
            path: PathBuf::from("d"),
            pid: None,
        },
        Error::TopicNotFound("t".into()),
        Error::TopicExists("t".into()),
        Error::PartitionNotFound {
            topic: "t".into(),
            partition: 3,
        },
        Error::OffsetOutOfRange {
            requested: 9,
            start: 0,
            end: 5,
        },
        Error::Fenced {
            producer_id: 1,
            epoch: 2,
            current_epoch: 3,
        },
        Error::OutOfOrderSequence { expected: 4, got: 6 },
        Error::UnknownProducer { producer_id: 7 },
        Error::Closed,
        Error::Damaged {
            scope: DamagedScope::Partition {
                topic: "t".into(),
                partition: 1,
            },
            source: Arc::new(Error::Corruption {
                segment: PathBuf::from("s"),
                position: 0,
                kind: CorruptionKind::BadIndex,
            }),
        },
        Error::FormatTooNew {
            path: PathBuf::from("MILLRACE"),
            found: "9".into(),
            supported: 1,
        },
        Error::GroupActive {
            group: "g".into(),
            idle_ms: 5,
        },
        Error::NoSpace {
            path: PathBuf::from("p"),
            requested_bytes: 4,
        },
        Error::ContractViolation {
            topic: "t".into(),
            partition: 0,
            index: 2,
            rule: "amount.maximum".into(),
            path: "/amount".into(),
            message: "above 100".into(),
            contract_version: 4,
        },
        Error::GroupLimit {
            group: "g".into(),
            groups_max: 3,
        },
        Error::SymlinkRefused {
            op: "open",
            path: PathBuf::from("l"),
        },
        Error::NotADataDir {
            path: PathBuf::from("d"),
            problem: DataDirProblem::NotADirectory,
        },
        Error::InternalName {
            what: "topic",
            name: "__offsets".into(),
        },
        Error::SchemaNotFound { id: 3 },
        Error::SubjectNotFound { subject: "s".into() },
        Error::VersionNotFound {
            subject: "s".into(),
            version: 2,
            not_soft_deleted: false,
        },
        Error::IncompatibleSchema {
            subject: "s".into(),
            messages: vec!["m".into()],
        },
        Error::InvalidSchema {
            schema_type: "AVRO",
            reason: "r".into(),
        },
    ]
}

/// The variant's name, as `Debug` prints it first.
fn variant_name(error: &Error) -> String {
    format!("{error:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

#[test]
fn every_engine_error_kind_maps_to_its_documented_code() {
    let errors = one_of_each();
    let kinds: BTreeSet<usize> = errors.iter().map(kind_index).collect();
    assert_eq!(kinds, (0..KINDS).collect(), "one_of_each holds every kind once");
    assert_eq!(errors.len(), KINDS);

    let documented: Vec<(u16, String)> = table_after(&protocol_md(), "## Error codes")
        .into_iter()
        .filter_map(|row| Some((row[0].parse().ok()?, row[1].clone())))
        .collect();
    let name_of = |code: u16| {
        documented
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| panic!("code {code} is not in protocol.md's table"))
    };
    for error in &errors {
        let code = error.code();
        assert!(
            (1..=millrace_server::error_code::ENGINE_CODE_LAST).contains(&code),
            "{error}: {code}"
        );
        let wire = WireError::from(error);
        assert_eq!(wire.code.code(), code, "{error} goes on the wire with its code()");
        assert!(
            !matches!(wire.code, ErrorCode::OtherEngine(_)),
            "{error}: the server names code {code}"
        );
        // The kinds that reuse another kind's code, as protocol.md says of
        // them nowhere else: an open's refusal is Io, a newer format is
        // InvalidInput, a damaged part answers with what its open returned.
        let expected_name = match error {
            Error::SymlinkRefused { .. } => "Io".to_string(),
            Error::FormatTooNew { .. } => "InvalidInput".to_string(),
            Error::Damaged { source, .. } => variant_name(source),
            other => variant_name(other),
        };
        assert_eq!(name_of(code), expected_name, "{error}");
        assert_eq!(format!("{:?}", wire.code), expected_name, "{error}");
    }
    // Distinct kinds of their own have distinct codes.
    let own: Vec<u16> = errors
        .iter()
        .filter(|e| {
            !matches!(
                e,
                Error::SymlinkRefused { .. } | Error::FormatTooNew { .. } | Error::Damaged { .. }
            )
        })
        .map(Error::code)
        .collect();
    let distinct: BTreeSet<u16> = own.iter().copied().collect();
    assert_eq!(distinct.len(), own.len(), "codes {own:?}");
    // Every engine code protocol.md names belongs to an engine kind.
    for (code, name) in documented.iter().filter(|(c, _)| (1..1000).contains(c)) {
        assert!(
            own.contains(code),
            "protocol.md names engine code {code} ({name}) that no engine error has"
        );
    }
    let fenced = WireError::from(&errors[10]);
    assert_eq!(fenced.details, vec![1, 2, 3]);
}
