//! Offline commands that only read never modify the data directory: on a
//! store whose last segment has a torn tail (which a writing open would cut),
//! every file and byte of the directory is the same after each of `check`,
//! `dump`, `consume` (without a committing group), `topic list|describe`,
//! `offsets show|audit` and `stats`, and they still serve the records before
//! the damage. (As root, permission bits would not stop a write, so the test
//! compares the directory byte for byte instead of making it read-only.)

use crate::common;

use common::{millrace, snapshot, stdout_of, store_with_topic};

#[test]
fn read_only_commands_leave_a_torn_store_byte_for_byte_unchanged() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data)
        .args(["produce", "t", "--batch-records", "1"])
        .write_stdin("a\nb\nc\n")
        .assert()
        .success();
    millrace(&data)
        .args(["consume", "t", "--group", "g", "--format", "value"])
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
    // As a crash leaves it: no close snapshot (else the cut batch would be
    // acknowledged loss, and these commands would refuse with exit 3).
    for entry in std::fs::read_dir(log.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "producers") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let before = snapshot(&data);
    let log_arg = log.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["check"],
        vec!["--json", "check"],
        vec!["dump", log_arg],
        vec!["consume", "t", "--format", "value"],
        vec!["consume", "t", "--group", "g", "--no-commit", "--from-earliest"],
        vec!["topic", "list"],
        vec!["topic", "describe", "t"],
        vec!["--json", "topic", "describe", "t"],
        vec!["offsets", "show"],
        vec!["offsets", "show", "--group", "g"],
        vec!["offsets", "audit"],
        vec!["stats"],
    ];
    for args in &commands {
        let output = millrace(&data).args(args).output().unwrap();
        // `dump` exits 3 at the torn batch, as it should; the rest succeed.
        let expected = if args[0] == "dump" { 3 } else { 0 };
        assert!(
            output.status.code() == Some(expected),
            "{args:?}: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            snapshot(&data) == before,
            "`millrace {}` modified the data directory",
            args.join(" ")
        );
    }
    // The records before the torn batch are served; the torn one is not.
    assert_eq!(
        stdout_of(millrace(&data).args(["consume", "t", "--format", "value"])),
        "a\nb\n"
    );
    assert!(snapshot(&data) == before);
    // A writing open cuts the torn tail (into a backup).
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("d\n")
        .assert()
        .success();
    assert!(snapshot(&data) != before);
}

/// The same with acknowledged loss (the close snapshot kept): the read-only
/// commands that open the store refuse with exit 3, and still change nothing.
#[test]
fn read_only_commands_refuse_acknowledged_loss_without_changing_anything() {
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
    let before = snapshot(&data);
    for args in [
        vec!["check"],
        vec!["topic", "describe", "t"],
        vec!["consume", "t"],
        vec!["repair"],
    ] {
        millrace(&data).args(&args).assert().code(3);
        assert!(
            snapshot(&data) == before,
            "`millrace {}` modified the data directory",
            args.join(" ")
        );
    }
}
