//! Replays `fuzz/corpus/contract_check` through the `contract_check` fuzz
//! target's check (`millrace::contract::fuzz::check`): arbitrary contract
//! YAML, schemas and records never panic, a ReDoS-shaped pattern, a
//! recursive JSON Schema `$ref`, a remote `$ref` and a self-referring Avro
//! schema stay bounded; the seeds with broken records find violations.

use std::path::Path;

#[test]
fn the_contract_check_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/contract_check");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 8, "{} seeds", files.len());
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // A thread with the default test stack: deep values must not need more.
        let found = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || millrace::contract::fuzz::check(&bytes))
            .unwrap()
            .join()
            .unwrap_or_else(|_| panic!("{name} panicked"));
        let expect_violations = matches!(
            name.as_str(),
            "plain_rules" | "json_schema_recursive_ref" | "json_schema_remote_ref" | "avro_recursive" | "avro_flat"
        );
        if expect_violations {
            assert!(found > 0, "{name}: no violation found");
        } else if name == "bad_yaml" || name == "unknown_key" {
            assert_eq!(found, 0, "{name}: the contract must not even parse");
        }
    }
}
