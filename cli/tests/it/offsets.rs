//! End-to-end tests of consumer groups from the shell: `consume --group`
//! commits what it printed and resumes there; `offsets show` reports
//! committed/end/lag; `offsets reset` is a dry run that changes nothing until
//! --execute, clamps with a warning, supports every target form, and each
//! applied reset appears in `offsets audit`.

use crate::common;

use common::{json_of, millrace, stdout_of, store_with_topic};
use predicates::prelude::*;

fn committed(data: &std::path::Path, group: &str) -> Vec<serde_json::Value> {
    let shown = json_of(millrace(data).args(["offsets", "show", "--group", group, "--topic", "t", "--json"]));
    shown["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["committed"].clone())
        .collect()
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, data) = store_with_topic("t", 2);
    let input: String = (0..10)
        .map(|i| {
            format!(
                "{{\"value\": \"v{i}\", \"partition\": {}, \"timestamp\": {}}}\n",
                i % 2,
                1000 * (i + 1)
            )
        })
        .collect();
    millrace(&data)
        .args(["produce", "t", "--format", "json"])
        .write_stdin(input)
        .assert()
        .success();
    (tmp, data)
}

#[test]
fn consume_with_a_group_commits_and_resumes() {
    let (_tmp, data) = setup();
    let first =
        stdout_of(millrace(&data).args(["consume", "t", "-g", "g1", "-p", "0", "-n", "3", "--format", "value"]));
    assert_eq!(first, "v0\nv2\nv4\n");
    assert_eq!(committed(&data, "g1"), [serde_json::json!(3), serde_json::Value::Null]);
    let second = stdout_of(millrace(&data).args(["consume", "t", "-g", "g1", "-p", "0", "--format", "value"]));
    assert_eq!(second, "v6\nv8\n");
    // --no-commit reads without moving the group.
    let again = stdout_of(millrace(&data).args(["consume", "t", "-g", "g2", "--no-commit", "--format", "value"]));
    assert_eq!(again.lines().count(), 10);
    let groups = json_of(millrace(&data).args(["offsets", "show", "--json"]));
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["g1"]);
    let table = stdout_of(millrace(&data).args(["offsets", "show", "-g", "g1"]));
    assert!(table.starts_with("TOPIC") && table.contains("COMMITTED"), "{table}");
}

#[test]
fn reset_is_a_dry_run_until_execute_and_is_audited() {
    let (_tmp, data) = setup();
    millrace(&data)
        .args(["consume", "t", "-g", "g", "--format", "value"])
        .assert()
        .success();
    assert_eq!(committed(&data, "g"), [serde_json::json!(5), serde_json::json!(5)]);

    let dry = stdout_of(millrace(&data).args(["offsets", "reset", "-g", "g", "-t", "t", "--to-earliest"]));
    assert!(dry.contains("dry run: nothing changed"), "{dry}");
    assert_eq!(committed(&data, "g"), [serde_json::json!(5), serde_json::json!(5)]);

    let plan = json_of(millrace(&data).args([
        "offsets",
        "reset",
        "-g",
        "g",
        "-t",
        "t:1",
        "--shift-by",
        "-2",
        "--execute",
        "--json",
    ]));
    assert_eq!(plan["applied"], true);
    assert_eq!(plan["entries"][0]["current"], 5);
    assert_eq!(plan["entries"][0]["new"], 3);
    assert_eq!(committed(&data, "g"), [serde_json::json!(5), serde_json::json!(3)]);

    // Clamped with a warning.
    let plan = json_of(millrace(&data).args([
        "offsets",
        "reset",
        "-g",
        "g",
        "-t",
        "t:0",
        "--to-offset",
        "99",
        "--json",
    ]));
    assert_eq!(plan["entries"][0]["new"], 5);
    assert!(plan["entries"][0]["warnings"][0].as_str().unwrap().contains("clamped"));

    // By time: records of partition 0 have timestamps 1000, 3000, 5000, ...
    millrace(&data)
        .args([
            "offsets",
            "reset",
            "-g",
            "g",
            "-t",
            "t:0",
            "--to-datetime",
            "1970-01-01T00:00:04Z",
            "--execute",
        ])
        .assert()
        .success();
    assert_eq!(committed(&data, "g")[0], 2);
    millrace(&data)
        .args([
            "offsets",
            "reset",
            "-g",
            "g",
            "--all-topics",
            "--to-latest",
            "--execute",
        ])
        .assert()
        .success();
    assert_eq!(committed(&data, "g"), [serde_json::json!(5), serde_json::json!(5)]);
    millrace(&data)
        .args([
            "offsets",
            "reset",
            "-g",
            "g",
            "-t",
            "t",
            "--by-duration",
            "P36500D",
            "--execute",
        ])
        .assert()
        .success();
    assert_eq!(committed(&data, "g"), [serde_json::json!(0), serde_json::json!(0)]);

    let audit = json_of(millrace(&data).args(["offsets", "audit", "--group", "g", "--json"]));
    let resets = audit["resets"].as_array().unwrap();
    assert_eq!(resets.len(), 1 + 1 + 2 + 2, "{resets:?}");
    assert_eq!(resets[0]["from"], 5);
    assert_eq!(resets[0]["to"], 3);
    assert_eq!(resets[0]["target"], "shift-by:-2");
}

#[test]
fn reset_usage_errors() {
    let (_tmp, data) = setup();
    millrace(&data)
        .args(["offsets", "reset", "-g", "g", "-t", "t"])
        .assert()
        .code(2);
    millrace(&data)
        .args(["offsets", "reset", "-g", "g", "-t", "t:x", "--to-earliest"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("TOPIC:0,2"));
    millrace(&data)
        .args(["offsets", "reset", "-g", "g", "-t", "t", "--to-earliest", "--to-latest"])
        .assert()
        .code(2);
    millrace(&data)
        .args(["offsets", "reset", "-g", "g", "-t", "nope", "--to-earliest"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not exist"));
}
