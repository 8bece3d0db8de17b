//! `millrace status --server ADDR` (issue 23): version, uptime, data
//! directory, listeners, disk use, DLQ depths; exit 0 when healthy and 1
//! when not (a DLQ over the threshold, the disk quota nearly used, a
//! server that cannot be reached): a container health check. And
//! `millrace stats --watch SECS`, which without a terminal prints
//! successive snapshots.
use crate::common;

use millrace::dlq::FailOutcome;
use millrace::{ReadOptions, Record, Store, StoreOptions};
use predicates::prelude::*;

/// Topic `in` with 3 records, 2 of them dead-lettered by group `g`.
fn store_with_dead_letters() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, data) = common::store_with_topic("in", 1);
    let store = Store::open(&data, StoreOptions::default()).unwrap();
    let records: Vec<Record> = (0..3).map(|i| Record::new(format!("r{i}"))).collect();
    store.append("in", 0, &records).unwrap();
    let session = store.init_producer("stage").unwrap();
    let read = store.read("in", 0, 0, ReadOptions::default()).unwrap();
    for offset in [0usize, 2] {
        let outcome = store
            .fail_record(
                session.id(),
                "g",
                "in",
                0,
                &read.records[offset],
                "transform",
                "Bad",
                "bad",
                1,
            )
            .unwrap();
        assert!(matches!(outcome, FailOutcome::DeadLettered { .. }));
    }
    store.close().unwrap();
    (tmp, data)
}

