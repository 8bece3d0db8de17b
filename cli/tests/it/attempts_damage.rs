//! A damaged `__attempts` (the DLQ's failure counts) costs those counts, not
//! topic creation (issue 18, "a damaged file costs the smallest scope that
//! holds it"): `topic create` reads `__attempts` only to forget the counts of
//! a deleted topic of the same name. Through the `millrace` binary, with the
//! one batch of `__attempts` flipped: `check` names the file (exit 3), a new
//! topic is created and serves, the other topics serve, and `repair --yes`
//! leaves a store that checks clean. (Before: `topic create` answered the
//! damage of `__attempts`, exit 3, for every name, until a repair.)

use crate::common;

use common::millrace;
use millrace::{ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::path::{Path, PathBuf};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(data: &Path, args: &[&str]) -> Run {
    let output = millrace(data).args(args).output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Topic `b` (10 records, group `g` at 4, record 5 failed once: counted in
/// `__attempts`, not dead-lettered); returns the `__attempts` segment.
fn build(data: &Path) -> PathBuf {
    let store = Store::open(
        data,
        StoreOptions {
            background: false,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store.create_topic("b", TopicConfig::default()).unwrap();
    for i in 0..10 {
        store.append("b", 0, &[Record::new(format!("b-{i}"))]).unwrap();
    }
    store.commit_offset("g", "b", 0, 4, b"").unwrap();
    let writer = store.init_producer("dlq-writer").unwrap();
    let failed = store.read("b", 0, 5, ReadOptions::default()).unwrap().records[0].clone();
    store
        .fail_record(writer.id(), "g", "b", 0, &failed, "process", "Test", "fixture", 3)
        .unwrap();
    store.close().unwrap();
    let partition = data.join("topics/__attempts/00000");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&partition)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

fn flip(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

fn consumed(data: &Path, topic: &str) -> Vec<String> {
    let r = run(data, &["consume", topic, "--format", "value"]);
    assert_eq!(r.code, 0, "consume {topic}: {}{}", r.stdout, r.stderr);
    r.stdout.lines().map(str::to_string).collect()
}

#[test]
fn a_damaged_attempts_log_does_not_stop_topic_creation() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let segment = build(&data);
    let file = segment.file_name().unwrap().to_string_lossy().into_owned();
    flip(&segment);

    let check = run(&data, &["check"]);
    assert_eq!(check.code, 3, "{}{}", check.stdout, check.stderr);
    assert!(
        format!("{}{}", check.stdout, check.stderr).contains(&file),
        "check names the file: {}{}",
        check.stdout,
        check.stderr
    );

    let created = run(&data, &["topic", "create", "c"]);
    assert_eq!(created.code, 0, "{}{}", created.stdout, created.stderr);
    millrace(&data)
        .args(["produce", "c"])
        .write_stdin("new\n")
        .assert()
        .success();
    let list = run(&data, &["topic", "list"]);
    assert_eq!(list.code, 0, "{}{}", list.stdout, list.stderr);
    assert!(list.stdout.lines().any(|l| l.starts_with('c')), "{}", list.stdout);
    // The other topic serves every record, and its group goes on.
    assert_eq!(consumed(&data, "b").len(), 10);
    assert_eq!(consumed(&data, "c"), ["new"]);
    let group = run(&data, &["consume", "b", "--group", "g", "--format", "value"]);
    assert_eq!(group.code, 0, "{}{}", group.stdout, group.stderr);
    assert_eq!(group.stdout.lines().count(), 6, "{}", group.stdout);

    // The damage is still reported until repaired; then the store checks clean.
    assert_eq!(run(&data, &["check"]).code, 3);
    let repaired = run(&data, &["repair", "--yes"]);
    assert_eq!(repaired.code, 0, "{}{}", repaired.stdout, repaired.stderr);
    let check = run(&data, &["check"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert_eq!(consumed(&data, "b").len(), 10);
    assert_eq!(consumed(&data, "c"), ["new"]);
    let again = run(&data, &["topic", "create", "d"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}
