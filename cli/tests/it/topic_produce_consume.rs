//! End-to-end tests of the offline data commands: topic lifecycle, produce →
//! consume round trips in every input and output format, start positions,
//! stats, and the documented exit codes. Each test runs the real binary on a
//! fresh temporary data directory.

use crate::common;

use common::{json_of, millrace, stdout_of, store_with_topic};
use predicates::prelude::*;

#[test]
fn topic_lifecycle() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Nothing there yet: listing is an error that says what to do.
    millrace(&data)
        .args(["topic", "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a millrace data directory").and(predicate::str::contains("hint:")));
    millrace(&data)
        .args([
            "topic",
            "create",
            "orders",
            "-p",
            "3",
            "--retention",
            "1h30m",
            "--durability",
            "interval:50",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "created topic orders with 3 partitions (durability interval:50)",
        ));
    millrace(&data)
        .args(["topic", "create", "orders"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    let list = stdout_of(millrace(&data).args(["topic", "list"]));
    assert!(list.starts_with("TOPIC"), "{list}");
    assert!(list.contains("orders") && list.contains("1h30m"), "{list}");
    let described = json_of(millrace(&data).args(["topic", "describe", "orders", "--json"]));
    assert_eq!(described["partitions"], 3);
    assert_eq!(described["durability"], "interval:50");
    assert_eq!(described["config"]["retention_ms"], 5_400_000);
    assert_eq!(described["partition_info"].as_array().unwrap().len(), 3);
    // Delete needs --yes (usage error without it), then the topic is gone.
    millrace(&data)
        .args(["topic", "delete", "orders"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    millrace(&data)
        .args(["topic", "delete", "orders", "--yes"])
        .assert()
        .success();
    let list = json_of(millrace(&data).args(["topic", "list", "--json"]));
    assert_eq!(list["topics"].as_array().unwrap().len(), 0);
    millrace(&data)
        .args(["topic", "describe", "orders"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not exist"));
}

#[test]
fn invalid_configuration_is_a_usage_error_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args(["topic", "create", "bad/name"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("topic name"));
    millrace(&data)
        .args(["topic", "create", "t", "--partitions", "0"])
        .assert()
        .code(2);
    millrace(&data)
        .args(["topic", "create", "t", "--retention", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("1h30m"));
    millrace(&data)
        .args(["topic", "create", "t", "--durability", "sometimes"])
        .assert()
        .code(2);
    millrace(&data).args(["no-such-command"]).assert().code(2);
    assert!(!data.exists(), "a rejected command must not create the data directory");
}

#[test]
fn lines_round_trip_with_key_headers_and_timestamp() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data)
        .args([
            "produce",
            "t",
            "--key",
            "k1",
            "-H",
            "source=test",
            "-H",
            "v=2",
            "--timestamp",
            "2026-01-02T03:04:05Z",
        ])
        .write_stdin("alpha\nbeta\n\ngamma\n")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "produced 3 records to t (partition 0: offsets 0..3)",
        ));
    let values = stdout_of(millrace(&data).args(["consume", "t", "--format", "value"]));
    assert_eq!(values, "alpha\nbeta\ngamma\n");
    let text = stdout_of(millrace(&data).args(["consume", "t"]));
    assert_eq!(
        text.lines().next().unwrap(),
        "0:0\t2026-01-02T03:04:05.000Z\tk1\talpha\tsource=test,v=2"
    );
    let records: Vec<serde_json::Value> = stdout_of(millrace(&data).args(["consume", "t", "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2]["offset"], 2);
    assert_eq!(records[2]["key"], "k1");
    assert_eq!(records[2]["value"], "gamma");
    assert_eq!(records[2]["headers"]["source"], "test");
    assert_eq!(records[2]["timestamp"], "2026-01-02T03:04:05.000Z");
}

#[test]
fn json_round_trip_from_file_with_partitions_and_key_separator() {
    let (tmp, data) = store_with_topic("t", 3);
    let input = tmp.path().join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"value": "one", "key": "a", "partition": 2, "headers": {"h": "x"}}"#,
            "\n",
            r#"{"value": {"nested": [1, 2]}, "partition": 1, "timestamp": 1000}"#,
            "\n",
        ),
    )
    .unwrap();
    let summary = json_of(
        millrace(&data)
            .args(["produce", "t", "--format", "json", "--json", "--file"])
            .arg(&input),
    );
    assert_eq!(summary["records"], 2);
    let p2 = stdout_of(millrace(&data).args(["consume", "t", "--partition", "2", "--json"]));
    let r: serde_json::Value = serde_json::from_str(p2.trim()).unwrap();
    assert_eq!(
        (r["value"].as_str(), r["key"].as_str(), r["headers"]["h"].as_str()),
        (Some("one"), Some("a"), Some("x"))
    );
    let p1 = stdout_of(millrace(&data).args(["consume", "t", "-p", "1", "--format", "value"]));
    assert_eq!(p1, "{\"nested\":[1,2]}\n");

    // key<SEP>value lines: the same key always lands on the same partition.
    millrace(&data)
        .args(["produce", "t", "--key-separator", ":"])
        .write_stdin("user1:a\nuser1:b\nuser1:c\n")
        .assert()
        .success();
    let all = stdout_of(millrace(&data).args(["consume", "t", "--json"]));
    let user1: Vec<serde_json::Value> = all
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["key"] == "user1")
        .collect();
    assert_eq!(user1.len(), 3);
    assert!(user1.iter().all(|r| r["partition"] == user1[0]["partition"]));
    assert_eq!(
        user1.iter().map(|r| r["value"].as_str().unwrap()).collect::<String>(),
        "abc"
    );
}

#[test]
fn bad_json_input_names_the_line() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data)
        .args(["produce", "t", "--format", "json"])
        .write_stdin("{\"value\": \"ok\"}\n{\"value\": \"x\", \"colour\": 1}\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("input line 2").and(predicate::str::contains("colour")));
    millrace(&data)
        .args(["produce", "t", "--partition", "7"])
        .write_stdin("x\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("partition 7 does not exist"));
    millrace(&data)
        .args(["produce", "missing"])
        .write_stdin("x\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not exist").and(predicate::str::contains("topic list")));
}

