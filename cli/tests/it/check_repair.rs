//! End-to-end tests of `check`, `dump` and `repair` on data directories with
//! known damage: the checked-in `corrupt-sealed` fixture (one flipped bit in a
//! sealed segment, see its README) and damage made by the test (torn tail,
//! bad index). Proves exit code 3 and the exact file and byte position are
//! reported, that repair is a dry run without --yes, and that after
//! `repair --yes` the directory checks clean and opens with the records
//! before the damage.

use crate::common;

use common::{copy_fixture, json_of, millrace, stdout_of, store_with_topic};
use predicates::prelude::*;
use std::path::Path;

const SEGMENT: &str = "topics/events/00000/00000000000000000000.log";
const CORRUPT_AT: u64 = 1095;

/// Remove a partition's producer snapshots, as a crash before the close
/// leaves it (the close snapshot is written after an fdatasync to its offset,
/// so it proves the records below it were acknowledged).
fn remove_producer_snapshots(partition_dir: &Path) {
    for entry in std::fs::read_dir(partition_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "producers") {
            std::fs::remove_file(path).unwrap();
        }
    }
}

fn fixture() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_fixture("corrupt-sealed", &data);
    (tmp, data)
}

#[test]
fn check_reports_corruption_with_file_and_position() {
    let (_tmp, data) = fixture();
    millrace(&data)
        .arg("check")
        .assert()
        .code(3)
        .stdout(
            predicate::str::contains("ChecksumMismatch")
                .and(predicate::str::contains(SEGMENT))
                .and(predicate::str::contains(format!("  {CORRUPT_AT}  "))),
        )
        .stderr(predicate::str::contains("millrace repair"));
    let output = millrace(&data).args(["check", "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["corruption_found"], true);
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["file"], data.join(SEGMENT).display().to_string());
    assert_eq!(problems[0]["position"], CORRUPT_AT);
    assert_eq!(problems[0]["kind"], "ChecksumMismatch");
    assert_eq!(problems[0]["severity"], "corruption");
    // Opening the store for data commands sees it too (or reading does): exit 3.
    let consume = millrace(&data)
        .args(["consume", "events", "--format", "value"])
        .output()
        .unwrap();
    assert_eq!(
        consume.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&consume.stderr)
    );
}

#[test]
fn repair_is_a_dry_run_without_yes_then_fixes() {
    let (_tmp, data) = fixture();
    let before = std::fs::read(data.join(SEGMENT)).unwrap();
    millrace(&data)
        .arg("repair")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("truncate").and(predicate::str::contains("dry run: nothing changed")));
    assert_eq!(
        std::fs::read(data.join(SEGMENT)).unwrap(),
        before,
        "a dry run changed the segment"
    );

    let backup = data.parent().unwrap().join("backup");
    let out = json_of(
        millrace(&data)
            .args(["repair", "--yes", "--json", "--backup-dir"])
            .arg(&backup),
    );
    assert_eq!(out["applied"], true);
    assert_eq!(out["corruption_found"], false);
    let action = &out["actions"][0];
    assert_eq!(action["truncated"]["to_bytes"], CORRUPT_AT);
    assert_eq!(action["offsets_dropped"]["from"], 24);
    assert_eq!(action["offsets_dropped"]["to"], 120);
    // The backup holds the whole original segment and the moved later one.
    let backed_up = backup.join("events/00000");
    assert_eq!(
        std::fs::read(backed_up.join("00000000000000000000.log")).unwrap(),
        before
    );
    assert!(backed_up.join("00000000000000000088.log").exists());
    assert_eq!(std::fs::metadata(data.join(SEGMENT)).unwrap().len(), CORRUPT_AT);

    millrace(&data)
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("no problems found"));
    let values = stdout_of(millrace(&data).args(["consume", "events", "--format", "value"]));
    let values: Vec<&str> = values.lines().collect();
    assert_eq!(values.len(), 24);
    assert_eq!(values.last(), Some(&"event-24"));
    // The log continues past the offsets the repair took out (24..120 were
    // handed out once: a hole), never handing them out again.
    millrace(&data)
        .args(["produce", "events"])
        .write_stdin("after\n")
        .assert()
        .success()
        .stderr(predicate::str::contains("offsets 120..121"));
    millrace(&data)
        .args(["repair"])
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to repair"));
}

