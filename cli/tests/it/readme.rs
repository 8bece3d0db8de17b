//! The README's check-then-repair line does what its comment says: run
//! through `sh` with the built binary first on PATH, it leaves a clean store
//! alone (exit 0, no repair), repairs a corrupt one (check exits 3, then
//! `repair --yes` runs and the store checks clean after), and repairs nothing
//! when check fails for another reason (exit 1 is passed on).

use crate::common;

use common::{copy_fixture, millrace, store_with_topic};
use std::path::Path;
use std::process::Output;

/// The line of the README's shell example that runs `repair --yes`.
fn readme_line() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("millrace check") && l.contains("repair --yes"))
        .collect();
    assert_eq!(lines.len(), 1, "one check-then-repair line in README.md: {lines:?}");
    lines[0].to_string()
}

fn run_line(data: &Path) -> Output {
    let binary = assert_cmd::cargo::cargo_bin("millrace");
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::process::Command::new("sh")
        .args(["-c", &readme_line()])
        .env("PATH", path)
        .env("MILLRACE_DATA", data)
        .env_remove("MILLRACE_SERVER")
        .output()
        .unwrap()
}

/// `repair` ran: it printed its outcome ("nothing to repair" on a clean
/// store, "check after repair" after a repair) or left a backup directory.
fn repaired(output: &Output, data: &Path) -> bool {
    let backups = std::fs::read_dir(data).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("repair-backup-"))
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.contains("nothing to repair") || stdout.contains("check after repair") || backups
}

#[test]
fn a_clean_store_is_not_repaired() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("a\n")
        .assert()
        .success();
    let output = run_line(&data);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(!repaired(&output, &data), "repair ran on a clean store: {output:?}");
}

#[test]
fn a_corrupt_store_is_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_fixture("corrupt-sealed", &data);
    millrace(&data).arg("check").assert().code(3);
    let output = run_line(&data);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(repaired(&output, &data), "repair did not run: {output:?}");
    millrace(&data).arg("check").assert().code(0);
}

#[test]
fn another_check_failure_is_passed_on_without_repair() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("missing");
    let output = run_line(&data);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(!repaired(&output, &data), "{output:?}");
}
