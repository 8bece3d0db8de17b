//! End-to-end tests of `millrace dlq`: records dead-lettered through the
//! engine API (as a pipeline stage would) are listed with provenance and
//! filters, shown in full, redriven with a dry run first and exactly once
//! (a second run appends nothing), and purged only with --yes.

use crate::common;

use common::{json_of, millrace, stdout_of, store_with_topic};
use millrace::dlq::FailOutcome;
use millrace::{ReadOptions, Record, Store, StoreOptions};
use predicates::prelude::*;

/// Topic `in` with 5 records; records 1, 2 and 4 dead-lettered by group `g`.
fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, data) = store_with_topic("in", 1);
    let store = Store::open(&data, StoreOptions::default()).unwrap();
    let records: Vec<Record> = (0..5)
        .map(|i| Record::new(format!("payload-{i}")).with_key(b"k".to_vec()))
        .collect();
    store.append("in", 0, &records).unwrap();
    let session = store.init_producer("stage-1").unwrap();
    let read = store.read("in", 0, 0, ReadOptions::default()).unwrap();
    for (i, offset) in [1usize, 2, 4].iter().enumerate() {
        let class = if i == 1 { "Timeout" } else { "ParseError" };
        let outcome = store
            .fail_record(
                session.id(),
                "g",
                "in",
                0,
                &read.records[*offset],
                "transform",
                class,
                &format!("bad record {offset}"),
                1,
            )
            .unwrap();
        assert!(matches!(outcome, FailOutcome::DeadLettered { .. }));
    }
    store.close().unwrap();
    (tmp, data)
}

#[test]
fn list_and_show_with_provenance() {
    let (_tmp, data) = setup();
    let listed = json_of(millrace(&data).args(["dlq", "list", "in", "--json"]));
    assert_eq!(listed["depth"], 3);
    let records = listed["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["source"]["offset"], 1);
    assert_eq!(records[0]["group"], "g");
    assert_eq!(records[0]["stage"], "transform");
    assert_eq!(records[1]["error_class"], "Timeout");
    let filtered = json_of(millrace(&data).args(["dlq", "list", "in", "--error", "ParseError", "--json"]));
    assert_eq!(filtered["records"].as_array().unwrap().len(), 2);
    let none = json_of(millrace(&data).args(["dlq", "list", "in", "--since", "2999-01-01T00:00:00Z", "--json"]));
    assert_eq!(none["records"].as_array().unwrap().len(), 0);
    let recent = json_of(millrace(&data).args(["dlq", "list", "in", "--since", "1h", "--json"]));
    assert_eq!(recent["records"].as_array().unwrap().len(), 3);
    let described = json_of(millrace(&data).args(["topic", "describe", "in", "--json"]));
    assert_eq!(described["dlq_depth"], 3);
    let table = stdout_of(millrace(&data).args(["dlq", "list", "in"]));
    assert!(
        table.contains("DLQ of in: 3 records") && table.contains("in/0@4"),
        "{table}"
    );

    let offset = records[2]["dlq_offset"].as_u64().unwrap().to_string();
    let shown = json_of(millrace(&data).args(["dlq", "show", "in", &offset, "--json"]));
    assert_eq!(shown["value"], "payload-4");
    assert_eq!(shown["key"], "k");
    assert_eq!(shown["error_message"], "bad record 4");
    let text = stdout_of(millrace(&data).args(["dlq", "show", "in", &offset]));
    assert!(text.contains("value:          payload-4"), "{text}");
    millrace(&data)
        .args(["dlq", "show", "in", "999"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("dlq list"));
}

#[test]
fn redrive_dry_run_then_exactly_once() {
    let (_tmp, data) = setup();
    let dry = stdout_of(millrace(&data).args(["dlq", "redrive", "in"]));
    assert!(
        dry.contains("would redrive 3 records") && dry.contains("dry run"),
        "{dry}"
    );
    let count = |data: &std::path::Path| {
        stdout_of(millrace(data).args(["consume", "in", "--format", "value"]))
            .lines()
            .count()
    };
    assert_eq!(count(&data), 5);
    let applied = json_of(millrace(&data).args(["dlq", "redrive", "in", "--execute", "--json"]));
    assert_eq!(applied["redriven"].as_array().unwrap().len(), 3);
    assert_eq!(count(&data), 8);
    let again = json_of(millrace(&data).args(["dlq", "redrive", "in", "--execute", "--json"]));
    assert_eq!(
        again["redriven"].as_array().unwrap().len(),
        0,
        "redrive is not idempotent"
    );
    assert_eq!(count(&data), 8);
    let values = stdout_of(millrace(&data).args(["consume", "in", "--offset", "5", "--format", "value"]));
    assert_eq!(values, "payload-1\npayload-2\npayload-4\n");
}

#[test]
fn purge_needs_yes() {
    let (_tmp, data) = setup();
    let listed = json_of(millrace(&data).args(["dlq", "list", "in", "--json"]));
    let end = listed["end_offset"].as_u64().unwrap().to_string();
    millrace(&data)
        .args(["dlq", "purge", "in", "--up-to", &end])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    let out = stdout_of(millrace(&data).args(["dlq", "purge", "in", "--up-to", &end, "--yes"]));
    assert!(out.contains("purged 3 DLQ records"), "{out}");
    assert!(out.contains("now starts at offset 3"), "{out}");
    millrace(&data).args(["dlq", "list", "nope"]).assert().code(1);
}

#[test]
fn purged_dlq_stays_empty_after_reopen() {
    let (_tmp, data) = setup();
    millrace(&data)
        .args(["dlq", "purge", "in", "--up-to", "3", "--yes"])
        .assert()
        .success();
    let listed = json_of(millrace(&data).args(["dlq", "list", "in", "--json"]));
    assert_eq!(listed["records"].as_array().unwrap().len(), 0, "{listed}");
    assert_eq!(listed["depth"], 0);
}

/// After `setup` and one redrive of all three records: the first redriven copy
/// (payload-1, redriven once) fails again and is dead-lettered at DLQ offset 3.
fn setup_redriven_once_and_failed_again() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, data) = setup();
    let applied = json_of(millrace(&data).args(["dlq", "redrive", "in", "--execute", "--json"]));
    assert_eq!(applied["redriven"].as_array().unwrap().len(), 3);
    let store = Store::open(&data, StoreOptions::default()).unwrap();
    let session = store.init_producer("stage-1").unwrap();
    let copy = store.read("in", 0, 5, ReadOptions::default()).unwrap().records[0].clone();
    assert_eq!(copy.value, b"payload-1");
    let outcome = store
        .fail_record(
            session.id(),
            "g",
            "in",
            0,
            &copy,
            "transform",
            "ParseError",
            "still bad",
            1,
        )
        .unwrap();
    assert!(matches!(outcome, FailOutcome::DeadLettered { dlq_offset: 3, .. }));
    store.close().unwrap();
    (tmp, data)
}