#[test]
fn repair_refuses_a_position_that_is_not_the_first_invalid_batch() {
    let (_tmp, data) = fixture();
    let segment = data.join(SEGMENT);
    millrace(&data)
        .args(["repair", "--yes", "--position", "180", "--segment"])
        .arg(&segment)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "first invalid at byte {CORRUPT_AT}, not 180"
        )));
    millrace(&data)
        .args(["repair", "--yes", "--position", &CORRUPT_AT.to_string(), "--segment"])
        .arg(&segment)
        .assert()
        .success();
    millrace(&data).arg("check").assert().success();
}

#[test]
fn torn_tail_is_recoverable_not_corruption() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data)
        .args(["produce", "t", "--batch-records", "1"])
        .write_stdin("a\nb\nc\n")
        .assert()
        .success();
    let log = data.join("topics/t/00000/00000000000000000000.log");
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    // A crash, not a clean close: no close snapshot (which would prove the
    // torn batch acknowledged: see `truncated_active_segment_after_a_clean_close_is_loss`).
    remove_producer_snapshots(&data.join("topics/t/00000"));
    millrace(&data)
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("recoverable").and(predicate::str::contains("torn tail")));
    millrace(&data).args(["check", "--strict"]).assert().code(3);
    // A read-only open serves the two whole records and changes nothing...
    assert_eq!(
        stdout_of(millrace(&data).args(["consume", "t", "--format", "value"])),
        "a\nb\n"
    );
    millrace(&data)
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("torn tail"));
    // ...and says so...
    millrace(&data)
        .args(["consume", "t", "--format", "value"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("not serving the tail").and(predicate::str::contains("nothing changed on disk")),
        );
    // ...a writing open truncates the torn tail, after a backup, with a WARN
    // naming the file, the byte range and the records.
    let torn = std::fs::read(&log).unwrap();
    let output = millrace(&data)
        .args(["produce", "t"])
        .write_stdin("d\n")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("WARN") && stderr.contains("truncating the tail of"),
        "{stderr}"
    );
    assert!(stderr.contains(&log.display().to_string()), "{stderr}");
    let backups: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("repair-backup-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let files: Vec<_> = std::fs::read_dir(backups[0].join("t/00000"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        stderr.contains(&files[0].display().to_string()),
        "the WARN names the backup: {stderr}"
    );
    let backed_up = std::fs::read(&files[0]).unwrap();
    let from = torn.len() - backed_up.len();
    assert!(
        !backed_up.is_empty() && torn.ends_with(&backed_up),
        "the backup holds the cut bytes"
    );
    let range = format!("bytes {from}..{}", torn.len());
    assert!(
        stderr.contains(&range),
        "the WARN names the byte range {range}: {stderr}"
    );
    assert!(
        files[0].file_name().unwrap().to_str().unwrap()
            == format!("00000000000000000000.log.cut-{from}-{}", torn.len())
    );
    assert_eq!(
        stdout_of(millrace(&data).args(["consume", "t", "--format", "value"])),
        "a\nb\nd\n"
    );
    millrace(&data)
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("no problems found"));
}

#[test]
fn damaged_index_is_rebuilt_without_losing_records() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data)
        .args(["topic", "create", "small", "--index-interval-bytes", "64"])
        .assert()
        .success();
    let input: String = (0..20).map(|i| format!("r{i}\n")).collect();
    millrace(&data)
        .args(["produce", "small", "--batch-records", "1"])
        .write_stdin(input)
        .assert()
        .success();
    let index = data.join("topics/small/00000/00000000000000000000.index");
    let mut bytes = std::fs::read(&index).unwrap();
    assert!(bytes.len() >= 32);
    bytes[4] ^= 0x01; // position of entry 0
    std::fs::write(&index, bytes).unwrap();
    millrace(&data)
        .arg("check")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("BadIndex"));
    millrace(&data).args(["repair", "--yes"]).assert().success();
    millrace(&data).arg("check").assert().success();
    let values = stdout_of(millrace(&data).args(["consume", "small", "--format", "value"]));
    assert_eq!(values.lines().count(), 20);
}

