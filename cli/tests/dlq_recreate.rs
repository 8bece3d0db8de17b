//! A topic deleted and created again through the binary is a new
//! incarnation: its DLQ starts over at offset 0, and the redrive marks and
//! failure counts of the old one's DLQ must not hide its dead letters from
//! `dlq list` (depth, redriven column) or from `dlq redrive`. Records are
//! dead-lettered through the engine API, as a pipeline stage does (the CLI
//! has no command that fails a record); everything else runs the binary.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use common::{json_of, millrace, stdout_of};
use millrace::dlq::FailOutcome;
use millrace::{ReadOptions, Store, StoreOptions};

/// Fail the record at offset 0 of `a` once for group `g` (max attempts 1).
fn dead_letter_first(data: &std::path::Path) {
    let store = Store::open(data, StoreOptions::default()).unwrap();
    let session = store.init_producer("stage").unwrap();
    let read = store.read("a", 0, 0, ReadOptions::default()).unwrap();
    let outcome = store
        .fail_record(session.id(), "g", "a", 0, &read.records[0], "transform", "E", "bad", 1)
        .unwrap();
    assert!(
        matches!(outcome, FailOutcome::DeadLettered { dlq_offset: 0, .. }),
        "{outcome:?}"
    );
    store.close().unwrap();
}

fn produce(data: &std::path::Path, value: &str) {
    millrace(data)
        .args(["produce", "a"])
        .write_stdin(format!("{value}\n"))
        .assert()
        .success();
}

#[test]
fn recreated_topic_dlq_lists_and_redrives_its_dead_letter() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data).args(["topic", "create", "a"]).assert().success();
    produce(&data, "old");
    dead_letter_first(&data);
    let redriven = json_of(millrace(&data).args(["dlq", "redrive", "a", "--execute", "--json"]));
    assert_eq!(redriven["redriven"].as_array().unwrap().len(), 1, "{redriven}");

    millrace(&data)
        .args(["topic", "delete", "a", "--yes"])
        .assert()
        .success();
    millrace(&data).args(["topic", "create", "a"]).assert().success();
    produce(&data, "new");
    dead_letter_first(&data);

    let listed = json_of(millrace(&data).args(["dlq", "list", "a", "--json"]));
    assert_eq!(listed["depth"], 1, "the new dead letter counts: {listed}");
    let records = listed["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{listed}");
    assert!(records[0]["redriven"].is_null(), "not marked redriven: {listed}");
    let table = stdout_of(millrace(&data).args(["dlq", "list", "a"]));
    assert!(table.contains("DLQ of a: 1 record not yet redriven"), "{table}");
    let described = json_of(millrace(&data).args(["topic", "describe", "a", "--json"]));
    assert_eq!(described["dlq_depth"], 1, "{described}");

    let redriven = json_of(millrace(&data).args(["dlq", "redrive", "a", "--execute", "--json"]));
    assert_eq!(
        redriven["redriven"].as_array().unwrap().len(),
        1,
        "the new dead letter is redriven: {redriven}"
    );
    let consumed = stdout_of(millrace(&data).args(["consume", "a", "--from-earliest"]));
    let lines: Vec<&str> = consumed.lines().collect();
    assert_eq!(lines.len(), 2, "the record and its redriven copy: {consumed}");
    assert!(lines.iter().all(|l| l.contains("\tnew")), "{consumed}");
    let listed = json_of(millrace(&data).args(["dlq", "list", "a", "--json"]));
    assert_eq!(listed["depth"], 0, "{listed}");
}
