//! `millrace topic alter` (issue 23): a dry run shows the diff (old -> new
//! per key) and changes nothing; an alter is applied whole, durably (a new
//! process sees it), and live through a running server; a record over the
//! topic's limit is refused with the command that raises it.
use crate::common;

use predicates::prelude::*;

fn config(data: &std::path::Path, topic: &str) -> serde_json::Value {
    common::json_of(common::millrace(data).args(["--json", "topic", "describe", topic]))["config"].clone()
}

#[test]
fn topic_alter_dry_run_shows_the_diff_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "t", "--retention", "7d"])
        .assert()
        .success();
    let plan = common::json_of(common::millrace(&data).args([
        "--json",
        "topic",
        "alter",
        "t",
        "--retention",
        "30d",
        "--record-bytes-max",
        "2MiB",
        "--dry-run",
    ]));
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["applied"], false);
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{plan}");
    assert_eq!(changes[0]["key"], "retention_ms");
    assert_eq!(changes[0]["old"], "604800000");
    assert_eq!(changes[0]["new"], "2592000000");
    assert_eq!(changes[1]["key"], "record_bytes_max");
    assert_eq!(changes[1]["new"], "2097152");
    common::millrace(&data)
        .args(["topic", "alter", "t", "--retention", "30d", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("retention_ms").and(predicate::str::contains("7d")))
        .stdout(predicate::str::contains("-> 30d").and(predicate::str::contains("nothing changed")));
    assert_eq!(config(&data, "t")["retention_ms"], 604_800_000u64);
}

#[test]
fn topic_alter_lifts_the_record_limit_the_error_names() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "t", "--record-bytes-max", "1KiB"])
        .assert()
        .success();
    let big = format!("{}\n", "x".repeat(2000));
    common::millrace(&data)
        .args(["produce", "t"])
        .write_stdin(big.clone())
        .assert()
        .failure()
        .stderr(predicate::str::contains("millrace topic alter t --record-bytes-max"));
    common::millrace(&data)
        .args(["topic", "alter", "t", "--record-bytes-max", "4KiB", "--retention", "1d"])
        .assert()
        .success()
        .stdout(predicate::str::contains("altered topic t"));
    // Durable: a new process opens the store with the new configuration.
    let c = config(&data, "t");
    assert_eq!(c["record_bytes_max"], 4096);
    assert_eq!(c["retention_ms"], 86_400_000u64);
    common::millrace(&data)
        .args(["produce", "t"])
        .write_stdin(big)
        .assert()
        .success();
}

#[test]
fn topic_alter_is_all_or_nothing_and_needs_a_setting() {
    let (_tmp, data) = common::store_with_topic("t", 1);
    // segment_bytes below the minimum: the valid retention is not applied either.
    common::millrace(&data)
        .args(["topic", "alter", "t", "--retention", "1d", "--segment-bytes", "1KiB"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("segment_bytes"));
    assert!(config(&data, "t")["retention_ms"].is_null());
    common::millrace(&data)
        .args(["topic", "alter", "t"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to alter"));
    common::millrace(&data)
        .args(["topic", "alter", "missing", "--retention", "1d"])
        .assert()
        .failure();
    common::millrace(&data)
        .args(["topic", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("alter"));
}

/// The segment keys: an altered size and age are applied, shown as typed,
/// and the next roll follows the new size (a topic created with the
/// default 64 MiB segments rolls at 4 KiB once altered).
#[test]
fn topic_alter_sets_the_segment_size_and_age_and_the_next_roll_follows() {
    let (_tmp, data) = common::store_with_topic("t", 1);
    common::millrace(&data)
        .args(["topic", "alter", "t", "--segment-bytes", "4KiB", "--segment-age", "1h"])
        .assert()
        .success();
    let altered = config(&data, "t");
    assert_eq!(altered["segment_bytes"], 4096, "{altered}");
    assert_eq!(altered["segment_age_ms"], 3_600_000, "{altered}");
    common::millrace(&data)
        .args(["topic", "describe", "t"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("segment age:          1h")
                .and(predicate::str::contains("segment size:         4.0 KiB")),
        );
    let lines: String = (0..40).map(|i| format!("{i:03}-{}\n", "v".repeat(500))).collect();
    common::millrace(&data)
        .args(["produce", "t"])
        .write_stdin(lines)
        .assert()
        .success();
    let segments = std::fs::read_dir(data.join("topics/t/00000"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "log"))
        .count();
    assert!(
        segments >= 4,
        "20 KB of records in 4 KiB segments made {segments} segment(s)"
    );
    let out = common::millrace(&data)
        .args(["consume", "t", "--format", "value"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 40);
}

#[test]
fn topic_alter_through_the_server_applies_live() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "t", "--record-bytes-max", "1KiB"])
        .assert()
        .success();
    let server = common::Server::start(&data, &[]);
    let big = format!("{}\n", "y".repeat(2000));
    server
        .millrace()
        .args(["produce", "t"])
        .write_stdin(big.clone())
        .assert()
        .failure()
        .stderr(predicate::str::contains("millrace topic alter t --record-bytes-max"));
    server
        .millrace()
        .args([
            "topic",
            "alter",
            "t",
            "--record-bytes-max",
            "8KiB",
            "--durability",
            "os",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("record_bytes_max").and(predicate::str::contains("durability switched")));
    // Live: the running server accepts the record now.
    server
        .millrace()
        .args(["produce", "t"])
        .write_stdin(big)
        .assert()
        .success();
    // A dry run through the server changes nothing.
    let plan =
        common::json_of(
            server
                .millrace()
                .args(["--json", "topic", "alter", "t", "--retention", "2h", "--dry-run"]),
        );
    assert_eq!(plan["changes"][0]["new"], "7200000");
    assert!(server.stop());
    let c = config(&data, "t");
    assert_eq!(c["record_bytes_max"], 8192);
    assert_eq!(c["durability"], "os");
    assert!(c["retention_ms"].is_null());
}
