//! Replays `fuzz/corpus/schema_compat` through the `schema_compat` fuzz
//! target's check (`millrace::schema::fuzz::compat`): pairs of Avro and JSON
//! schemas (recursive and mutually recursive ones, `$ref` cycles, a remote
//! `$ref`, backtracking-shaped patterns, deep nesting) through parsing and
//! every compatibility level never panic and stay bounded; the seeds of a
//! known verdict keep it.

use std::path::Path;

#[test]
fn the_schema_compat_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/schema_compat");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 15, "{} seeds", files.len());
    let mut verdicts = std::collections::BTreeMap::new();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // A thread with the default test stack: deep schemas must not need more.
        let found = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || millrace::schema::fuzz::compat(&bytes))
            .unwrap()
            .join()
            .unwrap_or_else(|_| panic!("{name} panicked"));
        verdicts.insert(name, found);
    }
    let verdict = |name: &str| *verdicts.get(name).unwrap_or_else(|| panic!("seed {name} missing"));
    // Compatible both ways at no level: nothing found.
    assert_eq!(
        verdict("avro_promote_int_long").map(|n| n > 0),
        Some(true),
        "int -> long is not FORWARD"
    );
    assert_eq!(verdict("avro_add_field_no_default").map(|n| n > 0), Some(true));
    assert_eq!(verdict("avro_union_narrowed").map(|n| n > 0), Some(true));
    assert_eq!(
        verdict("json_recursive_ref").map(|n| n > 0),
        Some(true),
        "number is not FORWARD of integer"
    );
    // A remote `$ref` never compiles (it is never fetched), nor does a broken text.
    assert_eq!(verdict("json_remote_ref"), None);
    assert_eq!(verdict("not_a_schema"), None);
    // The recursive Avro schemas and the JSON `$ref` cycle are judged, not refused.
    assert!(verdict("avro_recursive_list").is_some());
    assert!(verdict("avro_mutual_recursion").is_some());
}