#[test]
fn status_reports_health_and_exits_non_zero_when_unhealthy() {
    let (_tmp, data) = store_with_dead_letters();
    let server = common::Server::start(&data, &[]);
    let healthy = common::json_of(server.millrace().args(["--json", "status"]));
    assert_eq!(healthy["healthy"], true, "{healthy}");
    assert_eq!(healthy["version"], env!("CARGO_PKG_VERSION"));
    assert!(healthy["uptime_ms"].as_u64().is_some());
    assert_eq!(healthy["listeners"]["native"], server.addr.as_str());
    assert!(healthy["listeners"].get("kafka").is_none(), "{healthy}");
    let data_dir = std::path::PathBuf::from(healthy["data_dir"].as_str().unwrap());
    assert_eq!(data_dir.canonicalize().unwrap(), data.canonicalize().unwrap());
    assert_eq!(healthy["dlq_depths"]["in"], 2);
    assert_eq!(healthy["poisoned"], false);
    assert!(healthy["quota_bytes"].is_null());
    server
        .millrace()
        .args(["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("healthy").and(predicate::str::contains("listening:  native")));
    // The DLQ over the threshold: unhealthy, exit 1, the cause named.
    server
        .millrace()
        .args(["status", "--dlq-threshold", "2"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("UNHEALTHY").and(predicate::str::contains("DLQ of topic in holds 2")));
    let unhealthy = server
        .millrace()
        .args(["--json", "status", "--dlq-threshold", "1"])
        .output()
        .unwrap();
    assert_eq!(unhealthy.status.code(), Some(1));
    let unhealthy: serde_json::Value = serde_json::from_slice(&unhealthy.stdout).unwrap();
    assert_eq!(unhealthy["healthy"], false);
    assert!(unhealthy["problems"][0].as_str().unwrap().contains("DLQ of topic in"));
    assert!(server.stop());
    // No server there: an error, exit 1.
    common::millrace(&data)
        .args(["status", "--server", "127.0.0.1:1"])
        .assert()
        .code(1);
    // Offline it says what it needs.
    common::millrace(&data)
        .args(["status"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--server"));
}

#[test]
fn status_counts_the_disk_quota() {
    let (_tmp, data) = store_with_dead_letters();
    let server = common::Server::start(&data, &["--quota-bytes", "64KiB"]);
    let status = server
        .millrace()
        .args(["--json", "status", "--quota-max-percent", "1"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["quota_bytes"], 65536);
    assert!(json["quota_used_percent"].as_f64().unwrap() > 1.0, "{json}");
    assert_eq!(status.status.code(), Some(1), "{json}");
    assert!(json["problems"][0].as_str().unwrap().contains("disk quota"), "{json}");
    server
        .millrace()
        .args(["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("quota"));
}

#[test]
fn stats_watch_prints_successive_snapshots_without_a_terminal() {
    let (_tmp, data) = common::store_with_topic("t", 2);
    let out = common::stdout_of(common::millrace(&data).args(["stats", "--watch", "1", "--count", "2"]));
    assert!(
        out.contains("--- snapshot 1 at") && out.contains("--- snapshot 2 at"),
        "{out}"
    );
    assert_eq!(out.matches("records:").count(), 2, "{out}");
    assert!(!out.contains('\u{1b}'), "no terminal control codes in a pipe: {out:?}");
    let server = common::Server::start(&data, &[]);
    let out = common::stdout_of(
        server
            .millrace()
            .args(["--json", "stats", "--watch", "1", "--count", "2"]),
    );
    let snapshots: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&out)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(snapshots.len(), 2);
    assert!(snapshots.iter().all(|s| s["per_topic"][0]["topic"] == "t"));
    common::millrace(&data).args(["stats", "--count", "2"]).assert().code(2);
}

/// Issue 23: `status` lists every listener the server bound, the schema
/// registry's (`--registry-listen`) among the native and Kafka ones.
#[test]
fn status_lists_the_schema_registry_listener() {
    let (_tmp, data) = common::store_with_topic("t", 1);
    let kafka = format!("127.0.0.1:{}", common::kafka::free_port());
    let registry = format!("127.0.0.1:{}", common::kafka::free_port());
    let server = common::Server::start(&data, &["--kafka-listen", &kafka, "--registry-listen", &registry]);
    let status = common::json_of(server.millrace().args(["--json", "status"]));
    assert_eq!(status["listeners"]["native"], server.addr.as_str(), "{status}");
    assert_eq!(status["listeners"]["kafka"], kafka.as_str(), "{status}");
    assert_eq!(status["listeners"]["registry"], registry.as_str(), "{status}");
    server
        .millrace()
        .args(["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("listening:  registry {registry}")));
    assert!(server.stop());
    // Turned off: not listed.
    let server = common::Server::start(&data, &[]);
    let status = common::json_of(server.millrace().args(["--json", "status"]));
    assert!(status["listeners"].get("registry").is_none(), "{status}");
}

/// `stats --watch` shows what each topic appended since the previous
/// snapshot and at what rate: nothing to compare in the first snapshot
/// (`-`, null), 0 for an idle topic, and for the busy one exactly the 100
/// records produced in between, offline (text) and through the server
/// (`--json`, read as the snapshots arrive).
#[test]
fn stats_watch_shows_what_each_topic_appended_since_the_previous_snapshot() {
    let (_tmp, data) = common::store_with_topic("busy", 2);
    common::millrace(&data)
        .args(["topic", "create", "idle"])
        .assert()
        .success();
    let out = common::stdout_of(common::millrace(&data).args(["stats", "--watch", "1", "--count", "2"]));
    let second = out.split("--- snapshot 2 at").nth(1).unwrap_or_else(|| panic!("{out}"));
    assert!(second.contains("APPENDED") && second.contains("RATE"), "{out}");
    assert_eq!(second.matches("0.00 records/s").count(), 2, "{out}");

    let server = common::Server::start(&data, &[]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .args(["--server", &server.addr, "--json", "stats", "--watch", "1"])
        .env_remove("MILLRACE_TOKEN")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut snapshots = serde_json::Deserializer::from_reader(stdout).into_iter::<serde_json::Value>();
    let mut next = || snapshots.next().expect("a snapshot").expect("JSON");
    let topic = |snapshot: &serde_json::Value, name: &str| -> serde_json::Value {
        snapshot["per_topic"]
            .as_array()
            .and_then(|topics| topics.iter().find(|t| t["topic"] == name).cloned())
            .unwrap_or_else(|| panic!("no {name} in {snapshot}"))
    };
    let first = next();
    for name in ["busy", "idle"] {
        let t = topic(&first, name);
        assert!(t["appended"].is_null() && t["records_per_second"].is_null(), "{t}");
    }
    let lines: String = (0..100).map(|i| format!("r{i}\n")).collect();
    server
        .millrace()
        .args(["produce", "busy"])
        .write_stdin(lines)
        .assert()
        .success();
    // The produce lands between two snapshots: read on until it was seen.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut appended = 0;
    while appended < 100 {
        assert!(std::time::Instant::now() < deadline, "100 records never showed");
        let snapshot = next();
        let idle = topic(&snapshot, "idle");
        assert_eq!(
            (idle["appended"].as_u64(), idle["records_per_second"].as_f64()),
            (Some(0), Some(0.0))
        );
        let busy = topic(&snapshot, "busy");
        let n = busy["appended"].as_u64().unwrap();
        assert_eq!(busy["records_per_second"].as_f64().unwrap() > 0.0, n > 0, "{busy}");
        appended += n;
    }
    assert_eq!(appended, 100);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(server.stop());
}
