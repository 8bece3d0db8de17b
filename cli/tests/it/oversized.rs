//! Batches larger than the target topic's batch limit never brick the store,
//! through the binary: `replay` (a transaction) and `produce --batch-records`
//! into a topic with small segments copy everything, offline and through a
//! real server that is then restarted; a store left by an older build with an
//! unapplied oversized transaction opens and applies it; one whose target is
//! gone opens too, `check` exits 3 naming the skipped part and `repair --yes`
//! takes the record out of service with a backup; and a bad
//! input line stops `produce` with the line and the offsets already appended.

use crate::common;

use common::{copy_fixture, millrace, stdout_of, Server};
use std::path::Path;

fn values(data: &Path, topic: &str) -> Vec<String> {
    stdout_of(millrace(data).args(["consume", topic, "--format", "value"]))
        .lines()
        .map(str::to_string)
        .collect()
}

/// The reproduction of issue 18, item 1: topic `a` with 1000 records in one
/// batch of 49 KiB, topic `b` with 16 KiB segments.
fn source_and_small_destination(data: &Path) -> Vec<String> {
    millrace(data).args(["topic", "create", "a"]).assert().success();
    millrace(data)
        .args(["topic", "create", "b", "--segment-bytes", "16KiB"])
        .assert()
        .success();
    let lines: Vec<String> = (1..=1000)
        .map(|i| format!("value-{i:05}-pppppppppppppppppppppppppppppp"))
        .collect();
    millrace(data)
        .args(["produce", "a"])
        .write_stdin(lines.join("\n"))
        .assert()
        .success();
    lines
}

#[test]
fn replay_into_small_segments_copies_everything_and_the_store_reopens() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("b1");
    let lines = source_and_small_destination(&data);
    millrace(&data).args(["replay", "a", "b"]).assert().success();
    millrace(&data).args(["topic", "list"]).assert().success();
    assert_eq!(values(&data, "b"), lines);
    millrace(&data).args(["check"]).assert().code(0);
}

#[test]
fn replay_through_the_server_then_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("b1");
    let lines = source_and_small_destination(&data);
    let server = Server::start(&data, &[]);
    server.millrace().args(["replay", "a", "b"]).assert().success();
    assert!(server.stop());
    let server = Server::start(&data, &[]);
    let copied = stdout_of(server.millrace().args(["consume", "b", "--format", "value"]));
    assert_eq!(copied.lines().count(), lines.len());
    assert!(server.stop());
}

#[test]
fn produce_splits_batches_at_the_topic_batch_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("c");
    millrace(&data)
        .args(["topic", "create", "t", "--segment-bytes", "16KiB"])
        .assert()
        .success();
    let lines: Vec<String> = (1..=1000)
        .map(|i| format!("value-{i:05}-pppppppppppppppppppppppppppppp"))
        .collect();
    millrace(&data)
        .args(["produce", "t", "--batch-records", "1000"])
        .write_stdin(lines.join("\n"))
        .assert()
        .success();
    assert_eq!(values(&data, "t"), lines);
}

#[test]
fn store_with_an_unapplied_oversized_transaction_opens_and_applies_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("s");
    copy_fixture("unappliable-transaction", &data);
    // A dry run: applied on the next open, so recoverable, not corruption.
    let check = millrace(&data).args(["check"]).output().unwrap();
    let said = String::from_utf8_lossy(&check.stdout).to_string() + &String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(0), "{said}");
    assert!(said.contains("not wholly applied"), "{said}");
    // Read-only commands apply it in memory only (they never write the data
    // directory); the first writing open applies it on disk.
    assert_eq!(values(&data, "b"), values(&data, "a"));
    let check = millrace(&data).args(["check"]).output().unwrap();
    assert!(String::from_utf8_lossy(&check.stdout).contains("not wholly applied"));
    millrace(&data).args(["topic", "create", "c"]).assert().success();
    assert_eq!(values(&data, "b"), values(&data, "a"));
    assert_eq!(values(&data, "b").len(), 100);
    let check = stdout_of(millrace(&data).args(["check"]));
    assert!(check.contains("no problems"), "{check}");
}

#[test]
fn commit_record_whose_target_is_gone_is_reported_and_the_store_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("s");
    copy_fixture("unappliable-transaction", &data);
    std::fs::remove_dir_all(data.join("topics/b")).unwrap();
    let check = millrace(&data).args(["check"]).output().unwrap();
    let said = String::from_utf8_lossy(&check.stdout).to_string() + &String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(3), "{said}");
    assert!(said.contains("\"b\" partition 0 holds 100 records"), "{said}");
    millrace(&data).args(["topic", "list"]).assert().success();
    assert_eq!(values(&data, "a").len(), 100);
    let stats = stdout_of(millrace(&data).args(["stats", "--json"]));
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["transaction_parts_unapplied_on_open"], 1, "{stats}");
    // The advice of check (exit 3: repair) does not loop: repair plans and
    // applies a forget of the record, keeping a backup, and check is clean.
    let plan = millrace(&data).args(["repair"]).output().unwrap();
    assert_eq!(plan.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&plan.stdout).contains("forget-transaction"));
    let repaired = stdout_of(millrace(&data).args(["repair", "--yes"]));
    assert!(repaired.contains("check after repair: no corruption"), "{repaired}");
    millrace(&data).args(["check"]).assert().code(0);
    assert_eq!(values(&data, "a").len(), 100);
    let backups: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("repair-backup-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert!(backups[0]
        .path()
        .join("__transactions/00000/00000000000000000000.log")
        .is_file());
}

#[test]
fn bad_input_line_names_the_line_and_what_was_appended() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    millrace(&data).args(["topic", "create", "j"]).assert().success();
    let input = "{\"value\": \"a\"}\n{\"value\": \"b\"}\n{\"value\": \"c\"}\nnot json\n{\"value\": \"d\"}\n";
    let out = millrace(&data)
        .args(["produce", "j", "--format", "json", "--batch-records", "2"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("input line 4"), "{stderr}");
    assert!(
        stderr.contains("input line 4 and the lines after it were not appended"),
        "{stderr}"
    );
    assert!(stderr.contains("partition 0 offsets 0..3"), "{stderr}");
    // Exactly the lines before the bad one are in the topic.
    assert_eq!(values(&data, "j"), vec!["a", "b", "c"]);
}

#[test]
fn record_over_the_topic_limit_names_its_line_before_anything_after_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("e");
    millrace(&data)
        .args(["topic", "create", "t", "--segment-bytes", "4KiB"])
        .assert()
        .success();
    let input = format!("one\ntwo\n{}\nfour\n", "x".repeat(5000));
    let out = millrace(&data)
        .args(["produce", "t"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("input line 3"), "{stderr}");
    assert!(stderr.contains("partition 0 offsets 0..2"), "{stderr}");
    assert_eq!(values(&data, "t"), vec!["one", "two"]);
}
