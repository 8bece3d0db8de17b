//! `repair --accept-gap` (a missing middle segment: keep every later
//! segment, record the gap, audited) and `repair restore DIR` (undo a repair
//! from its manifest), through the binary, including kill -9 of either in the
//! middle (the `MILLRACE_TEST_KILL_AFTER_WRITES` hook, cli/src/crash_hook.rs).

use crate::common;

use common::{json_of, millrace, snapshot, stdout_of};
use predicates::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const RECORDS: u64 = 1000;

/// A store with topic `t` of `RECORDS` records in several 16 KiB segments,
/// values `value-<offset>`; returns the partition's segment logs, sorted.
fn rolled_store(data: &Path) -> Vec<PathBuf> {
    millrace(data)
        .args(["topic", "create", "t", "--segment-bytes", "16KiB"])
        .assert()
        .success();
    let lines: String = (0..RECORDS)
        .map(|i| format!("value-{i:05}-pppppppppppppppppppppppppppppp\n"))
        .collect();
    millrace(data)
        .args(["produce", "t", "--batch-records", "50"])
        .write_stdin(lines)
        .assert()
        .success();
    let mut logs: Vec<PathBuf> = std::fs::read_dir(data.join("topics/t/00000"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 4, "rolled: {logs:?}");
    logs
}

fn base_of(log: &Path) -> u64 {
    log.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// Delete the second segment (log and index); returns the gap `[from, to)`.
fn delete_middle_segment(logs: &[PathBuf]) -> (u64, u64) {
    std::fs::remove_file(&logs[1]).unwrap();
    let _ = std::fs::remove_file(logs[1].with_extension("index"));
    (base_of(&logs[1]), base_of(&logs[2]))
}

/// (offset, value) of every record of `t`, read by `consume` (with `extra`).
fn consumed(data: &Path, extra: &[&str]) -> Vec<(u64, String)> {
    let out = stdout_of(millrace(data).args(["consume", "t", "--format", "json"]).args(extra));
    out.lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            (r["offset"].as_u64().unwrap(), r["value"].as_str().unwrap().to_string())
        })
        .collect()
}

/// The only `repair-backup-*` directory of `data`.
pub(crate) fn backup_dir(data: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("repair-backup-"))
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// The files of the data directory but the backups and the audit log.
pub(crate) fn store_files(data: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    snapshot(data)
        .into_iter()
        .filter(|(p, _)| {
            let rel = p.strip_prefix(data).unwrap().to_string_lossy().into_owned();
            !rel.starts_with("repair-backup-") && rel != "repair.audit" && rel != "LOCK"
        })
        .collect()
}

fn expected_outside(from: u64, to: u64) -> Vec<(u64, String)> {
    (0..RECORDS)
        .filter(|o| *o < from || *o >= to)
        .map(|o| (o, format!("value-{o:05}-pppppppppppppppppppppppppppppp")))
        .collect()
}

