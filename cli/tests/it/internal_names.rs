//! The one name rule (`millrace::names`, design/format.md "Names") through
//! the binary: `topic create` refuses names the data directory uses for
//! itself and the store's own `__*` names, offline and through a server,
//! without creating anything; no command writes or deletes an internal topic;
//! `replay` still moves its own group `__replay.<job>`, offline and through a
//! server (the explicit replay path).

use crate::common;

use common::{json_of, millrace, stdout_of, store_with_topic, Server};
use predicates::prelude::*;

const REFUSED: [&str; 7] = [
    "x.creating",
    "x.deleting",
    "x.tmp",
    ".hidden",
    "-x",
    "__offsets",
    "__mine",
];

#[test]
fn topic_create_refuses_names_the_store_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for name in REFUSED {
        millrace(&data)
            .args(["topic", "create", "--", name])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(name));
    }
    assert!(!data.exists(), "a refused name must not create the data directory");
    millrace(&data).args(["topic", "create", "x"]).assert().success();
    let listed = json_of(millrace(&data).args(["--json", "topic", "list"]));
    assert_eq!(listed["topics"].as_array().unwrap().len(), 1, "{listed}");

    let server = Server::start(&data, &[]);
    for name in REFUSED {
        server
            .millrace()
            .args(["topic", "create", "--", name])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(name));
    }
    assert!(server.stop());
    // Nothing appeared or vanished across the restart.
    let listed = json_of(millrace(&data).args(["--json", "topic", "list"]));
    assert_eq!(listed["topics"].as_array().unwrap().len(), 1, "{listed}");
}

#[test]
fn no_command_writes_or_deletes_an_internal_topic() {
    let (_tmp, data) = store_with_topic("in", 1);
    millrace(&data)
        .args(["consume", "in", "--group", "g", "--from-earliest"])
        .assert()
        .success();
    millrace(&data)
        .args(["produce", "__offsets"])
        .write_stdin("forged\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("internal"));
    millrace(&data)
        .args(["topic", "delete", "__offsets", "--yes"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("internal"));
    millrace(&data).args(["check"]).assert().success();
}

#[test]
fn replay_moves_its_own_group_offline_and_through_a_server() {
    let (_tmp, data) = store_with_topic("src", 1);
    millrace(&data).args(["topic", "create", "dst"]).assert().success();
    let input: String = (0..100).map(|i| format!("r{i}\n")).collect();
    millrace(&data)
        .args(["produce", "src"])
        .write_stdin(input)
        .assert()
        .success();
    let first = json_of(millrace(&data).args(["replay", "src", "dst", "--max-records", "30", "--json"]));
    assert_eq!(first["copied"], 30);
    let server = Server::start(&data, &[]);
    let second = json_of(
        server
            .millrace()
            .args(["replay", "src", "dst", "--max-records", "30", "--json"]),
    );
    assert_eq!(second["copied"], 30);
    assert!(server.stop());
    let third = json_of(millrace(&data).args(["replay", "src", "dst", "--json"]));
    assert_eq!(third["copied"], 40);
    let values: Vec<String> = stdout_of(millrace(&data).args(["consume", "dst", "--format", "value"]))
        .lines()
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = (0..100).map(|i| format!("r{i}")).collect();
    assert_eq!(values, expected);
}
