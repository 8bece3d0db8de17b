//! `--data DIR` never turns a directory that is not a store into one: a store
//! is created only in an empty directory or a missing one whose parent
//! exists. Proven through the binary: every command that would create a
//! store (`topic create`, `serve`) refuses a non-empty directory
//! without a `MILLRACE` marker and a missing parent, names the problem,
//! and leaves the directory as it was; an empty or missing directory still
//! becomes a store, and an existing store still opens.

use crate::common;

use common::{millrace, stdout_of};
use predicates::prelude::*;
use std::path::Path;

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_non_empty_directory_that_is_not_a_store_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("notes.txt"), "mine\n").unwrap();
    std::fs::create_dir(home.join("projects")).unwrap();
    let before = entries(&home);
    for args in [
        &["topic", "create", "t"][..],
        &["serve", "--listen", "127.0.0.1:0", "--no-metrics"][..],
    ] {
        millrace(&home)
            .args(args)
            .timeout(std::time::Duration::from_secs(30))
            .assert()
            .code(1)
            .stderr(
                predicate::str::contains("is not a millrace data directory")
                    .and(predicate::str::contains("notes.txt"))
                    .and(predicate::str::contains("empty or missing directory")),
            );
        assert_eq!(entries(&home), before, "{args:?} changed the directory");
    }
    // Commands that need an existing store say so too (and create nothing).
    for args in [&["produce", "t"][..], &["topic", "list"][..]] {
        millrace(&home)
            .args(args)
            .write_stdin("x\n")
            .assert()
            .code(1)
            .stderr(predicate::str::contains("not a millrace data directory"));
    }
    assert_eq!(entries(&home), before);
}

#[test]
fn a_missing_parent_is_an_error_that_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("typo").join("data");
    millrace(&data).args(["topic", "create", "t"]).assert().code(1).stderr(
        predicate::str::contains("neither does its parent")
            .and(predicate::str::contains(tmp.path().join("typo").display().to_string())),
    );
    assert!(!tmp.path().join("typo").exists(), "the parent was created");
}

#[test]
fn an_empty_or_missing_directory_becomes_a_store_and_reopens() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = tmp.path().join("missing");
    for data in [&empty, &missing] {
        millrace(data).args(["topic", "create", "t"]).assert().success();
        assert!(data.join("MILLRACE").is_file());
        millrace(data)
            .args(["produce", "t"])
            .write_stdin("a\n")
            .assert()
            .success();
        let listed = stdout_of(millrace(data).args(["consume", "t", "--format", "value"]));
        assert_eq!(listed, "a\n");
    }
}
