//! Files of a data directory are private and never reached through a link
//! (issue 27, item 8), proved through the `millrace` binary: a store made
//! under umask 000 holds only 0600 files and 0700 directories; a `LOCK`, a
//! segment or a topic directory that is a symbolic link is refused with an
//! error naming it, and the file it points to is left as it was; a server
//! config file that holds tokens and that others may read is refused.

use crate::common;

use common::millrace;
use predicates::prelude::*;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// Run `millrace --data DATA ARGS` under umask 000.
fn millrace_under_umask_000(data: &Path, args: &[&str]) {
    let binary = assert_cmd::cargo::cargo_bin("millrace");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(binary)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("MILLRACE_DATA")
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "millrace {args:?} failed: {status}");
}

fn modes(dir: &Path, out: &mut Vec<(String, bool, u32)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let metadata = fs::symlink_metadata(entry.path()).unwrap();
        let mode = metadata.permissions().mode() & 0o777;
        out.push((entry.path().display().to_string(), metadata.is_dir(), mode));
        if metadata.is_dir() {
            modes(&entry.path(), out);
        }
    }
}

#[test]
fn files_are_owner_only_whatever_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace_under_umask_000(&data, &["topic", "create", "t", "--partitions", "2"]);
    millrace(&data)
        .args(["produce", "t", "--partition", "1"])
        .write_stdin("a\nb\n")
        .assert()
        .success();
    millrace_under_umask_000(&data, &["topic", "create", "u"]);
    let mut found = vec![(
        data.display().to_string(),
        true,
        fs::metadata(&data).unwrap().permissions().mode() & 0o777,
    )];
    modes(&data, &mut found);
    assert!(found.iter().any(|(path, _, _)| path.ends_with(".log")), "{found:?}");
    assert!(found.iter().any(|(path, _, _)| path.ends_with("LOCK")), "{found:?}");
    for (path, is_dir, mode) in &found {
        let expected = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, expected, "{path} has mode {mode:03o}");
    }
}

/// A store with topic `t` holding one record, and a file outside it.
fn store_and_victim() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data).args(["topic", "create", "t"]).assert().success();
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("precious record\n")
        .assert()
        .success();
    let victim = tmp.path().join("victim");
    fs::write(&victim, b"not the store's\n").unwrap();
    (tmp, data, victim)
}

#[test]
fn a_lock_file_that_is_a_symlink_is_refused_and_its_target_untouched() {
    let (_tmp, data, victim) = store_and_victim();
    fs::remove_file(data.join("LOCK")).unwrap();
    symlink(&victim, data.join("LOCK")).unwrap();
    millrace(&data)
        .args(["topic", "create", "other"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("symbolic link").and(predicate::str::contains("LOCK")));
    assert_eq!(fs::read(&victim).unwrap(), b"not the store's\n");
    // A read-only command refuses it too.
    millrace(&data)
        .args(["topic", "list"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("symbolic link"));
}

#[test]
fn a_segment_that_is_a_symlink_is_refused_and_its_target_untouched() {
    let (tmp, data, _victim) = store_and_victim();
    let segment = data.join("topics/t/00000/00000000000000000000.log");
    let moved = tmp.path().join("moved.log");
    fs::rename(&segment, &moved).unwrap();
    let before = fs::read(&moved).unwrap();
    symlink(&moved, &segment).unwrap();
    millrace(&data)
        .args(["topic", "create", "other"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("symbolic link").and(predicate::str::contains("00000000000000000000.log")));
    millrace(&data)
        .args(["consume", "t", "--from-earliest"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("symbolic link"));
    assert_eq!(fs::read(&moved).unwrap(), before);
}

#[test]
fn a_topic_directory_that_is_a_symlink_is_refused() {
    let (tmp, data, _victim) = store_and_victim();
    let topic = data.join("topics/t");
    let moved = tmp.path().join("elsewhere");
    fs::rename(&topic, &moved).unwrap();
    symlink(&moved, &topic).unwrap();
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("more\n")
        .assert()
        .failure()
        .stderr(predicate::str::contains("symbolic link").and(predicate::str::contains("topics/t")));
    assert_eq!(fs::read_dir(moved.join("00000")).unwrap().count(), 3);
}

#[test]
fn a_config_file_with_tokens_readable_by_others_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("server.toml");
    fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nmetrics_listen = \"off\"\n[[tokens]]\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n",
    )
    .unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    millrace(&tmp.path().join("data"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .failure()
        .stderr(predicate::str::contains("chmod 600"));
}
