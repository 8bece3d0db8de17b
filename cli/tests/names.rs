//! The one name rule (`millrace::names`, design/format.md "Names") through
//! the binary: `topic create` refuses names the data directory uses for
//! itself and the store's own `__*` names, offline and through a server,
//! without creating anything; no command writes or deletes an internal topic.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use common::{json_of, millrace, store_with_topic, Server};
use predicates::prelude::*;

const REFUSED: [&str; 7] = ["x.creating", "x.deleting", "x.tmp", ".hidden", "-x", "__offsets", "__mine"];

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
