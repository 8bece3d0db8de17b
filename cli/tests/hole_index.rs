//! A repair that cuts a partition below a group's commit leaves a recorded
//! hole (`<base>.hole`): the sealed segment before it ends below the next
//! segment's base, and its index end entry says so. Opening the store must
//! know the hole: no "index end entry disagrees" warning and no index
//! rebuild at every open (before the fix, every command warned and rebuilt
//! the index of the segment before the hole).

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use common::{millrace, stdout_of, store_with_topic};

const SEGMENT: &str = "topics/t/00000/00000000000000000000.log";
const DISAGREES: &str = "index end entry disagrees";

#[test]
fn a_hole_left_by_repair_does_not_rebuild_the_index_at_every_open() {
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
    // Damage the second batch; the third proves it was durable: the repair
    // cuts at 10 and the group's commit at 30 makes the rest a hole.
    let segment = data.join(SEGMENT);
    let mut bytes = std::fs::read(&segment).unwrap();
    let second = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    bytes[second + 100] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    millrace(&data)
        .args(["repair", "--yes", "--backup-dir"])
        .arg(tmp.path().join("backup"))
        .assert()
        .success();
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("new-0\nnew-1\n")
        .assert()
        .success();
    assert!(data.join("topics/t/00000/00000000000000000030.hole").exists());
    for run in 0..2 {
        let output = millrace(&data)
            .args(["consume", "t", "--format", "value"])
            .output()
            .unwrap();
        assert!(output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains(DISAGREES), "open {run} rebuilt the index: {stderr}");
        let values = String::from_utf8(output.stdout).unwrap();
        assert_eq!(values.lines().count(), 12, "{values}");
    }
}
