//! Ctrl-C ends `millrace bench` early with what it measured (issue 23:
//! "interrupted long commands print what was done"): a run asked for two
//! minutes, interrupted once its first records are in, prints its figures
//! marked interrupted (text, and `--json` with `"interrupted": true`),
//! deletes its topic as a whole run does, and exits 130; embedded and
//! through the server.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Server};
use crate::consume_produce_ops::sigint;

/// A bench of two minutes of one-byte records, one per batch, each fsynced:
/// slow enough to leave the disk alone until it is interrupted.
const SLOW_RUN: [&str; 9] = [
    "bench",
    "--duration",
    "2m",
    "--record-bytes",
    "1",
    "--batch-records",
    "1",
    "--durability",
    "always",
];

fn spawn(global: &[&str], extra: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .args(global)
        .args(SLOW_RUN)
        .args(extra)
        .env_remove("MILLRACE_TOKEN")
        .env_remove("MILLRACE_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until `appending()` says records are in, then Ctrl-C and wait for
/// the exit.
fn interrupt_once_appending(mut child: Child, appending: impl Fn() -> bool) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !appending() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("bench ended before it was interrupted: {status}");
        }
        assert!(Instant::now() < deadline, "bench never appended");
        std::thread::sleep(Duration::from_millis(50));
    }
    sigint(&child);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The number before " records" on the "appended N records" line.
fn appended(stdout: &str) -> u64 {
    stdout
        .split("appended ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no appended line: {stdout}"))
}

fn has_bench_topic(data: &Path) -> bool {
    data.join("topics").join("millrace-bench").exists()
}

#[test]
fn an_interrupted_bench_reports_what_it_measured_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    // Embedded: records are in once the partition's log has bytes.
    let data = tmp.path().join("embedded");
    let log = data.join("topics/millrace-bench/00000/00000000000000000000.log");
    let child = spawn(&["--data", data.to_str().unwrap()], &[]);
    let output = interrupt_once_appending(child, || std::fs::metadata(&log).is_ok_and(|m| m.len() > 0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.starts_with("bench (interrupted): 1 producer"), "{stdout}");
    assert!(appended(&stdout) > 0, "{stdout}");
    assert!(stdout.contains("append latency per batch: p50"), "{stdout}");
    assert!(
        stderr.contains("interrupted after") && stderr.contains("of the 2m asked for"),
        "{stderr}"
    );
    assert!(!has_bench_topic(&data), "the interrupted run left its topic behind");

    // Through the server, as JSON, with --read: the read-back is skipped.
    let server = Server::start(&tmp.path().join("served"), &[]);
    let child = spawn(&["--server", &server.addr], &["--read", "--json"]);
    let output = interrupt_once_appending(child, || {
        let described = server
            .millrace()
            .args(["topic", "describe", "millrace-bench", "--json"])
            .output()
            .unwrap();
        described.status.success()
            && serde_json::from_slice::<serde_json::Value>(&described.stdout)
                .is_ok_and(|d| d["records"].as_u64().is_some_and(|n| n > 0))
    });
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["interrupted"], true, "{report}");
    assert!(report["records"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["read"], serde_json::Value::Null, "{report}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("interrupted after"),
        "{output:?}"
    );
    let topics = common::json_of(server.millrace().args(["topic", "list", "--json"]));
    assert!(!topics.to_string().contains("millrace-bench"), "{topics}");
    assert!(server.stop());
}
