//! `millrace offsets delete` (issue 27 item 5, issue 23's `group delete`):
//! a deleted group's committed offsets are gone, also for the next process
//! to open the store, the other groups keep theirs, and the deletion is in
//! the reset audit; a group with nothing committed is an error.

use crate::common;

use common::{json_of, millrace, store_with_topic};
use predicates::prelude::*;

fn group_names(data: &std::path::Path) -> Vec<String> {
    let groups = json_of(millrace(data).args(["offsets", "show", "--json"]));
    groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_deleted_group_is_gone_after_restart_and_audited() {
    let (_tmp, data) = store_with_topic("t", 2);
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("a\nb\nc\n")
        .assert()
        .success();
    for group in ["keep", "old"] {
        millrace(&data)
            .args(["consume", "t", "-g", group, "--format", "value"])
            .assert()
            .success();
    }
    assert_eq!(group_names(&data), ["keep", "old"]);
    let deleted = json_of(millrace(&data).args(["offsets", "delete", "--group", "old", "--json"]));
    assert_eq!(deleted["group"], "old");
    assert!(!deleted["deleted"].as_array().unwrap().is_empty(), "{deleted}");
    // Every later command is a new process opening the store again.
    assert_eq!(group_names(&data), ["keep"]);
    let shown = json_of(millrace(&data).args(["offsets", "show", "--group", "old", "--topic", "t", "--json"]));
    for partition in shown["partitions"].as_array().unwrap() {
        assert_eq!(partition["committed"], serde_json::Value::Null, "{shown}");
    }
    let audit = json_of(millrace(&data).args(["offsets", "audit", "--group", "old", "--json"]));
    let entries = audit["resets"].as_array().unwrap();
    assert!(!entries.is_empty(), "{audit}");
    assert!(entries.iter().all(|e| e["target"] == "delete"), "{audit}");
    millrace(&data)
        .args(["offsets", "delete", "--group", "old"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no committed offsets"));
    millrace(&data)
        .args(["offsets", "delete", "--group", "__redrive.t"])
        .assert()
        .failure();
}
