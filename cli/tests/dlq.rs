//! End-to-end tests of `millrace dlq`: records dead-lettered through the
//! engine API (as a pipeline stage would) are listed with provenance and
//! filters, shown in full, redriven with a dry run first and exactly once
//! (a second run appends nothing), and purged only with --yes.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use common::{json_of, millrace, stdout_of, store_with_topic};
use millrace::dlq::FailOutcome;
use millrace::{ReadOptions, Record, Store, StoreOptions};
use predicates::prelude::*;

/// Topic `in` with 5 records; records 1, 2 and 4 dead-lettered by group `g`.
fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, data) = store_with_topic("in", 1);
    let store = Store::open(&data, StoreOptions::default()).unwrap();
    let records: Vec<Record> = (0..5)
        .map(|i| Record::new(format!("payload-{i}")).with_key(b"k".to_vec()))
        .collect();
    store.append("in", 0, &records).unwrap();
    let session = store.init_producer("stage-1").unwrap();
    let read = store.read("in", 0, 0, ReadOptions::default()).unwrap();
    for (i, offset) in [1usize, 2, 4].iter().enumerate() {
        let class = if i == 1 { "Timeout" } else { "ParseError" };
        let outcome = store
            .fail_record(
                (session.producer_id, session.epoch),
                "g",
                "in",
                0,
                &read.records[*offset],
                "transform",
                class,
                &format!("bad record {offset}"),
                1,
            )
            .unwrap();
        assert!(matches!(outcome, FailOutcome::DeadLettered { .. }));
    }
    store.close().unwrap();
    (tmp, data)
}

#[test]
fn list_and_show_with_provenance() {
    let (_tmp, data) = setup();
    let listed = json_of(millrace(&data).args(["dlq", "list", "in", "--json"]));
    assert_eq!(listed["depth"], 3);
    let records = listed["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["source"]["offset"], 1);
    assert_eq!(records[0]["group"], "g");
    assert_eq!(records[0]["stage"], "transform");
    assert_eq!(records[1]["error_class"], "Timeout");
    let filtered = json_of(millrace(&data).args(["dlq", "list", "in", "--error", "ParseError", "--json"]));
    assert_eq!(filtered["records"].as_array().unwrap().len(), 2);
    let none = json_of(millrace(&data).args(["dlq", "list", "in", "--since", "2999-01-01T00:00:00Z", "--json"]));
    assert_eq!(none["records"].as_array().unwrap().len(), 0);
    let recent = json_of(millrace(&data).args(["dlq", "list", "in", "--since", "1h", "--json"]));
    assert_eq!(recent["records"].as_array().unwrap().len(), 3);
    let described = json_of(millrace(&data).args(["topic", "describe", "in", "--json"]));
    assert_eq!(described["dlq_depth"], 3);
    let table = stdout_of(millrace(&data).args(["dlq", "list", "in"]));
    assert!(
        table.contains("DLQ of in: 3 records") && table.contains("in/0@4"),
        "{table}"
    );

    let offset = records[2]["dlq_offset"].as_u64().unwrap().to_string();
    let shown = json_of(millrace(&data).args(["dlq", "show", "in", &offset, "--json"]));
    assert_eq!(shown["value"], "payload-4");
    assert_eq!(shown["key"], "k");
    assert_eq!(shown["error_message"], "bad record 4");
    let text = stdout_of(millrace(&data).args(["dlq", "show", "in", &offset]));
    assert!(text.contains("value:          payload-4"), "{text}");
    millrace(&data)
        .args(["dlq", "show", "in", "999"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("dlq list"));
}

#[test]
fn redrive_dry_run_then_exactly_once() {
    let (_tmp, data) = setup();
    let dry = stdout_of(millrace(&data).args(["dlq", "redrive", "in"]));
    assert!(
        dry.contains("would redrive 3 records") && dry.contains("dry run"),
        "{dry}"
    );
    let count = |data: &std::path::Path| {
        stdout_of(millrace(data).args(["consume", "in", "--format", "value"]))
            .lines()
            .count()
    };
    assert_eq!(count(&data), 5);
    let applied = json_of(millrace(&data).args(["dlq", "redrive", "in", "--execute", "--json"]));
    assert_eq!(applied["redriven"].as_array().unwrap().len(), 3);
    assert_eq!(count(&data), 8);
    let again = json_of(millrace(&data).args(["dlq", "redrive", "in", "--execute", "--json"]));
    assert_eq!(
        again["redriven"].as_array().unwrap().len(),
        0,
        "redrive is not idempotent"
    );
    assert_eq!(count(&data), 8);
    let values = stdout_of(millrace(&data).args(["consume", "in", "--offset", "5", "--format", "value"]));
    assert_eq!(values, "payload-1\npayload-2\npayload-4\n");
}

#[test]
fn purge_needs_yes() {
    let (_tmp, data) = setup();
    let listed = json_of(millrace(&data).args(["dlq", "list", "in", "--json"]));
    let end = listed["end_offset"].as_u64().unwrap().to_string();
    millrace(&data)
        .args(["dlq", "purge", "in", "--up-to", &end])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    let out = stdout_of(millrace(&data).args(["dlq", "purge", "in", "--up-to", &end, "--yes"]));
    assert!(out.contains("purged 3 DLQ records"), "{out}");
    assert!(out.contains("now starts at offset 3"), "{out}");
    millrace(&data).args(["dlq", "list", "nope"]).assert().code(1);
}

#[test]
fn purged_dlq_stays_empty_after_reopen() {
    let (_tmp, data) = setup();
    millrace(&data)
        .args(["dlq", "purge", "in", "--up-to", "3", "--yes"])
        .assert()
        .success();
    let listed = json_of(millrace(&data).args(["dlq", "list", "in", "--json"]));
    assert_eq!(listed["records"].as_array().unwrap().len(), 0, "{listed}");
    assert_eq!(listed["depth"], 0);
}