#[test]
fn check_inspects_a_locked_directory_live_and_repair_refuses_it() {
    let (_tmp, data) = store_with_topic("t", 1);
    // Hold the lock the way a server (or any embedding process) does.
    let store = millrace::Store::open(&data, millrace::StoreOptions::default()).unwrap();
    store
        .append("t", 0, &[millrace::Record::new(b"held".to_vec())])
        .unwrap();
    millrace(&data)
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("checked live").and(predicate::str::contains("1 records")));
    // A repair (even its dry run) needs the writer gone.
    millrace(&data).arg("repair").assert().code(1).stderr(
        predicate::str::contains("locked").and(predicate::str::contains(format!("pid {}", std::process::id()))),
    );
    // `close` releases the lock before it returns; a plain drop may leave the
    // last reference (and the lock) to the maintenance thread for a moment.
    store.close().unwrap();
    millrace(&data)
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("checked live").not());
}

#[test]
fn dump_prints_batches_and_records() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data)
        .args(["produce", "t", "--batch-records", "2", "--key", "k", "-H", "h=v"])
        .write_stdin("one\ntwo\nthree\n")
        .assert()
        .success();
    let log = data.join("topics/t/00000/00000000000000000000.log");
    let text = stdout_of(millrace(&data).arg("dump").arg(&log));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("batch @0 offsets 0..2 records 2"), "{text}");
    assert!(
        lines[1].contains(" 0 ") && lines[1].contains("key=k value=one h=v"),
        "{text}"
    );
    assert!(lines[2].contains("value=two"), "{text}");
    assert!(
        lines[3].starts_with("batch @") && lines[3].contains("offsets 2..3 records 1"),
        "{text}"
    );
    assert!(lines[4].contains("value=three"), "{text}");
    assert_eq!(
        lines[5],
        format!(
            "2 batches, 3 records, offsets 0..3, {0} of {0} bytes valid",
            std::fs::metadata(&log).unwrap().len()
        )
    );
    let dumped = json_of(millrace(&data).args(["dump", "--json"]).arg(&log));
    assert_eq!(dumped["batches"][1]["records"][0]["value"], "three");
    assert_eq!(dumped["batches"][0]["record_count"], 2);
    assert_eq!(dumped["invalid"], serde_json::Value::Null);
    let headers_only = stdout_of(
        millrace(&data)
            .args(["dump", "--batches-only", "--max-batches", "1"])
            .arg(&log),
    );
    assert_eq!(headers_only.lines().filter(|l| l.starts_with("batch @")).count(), 1);
    assert!(!headers_only.contains("value="));
}

