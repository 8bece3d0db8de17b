//! A store another process holds open can be inspected (issue 25 item 6):
//! while a `millrace serve` child holds the data directory (its exclusive
//! lock, as any embedding process does) and appends, the offline read-only
//! commands `check`, `consume`, `stats`, `offsets show` and `topic list`
//! succeed against the directory itself, serve records that were produced,
//! and never modify a file: with the writer quiet, every file and byte of the
//! directory is the same after them. Offline `consume --follow` is refused
//! there (its view does not follow the writer), and so is anything that
//! writes.

use crate::common;

use common::{millrace, snapshot, stdout_of, Server};
use predicates::prelude::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The read-only commands an operator runs against a live store.
fn read_only_commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["check"],
        vec!["--json", "check"],
        vec!["consume", "t", "--format", "value"],
        vec![
            "consume",
            "t",
            "--group",
            "g",
            "--no-commit",
            "--from-earliest",
            "--format",
            "value",
        ],
        vec!["stats"],
        vec!["--json", "stats"],
        vec!["offsets", "show"],
        vec!["offsets", "show", "--group", "g"],
        vec!["topic", "list"],
        vec!["topic", "describe", "t"],
    ]
}

#[test]
fn read_only_commands_inspect_a_store_another_process_holds_and_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    server
        .millrace()
        .args(["topic", "create", "t", "-p", "2"])
        .assert()
        .success();
    let first: String = (0..50).map(|i| format!("v{i}\n")).collect();
    server
        .millrace()
        .args(["produce", "t"])
        .write_stdin(first)
        .assert()
        .success();
    // A group with committed offsets, committed through the server.
    server
        .millrace()
        .args(["consume", "t", "--group", "g", "--from-earliest", "--format", "value"])
        .assert()
        .success();

    // The child keeps appending while the commands run.
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(50));
    let appender = {
        let (stop, produced) = (stop.clone(), produced.clone());
        let addr = server.addr.clone();
        std::thread::spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let lines: String = (0..20).map(|i| format!("w{round}-{i}\n")).collect();
                assert_cmd::Command::cargo_bin("millrace")
                    .unwrap()
                    .args(["--server", &addr, "produce", "t"])
                    .env_remove("MILLRACE_DATA")
                    .env_remove("MILLRACE_TOKEN")
                    .write_stdin(lines)
                    .assert()
                    .success();
                produced.fetch_add(20, Ordering::Relaxed);
                round += 1;
            }
        })
    };
    for args in read_only_commands() {
        let output = millrace(&data).args(&args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?} against a live store: {}\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        match args.as_slice() {
            ["check"] => {
                assert!(stdout.contains("checked live"), "{stdout}");
                assert!(stdout.contains("no problems found"), "{stdout}");
            }
            ["--json", "check"] => {
                let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(report["live"], true, "{report}");
                assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");
            }
            ["consume", ..] => {
                // Every record of the first produce, then whatever of the
                // appender's had been made durable: never one twice.
                let values: Vec<&str> = stdout.lines().collect();
                let distinct: BTreeSet<&str> = values.iter().copied().collect();
                assert_eq!(distinct.len(), values.len(), "a record served twice: {stdout}");
                for i in 0..50 {
                    assert!(distinct.contains(format!("v{i}").as_str()), "v{i} missing: {stdout}");
                }
                assert!(values.iter().all(|v| v.starts_with('v') || v.starts_with('w')));
                // At most the one produce in flight (20 records) past those acknowledged.
                assert!(values.len() as u64 <= produced.load(Ordering::Relaxed) + 20);
            }
            ["offsets", "show", "--group", "g"] => {
                let committed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("t ")).collect();
                assert!(
                    committed.iter().any(|l| l.split_whitespace().nth(2) == Some("50")),
                    "{stdout}"
                );
            }
            ["offsets", "show"] => assert!(stdout.contains('g'), "{stdout}"),
            ["topic", "list"] => assert!(stdout.contains('t'), "{stdout}"),
            _ => {}
        }
    }
    // Offline --follow would wait on a view that never moves: refused.
    millrace(&data)
        .args(["consume", "t", "--follow", "--format", "value"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--server"));
    // Writing stays the writer's: an offline produce is refused.
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("x\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("locked"));
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();

    // With the writer quiet (its periodic producer snapshot, at most every
    // 10 s, written), the commands change no file and no byte.
    let mut before = snapshot(&data);
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(12) {
        std::thread::sleep(Duration::from_millis(500));
        let now = snapshot(&data);
        if now != before {
            before = now;
            quiet_since = Instant::now();
        }
    }
    for args in read_only_commands() {
        millrace(&data).args(&args).assert().success();
    }
    assert!(
        snapshot(&data) == before,
        "a read-only command changed the data directory"
    );
    let values = stdout_of(millrace(&data).args(["consume", "t", "--format", "value"]));
    assert_eq!(values.lines().count() as u64, produced.load(Ordering::Relaxed));
    assert!(server.stop(), "server did not stop cleanly");
}