/// A missing middle segment: `check` reports it and names `--accept-gap`;
/// the plain repair says what it drops and names the flag; `--accept-gap`
/// keeps every record outside the hole (counted exactly), `check` then
/// reports an accepted gap with the reason, new records continue after the
/// old end, and a group consumes across the gap.
#[test]
fn accept_gap_keeps_every_record_outside_the_hole_and_never_reuses_offsets() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let logs = rolled_store(&data);
    let (from, to) = delete_middle_segment(&logs);
    millrace(&data)
        .arg("check")
        .assert()
        .code(3)
        .stdout(predicate::str::contains(format!(
            "segment starts at offset {to} but the previous one ends at {from}"
        )))
        .stdout(predicate::str::contains("--accept-gap"));
    // Without the flag: the plan drops every later segment, and says so.
    let plan = millrace(&data).arg("repair").output().unwrap();
    assert_eq!(plan.status.code(), Some(3));
    let text = String::from_utf8(plan.stdout).unwrap();
    assert!(text.contains(&format!("offsets {from}..{to} before")), "{text}");
    assert!(text.contains("`millrace repair --accept-gap"), "{text}");
    let plan: serde_json::Value =
        serde_json::from_slice(&millrace(&data).args(["--json", "repair"]).output().unwrap().stdout).unwrap();
    assert_eq!(plan["actions"][0]["action"], "truncate");
    assert_eq!(
        plan["actions"][0]["missing_segment"],
        serde_json::json!({"from": from, "to": to, "remedy": "--accept-gap"})
    );
    // With it: the dry run changes nothing.
    let before = store_files(&data);
    let dry: serde_json::Value = serde_json::from_slice(
        &millrace(&data)
            .args(["--json", "repair", "--accept-gap"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(dry["actions"][0]["action"], "accept-gap");
    assert_eq!(store_files(&data), before);
    millrace(&data)
        .args(["repair", "--accept-gap", "--reason", "segment deleted by hand", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "offsets {from}..{to} are recorded as a hole"
        )));
    let check = stdout_of(millrace(&data).arg("check"));
    assert!(
        check.contains(&format!(
            "t/0: offsets {from}..{to} are a recorded accepted gap (repair --accept-gap, reason: segment deleted by hand)"
        )),
        "{check}"
    );
    let report = json_of(millrace(&data).args(["--json", "check"]));
    assert_eq!(report["corruption_found"], false);
    assert_eq!(report["holes"][0]["accepted_gap"], true);
    assert_eq!(report["holes"][0]["from"], from);
    assert_eq!(report["holes"][0]["to"], to);
    // Audited, with the range, the time and the reason.
    let audit = std::fs::read_to_string(data.join("repair.audit")).unwrap();
    let line: serde_json::Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(line["action"], "accept-gap");
    assert_eq!((line["from"].as_u64(), line["to"].as_u64()), (Some(from), Some(to)));
    assert_eq!(line["reason"], "segment deleted by hand");
    assert!(line["time_ms"].as_i64().unwrap() > 0);
    // Every record outside the hole, exactly.
    let expected = expected_outside(from, to);
    assert_eq!(expected.len() as u64, RECORDS - (to - from));
    assert_eq!(consumed(&data, &[]), expected);
    // A group reads across the gap and commits the end.
    assert_eq!(consumed(&data, &["--group", "g"]), expected);
    let shown = json_of(millrace(&data).args(["offsets", "show", "--group", "g", "--topic", "t", "--json"]));
    assert_eq!(shown["partitions"][0]["committed"], RECORDS, "{shown}");
    // New records continue after the old end: no offset reused.
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("new-a\nnew-b\n")
        .assert()
        .success();
    let all = consumed(&data, &[]);
    assert_eq!(
        all[all.len() - 2..],
        [(RECORDS, "new-a".to_string()), (RECORDS + 1, "new-b".to_string())]
    );
    let offsets: Vec<u64> = all.iter().map(|(o, _)| *o).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets ascend, none twice");
    assert!(offsets.iter().all(|o| *o < from || *o >= to));
    // The group goes on with exactly the new records.
    assert_eq!(
        consumed(&data, &["--group", "g"]),
        [(RECORDS, "new-a".to_string()), (RECORDS + 1, "new-b".to_string())]
    );
    // Restore after new records: safe (no record is removed); the gap is
    // damage again and the new records stay.
    let backup = backup_dir(&data);
    millrace(&data)
        .args(["repair", "restore"])
        .arg(&backup)
        .arg("--yes")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "the gap {from}..{to} is no longer accepted"
        )));
    millrace(&data)
        .arg("check")
        .assert()
        .code(3)
        .stdout(predicate::str::contains(format!(
            "segment starts at offset {to} but the previous one ends at {from}"
        )));
    let audit = std::fs::read_to_string(data.join("repair.audit")).unwrap();
    assert!(
        audit.lines().nth(1).unwrap().contains("\"action\":\"restore\""),
        "{audit}"
    );
}

/// kill -9 of `repair --accept-gap` at every change it makes to the disk:
/// each leaves the store either unrepaired (check reports the gap) or
/// repaired; the next repair finishes it; no offset is handed out twice.
#[test]
fn accept_gap_killed_at_any_write_is_finished_by_a_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    let logs = rolled_store(&template);
    let (from, to) = delete_middle_segment(&logs);
    let mut n = 1;
    loop {
        let data = tmp.path().join(format!("data-{n}"));
        common::copy_dir(&template, &data);
        let killed = millrace(&data)
            .args(["repair", "--accept-gap", "--yes"])
            .env("MILLRACE_TEST_KILL_AFTER_WRITES", n.to_string())
            .output()
            .unwrap();
        if killed.status.success() {
            assert!(n > 2, "the hook killed nothing");
            break;
        }
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&killed.status),
            Some(9),
            "write {n}: {killed:?}"
        );
        // Unrepaired or repaired, nothing in between.
        let report = json_any(millrace(&data).args(["--json", "check"]));
        let gap_damage =
            report["problems"].as_array().unwrap().len() == 1 && report["holes"].as_array().unwrap().is_empty();
        let repaired =
            report["problems"].as_array().unwrap().is_empty() && report["holes"].as_array().unwrap().len() == 1;
        assert!(gap_damage || repaired, "write {n}: {report}");
        millrace(&data)
            .args(["repair", "--accept-gap", "--yes"])
            .assert()
            .success();
        millrace(&data).arg("check").assert().success();
        assert_eq!(consumed(&data, &[]), expected_outside(from, to), "write {n}");
        millrace(&data)
            .args(["produce", "t"])
            .write_stdin("new\n")
            .assert()
            .success();
        let all = consumed(&data, &[]);
        assert_eq!(all.last().unwrap(), &(RECORDS, "new".to_string()), "write {n}");
        n += 1;
    }
}

