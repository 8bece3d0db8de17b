//! The schema registry through the public API (`Store::schemas`): ids given
//! once and shared by equal schemas, versions per subject, soft and hard
//! deletes, compatibility levels with test vectors per level and type (the
//! transitive trap included), state that survives reopening and compaction,
//! and damage to `__schemas` that costs the registry alone.

use crate::common;
use millrace::schema::{Compatibility, SchemaType, SCHEMAS_TOPIC};
use millrace::{Error, Record, Store, StoreOptions, TopicConfig};

fn avro_record(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"Order","fields":[{fields}]}}"#)
}

const A_STRING: &str = r#"{"name":"a","type":"string"}"#;
const A_INT_DEFAULT: &str = r#"{"name":"a","type":"int","default":0}"#;
const B_INT_DEFAULT: &str = r#"{"name":"b","type":"int","default":0}"#;
const B_INT: &str = r#"{"name":"b","type":"int"}"#;

fn open(data: &std::path::Path) -> Store {
    Store::open(data, StoreOptions::default()).unwrap()
}

#[test]
fn same_schema_same_id_and_version_new_schema_next_version() {
    let dir = common::scratch_dir();
    let store = open(dir.path());
    let registry = store.schemas();
    let v1 = registry
        .register("orders-value", SchemaType::Avro, &avro_record(A_STRING))
        .unwrap();
    assert_eq!((v1.id, v1.version), (1, 1));
    // Same schema, another spelling: the same id and version, nothing new.
    let spaced = format!(" {} ", avro_record(r#"{"type": {"type": "string"}, "name": "a"}"#));
    let again = registry.register("orders-value", SchemaType::Avro, &spaced).unwrap();
    assert_eq!((again.id, again.version), (1, 1));
    // Same schema under another subject: the same id, that subject's version 1.
    let other = registry
        .register("other-value", SchemaType::Avro, &avro_record(A_STRING))
        .unwrap();
    assert_eq!((other.id, other.version), (1, 1));
    // A new schema: a new id, the next version.
    let v2 = registry
        .register(
            "orders-value",
            SchemaType::Avro,
            &avro_record(&format!("{A_STRING},{B_INT_DEFAULT}")),
        )
        .unwrap();
    assert_eq!((v2.id, v2.version), (2, 2));
    assert_eq!(registry.by_id(2).unwrap().unwrap().schema, v2.schema);
    assert_eq!(registry.by_id(3).unwrap(), None);
    assert_eq!(
        registry.subjects_of(1).unwrap(),
        vec![("orders-value".to_string(), 1), ("other-value".to_string(), 1)]
    );
    assert_eq!(registry.version("orders-value", None).unwrap().unwrap().version, 2);
    assert_eq!(registry.version("orders-value", Some(1)).unwrap().unwrap().id, 1);
    assert_eq!(registry.version("nobody", None).unwrap(), None);
    assert_eq!(registry.subjects(false).unwrap(), vec!["orders-value", "other-value"]);
    let found = registry
        .lookup("orders-value", SchemaType::Avro, &avro_record(A_STRING))
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.version), (1, 1));

    // All of it survives a reopen.
    store.close().unwrap();
    let store = open(dir.path());
    let registry = store.schemas();
    assert_eq!(registry.versions("orders-value", false).unwrap(), vec![1, 2]);
    assert_eq!(registry.by_id(1).unwrap().unwrap().schema, avro_record(A_STRING));
    let v3 = registry
        .register(
            "orders-value",
            SchemaType::Avro,
            &avro_record(
                &format!("{A_STRING},{B_INT_DEFAULT},{A_INT_DEFAULT}")
                    .replace(r#""name":"a","type":"int""#, r#""name":"c","type":"int""#),
            ),
        )
        .unwrap();
    assert_eq!((v3.id, v3.version), (3, 3), "ids and versions continue after a reopen");
}

#[test]
fn invalid_schemas_and_names_are_refused_with_typed_errors() {
    let dir = common::scratch_dir();
    let store = open(dir.path());
    let registry = store.schemas();
    for (schema_type, text) in [
        (SchemaType::Avro, r#"{"type":"record"}"#),
        (SchemaType::Json, r#"{"type":"nonsense"}"#),
        (SchemaType::Json, r#"{"$ref":"http://localhost:1/remote.json"}"#),
        (SchemaType::Protobuf, "syntax = \"proto3\"; message M {}"),
    ] {
        assert!(
            matches!(
                registry.register("s", schema_type, text),
                Err(Error::InvalidSchema { .. })
            ),
            "{schema_type} {text}"
        );
    }
    let huge = format!(
        r#"{{"type":"string","description":"{}"}}"#,
        "x".repeat(millrace::schema::SCHEMA_BYTES_MAX)
    );
    assert!(matches!(
        registry.register("s", SchemaType::Json, &huge),
        Err(Error::InvalidSchema { .. })
    ));
    let long = "s".repeat(256);
    assert!(matches!(
        registry.register(&long, SchemaType::Json, "{}"),
        Err(Error::InvalidInput { what: "subject", .. })
    ));
    assert!(matches!(
        registry.register("", SchemaType::Json, "{}"),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(registry.subjects(true).unwrap(), Vec::<String>::new());
}

#[test]
fn soft_then_hard_delete_and_ids_never_reused() {
    let dir = common::scratch_dir();
    let store = open(dir.path());
    let registry = store.schemas();
    registry.set_compatibility(Some("s"), Compatibility::None).unwrap();
    let v1 = registry
        .register("s", SchemaType::Json, r#"{"type":"string"}"#)
        .unwrap();
    let v2 = registry
        .register("s", SchemaType::Json, r#"{"type":"integer"}"#)
        .unwrap();
    // Hard delete only after soft.
    assert!(matches!(
        registry.delete_version("s", Some(2), true),
        Err(Error::VersionNotFound {
            not_soft_deleted: true,
            ..
        })
    ));
    assert_eq!(registry.delete_version("s", None, false).unwrap(), 2);
    assert_eq!(registry.version("s", None).unwrap().unwrap().version, 1);
    assert_eq!(registry.versions("s", true).unwrap(), vec![1, 2]);
    // A soft-deleted version's schema is still there by id.
    assert!(registry.by_id(v2.id).unwrap().is_some());
    assert_eq!(registry.delete_version("s", Some(2), true).unwrap(), 2);
    assert_eq!(registry.by_id(v2.id).unwrap(), None, "no version names it any more");
    assert!(matches!(
        registry.delete_subject("s", true),
        Err(Error::VersionNotFound {
            not_soft_deleted: true,
            ..
        })
    ));
    assert_eq!(registry.delete_subject("s", false).unwrap(), vec![1]);
    assert!(matches!(
        registry.versions("s", false),
        Err(Error::SubjectNotFound { .. })
    ));
    assert_eq!(registry.subjects(true).unwrap(), vec!["s"]);
    assert_eq!(registry.delete_subject("s", true).unwrap(), vec![1]);
    assert_eq!(registry.subjects(true).unwrap(), Vec::<String>::new());
    assert_eq!(registry.by_id(v1.id).unwrap(), None);
    store.close().unwrap();

    // After a reopen (and a compaction, which drops the deleted records):
    // the same schema again gets a new id and the subject's next version.
    let store = open(dir.path());
    store.schemas().compact().unwrap();
    store.close().unwrap();
    let store = open(dir.path());
    let registry = store.schemas();
    let again = registry
        .register("s", SchemaType::Json, r#"{"type":"string"}"#)
        .unwrap();
    assert_eq!(again.id, 3, "ids 1 and 2 are never given out again");
    assert_eq!(
        again.version, 3,
        "versions 1 and 2 of the subject are never given out again"
    );
}

/// (level, earlier schemas, new schema, compatible?).
type Vector = (Compatibility, Vec<String>, String, bool);

fn avro_vectors() -> Vec<Vector> {
    use Compatibility::*;
    let v1 = avro_record(A_STRING);
    let without_a = avro_record(r#"{"name":"z","type":"string","default":""}"#);
    let a_int = avro_record(&format!(
        r#"{{"name":"z","type":"string","default":""}},{A_INT_DEFAULT}"#
    ));
    let added_default = avro_record(&format!("{A_STRING},{B_INT_DEFAULT}"));
    let added_required = avro_record(&format!("{A_STRING},{B_INT}"));
    vec![
        // Adding a field with a default: backward (the new reader fills it)
        // and forward (the old reader skips it).
        (Backward, vec![v1.clone()], added_default.clone(), true),
        (Forward, vec![v1.clone()], added_default.clone(), true),
        (Full, vec![v1.clone()], added_default.clone(), true),
        // Adding a field without a default: the new reader cannot read old data.
        (Backward, vec![v1.clone()], added_required.clone(), false),
        (Forward, vec![v1.clone()], added_required.clone(), true),
        (Full, vec![v1.clone()], added_required.clone(), false),
        (None, vec![v1.clone()], added_required.clone(), true),
        // Removing a field without a default: the old reader misses it.
        (Backward, vec![added_required.clone()], v1.clone(), true),
        (Forward, vec![added_required.clone()], v1.clone(), false),
        // A type change: int → long is a promotion, string → int is not.
        (
            Backward,
            vec![avro_record(r#"{"name":"n","type":"int"}"#)],
            avro_record(r#"{"name":"n","type":"long"}"#),
            true,
        ),
        (
            Forward,
            vec![avro_record(r#"{"name":"n","type":"int"}"#)],
            avro_record(r#"{"name":"n","type":"long"}"#),
            false,
        ),
        (
            Backward,
            vec![v1.clone()],
            avro_record(r#"{"name":"a","type":"int"}"#),
            false,
        ),
        // The transitive trap: a deleted in v2, re-added with another type in v3.
        (Backward, vec![v1.clone(), without_a.clone()], a_int.clone(), true),
        (
            BackwardTransitive,
            vec![v1.clone(), without_a.clone()],
            a_int.clone(),
            false,
        ),
        (
            ForwardTransitive,
            vec![v1.clone(), without_a.clone()],
            a_int.clone(),
            false,
        ),
        (
            FullTransitive,
            vec![v1.clone(), without_a.clone()],
            a_int.clone(),
            false,
        ),
        (
            FullTransitive,
            vec![v1.clone(), added_default.clone()],
            avro_record(&format!(
                "{A_STRING},{B_INT_DEFAULT},{}",
                r#"{"name":"c","type":"string","default":""}"#
            )),
            true,
        ),
    ]
}

fn json_vectors() -> Vec<Vector> {
    use Compatibility::*;
    let closed = |props: &str, required: &str| {
        format!(r#"{{"type":"object","properties":{{{props}}},"required":[{required}],"additionalProperties":false}}"#)
    };
    let open = |props: &str| format!(r#"{{"type":"object","properties":{{{props}}}}}"#);
    let a_string = r#""a":{"type":"string"}"#;
    let a_int = r#""a":{"type":"integer"}"#;
    let b_string = r#""b":{"type":"string","maxLength":10}"#;
    vec![
        // Closed model: adding an optional property is backward (the new
        // reader takes old records) but not forward (the old reader refuses b).
        (
            Backward,
            vec![closed(a_string, "")],
            closed(&format!("{a_string},{b_string}"), ""),
            true,
        ),
        (
            Forward,
            vec![closed(a_string, "")],
            closed(&format!("{a_string},{b_string}"), ""),
            false,
        ),
        (
            Full,
            vec![closed(a_string, "")],
            closed(&format!("{a_string},{b_string}"), ""),
            false,
        ),
        (
            None,
            vec![closed(a_string, "")],
            closed(&format!("{a_string},{b_string}"), ""),
            true,
        ),
        // Open model: adding a constrained property is not backward (an old
        // record may hold any b), but forward.
        (
            Backward,
            vec![open(a_string)],
            open(&format!("{a_string},{b_string}")),
            false,
        ),
        (
            Forward,
            vec![open(a_string)],
            open(&format!("{a_string},{b_string}")),
            true,
        ),
        // Making a property required: not backward.
        (Backward, vec![closed(a_string, "")], closed(a_string, r#""a""#), false),
        (Forward, vec![closed(a_string, "")], closed(a_string, r#""a""#), true),
        // Widening a type (integer → number) and loosening bounds: backward.
        (Backward, vec![open(a_int)], open(r#""a":{"type":"number"}"#), true),
        (Backward, vec![open(r#""a":{"type":"number"}"#)], open(a_int), false),
        (
            Backward,
            vec![open(r#""a":{"type":"string","maxLength":5}"#)],
            open(r#""a":{"type":"string","maxLength":9}"#),
            true,
        ),
        (
            Backward,
            vec![open(r#""a":{"type":"string","maxLength":9}"#)],
            open(r#""a":{"type":"string","maxLength":5}"#),
            false,
        ),
        (
            Backward,
            vec![open(r#""a":{"enum":["x","y"]}"#)],
            open(r#""a":{"enum":["x","y","z"]}"#),
            true,
        ),
        (
            Forward,
            vec![open(r#""a":{"enum":["x","y"]}"#)],
            open(r#""a":{"enum":["x","y","z"]}"#),
            false,
        ),
        (
            Backward,
            vec![open(r#""a":{"type":"integer","minimum":0,"maximum":10}"#)],
            open(r#""a":{"type":"integer","minimum":-5}"#),
            true,
        ),
        (
            Backward,
            vec![open(r#""a":{"type":"integer","minimum":0}"#)],
            open(r#""a":{"type":"integer","minimum":1}"#),
            false,
        ),
        // Nullable through oneOf (disjoint types) and a local $ref.
        (
            Backward,
            vec![open(a_string)],
            open(r#""a":{"oneOf":[{"type":"null"},{"type":"string"}]}"#),
            true,
        ),
        (
            Backward,
            vec![open(a_string)],
            format!(
                r##"{{"type":"object","properties":{{"a":{{"$ref":"#/$defs/s"}}}},"$defs":{{"s":{{"type":"string"}}}}}}"##
            ),
            true,
        ),
        // What the checker cannot prove is incompatible.
        (
            Backward,
            vec![open(a_string)],
            open(r#""a":{"not":{"type":"integer"}}"#),
            false,
        ),
        // The transitive trap, closed models: a deleted in v2, re-added as integer in v3.
        (
            Backward,
            vec![closed(a_string, ""), closed("", "")],
            closed(a_int, ""),
            true,
        ),
        (
            BackwardTransitive,
            vec![closed(a_string, ""), closed("", "")],
            closed(a_int, ""),
            false,
        ),
        (
            FullTransitive,
            vec![closed(a_string, ""), closed("", "")],
            closed(a_int, ""),
            false,
        ),
        (
            ForwardTransitive,
            vec![closed(a_string, ""), closed(a_string, "")],
            closed(a_string, ""),
            true,
        ),
    ]
}

fn run_vectors(schema_type: SchemaType, vectors: Vec<Vector>) {
    let dir = common::scratch_dir();
    let store = open(dir.path());
    let registry = store.schemas();
    for (i, (level, earlier, new, compatible)) in vectors.into_iter().enumerate() {
        let subject = format!("vector-{i}");
        registry.set_compatibility(Some(&subject), Compatibility::None).unwrap();
        for schema in &earlier {
            registry.register(&subject, schema_type, schema).unwrap();
        }
        registry.set_compatibility(Some(&subject), level).unwrap();
        let report = registry.check_compatibility(&subject, schema_type, &new, None).unwrap();
        assert_eq!(
            report.compatible, compatible,
            "{schema_type} vector {i} ({level}): {earlier:?} then {new}: {:?}",
            report.messages
        );
        assert_eq!(
            report.messages.is_empty(),
            compatible,
            "vector {i}: reasons iff incompatible"
        );
        match registry.register(&subject, schema_type, &new) {
            Ok(v) => assert!(compatible, "vector {i} registered as version {}", v.version),
            Err(Error::IncompatibleSchema { messages, .. }) => {
                assert!(!compatible, "vector {i} refused: {messages:?}");
                assert!(!messages.is_empty());
            }
            Err(e) => panic!("vector {i}: {e}"),
        }
    }
}

#[test]
fn avro_compatibility_vectors_per_level() {
    run_vectors(SchemaType::Avro, avro_vectors());
}

#[test]
fn json_schema_compatibility_vectors_per_level() {
    run_vectors(SchemaType::Json, json_vectors());
}

#[test]
fn levels_global_and_per_subject_survive_reopen() {
    let dir = common::scratch_dir();
    let store = open(dir.path());
    let registry = store.schemas();
    assert_eq!(registry.compatibility(None).unwrap(), Compatibility::Backward);
    registry.set_compatibility(None, Compatibility::Full).unwrap();
    registry
        .set_compatibility(Some("s"), Compatibility::ForwardTransitive)
        .unwrap();
    assert_eq!(registry.compatibility(Some("t")).unwrap(), Compatibility::Full);
    store.close().unwrap();
    let store = open(dir.path());
    let registry = store.schemas();
    assert_eq!(
        registry.compatibility(Some("s")).unwrap(),
        Compatibility::ForwardTransitive
    );
    assert_eq!(registry.compatibility(Some("t")).unwrap(), Compatibility::Full);
    assert_eq!(
        registry.clear_compatibility(Some("s")).unwrap(),
        Compatibility::ForwardTransitive
    );
    assert_eq!(registry.compatibility(Some("s")).unwrap(), Compatibility::Full);
    registry.clear_compatibility(None).unwrap();
    assert_eq!(registry.compatibility(Some("s")).unwrap(), Compatibility::Backward);
    assert_eq!(registry.configured_compatibility(None).unwrap(), None);
}

#[test]
fn compaction_keeps_the_log_bounded_and_the_state_whole() {
    let dir = common::scratch_dir();
    let store = open(dir.path());
    let registry = store.schemas();
    registry
        .register("s", SchemaType::Json, r#"{"type":"string"}"#)
        .unwrap();
    let levels = [Compatibility::Full, Compatibility::None];
    for i in 0..3000 {
        registry.set_compatibility(Some("s"), levels[i % 2]).unwrap();
    }
    let (start, end) = store.offsets(SCHEMAS_TOPIC, 0).unwrap();
    assert!(end - start < 1100, "compacted: {start}..{end}");
    store.close().unwrap();
    let store = open(dir.path());
    let registry = store.schemas();
    assert_eq!(registry.compatibility(Some("s")).unwrap(), Compatibility::None);
    assert_eq!(registry.version("s", Some(1)).unwrap().unwrap().id, 1);
    assert_eq!(
        registry
            .register("s", SchemaType::Json, r#"{"type":"integer"}"#)
            .unwrap()
            .id,
        2
    );
}

#[test]
fn damage_in_the_schemas_log_costs_the_registry_alone() {
    let dir = common::scratch_dir();
    let data = dir.path();
    let store = open(data);
    store.create_topic("orders", TopicConfig::with_partitions(1)).unwrap();
    store.append("orders", 0, &[Record::new("kept")]).unwrap();
    let registry = store.schemas();
    registry
        .register("a", SchemaType::Json, r#"{"type":"string"}"#)
        .unwrap();
    registry
        .register("b", SchemaType::Json, r#"{"type":"integer"}"#)
        .unwrap();
    store.close().unwrap();
    // Flip a byte inside the first of the two batches: corruption in the
    // middle of the log, not a torn tail.
    let log = common::log_path(data, SCHEMAS_TOPIC, 0, 0);
    let mut bytes = std::fs::read(&log).unwrap();
    let layout = common::batch_layout(&bytes);
    assert_eq!(layout.len(), 2);
    bytes[layout[0].0 + 40] ^= 0xff;
    std::fs::write(&log, &bytes).unwrap();

    let store = open(data);
    assert_eq!(common::read_partition(&store, "orders", 0)[0].value, b"kept");
    let error = store.schemas().by_id(1).unwrap_err();
    assert!(
        error.to_string().contains(SCHEMAS_TOPIC),
        "the error names the registry's log: {error}"
    );
    let error = store.schemas().register("c", SchemaType::Json, "{}").unwrap_err();
    assert!(error.to_string().contains(SCHEMAS_TOPIC), "{error}");
}
