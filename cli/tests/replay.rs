//! End-to-end tests of `millrace replay`: ranges by offset and time, resume
//! after a stop (--max-records) and after kill -9 in the middle of a
//! rate-limited run — in both cases every source record appears in the
//! destination exactly once, in order — and a finished job is a no-op.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use common::{json_of, millrace, stdout_of, store_with_topic};
use std::time::Duration;

fn setup(records: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, data) = store_with_topic("src", 1);
    millrace(&data).args(["topic", "create", "dst"]).assert().success();
    let input: String = (0..records)
        .map(|i| {
            format!(
                "{{\"value\": \"r{i}\", \"key\": \"k{}\", \"timestamp\": {}}}\n",
                i % 7,
                1_000 * (i as u64 + 1)
            )
        })
        .collect();
    millrace(&data)
        .args(["produce", "src", "--format", "json", "--batch-records", "100"])
        .write_stdin(input)
        .assert()
        .success();
    (tmp, data)
}

fn destination_values(data: &std::path::Path) -> Vec<String> {
    stdout_of(millrace(data).args(["consume", "dst", "--format", "value"]))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn resume_after_a_stop_copies_each_record_once() {
    let (_tmp, data) = setup(1000);
    let first = json_of(millrace(&data).args([
        "replay",
        "src",
        "dst",
        "--max-records",
        "250",
        "--batch-records",
        "100",
        "--json",
    ]));
    assert_eq!(first["copied"], 250);
    assert_eq!(first["remaining"], 750);
    let second = json_of(millrace(&data).args(["replay", "src", "dst", "--json"]));
    assert_eq!(second["copied"], 750);
    let third = stdout_of(millrace(&data).args(["replay", "src", "dst"]));
    assert!(third.contains("nothing to replay"), "{third}");
    let values = destination_values(&data);
    let expected: Vec<String> = (0..1000).map(|i| format!("r{i}")).collect();
    assert_eq!(values, expected);
    let copied = json_of(millrace(&data).args(["consume", "dst", "-n", "1", "--offset", "5", "--json"]));
    assert_eq!(copied["headers"]["millrace.replay.source"], "src/0@5");
    assert_eq!(copied["key"], "k5");
    assert_eq!(copied["timestamp_ms"], 6000);
}

#[test]
fn ranges_by_offset_and_time() {
    let (_tmp, data) = setup(50);
    millrace(&data)
        .args(["replay", "src", "dst", "--from-offset", "10", "--to-offset", "13"])
        .assert()
        .success();
    assert_eq!(destination_values(&data), ["r10", "r11", "r12"]);
    // A new job name, a time range: timestamps are 1000 * (i + 1).
    millrace(&data)
        .args([
            "replay",
            "src",
            "dst",
            "--name",
            "by-time",
            "--from-time",
            "1970-01-01T00:00:41Z",
        ])
        .args(["--to-time", "1970-01-01T00:00:44Z"])
        .assert()
        .success();
    assert_eq!(destination_values(&data), ["r10", "r11", "r12", "r40", "r41", "r42"]);
    // --restart copies the range again, deliberately.
    millrace(&data)
        .args([
            "replay",
            "src",
            "dst",
            "--from-offset",
            "10",
            "--to-offset",
            "11",
            "--restart",
        ])
        .assert()
        .success();
    assert_eq!(destination_values(&data).len(), 7);
    millrace(&data).args(["replay", "src", "src"]).assert().code(2);
    millrace(&data).args(["replay", "src", "nope"]).assert().code(1);
}

#[test]
fn resume_after_kill_9_copies_each_record_once() {
    let (_tmp, data) = setup(3000);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .arg("--data")
        .arg(&data)
        .args(["replay", "src", "dst", "--rate", "2000", "--batch-records", "50"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the first batches have landed (the destination log grows).
    let log = data.join("topics/dst/00000/00000000000000000000.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&log).map_or(0, |m| m.len()) == 0 {
        assert!(std::time::Instant::now() < deadline, "replay never wrote");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = destination_values(&data).len();
    assert!(
        partial > 0 && partial < 3000,
        "kill came too early or too late: {partial} copied"
    );
    millrace(&data).args(["replay", "src", "dst"]).assert().success();
    let expected: Vec<String> = (0..3000).map(|i| format!("r{i}")).collect();
    assert_eq!(destination_values(&data), expected);
}
