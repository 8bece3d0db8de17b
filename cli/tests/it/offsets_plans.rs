//! Reviewed reset plans and `--to-current` (issue 23): `offsets reset ...
//! --export FILE` writes the plan (JSON, or CSV for a .csv name) and changes
//! nothing; `offsets reset --from-file FILE --execute` applies exactly it,
//! audited, and refuses a plan the group or the partitions moved away from;
//! a kafka-consumer-groups CSV (`topic,partition,offset`) is read too.
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

/// Topic `t`: 2 partitions of 5 records; group g1 committed 3 on partition 0.
fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, data) = store_with_topic("t", 2);
    let input: String = (0..10)
        .map(|i| format!("{{\"value\": \"v{i}\", \"partition\": {}}}\n", i % 2))
        .collect();
    millrace(&data)
        .args(["produce", "t", "--format", "json"])
        .write_stdin(input)
        .assert()
        .success();
    stdout_of(millrace(&data).args(["consume", "t", "-g", "g1", "-p", "0", "-n", "3"]));
    (tmp, data)
}

#[test]
fn an_exported_plan_is_applied_exactly_and_refused_once_stale() {
    let (tmp, data) = setup();
    let plan = tmp.path().join("plan.json");
    let plan_arg = plan.to_str().unwrap();
    millrace(&data)
        .args([
            "offsets",
            "reset",
            "-g",
            "g1",
            "-t",
            "t",
            "--to-earliest",
            "--export",
            plan_arg,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("plan written to"));
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(written["group"], "g1");
    assert_eq!(written["entries"].as_array().unwrap().len(), 2);
    assert_eq!(written["entries"][0]["current"], 3);
    assert_eq!(written["entries"][0]["new"], 0);
    assert_eq!(committed(&data, "g1"), [serde_json::json!(3), serde_json::Value::Null]);
    // Without --execute: the plan checked and shown, nothing changed.
    millrace(&data)
        .args(["offsets", "reset", "--from-file", plan_arg])
        .assert()
        .success()
        .stdout(predicate::str::contains("dry run"));
    assert_eq!(committed(&data, "g1"), [serde_json::json!(3), serde_json::Value::Null]);
    // Another group named: refused.
    millrace(&data)
        .args(["offsets", "reset", "--from-file", plan_arg, "-g", "other", "--execute"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not \"other\""));
    millrace(&data)
        .args(["offsets", "reset", "--from-file", plan_arg, "--execute"])
        .assert()
        .success()
        .stdout(predicate::str::contains("applied: 2"));
    assert_eq!(committed(&data, "g1"), [serde_json::json!(0), serde_json::json!(0)]);
    let audit = json_of(millrace(&data).args(["offsets", "audit", "--group", "g1", "--json"]));
    assert_eq!(audit["resets"].as_array().unwrap().len(), 2);
    // The group moved since the plan was made: refused, nothing changed.
    millrace(&data)
        .args(["offsets", "reset", "--from-file", plan_arg, "--execute"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("moved since"));
    // CSV, by the file's name.
    let csv = tmp.path().join("plan.csv");
    let csv_arg = csv.to_str().unwrap();
    millrace(&data)
        .args([
            "offsets",
            "reset",
            "-g",
            "g1",
            "-t",
            "t",
            "--to-latest",
            "--export",
            csv_arg,
        ])
        .assert()
        .success();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text, "group,topic,partition,current,new\ng1,t,0,0,5\ng1,t,1,0,5\n");
    millrace(&data)
        .args(["offsets", "reset", "--from-file", csv_arg, "--execute"])
        .assert()
        .success();
    assert_eq!(committed(&data, "g1"), [serde_json::json!(5), serde_json::json!(5)]);
}

#[test]
fn a_kafka_csv_plan_is_checked_against_the_partitions() {
    let (tmp, data) = setup();
    let csv = tmp.path().join("kafka.csv");
    std::fs::write(&csv, "t,0,2\nt,1,4\n").unwrap();
    let csv_arg = csv.to_str().unwrap();
    millrace(&data)
        .args(["offsets", "reset", "--from-file", csv_arg, "--execute"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--group"));
    millrace(&data)
        .args(["offsets", "reset", "--from-file", csv_arg, "-g", "g3", "--execute"])
        .assert()
        .success();
    assert_eq!(committed(&data, "g3"), [serde_json::json!(2), serde_json::json!(4)]);
    std::fs::write(&csv, "t,0,99\n").unwrap();
    millrace(&data)
        .args(["offsets", "reset", "--from-file", csv_arg, "-g", "g3", "--execute"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("outside the partition"));
    std::fs::write(&csv, "t,7,0\n").unwrap();
    millrace(&data)
        .args(["offsets", "reset", "--from-file", csv_arg, "-g", "g3", "--execute"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not exist"));
    assert_eq!(committed(&data, "g3"), [serde_json::json!(2), serde_json::json!(4)]);
}

#[test]
fn to_current_keeps_the_group_where_it_is() {
    let (_tmp, data) = setup();
    let plan = json_of(millrace(&data).args(["offsets", "reset", "-g", "g1", "-t", "t", "--to-current", "--json"]));
    let entries = plan["entries"].as_array().unwrap();
    assert_eq!(
        (entries[0]["current"].clone(), entries[0]["new"].clone()),
        (serde_json::json!(3), serde_json::json!(3))
    );
    assert_eq!(entries[1]["current"], serde_json::Value::Null);
    assert_eq!(entries[1]["new"], 0, "nothing committed: the log start");
    // Applied: partition 0 stays where it was, partition 1 gets the log start.
    millrace(&data)
        .args(["offsets", "reset", "-g", "g1", "-t", "t", "--to-current", "--execute"])
        .assert()
        .success();
    let again = json_of(millrace(&data).args(["offsets", "reset", "-g", "g1", "-t", "t", "--to-current", "--json"]));
    let entries = again["entries"].as_array().unwrap();
    assert_eq!(entries[0]["current"], 3, "{again}");
    assert_eq!(entries[1]["current"], 0, "{again}");
    millrace(&data)
        .args(["offsets", "reset", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--to-current").and(predicate::str::contains("--from-file")));
}

#[test]
fn offsets_show_has_state_topics_and_last_commit() {
    let (_tmp, data) = setup();
    let offline = json_of(millrace(&data).args(["offsets", "show", "--json"]));
    let g1 = &offline["groups"][0];
    assert_eq!(g1["group"], "g1");
    assert_eq!(g1["topics"], serde_json::json!(["t"]));
    assert_eq!(g1["state"], "empty", "offline the directory lock rules out consumers");
    assert!(g1["last_commit"].as_str().is_some());
    millrace(&data)
        .args(["offsets", "show"])
        .assert()
        .success()
        .stdout(predicate::str::contains("STATE").and(predicate::str::contains("TOPICS")))
        .stdout(predicate::str::contains("LAST COMMIT").and(predicate::str::contains("empty")));
    let server = common::Server::start(&data, &[]);
    // A commit through the server: the group is active for the next 30 s.
    stdout_of(
        server
            .millrace()
            .args(["consume", "t", "-g", "g1", "-p", "0", "-n", "1"]),
    );
    let online = json_of(server.millrace().args(["offsets", "show", "--json"]));
    assert_eq!(online["groups"][0]["state"], "active", "{online}");
    assert_eq!(online["groups"][0]["kafka_members"], false);
    assert!(online["groups"][0]["idle_ms"].as_u64().is_some());
    server
        .millrace()
        .args(["offsets", "show", "-g", "g1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("group g1: active, last commit"));
    assert!(server.stop());
}