/// A repair that truncates and moves later segments out, then `restore`:
/// the store's files are byte-identical to before the repair and `check`
/// reports the same damage; a second restore is refused; restore is killed
/// at every write and a rerun finishes it.
#[test]
fn restore_puts_back_a_truncating_repair_byte_for_byte_also_after_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    let logs = rolled_store(&template);
    // Flip a payload byte in the first segment: the repair cuts there and
    // moves every later segment out.
    let mut bytes = std::fs::read(&logs[0]).unwrap();
    bytes[5000] ^= 0x01;
    std::fs::write(&logs[0], &bytes).unwrap();
    let damaged = store_files(&template);
    let check_before = json_any(millrace(&template).args(["--json", "check"]))["problems"].clone();
    let mut n = 1;
    loop {
        let data = tmp.path().join(format!("data-{n}"));
        common::copy_dir(&template, &data);
        millrace(&data).args(["repair", "--yes"]).assert().success();
        let repaired = store_files(&data);
        assert_ne!(repaired, rebase(&damaged, &template, &data));
        let backup = backup_dir(&data);
        let finished = restore_killed_before_write(&data, &backup, n, || {
            // Killed before its first rename the store is as repaired (but
            // for the temporary copy being written); after it, never clean
            // until the restore is finished.
            let code = millrace(&data).arg("check").output().unwrap().status.code();
            let mut now = store_files(&data);
            now.retain(|p, _| p.extension().is_none_or(|e| e != "restore-tmp"));
            assert!(code == Some(3) || now == repaired, "write {n}: {code:?}");
        });
        assert_eq!(store_files(&data), rebase(&damaged, &template, &data), "write {n}");
        let check_after = json_any(millrace(&data).args(["--json", "check"]))["problems"].clone();
        assert_eq!(
            check_after.to_string().replace(data.to_str().unwrap(), "DATA"),
            check_before.to_string().replace(template.to_str().unwrap(), "DATA"),
        );
        a_second_restore_is_refused(&data, &backup);
        if finished {
            assert!(n > 3, "the hook killed nothing");
            break;
        }
        n += 1;
    }
}

/// `restore` refuses a directory without a manifest, a damaged manifest and
/// a store that moved on (records written where the restore would remove
/// them), changing nothing.
#[test]
fn restore_refuses_a_missing_or_damaged_manifest_and_a_store_that_moved_on() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let logs = rolled_store(&data);
    let mut bytes = std::fs::read(&logs[1]).unwrap();
    bytes[5000] ^= 0x01;
    std::fs::write(&logs[1], &bytes).unwrap();
    millrace(&data).args(["repair", "--yes"]).assert().success();
    let backup = backup_dir(&data);
    let repaired = store_files(&data);
    // No manifest.
    let empty = tmp.path().join("not-a-backup");
    std::fs::create_dir(&empty).unwrap();
    millrace(&data)
        .args(["repair", "restore"])
        .arg(&empty)
        .arg("--yes")
        .assert()
        .failure()
        .stderr(predicate::str::contains("has no repair.manifest"));
    // A damaged line.
    let manifest = backup.join("repair.manifest");
    let good = std::fs::read(&manifest).unwrap();
    let mut bad = good.clone();
    let at = good.iter().position(|b| *b == b'{').unwrap() + 3;
    bad[at] ^= 0x20;
    std::fs::write(&manifest, &bad).unwrap();
    millrace(&data)
        .args(["repair", "restore"])
        .arg(&backup)
        .arg("--yes")
        .assert()
        .failure()
        .stderr(predicate::str::contains("is damaged at line 1"));
    assert_eq!(store_files(&data), repaired);
    std::fs::write(&manifest, &good).unwrap();
    // Records written since: refused.
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("after\n")
        .assert()
        .success();
    let moved_on = store_files(&data);
    millrace(&data)
        .args(["repair", "restore"])
        .arg(&backup)
        .arg("--yes")
        .assert()
        .failure()
        .stderr(predicate::str::contains("the store has moved on since the repair"));
    assert_eq!(store_files(&data), moved_on);
}

