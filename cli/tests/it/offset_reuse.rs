//! Offsets are never handed out twice, through the `millrace` binary: after
//! `repair --yes` cuts a partition, after the last segment disappears, and
//! after `topic delete` and a re-create of the same name, a group that had
//! committed past the old end still gets every new record (`consume --group`
//! prints them and commits past them), and `offsets show` never shows a
//! committed offset above the end. Each test fails on the code before the fix:
//! the new records took offsets below the group's committed offset, `consume
//! --group` printed nothing and committed the lower end.

use crate::common;

use common::{json_of, millrace, stdout_of, store_with_topic};
use predicates::prelude::*;
use std::path::Path;

const SEGMENT: &str = "topics/t/00000/00000000000000000000.log";

/// Topic `t` (1 partition) with 30 records in three batches of 10, all read
/// and committed by group `g`.
fn consumed_store() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, data) = store_with_topic("t", 1);
    for batch in 0..3 {
        let lines: String = (0..10).map(|i| format!("old-{}\n", batch * 10 + i)).collect();
        millrace(&data)
            .args(["produce", "t"])
            .write_stdin(lines)
            .assert()
            .success();
    }
    let read = stdout_of(millrace(&data).args(["consume", "t", "--group", "g", "--format", "value"]));
    assert_eq!(read.lines().count(), 30);
    assert_eq!(committed(&data), Some(30));
    (tmp, data)
}

fn committed(data: &Path) -> Option<u64> {
    let shown = json_of(millrace(data).args(["offsets", "show", "--group", "g", "--topic", "t", "--json"]));
    shown["partitions"][0]["committed"].as_u64()
}

/// Produce `new-0`, `new-1`; the group reads exactly those, and its offset
/// ends past them, at or above where it was (never lowered).
fn new_records_reach_the_group(data: &Path, committed_before: u64) {
    millrace(data)
        .args(["produce", "t"])
        .write_stdin("new-0\nnew-1\n")
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "offsets {}..{}",
            committed_before,
            committed_before + 2
        )));
    let read = stdout_of(millrace(data).args(["consume", "t", "--group", "g", "--format", "value"]));
    assert_eq!(read, "new-0\nnew-1\n");
    assert_eq!(committed(data), Some(committed_before + 2));
    let shown = json_of(millrace(data).args(["offsets", "show", "--group", "g", "--topic", "t", "--json"]));
    assert_eq!(shown["partitions"][0]["committed_past_end"], false);
    assert_eq!(shown["partitions"][0]["lag"], 0);
    assert_eq!(shown["partitions"][0]["high_watermark"], committed_before + 2);
}

#[test]
fn repair_that_cuts_a_partition_does_not_reuse_its_offsets() {
    let (tmp, data) = consumed_store();
    // Damage the second batch; the third one proves it was durable: corruption.
    let segment = data.join(SEGMENT);
    let mut bytes = std::fs::read(&segment).unwrap();
    let second = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    bytes[second + 100] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    millrace(&data).arg("check").assert().code(3);
    let backup = tmp.path().join("backup");
    millrace(&data)
        .args(["repair", "--yes", "--backup-dir"])
        .arg(&backup)
        .assert()
        .success();
    new_records_reach_the_group(&data, 30);
    // The records before the cut are still readable; the hole is stepped over.
    let all = stdout_of(millrace(&data).args(["consume", "t", "--format", "value"]));
    let all: Vec<&str> = all.lines().collect();
    assert_eq!(all.len(), 12, "{all:?}");
    assert_eq!(all[9], "old-9");
    assert_eq!(all[10], "new-0");
    millrace(&data)
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("no problems found"));
}

#[test]
fn a_lost_last_segment_does_not_reuse_its_offsets() {
    let (_tmp, data) = consumed_store();
    let partition = data.join("topics/t/00000");
    for name in ["00000000000000000000.log", "00000000000000000000.index"] {
        std::fs::remove_file(partition.join(name)).unwrap();
    }
    // The producer snapshot of the close says the log reached 30: reported
    // loss, which the operator accepts with repair.
    millrace(&data).arg("check").assert().code(3);
    millrace(&data).args(["repair", "--yes"]).assert().success();
    new_records_reach_the_group(&data, 30);
    let all = stdout_of(millrace(&data).args(["consume", "t", "--format", "value"]));
    assert_eq!(all, "new-0\nnew-1\n");
    millrace(&data).arg("check").assert().success();
}

#[test]
fn a_recreated_topic_inherits_no_committed_offsets() {
    let (_tmp, data) = consumed_store();
    millrace(&data)
        .args(["topic", "delete", "t", "--yes"])
        .assert()
        .success();
    millrace(&data).args(["topic", "create", "t"]).assert().success();
    // The group's offset went with the old topic: nothing committed.
    assert_eq!(committed(&data), None);
    new_records_reach_the_group(&data, 0);
}

/// A hole at the end of a partition (the repair cut below a group's commit
/// and nothing was produced since) is stepped over by reads too: a new group
/// reading from the start gets every record before the hole and commits the
/// end, lag 0. Before the fix a read inside the hole returned nothing and
/// stayed where it was, so the group's lag never reached 0 (found by the
/// simulation's operator actions, seed 2857 before its model avoided holes).
#[test]
fn a_hole_at_the_end_is_stepped_over_by_reads() {
    let (tmp, data) = consumed_store();
    let segment = data.join(SEGMENT);
    let mut bytes = std::fs::read(&segment).unwrap();
    let second = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    bytes[second + 100] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    let backup = tmp.path().join("backup");
    millrace(&data)
        .args(["repair", "--yes", "--backup-dir"])
        .arg(&backup)
        .assert()
        .success();
    let read = stdout_of(millrace(&data).args(["consume", "t", "--group", "fresh", "--format", "value"]));
    assert_eq!(read.lines().count(), 10, "{read}");
    let shown = json_of(millrace(&data).args(["offsets", "show", "--group", "fresh", "--topic", "t", "--json"]));
    assert_eq!(shown["partitions"][0]["high_watermark"], 30, "{shown}");
    assert_eq!(shown["partitions"][0]["committed"], 30, "{shown}");
    assert_eq!(shown["partitions"][0]["lag"], 0, "{shown}");
}
