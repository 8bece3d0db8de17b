//! End-to-end tests of `millrace replay`: ranges by offset and time, resume
//! after a stop (--max-records) and after kill -9 in the middle of a
//! rate-limited run — in both cases every source record appears in the
//! destination exactly once, in order — and a finished job is a no-op.

use crate::common;

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

/// Byte positions of the batches of a segment, from `millrace dump`.
fn batch_positions(data: &std::path::Path, segment: &std::path::Path) -> Vec<u64> {
    stdout_of(millrace(data).args(["dump", "--batches-only"]).arg(segment))
        .lines()
        .filter_map(|l| l.strip_prefix("batch @"))
        .filter_map(|l| l.split_whitespace().next())
        .map(|p| p.parse().unwrap())
        .collect()
}

/// Issue 18 item 7: a repair of `__offsets` that takes out a replay job's
/// latest commits names the job (plan and outcome, text and JSON), and the
/// rerun resumes from what the destination holds instead of the older commit
/// it fell back to: every source record is in the destination exactly once.
/// Before the fix the plan said no consumer was affected and the rerun copied
/// offsets 200..500 a second time (1,300 records).
#[test]
fn rerun_after_a_repair_of_offsets_copies_each_record_once() {
    let (_tmp, data) = setup(1000);
    millrace(&data).args(["topic", "create", "other"]).assert().success();
    // Five transactions (commits 100..500), then two of another job, which
    // are the last two commit records open re-applies.
    millrace(&data)
        .args(["replay", "src", "dst", "--max-records", "500", "--batch-records", "100"])
        .assert()
        .success();
    for _ in 0..2 {
        millrace(&data)
            .args(["replay", "src", "other", "--name", "side", "--max-records", "100"])
            .assert()
            .success();
    }
    // Damage the third commit batch: commits 300, 400, 500 and the side
    // job's go with it; the job falls back to 200.
    let offsets_log = data.join("topics/__offsets/00000/00000000000000000000.log");
    let positions = batch_positions(&data, &offsets_log);
    assert_eq!(positions.len(), 7, "{positions:?}");
    let mut bytes = std::fs::read(&offsets_log).unwrap();
    let at = usize::try_from(positions[2]).unwrap() + 60;
    bytes[at] ^= 0xff;
    std::fs::write(&offsets_log, bytes).unwrap();

    let output = millrace(&data).args(["--json", "repair"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let lost = serde_json::json!([{
        "name": "__replay.src-to-dst", "kind": "replay job", "topic": "src", "partition": 0,
        "committed": 500, "effect": "commit-lost", "falls_back_to": 200,
    }]);
    // The side job's commits are restored by the last two transactions: not listed.
    assert_eq!(plan["actions"][0]["plan"]["affected"], lost, "{plan}");
    let dry_run = millrace(&data).arg("repair").output().unwrap();
    assert_eq!(dry_run.status.code(), Some(3));
    let text = String::from_utf8(dry_run.stdout).unwrap();
    assert!(
        text.contains("__replay.src-to-dst") && text.contains("commit lost: falls back to 200"),
        "{text}"
    );
    let applied = json_of(millrace(&data).args(["--json", "repair", "--yes"]));
    assert_eq!(applied["actions"][0]["affected"], lost, "{applied}");

    let rerun = json_of(millrace(&data).args(["replay", "src", "dst", "--json"]));
    assert_eq!(rerun["copied"], 500, "{rerun}");
    let expected: Vec<String> = (0..1000).map(|i| format!("r{i}")).collect();
    assert_eq!(destination_values(&data), expected);
}

/// A `--restart` is a new pass (generation) over the range: the records of
/// the earlier pass in the destination are not progress of the new one, and a
/// resume of the new pass continues where it stopped.
#[test]
fn restart_then_resume_copies_the_range_once_more() {
    let (_tmp, data) = setup(300);
    millrace(&data).args(["replay", "src", "dst"]).assert().success();
    millrace(&data)
        .args([
            "replay",
            "src",
            "dst",
            "--restart",
            "--max-records",
            "100",
            "--batch-records",
            "50",
        ])
        .assert()
        .success();
    let resumed = json_of(millrace(&data).args(["replay", "src", "dst", "--json"]));
    assert_eq!(resumed["copied"], 200, "{resumed}");
    let expected: Vec<String> = (0..300).chain(0..300).map(|i| format!("r{i}")).collect();
    assert_eq!(destination_values(&data), expected);
}