#[test]
fn start_positions_and_limits() {
    let (_tmp, data) = store_with_topic("t", 1);
    let input: String = (0..10)
        .map(|i| format!("{{\"value\": \"v{i}\", \"timestamp\": {}}}\n", 1000 * (i + 1)))
        .collect();
    millrace(&data)
        .args(["produce", "t", "--format", "json"])
        .write_stdin(input)
        .assert()
        .success();
    let consume = |args: &[&str]| {
        let mut cmd = millrace(&data);
        cmd.args(["consume", "t", "--format", "value"]).args(args);
        stdout_of(&mut cmd).lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(consume(&[]).len(), 10);
    assert_eq!(consume(&["--offset", "7"]), ["v7", "v8", "v9"]);
    assert_eq!(consume(&["--offset", "2", "-n", "2"]), ["v2", "v3"]);
    assert!(consume(&["--from-latest"]).is_empty());
    assert_eq!(consume(&["--from-time", "1970-01-01T00:00:09Z"]), ["v8", "v9"]);
    assert_eq!(consume(&["--from-time", "9500"]), ["v9"]);
    // Records are from 1970: "since 1h" finds none; "since a century" finds all.
    assert!(consume(&["--since", "1h"]).is_empty());
    assert_eq!(consume(&["--since", "P36500D"]).len(), 10);
    // Out-of-range offsets are clamped with a warning.
    millrace(&data)
        .args(["consume", "t", "--offset", "99"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("outside partition 0's range [0, 10]"));
    // Start flags are exclusive.
    millrace(&data)
        .args(["consume", "t", "--offset", "1", "--from-latest"])
        .assert()
        .code(2);
}

#[test]
fn stats_counts_everything() {
    let (_tmp, data) = store_with_topic("a", 2);
    millrace(&data).args(["topic", "create", "b"]).assert().success();
    millrace(&data)
        .args(["produce", "a"])
        .write_stdin("1\n2\n3\n")
        .assert()
        .success();
    let stats = json_of(millrace(&data).args(["stats", "--json"]));
    assert_eq!(stats["topics"], 2);
    assert_eq!(stats["partitions"], 3);
    assert_eq!(stats["records"], 3);
    assert!(stats["used_bytes"].as_u64().unwrap() > 0);
    let text = stdout_of(millrace(&data).args(["stats"]));
    assert!(text.contains("records:         3"), "{text}");
}

#[test]
fn help_documents_exit_codes_and_examples() {
    let tmp = tempfile::tempdir().unwrap();
    let help = stdout_of(millrace(tmp.path()).arg("--help"));
    assert!(
        help.contains("Exit codes:") && help.contains("3  corruption found"),
        "{help}"
    );
    for command in [
        "topic",
        "produce",
        "consume",
        "stats",
        "check",
        "dump",
        "repair",
        "bench",
        "completions",
    ] {
        let help = stdout_of(millrace(tmp.path()).args([command, "--help"]));
        assert!(
            help.contains("Examples:"),
            "`millrace {command} --help` has no examples:\n{help}"
        );
    }
}

#[test]
fn closed_stdout_is_not_an_error() {
    let (_tmp, data) = store_with_topic("t", 1);
    let input: String = (0..20_000).map(|i| format!("record-{i}\n")).collect();
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin(input)
        .assert()
        .success();
    let data_arg = data.display().to_string();
    let bin = assert_cmd::cargo::cargo_bin("millrace");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' --data '{data_arg}' consume t | head -n 1 >/dev/null",
            bin.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
}
