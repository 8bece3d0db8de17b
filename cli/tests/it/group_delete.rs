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

/// The committed offset of `group` on each partition of `topic`, in order.
fn committed_of(data: &std::path::Path, group: &str, topic: &str) -> Vec<Option<u64>> {
    let shown = json_of(millrace(data).args(["offsets", "show", "--group", group, "--topic", topic, "--json"]));
    shown["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["committed"].as_u64())
        .collect()
}

/// Issue 23: `offsets delete --group G --topic T` removes only the group's
/// offsets on T (every partition), keeps its offsets on other topics and
/// other groups' on T, after a restart too, and is audited per partition;
/// through the server it is refused while the group is active unless
/// --force, with the token's name in the audit.
#[test]
fn offsets_delete_of_one_topic_keeps_the_rest_and_is_audited() {
    let (tmp, data) = store_with_topic("t", 2);
    millrace(&data).args(["topic", "create", "u"]).assert().success();
    for topic in ["t", "u"] {
        millrace(&data)
            .args(["produce", topic])
            .write_stdin("a\nb\nc\nd\n")
            .assert()
            .success();
        for group in ["g", "other"] {
            millrace(&data)
                .args(["consume", topic, "-g", group, "--format", "value"])
                .assert()
                .success();
        }
    }
    let before = committed_of(&data, "g", "t").iter().flatten().count();
    assert!(before >= 1, "g committed on t");
    let other_before = committed_of(&data, "other", "t");
    let deleted = json_of(millrace(&data).args(["offsets", "delete", "--group", "g", "--topic", "t", "--json"]));
    assert_eq!(deleted["topic"], "t", "{deleted}");
    let removed = deleted["deleted"].as_array().unwrap();
    assert_eq!(removed.len(), before, "{deleted}");
    assert!(removed.iter().all(|r| r["topic"] == "t"), "{deleted}");
    // A new process: g has nothing on t, keeps u; `other` keeps t.
    assert_eq!(committed_of(&data, "g", "t"), [None, None]);
    assert_eq!(committed_of(&data, "g", "u"), [Some(4)]);
    assert_eq!(committed_of(&data, "other", "t"), other_before);
    assert_eq!(group_names(&data), ["g", "other"]);
    let audit = json_of(millrace(&data).args(["offsets", "audit", "--group", "g", "--json"]));
    let entries = audit["resets"].as_array().unwrap();
    assert_eq!(entries.len(), before, "{audit}");
    for entry in entries {
        assert_eq!(entry["target"], "delete", "{entry}");
        assert_eq!(entry["topic"], "t", "{entry}");
    }
    // Again: nothing left on t, an error that names the topic.
    millrace(&data)
        .args(["offsets", "delete", "--group", "g", "--topic", "t"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no committed offsets on topic \"t\""));

    // Through the server: a commit just now makes g active.
    let server = common::Server::start(&data, &[]);
    server
        .millrace()
        .args(["produce", "u"])
        .write_stdin("e\n")
        .assert()
        .success();
    server
        .millrace()
        .args(["consume", "u", "-g", "g", "--format", "value"])
        .assert()
        .success()
        .stdout("e\n");
    server
        .millrace()
        .args(["offsets", "delete", "--group", "g", "--topic", "u"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("active"));
    assert_eq!(
        json_of(server.millrace().args(["offsets", "audit", "--group", "g", "--json"]))["resets"]
            .as_array()
            .unwrap()
            .len(),
        before,
        "a refused delete is not audited"
    );
    server
        .millrace()
        .args(["group", "delete", "--group", "g", "--topic", "u", "--force"])
        .assert()
        .success()
        .stdout(predicate::str::contains("on topic \"u\": 1 committed offset removed"));
    let audit = json_of(server.millrace().args(["offsets", "audit", "--group", "g", "--json"]));
    let last = audit["resets"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["topic"].as_str(), last["target"].as_str()),
        (Some("u"), Some("delete")),
        "{audit}"
    );
    assert!(server.stop());
    // `other` still has both topics; g has nothing left anywhere.
    assert_eq!(group_names(&data), ["other"]);
    drop(tmp);
}