/// `tmp`'s snapshot keys moved from `from` to `to`.
pub(crate) fn rebase(
    files: &BTreeMap<PathBuf, Option<Vec<u8>>>,
    from: &Path,
    to: &Path,
) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    files
        .iter()
        .map(|(p, b)| (to.join(p.strip_prefix(from).unwrap()), b.clone()))
        .collect()
}

/// Runs `repair restore BACKUP` killed before its `n`-th write. If the kill
/// landed, calls `after_kill` on the half-restored store, then runs the
/// restore again, which must finish (or find it finished). Returns whether
/// the killed run went through (it had no `n`-th write: the caller's loop
/// over `n` is done).
pub(crate) fn restore_killed_before_write(data: &Path, backup: &Path, n: u32, after_kill: impl FnOnce()) -> bool {
    let killed = millrace(data)
        .args(["repair", "restore"])
        .arg(backup)
        .arg("--yes")
        .env("MILLRACE_TEST_KILL_AFTER_WRITES", n.to_string())
        .output()
        .unwrap();
    if killed.status.success() {
        return true;
    }
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed.status),
        Some(9),
        "write {n}: {killed:?}"
    );
    after_kill();
    let again = millrace(data)
        .args(["repair", "restore"])
        .arg(backup)
        .arg("--yes")
        .output()
        .unwrap();
    assert!(
        again.status.success() || String::from_utf8_lossy(&again.stderr).contains("was restored already"),
        "write {n}: {again:?}"
    );
    false
}

/// A restore that finished is not run twice.
pub(crate) fn a_second_restore_is_refused(data: &Path, backup: &Path) {
    millrace(data)
        .args(["repair", "restore"])
        .arg(backup)
        .arg("--yes")
        .assert()
        .failure()
        .stderr(predicate::str::contains("was restored already"));
}

/// The JSON a command printed, whatever its exit code (`check` exits 3 on damage).
pub(crate) fn json_any(cmd: &mut assert_cmd::Command) -> serde_json::Value {
    serde_json::from_slice(&cmd.output().unwrap().stdout).unwrap()
}

/// Real Kafka clients across an accepted gap [a, b) through `millrace
/// serve`'s Kafka front: a confluent-kafka consumer in a group from earliest
/// (`tests/kafka/gap_consumer.py`) reads every record outside the hole once,
/// in order, its offsets jumping from a-1 to b, and commits past it;
/// ListOffsets answers the log start and the high watermark; kcat starting
/// inside the hole lands at b.
#[test]
fn a_kafka_consumer_group_reads_across_an_accepted_gap() {
    let Some(clients) = common::kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let logs = rolled_store(&data);
    let (from, to) = delete_middle_segment(&logs);
    millrace(&data)
        .args(["repair", "--accept-gap", "--yes"])
        .assert()
        .success();
    let (server, bootstrap) = common::kafka::start_server(&data, &[]);
    let output = clients.python("gap_consumer.py", &bootstrap, &["--topic", "t", "--group", "across"]);
    let out: serde_json::Value = serde_json::from_str(common::kafka::success(&output).trim()).unwrap();
    let read: Vec<(u64, String)> = out["read"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(read, expected_outside(from, to), "{}", out["errors"]);
    assert_eq!(out["errors"], serde_json::json!([]), "{out}");
    assert_eq!((out["low"].as_u64(), out["high"].as_u64()), (Some(0), Some(RECORDS)));
    assert_eq!(out["committed"].as_u64(), Some(RECORDS), "{out}");
    assert_eq!(out["by_time_0"].as_u64(), Some(0), "{out}");
    // A fetch starting inside the hole answers from its end.
    let inside = (from + 1).to_string();
    let landed = common::kafka::success(&clients.kcat(
        &bootstrap,
        &[
            "-C", "-t", "t", "-p", "0", "-o", &inside, "-c", "1", "-e", "-f", "%o %s\\n",
        ],
        b"",
    ));
    assert_eq!(
        landed.trim(),
        format!("{to} value-{to:05}-pppppppppppppppppppppppppppppp")
    );
    // The group's commit is the native offset table's.
    let offsets = json_of(
        server
            .millrace()
            .args(["--json", "offsets", "show", "--group", "across"]),
    );
    assert!(
        offsets.to_string().contains(&format!("\"committed\":{RECORDS}")),
        "{offsets}"
    );
    assert!(server.stop(), "the server stops cleanly");
}
