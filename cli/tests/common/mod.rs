//! Helpers shared by the CLI end-to-end tests.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// `millrace --data <dir> <args...>`.
pub fn millrace(data: &Path) -> Command {
    let mut cmd = Command::cargo_bin("millrace").unwrap();
    cmd.arg("--data")
        .arg(data)
        .env_remove("MILLRACE_DATA")
        .env_remove("MILLRACE_TOKEN");
    cmd
}

pub fn stdout_of(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "command failed: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub fn json_of(cmd: &mut Command) -> serde_json::Value {
    serde_json::from_str(&stdout_of(cmd)).unwrap()
}

/// A data directory with topic `name` of `partitions` partitions.
pub fn store_with_topic(name: &str, partitions: u32) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args(["topic", "create", name, "--partitions", &partitions.to_string()])
        .assert()
        .success();
    (tmp, data)
}

/// Copy a checked-in fixture directory into `to`.
pub fn copy_fixture(name: &str, to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    copy_dir(&from, to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
