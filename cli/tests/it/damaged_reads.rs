//! Reads of a partition with damage, through `millrace consume` (offline and
//! through `millrace serve`): a corrupt batch at offset N does not hide the
//! records before it (they are printed, a group commits up to N, then the
//! command exits 3 naming the segment and byte), and an index entry that
//! disagrees with the log is not believed (no record is skipped). Each test
//! builds its store with the CLI, then damages one file the way a disk or an
//! operator could.

use crate::common;

use common::{json_of, millrace, stdout_of, Server};
use std::path::{Path, PathBuf};

const SEGMENT: &str = "topics/events/00000/00000000000000000000.log";
const INDEX: &str = "topics/events/00000/00000000000000000000.index";
/// Every batch holds 4 records `record-NNN` and is 192 bytes long, so the
/// batch of offsets 24..=27 starts at byte 6 × 192.
const BATCH_BYTES: u64 = 192;
const DAMAGED_OFFSET: u64 = 24;
const DAMAGED_AT: u64 = 6 * BATCH_BYTES;

/// 120 records in batches of 4; 4 KiB segments (the first, sealed, holds
/// offsets 0..84) and an index entry every 256 bytes.
fn store() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args([
            "topic",
            "create",
            "events",
            "--segment-bytes",
            "4096",
            "--index-interval-bytes",
            "256",
        ])
        .assert()
        .success();
    let input: String = (0..120).map(|i| format!("record-{i:03}\n")).collect();
    millrace(&data)
        .args(["produce", "events", "--batch-records", "4"])
        .write_stdin(input)
        .assert()
        .success();
    (tmp, data)
}

fn values(range: std::ops::Range<u64>) -> String {
    range.map(|i| format!("record-{i:03}\n")).collect()
}

/// Flip one byte inside the batch of offsets 24..=27 of the sealed segment.
fn corrupt_batch(data: &Path) {
    let path = data.join(SEGMENT);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(DAMAGED_AT + 100) as usize] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
}

fn committed(data: &Path, group: &str) -> u64 {
    let shown = json_of(millrace(data).args(["offsets", "show", "-g", group, "-t", "events", "--json"]));
    shown["partitions"][0]["committed"].as_u64().unwrap()
}

#[test]
fn consume_prints_the_records_before_a_corrupt_batch_then_exits_3() {
    let (_tmp, data) = store();
    corrupt_batch(&data);
    let output = millrace(&data)
        .args(["consume", "events", "--format", "value"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), values(0..DAMAGED_OFFSET));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&data.join(SEGMENT).display().to_string())
            && stderr.contains(&format!("at byte {DAMAGED_AT}"))
            && stderr.contains(&format!("offset {DAMAGED_OFFSET}")),
        "{stderr}"
    );

    // A group gets everything up to the damage and commits exactly there,
    // however often it comes back.
    for expected in [values(0..DAMAGED_OFFSET), String::new()] {
        let output = millrace(&data)
            .args(["consume", "events", "--format", "value", "--group", "g"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(3));
        assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
        assert_eq!(committed(&data, "g"), DAMAGED_OFFSET);
    }
    // Past the damage the records are still there: from the next index
    // entry (offset 32, byte 1536) on; finding 28 needs the damaged batch.
    let after = stdout_of(millrace(&data).args(["consume", "events", "--format", "value", "--offset", "32"]));
    assert_eq!(after, values(32..120));
    millrace(&data)
        .args(["consume", "events", "--format", "value", "--offset", "28"])
        .assert()
        .code(3)
        .stdout("");
}

#[test]
fn consume_through_the_server_prints_the_records_before_a_corrupt_batch() {
    let (_tmp, data) = store();
    corrupt_batch(&data);
    let server = Server::start(&data, &[]);
    let output = server
        .millrace()
        .args(["consume", "events", "--format", "value", "--group", "g"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), values(0..DAMAGED_OFFSET));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&format!("at byte {DAMAGED_AT}")), "{stderr}");
    let shown = json_of(
        server
            .millrace()
            .args(["offsets", "show", "-g", "g", "-t", "events", "--json"]),
    );
    assert_eq!(shown["partitions"][0]["committed"].as_u64(), Some(DAMAGED_OFFSET));
    assert!(server.stop());
}

/// Rewrite the sealed segment's index entry for offset 24 (at byte 1152) to
/// point at the next batch (offsets 28..=31, byte 1344): still increasing,
/// inside the log, a plausible entry, but wrong.
fn misplace_index_entry(data: &Path) {
    let path = data.join(INDEX);
    let mut bytes = std::fs::read(&path).unwrap();
    let entry = bytes
        .chunks_exact(16)
        .position(|e| u32::from_le_bytes(e[..4].try_into().unwrap()) == DAMAGED_OFFSET as u32)
        .unwrap();
    let at = entry * 16;
    assert_eq!(
        u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()),
        DAMAGED_AT as u32
    );
    bytes[at + 4..at + 8].copy_from_slice(&((DAMAGED_AT + BATCH_BYTES) as u32).to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_wrong_index_entry_skips_no_record() {
    let (_tmp, data) = store();
    misplace_index_entry(&data);
    let read = stdout_of(millrace(&data).args(["consume", "events", "--format", "value", "--offset", "24", "-n", "8"]));
    assert_eq!(read, values(24..32));
    // A group that committed 24 goes on from 24.
    stdout_of(millrace(&data).args(["consume", "events", "--group", "g", "-n", "24"]));
    assert_eq!(committed(&data, "g"), 24);
    let rest = stdout_of(millrace(&data).args(["consume", "events", "--format", "value", "--group", "g"]));
    assert_eq!(rest, values(24..120));
}
