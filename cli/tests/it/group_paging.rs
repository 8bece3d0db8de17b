//! Listings and group deletion through a live `millrace serve` (issue 27
//! item 5, issue 23's `group delete`): `offsets show --server` lists every
//! one of 2,500 groups (more than a page), `topic list --server` every
//! topic when the frame holds only a few names per page, and
//! `group delete` / `offsets delete --server` delete a group with an admin
//! token (refused while active unless --force, refused for `__*` groups and
//! for a consume token), audited under the token's name; `group` is in
//! `--help`.

use crate::common;

use common::{json_of, millrace, write_private, Server};
use millrace::{Store, StoreOptions, TopicConfig};
use predicates::prelude::*;

const ADMIN: &str = "admin-token-0123456789";
const APP: &str = "app-token-0123456789";

/// A server config with the smallest frame (4 KiB: about 3 KiB of names per page).
fn small_frames(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("server.toml");
    write_private(&config, "frame_bytes_max = 4096\n");
    config
}

/// One partition whose records fit in a fetch under 4 KiB frames (else the
/// server refuses to start over it).
fn small_records() -> TopicConfig {
    TopicConfig {
        record_bytes_max: 1024,
        ..TopicConfig::with_partitions(1)
    }
}

#[test]
fn offsets_show_over_the_server_lists_all_2500_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = Store::open(&data, StoreOptions::default()).unwrap();
    store.create_topic("t", small_records()).unwrap();
    let groups: Vec<String> = (0..2_500).map(|i| format!("g{i:05}")).collect();
    for group in &groups {
        store.commit_offset(group, "t", 0, 0, b"").unwrap();
    }
    store.close().unwrap();
    // 4 KiB frames: 2,500 names (25 KB) take several pages.
    let server = Server::start(&data, &["--config", small_frames(tmp.path()).to_str().unwrap()]);
    let shown = json_of(server.millrace().args(["offsets", "show", "--json"]));
    let listed: Vec<String> = shown["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, groups);
    assert!(server.stop());
}

#[test]
fn topic_list_over_the_server_walks_every_page() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = Store::open(&data, StoreOptions::default()).unwrap();
    // 190-byte names: about 15 per page in a 4 KiB frame.
    let topics: Vec<String> = (0..40).map(|i| format!("{i:03}{}", "t".repeat(187))).collect();
    for topic in &topics {
        store.create_topic(topic, small_records()).unwrap();
    }
    store.close().unwrap();
    let server = Server::start(&data, &["--config", small_frames(tmp.path()).to_str().unwrap()]);
    let listed = json_of(server.millrace().args(["topic", "list", "--json"]));
    let names: Vec<String> = listed["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, topics);
    assert!(server.stop());
}

#[test]
fn group_delete_over_the_server_needs_admin_and_is_audited_under_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("tokens.toml");
    write_private(
        &config,
        &format!(
            "[[tokens]]\nname = \"ops\"\ntoken = \"{ADMIN}\"\npermissions = [\"admin\"]\n\n\
             [[tokens]]\nname = \"app\"\ntoken = \"{APP}\"\npermissions = [\"produce\", \"consume\"]\ngroups = [\"app-*\"]\n"
        ),
    );
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let as_admin = || {
        let mut cmd = server.millrace();
        cmd.env("MILLRACE_TOKEN", ADMIN);
        cmd
    };
    let as_app = || {
        let mut cmd = server.millrace();
        cmd.env("MILLRACE_TOKEN", APP);
        cmd
    };
    as_admin().args(["topic", "create", "t", "-p", "2"]).assert().success();
    as_app().args(["produce", "t"]).write_stdin("a\nb\n").assert().success();
    for group in ["app-old", "app-keep"] {
        as_app()
            .args(["consume", "t", "-g", group, "--format", "value"])
            .assert()
            .success();
    }
    // The consume token's `groups` cover it, but deleting needs admin.
    as_app()
        .args(["group", "delete", "--group", "app-old", "--force"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("may not call DeleteGroup"));
    // Its consumer committed just now: active.
    as_admin()
        .args(["group", "delete", "--group", "app-old"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("active"));
    as_admin()
        .args(["offsets", "delete", "--group", "__redrive.t", "--force"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("__redrive.t"));
    let deleted = json_of(as_admin().args(["group", "delete", "--group", "app-old", "--force", "--json"]));
    assert_eq!(deleted["group"], "app-old");
    assert!(!deleted["deleted"].as_array().unwrap().is_empty(), "{deleted}");
    // `offsets delete --server` is the same request: nothing left now.
    as_admin()
        .args(["offsets", "delete", "--group", "app-old", "--force"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no committed offsets"));
    let shown = json_of(as_admin().args(["offsets", "show", "--json"]));
    let groups: Vec<&str> = shown["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["app-keep"]);
    let audit = json_of(as_admin().args(["offsets", "audit", "--group", "app-old", "--json"]));
    let entries = audit["resets"].as_array().unwrap();
    assert!(!entries.is_empty(), "{audit}");
    for entry in entries {
        assert_eq!(entry["target"], "delete");
        assert!(entry["actor"].as_str().unwrap().starts_with("ops@"), "{entry}");
    }
    assert!(server.stop());
}

#[test]
fn group_delete_is_in_the_help() {
    let tmp = tempfile::tempdir().unwrap();
    millrace(tmp.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("group").and(predicate::str::contains("offsets delete")));
    millrace(tmp.path())
        .args(["group", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("delete"));
    millrace(tmp.path())
        .args(["offsets", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("alias: `group delete`"));
}