#[test]
fn dump_of_a_corrupt_segment_stops_at_the_bad_batch_and_exits_3() {
    let (_tmp, data) = fixture();
    let output = millrace(&data).arg("dump").arg(data.join(SEGMENT)).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().filter(|l| l.starts_with("batch @")).count(), 6);
    assert!(stdout.contains("event-24") && !stdout.contains("event-25"));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("invalid batch at byte {CORRUPT_AT}")),
        "{stderr}"
    );
    assert!(Path::new(&data.join(SEGMENT)).exists());
    millrace(&data)
        .args(["dump", "not-a-segment.txt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("<20 digits>.log"));
}

/// Issue 18 item 6: a truncated active segment after a clean close is not a
/// torn tail: the close's producer snapshot proves the cut record was
/// acknowledged. `check` and every open report it (exit 3) and change
/// nothing; the repair plan lists the range with its count and the group
/// that committed past it, and `--yes` reports the right range (it used to
/// say `2..2` for a cut in the active segment).
#[test]
fn truncated_active_segment_after_a_clean_close_is_loss() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data)
        .args(["produce", "t", "--batch-records", "1"])
        .write_stdin("a\nb\nc\n")
        .assert()
        .success();
    millrace(&data)
        .args(["consume", "t", "--group", "g"])
        .assert()
        .success();
    let log = data.join("topics/t/00000/00000000000000000000.log");
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    millrace(&data)
        .arg("check")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("were acknowledged"));
    // Any open (here a writing one) refuses instead of cutting silently.
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("d\n")
        .assert()
        .code(3);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), len - 5);

    let output = millrace(&data).args(["--json", "repair"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let planned = &plan["actions"][0]["plan"];
    assert_eq!(plan["actions"][0]["action"], "truncate");
    assert_eq!(planned["offsets_dropped"], serde_json::json!({"from": 2, "to": 3}));
    assert_eq!(planned["records_dropped"], 1);
    assert_eq!(planned["removals"][0]["records"], 1);
    assert_eq!(
        planned["affected"],
        serde_json::json!([{"name": "g", "kind": "group", "topic": "t", "partition": 0, "committed": 3, "effect": "read-removed-records", "falls_back_to": null}])
    );
    millrace(&data)
        .arg("repair")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("records taken out of service").and(predicate::str::contains("group")));
    millrace(&data)
        .args(["repair", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("offsets 2..3 (1 record(s))"));
    assert_eq!(
        stdout_of(millrace(&data).args(["consume", "t", "--format", "value"])),
        "a\nb\n"
    );
}

/// A deleted last segment: the sealed segment before it ends cleanly, so
/// nothing looked wrong; the close's producer snapshot says more was
/// acknowledged. `check` reports the loss on the snapshot, the plan shows the
/// range, and `repair --yes` accepts it (sets the snapshot aside).
#[test]
fn deleted_last_segment_is_loss_and_repair_accepts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args(["topic", "create", "t", "--segment-bytes", "16KiB"])
        .assert()
        .success();
    let lines: String = (0..1000)
        .map(|i| format!("value-{i:05}-pppppppppppppppppppppppppppppp\n"))
        .collect();
    millrace(&data)
        .args(["produce", "t", "--batch-records", "50"])
        .write_stdin(lines)
        .assert()
        .success();
    let dir = data.join("topics/t/00000");
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 2, "rolled: {logs:?}");
    let last = logs.last().unwrap().clone();
    let last_base: u64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    std::fs::remove_file(&last).unwrap();
    std::fs::remove_file(last.with_extension("index")).unwrap();
    millrace(&data)
        .arg("check")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("acknowledged records lost"));
    millrace(&data).args(["topic", "describe", "t"]).assert().code(3);
    let output = millrace(&data).args(["--json", "repair"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["actions"][0]["action"], "accept-loss");
    assert_eq!(
        plan["actions"][0]["plan"]["offsets_dropped"],
        serde_json::json!({"from": last_base, "to": 1000})
    );
    assert_eq!(plan["actions"][0]["plan"]["records_dropped"], 1000 - last_base);
    millrace(&data).args(["repair", "--yes"]).assert().success();
    millrace(&data).arg("check").assert().success();
    let consumed = stdout_of(millrace(&data).args(["consume", "t", "--format", "value"]));
    assert_eq!(consumed.lines().count() as u64, last_base);
}

/// The dry run of a cut in a sealed segment lists every later segment it
/// moves out, each with its offsets and record count (it used to show one
/// "truncate" row).
#[test]
fn repair_plan_lists_every_segment_it_moves_out() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args(["topic", "create", "t", "--segment-bytes", "16KiB"])
        .assert()
        .success();
    let lines: String = (0..1000)
        .map(|i| format!("value-{i:05}-pppppppppppppppppppppppppppppp\n"))
        .collect();
    millrace(&data)
        .args(["produce", "t", "--batch-records", "50"])
        .write_stdin(lines)
        .assert()
        .success();
    let dir = data.join("topics/t/00000");
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 3, "rolled: {logs:?}");
    // Flip a payload byte of the first batch of the first segment.
    let mut bytes = std::fs::read(&logs[0]).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&logs[0], &bytes).unwrap();
    let output = millrace(&data).args(["--json", "repair"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let removals = plan["actions"][0]["plan"]["removals"].as_array().unwrap().clone();
    assert_eq!(
        removals.len(),
        logs.len(),
        "the cut segment and every later one: {removals:?}"
    );
    for (removal, log) in removals.iter().zip(&logs) {
        assert_eq!(removal["file"], log.display().to_string());
    }
    assert!(removals[1..]
        .iter()
        .all(|r| r["whole_file"] == true && r["records"].as_u64().unwrap() > 0));
    assert_eq!(
        plan["actions"][0]["plan"]["offsets_dropped"],
        serde_json::json!({"from": 0, "to": 1000})
    );
    assert_eq!(plan["actions"][0]["plan"]["records_dropped"], 1000);
    let text = millrace(&data).arg("repair").output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    for log in &logs {
        assert!(text.contains(&log.display().to_string()), "{text}");
    }
}
