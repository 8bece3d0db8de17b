//! `millrace contract apply|show|diff|status|history|remove` through the
//! binary: a bad file refused with its line, a dry run that records nothing,
//! versions and the audit log, show of an old version, diff's exit code,
//! status's freshness and DLQ levels against the contract's SLA (exit code 4
//! at error level), and the check installed for the topic's appends.

use crate::common;

use common::{json_of, millrace, stdout_of, store_with_topic};
use millrace::contract::check::Action;
use millrace::{Record, Store, StoreOptions};
use predicates::prelude::*;
use std::path::Path;

const V1: &str = "apiVersion: v3.0.0
kind: DataContract
id: urn:orders
version: 1.0.0
status: active
owner: payments
topic: orders
properties:
  - name: amount
    required: true
    logicalType: number
    maximum: 100
    action: dlq
slaProperties:
  - property: freshness
    warn: 10m
    error: 1h
  - property: dlqDepth
    warn: 5
";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn apply_show_diff_and_history_version_and_audit_a_contract() {
    let (tmp, data) = store_with_topic("orders", 1);
    let v1 = write(tmp.path(), "v1.yaml", V1);
    let bad = write(tmp.path(), "bad.yaml", &V1.replace("maximum: 100", "maximun: 100"));
    let refused = millrace(&data)
        .args(["contract", "apply"])
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("line 12").and(predicate::str::contains("maximun")));
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert_eq!(
        stderr.matches("line 12").count(),
        1,
        "the place of an unknown field is said once: {stderr}"
    );
    let dry = json_of(
        millrace(&data)
            .args(["contract", "apply", "--dry-run", "--json"])
            .arg(&v1),
    );
    assert_eq!(
        (dry["version"].as_u64(), dry["applied"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(
        json_of(millrace(&data).args(["contract", "history", "--json"])),
        serde_json::json!([])
    );
    let out = stdout_of(millrace(&data).args(["contract", "apply"]).arg(&v1));
    assert!(out.contains("orders applied version 1"), "{out}");
    let v2_text = V1.replace("maximum: 100", "maximum: 50");
    let v2 = write(tmp.path(), "v2.yaml", &v2_text);
    // diff: exit code 1 when the file differs from the version in force, 0 when not.
    millrace(&data)
        .args(["contract", "diff"])
        .arg(&v2)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("-     maximum: 100").and(predicate::str::contains("+     maximum: 50")));
    millrace(&data).args(["contract", "diff"]).arg(&v1).assert().success();
    let applied = json_of(millrace(&data).args(["contract", "apply", "--json"]).arg(&v2));
    assert_eq!(
        (applied["version"].as_u64(), applied["previous"].as_u64()),
        (Some(2), Some(1))
    );
    let again = json_of(millrace(&data).args(["contract", "apply", "--json"]).arg(&v2));
    assert_eq!(again["unchanged"].as_bool(), Some(true));
    // show: the version in force, or an older one.
    assert!(stdout_of(millrace(&data).args(["contract", "show", "orders"])).contains("maximum: 50"));
    let old = json_of(millrace(&data).args(["contract", "show", "orders", "--version", "1", "--json"]));
    assert_eq!(old["text"].as_str(), Some(V1));
    millrace(&data)
        .args(["contract", "show", "orders", "--version", "9"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no contract version 9"));
    let history = json_of(millrace(&data).args(["contract", "history", "orders", "--json"]));
    let rows: Vec<(u64, Option<u64>)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["version"].as_u64().unwrap(), e["previous"].as_u64()))
        .collect();
    assert_eq!(rows, vec![(1, None), (2, Some(1))]);
    assert!(history[0]["actor"].as_str().unwrap().contains("millrace contract"));

    // The check is installed for the topic's appends, at the version in force.
    let store = Store::open(&data, StoreOptions::default()).unwrap();
    let verdict = store
        .record_checks()
        .get("orders")
        .expect("installed at open")
        .check(0, &Record::new(r#"{"amount": 70}"#));
    assert_eq!((verdict.contract_version, verdict.action()), (2, Some(Action::Dlq)));
    store.close().unwrap();

    let removed = json_of(millrace(&data).args(["contract", "remove", "orders", "--json"]));
    assert_eq!(removed["removed_version"].as_u64(), Some(2));
    millrace(&data)
        .args(["contract", "show", "orders"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no contract in force"));
}

#[test]
fn status_shows_freshness_and_dlq_depth_against_the_sla_and_exits_4_at_error() {
    let (tmp, data) = store_with_topic("orders", 1);
    let v1 = write(tmp.path(), "v1.yaml", V1);
    millrace(&data).args(["contract", "apply"]).arg(&v1).assert().success();
    // A fresh record: freshness ok.
    let store = Store::open(&data, StoreOptions::default()).unwrap();
    store.append("orders", 0, &[Record::new(r#"{"amount": 1}"#)]).unwrap();
    store.close().unwrap();
    let status = json_of(millrace(&data).args(["contract", "status", "--json"]));
    let orders = &status["topics"][0];
    assert_eq!(orders["topic"], "orders");
    assert_eq!(orders["version"].as_u64(), Some(1));
    assert_eq!(orders["owner"], "payments");
    assert_eq!(orders["freshness"]["level"], "ok", "{status}");
    assert!(orders["freshness"]["age_seconds"].as_u64().unwrap() < 600);
    assert_eq!(orders["dlq"]["depth"].as_u64(), Some(0));
    assert_eq!(status["level"], "ok");
    let table = stdout_of(millrace(&data).args(["contract", "status"]));
    assert!(table.contains("TOPIC") && table.contains("payments"), "{table}");

    // A newest record two hours old: freshness breached at error level, exit code 4.
    let (tmp2, stale) = store_with_topic("orders", 1);
    millrace(&stale).args(["contract", "apply"]).arg(&v1).assert().success();
    let store = Store::open(&stale, StoreOptions::default()).unwrap();
    let two_hours_ago = millrace::clock::now_ms() - 2 * 3600 * 1000;
    let mut record = Record::new(r#"{"amount": 1}"#);
    record.timestamp_ms = Some(two_hours_ago);
    store.append("orders", 0, &[record]).unwrap();
    store.close().unwrap();
    let output = millrace(&stale)
        .args(["contract", "status", "orders", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["topics"][0]["freshness"]["level"], "error");
    assert_eq!(status["level"], "error");
    millrace(&stale)
        .args(["contract", "status", "nowhere"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("has no contract"));
    drop(tmp2);
}

const RULES: &str = "apiVersion: v3.0.0
kind: DataContract
id: urn:payments
version: 1.0.0
status: active
owner: payments
topic: payments
properties:
  - name: amount
    logicalType: number
    maximum: 100
    action: reject
  - name: currency
    enum: [EUR, USD]
    action: dlq
slaProperties:
  - property: dlqDepth
    warn: 1
    error: 2
";

/// confluent-kafka producers meet the contract through `millrace serve`
/// (tests/kafka/contract_rules.py): a record breaking a `reject` rule fails
/// its delivery with INVALID_RECORD; an
/// idempotent producer's batch with records breaking a `dlq` rule is split
/// (design/contracts.md, "Idempotent batches"): every delivery succeeds, the
/// valid records are in the topic once, in order, the others in
/// `__dlq.payments` with their provenance headers, and the producer's next
/// batch follows on.
#[test]
fn confluent_producers_meet_reject_and_dlq_rules() {
    let Some(clients) = common::kafka::clients() else {
        return;
    };
    let (tmp, data) = store_with_topic("payments", 1);
    let rules = write(tmp.path(), "rules.yaml", RULES);
    millrace(&data)
        .args(["contract", "apply"])
        .arg(&rules)
        .assert()
        .success();
    let (server, bootstrap) = common::kafka::start_server(&data, &[]);
    let output = clients.python("contract_rules.py", &bootstrap, &["--topic", "payments"]);
    let out: serde_json::Value = serde_json::from_str(common::kafka::success(&output).trim()).unwrap();
    let rejected = &out["rejected"][0];
    assert_eq!(rejected["error"], "INVALID_RECORD", "{out}");
    // librdkafka 2.x reports the code's own text, not the answer's
    // error_message / record_errors (which name the rule: the server's
    // contract_enforce tests read them off the wire).
    let text = rejected["text"].as_str().unwrap_or_default();
    assert!(text.contains("failed to validate record"), "{text}");
    for report in out["idempotent_first"]
        .as_array()
        .unwrap()
        .iter()
        .chain(out["idempotent_second"].as_array().unwrap())
    {
        assert_eq!(report["error"], serde_json::Value::Null, "{out}");
    }
    // The first batch's base offset is its first appended record's (0).
    assert_eq!(out["idempotent_first"][0]["offset"], 0, "{out}");
    assert_eq!(out["topic"], serde_json::json!([1, 3, 5, 6]), "{out}");
    let dlq = out["dlq"].as_array().unwrap();
    assert_eq!(dlq.len(), 2, "{out}");
    assert_eq!(
        (dlq[0]["amount"].as_u64(), dlq[1]["amount"].as_u64()),
        (Some(2), Some(4))
    );
    let headers = &dlq[0]["headers"];
    assert_eq!(headers["dlq.contract.version"], "1", "{out}");
    assert_eq!(headers["dlq.contract.rule"], "currency.enum", "{out}");
    assert_eq!(headers["dlq.contract.path"], "/currency", "{out}");
    assert_eq!(headers["dlq.stage"], "produce", "{out}");
    assert!(
        headers["dlq.error.message"]
            .as_str()
            .unwrap_or_default()
            .contains("GBP"),
        "{out}"
    );
    assert!(server.stop(), "the server stops cleanly");
}

/// `millrace dlq redrive` lists the records the target's contract of today
/// refuses (they stay in the DLQ), on a data directory and through
/// `--server` (the native `DlqRedrive` answer's `refused`); a DLQ past the
/// contract's `dlqDepth` error threshold makes `millrace status` unhealthy.
#[test]
fn redrive_reports_refused_records_and_status_counts_the_dlq_depth_sla() {
    let (tmp, data) = store_with_topic("payments", 1);
    let rules = write(tmp.path(), "rules.yaml", RULES);
    millrace(&data)
        .args(["contract", "apply"])
        .arg(&rules)
        .assert()
        .success();
    millrace(&data)
        .args(["produce", "payments"])
        .write_stdin("{\"amount\": 1, \"currency\": \"GBP\"}\n{\"amount\": 2, \"currency\": \"JPY\"}\n{\"amount\": 3, \"currency\": \"CHF\"}\n")
        .assert()
        .success();
    let text = stdout_of(millrace(&data).args(["dlq", "redrive", "payments", "--execute"]));
    assert!(
        text.contains("REFUSED BECAUSE") && text.contains("currency.enum") && text.contains("redriven 0 records"),
        "{text}"
    );
    let server = common::Server::start(&data, &[]);
    let report = json_of(
        server
            .millrace()
            .args(["dlq", "redrive", "payments", "--execute", "--restart", "--json"]),
    );
    assert_eq!(report["redriven"], serde_json::json!([]), "{report}");
    assert_eq!(report["refused"].as_array().map(Vec::len), Some(3), "{report}");
    assert_eq!(report["refused"][0]["dlq_offset"], 0, "{report}");
    let reason = report["refused"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("currency.enum"), "{reason}");
    // Depth 3, past the contract's error threshold 2: unhealthy, exit 1.
    server.millrace().args(["status"]).assert().code(1).stdout(
        predicate::str::contains("contract SLA breached on topic payments")
            .and(predicate::str::contains("DLQ depth 3")),
    );
    assert!(server.stop());
}