fn redriven_offsets(report: &serde_json::Value) -> Vec<u64> {
    report["redriven"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dlq_offset"].as_u64().unwrap())
        .collect()
}

fn values(data: &std::path::Path) -> Vec<String> {
    stdout_of(millrace(data).args(["consume", "in", "--format", "value"]))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Item 12 of issue 18: a record left in the DLQ at the redrive cap comes back
/// after the cap is raised, with --from-offset or --restart; records already
/// redriven are marked in `dlq list`, leave the depth, and are never redriven
/// again, whatever the start offset.
#[test]
fn restart_after_raising_the_cap_redrives_capped_records_once() {
    let (_tmp, data) = setup_redriven_once_and_failed_again();
    let listed = json_of(millrace(&data).args(["dlq", "list", "in", "--json"]));
    assert_eq!(
        listed["depth"], 1,
        "redriven records still count in the depth: {listed}"
    );
    let records = listed["records"].as_array().unwrap();
    assert_eq!(records.len(), 4, "redriven records are still listed");
    for record in &records[..3] {
        assert_eq!(record["redriven"]["topic"], "in", "{record}");
        assert_eq!(record["redriven"]["partition"], 0, "{record}");
    }
    assert!(records[3]["redriven"].is_null(), "{listed}");
    let table = stdout_of(millrace(&data).args(["dlq", "list", "in"]));
    assert!(
        table.contains("DLQ of in: 1 record not yet redriven") && table.contains("REDRIVEN TO"),
        "{table}"
    );
    let described = json_of(millrace(&data).args(["topic", "describe", "in", "--json"]));
    assert_eq!(described["dlq_depth"], 1);

    // At cap 1 the record stays, and the progress moves past it.
    let capped = json_of(millrace(&data).args(["dlq", "redrive", "in", "--redrive-cap", "1", "--execute", "--json"]));
    assert_eq!(redriven_offsets(&capped), Vec::<u64>::new());
    assert_eq!(capped["capped"], serde_json::json!([3]));
    let resumed = json_of(millrace(&data).args(["dlq", "redrive", "in", "--execute", "--json"]));
    assert_eq!(redriven_offsets(&resumed), Vec::<u64>::new(), "{resumed}");

    // A dry run from an offset plans only what is not redriven yet.
    let planned = json_of(millrace(&data).args(["dlq", "redrive", "in", "--from-offset", "0", "--json"]));
    assert_eq!(redriven_offsets(&planned), vec![3], "{planned}");
    assert_eq!(planned["resumed_from"], 0);
    assert_eq!(values(&data).len(), 8, "a dry run appended");

    let restarted = json_of(millrace(&data).args(["dlq", "redrive", "in", "--restart", "--execute", "--json"]));
    assert_eq!(redriven_offsets(&restarted), vec![3], "{restarted}");
    let after = values(&data);
    assert_eq!(after.len(), 9);
    assert_eq!(after[8], "payload-1");
    for again in [
        &["dlq", "redrive", "in", "--restart", "--execute", "--json"][..],
        &["dlq", "redrive", "in", "--from-offset", "2", "--execute", "--json"][..],
    ] {
        let report = json_of(millrace(&data).args(again));
        assert_eq!(redriven_offsets(&report), Vec::<u64>::new(), "{again:?}: {report}");
    }
    assert_eq!(values(&data).len(), 9, "a record was redriven twice");
    let listed = json_of(millrace(&data).args(["dlq", "list", "in", "--json"]));
    assert_eq!(listed["depth"], 0, "{listed}");
    assert!(listed["oldest_age_ms"].is_null(), "{listed}");
    millrace(&data)
        .args(["dlq", "redrive", "in", "--restart", "--from-offset", "1"])
        .assert()
        .code(2);
}

/// The same through a server: marks in `dlq list`, the depth, and --restart
/// travel over the protocol.
#[test]
fn restart_and_marks_through_the_server() {
    let (_tmp, data) = setup_redriven_once_and_failed_again();
    let server = common::Server::start(&data, &[]);
    let listed = json_of(server.millrace().args(["dlq", "list", "in", "--json"]));
    assert_eq!(listed["depth"], 1, "{listed}");
    assert_eq!(listed["records"][0]["redriven"]["topic"], "in", "{listed}");
    assert!(listed["records"][3]["redriven"].is_null(), "{listed}");
    let capped = json_of(
        server
            .millrace()
            .args(["dlq", "redrive", "in", "--redrive-cap", "1", "--execute", "--json"]),
    );
    assert_eq!(capped["capped"], serde_json::json!([3]));
    let restarted = json_of(
        server
            .millrace()
            .args(["dlq", "redrive", "in", "--restart", "--execute", "--json"]),
    );
    assert_eq!(redriven_offsets(&restarted), vec![3], "{restarted}");
    let again = json_of(
        server
            .millrace()
            .args(["dlq", "redrive", "in", "--restart", "--execute", "--json"]),
    );
    assert_eq!(redriven_offsets(&again), Vec::<u64>::new(), "{again}");
    let listed = json_of(server.millrace().args(["dlq", "list", "in", "--json"]));
    assert_eq!(listed["depth"], 0, "{listed}");
    assert!(server.stop());
    assert_eq!(values(&data).len(), 9);
}

/// A redrive killed with SIGKILL at some point of its run, then run again from
/// the start of the DLQ: every dead letter is back in the source topic exactly
/// once (the records, their marks and the progress are one transaction per
/// batch; the marks make the restart skip what the killed run did).
#[test]
fn redrive_killed_then_restarted_redrives_each_record_once() {
    let (_tmp, data) = store_with_topic("in", 1);
    let count = 300usize;
    {
        let store = Store::open(&data, StoreOptions::default()).unwrap();
        let records: Vec<Record> = (0..count).map(|i| Record::new(format!("v-{i:04}"))).collect();
        store.append("in", 0, &records).unwrap();
        let session = store.init_producer("stage").unwrap();
        let mut offset = 0;
        while offset < count as u64 {
            let read = store.read("in", 0, offset, ReadOptions::default()).unwrap();
            for record in &read.records {
                store
                    .fail_record(session.id(), "g", "in", 0, record, "transform", "E", "bad", 1)
                    .unwrap();
            }
            offset = read.records.last().unwrap().offset + 1;
        }
        store.close().unwrap();
    }
    // 100 records per transaction at 150 records/s: a batch about every 0.67 s.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .arg("--data")
        .arg(&data)
        .args(["dlq", "redrive", "in", "--execute", "--rate", "150"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    child.kill().unwrap();
    child.wait().unwrap();
    let restarted = json_of(millrace(&data).args(["dlq", "redrive", "in", "--restart", "--execute", "--json"]));
    let mut seen = std::collections::HashMap::new();
    for value in values(&data) {
        *seen.entry(value).or_insert(0u32) += 1;
    }
    assert_eq!(seen.len(), count);
    let wrong: Vec<_> = seen.iter().filter(|(_, n)| **n != 2).collect();
    assert!(
        wrong.is_empty(),
        "not redriven exactly once: {wrong:?}; restart: {restarted}"
    );
    let again = json_of(millrace(&data).args(["dlq", "redrive", "in", "--restart", "--execute", "--json"]));
    assert_eq!(redriven_offsets(&again), Vec::<u64>::new());
    let listed = json_of(millrace(&data).args(["dlq", "list", "in", "--json", "--limit", "1"]));
    assert_eq!(listed["depth"], 0, "{listed}");
}
