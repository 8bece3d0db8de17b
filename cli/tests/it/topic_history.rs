//! Proves the durable audit trail of topic configuration changes
//! (`__config_changes`, `millrace topic history`): a change made offline,
//! through the native front and through a Kafka AdminClient each shows with
//! its actor, through a server and offline, across restarts; a kill -9 at
//! each write of an offline `topic alter` leaves the change and its record
//! or neither (an alter whose record was written is finished by the next
//! open), and of `topic create` and `topic delete` the trail and the
//! catalog agreeing (the open finishes a recorded create or delete); a
//! corrupt record is an error of that log, not of the store.

use crate::common::{self, kafka, millrace, write_private};
use serde_json::Value;
use std::path::Path;

const TOKENS: &str = "[[tokens]]\nname = \"admin\"\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n\
[[tokens]]\nname = \"ops\"\ntoken = \"ops-token-0123456789\"\npermissions = [\"admin\"]\n";

/// `topic history TOPIC --json`'s changes, offline or through `server`.
fn history(data: &Path, server: Option<&common::Server>, topic: &str) -> Vec<Value> {
    let mut cmd = match server {
        Some(server) => {
            let mut cmd = server.millrace();
            cmd.args(["--token", "admin-token-0123456789"]);
            cmd
        }
        None => millrace(data),
    };
    let out = common::json_of(cmd.args(["--json", "topic", "history", topic]));
    out["changes"].as_array().unwrap().clone()
}

/// (change, key, old, new, actor) of every key of every change.
fn rows(changes: &[Value]) -> Vec<(String, String, Value, Value, String)> {
    let mut rows = Vec::new();
    for change in changes {
        for key in change["keys"].as_array().unwrap() {
            rows.push((
                change["change"].as_str().unwrap().to_string(),
                key["key"].as_str().unwrap().to_string(),
                key["old"].clone(),
                key["new"].clone(),
                change["actor"].as_str().unwrap().to_string(),
            ));
        }
    }
    rows
}

/// An alter offline, one through the native front (token `admin`) and one
/// through confluent-kafka's IncrementalAlterConfigs (token `ops`): the
/// history shows the creation and the three alters in order, each key's
/// old and new value and who asked; the same through the server, offline
/// after it stopped, and through a restarted server.
#[test]
fn history_shows_offline_native_and_kafka_changes_with_their_actors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data).args(["topic", "create", "orders"]).assert().success();
    millrace(&data)
        .args(["topic", "alter", "orders", "--retention", "7d"])
        .env("USER", "alice")
        .assert()
        .success();
    let config = tmp.path().join("server.toml");
    write_private(&config, TOKENS);
    let clients = kafka::clients();
    let (server, bootstrap) = kafka::start_server(&data, &["--config", config.to_str().unwrap()]);
    server
        .millrace()
        .args(["--token", "admin-token-0123456789", "topic", "alter", "orders"])
        .args(["--record-bytes-max", "2MiB"])
        .assert()
        .success();
    if let Some(clients) = &clients {
        let step = serde_json::json!([{
            "client": "incremental", "user": "ops", "type": "topic", "name": "orders",
            "configs": [["retention.ms", "SET", "60000"]],
        }]);
        let output = kafka::success(&clients.python("alter_configs.py", &bootstrap, &[&step.to_string()]));
        assert!(output.contains(r#""error": null"#), "{output}");
    }
    let online = history(&data, Some(&server), "orders");
    assert!(server.stop());
    let offline = history(&data, None, "orders");
    assert_eq!(online, offline, "the server and the store answer the same history");

    // The creation came before the store's first alter: not recorded.
    let alters = rows(&offline);
    let mut expected = vec![
        (
            "retention_ms",
            Value::from("none"),
            Value::from("604800000"),
            "alice (millrace topic alter",
        ),
        (
            "record_bytes_max",
            Value::from("1048576"),
            Value::from("2097152"),
            "admin@127.0.0.1:",
        ),
    ];
    if clients.is_some() {
        expected.push((
            "retention_ms",
            Value::from("604800000"),
            Value::from("60000"),
            "ops@127.0.0.1:",
        ));
    }
    assert_eq!(alters.len(), expected.len(), "{alters:?}");
    for (row, (key, old, new, actor)) in alters.iter().zip(&expected) {
        assert_eq!(row.0, "alter");
        assert_eq!((row.1.as_str(), &row.2, &row.3), (*key, old, new), "{row:?}");
        assert!(row.4.starts_with(actor), "actor {:?}, expected {actor}…", row.4);
    }
    // A restarted server still has it.
    let server = common::Server::start(&data, &["--config", config.to_str().unwrap()]);
    assert_eq!(history(&data, Some(&server), "orders"), offline);
    assert!(server.stop());
    // Once the store has the log, creates and deletes are recorded too.
    millrace(&data).args(["topic", "create", "later"]).assert().success();
    millrace(&data)
        .args(["topic", "delete", "later", "--yes"])
        .assert()
        .success();
    let later = history(&data, None, "later");
    let kinds: Vec<&str> = later.iter().map(|c| c["change"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["create", "delete"], "{later:?}");
    assert!(
        rows(&later).iter().any(|r| r.1 == "partitions" && r.3 == "1"),
        "{later:?}"
    );
    assert!(
        later[0]["actor"].as_str().unwrap().contains("millrace topic create"),
        "{later:?}"
    );
}

/// The `retention_bytes` line of `topic.meta` on disk.
fn meta_retention_bytes(data: &Path) -> String {
    let meta = std::fs::read_to_string(data.join("topics/orders/topic.meta")).unwrap();
    let line = meta.lines().find(|l| l.starts_with("retention_bytes=")).unwrap();
    line.trim_start_matches("retention_bytes=").to_string()
}

/// `retention_bytes` as `topic describe` reports it (a read-only open),
/// spelled as in `topic.meta` (`none` for no limit).
fn described_retention_bytes(data: &Path) -> String {
    let out = common::json_of(millrace(data).args(["--json", "topic", "describe", "orders"]));
    match &out["config"]["retention_bytes"] {
        Value::Null => "none".to_string(),
        value => value.to_string(),
    }
}

/// The `new` retention_bytes of the last recorded alter, if any.
fn last_recorded(data: &Path) -> Option<String> {
    let changes = history(data, None, "orders");
    let last = changes.iter().rev().find(|c| c["change"] == "alter")?;
    let keys = last["keys"].as_array().unwrap();
    let key = keys.iter().find(|k| k["key"] == "retention_bytes").unwrap();
    Some(key["new"].as_str().unwrap().to_string())
}

/// `topic alter` killed (SIGKILL, the crash hook) just before its n-th
/// write, for n = 1, 2, ... until it completes: after every kill the
/// configuration `topic describe` shows is the last recorded alter's (or
/// the creation's, with no alter recorded), and once a writable open ran,
/// `topic.meta` on disk holds it too. At least one kill fell between the
/// record and `topic.meta` (the roll forward ran).
#[test]
fn a_kill_9_at_each_write_of_topic_alter_leaves_the_change_and_its_record_or_neither() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data).args(["topic", "create", "orders"]).assert().success();
    // A first alter creates the log: the loop kills the alters after it.
    millrace(&data)
        .args(["topic", "alter", "orders", "--retention-bytes", "999"])
        .assert()
        .success();
    let mut in_force = "999".to_string();
    let mut rolled_forward = 0;
    for n in 1..=200u32 {
        let value = (1_000_000 + n).to_string();
        let output = millrace(&data)
            .args(["topic", "alter", "orders", "--retention-bytes", &value])
            .env("MILLRACE_TEST_KILL_AFTER_WRITES", n.to_string())
            .output()
            .unwrap();
        let recorded = last_recorded(&data);
        let on_disk = meta_retention_bytes(&data);
        let shown = described_retention_bytes(&data);
        if output.status.success() {
            assert_eq!(
                recorded.as_deref(),
                Some(value.as_str()),
                "n={n}: acknowledged without its record"
            );
            assert_eq!(on_disk, value, "n={n}");
            assert_eq!(shown, value, "n={n}");
            assert!(rolled_forward > 0, "no kill fell between the record and topic.meta");
            return;
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(9),
            "n={n}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let expected = match recorded {
            Some(recorded) if recorded == value => value.clone(),
            _ => in_force.clone(),
        };
        assert_eq!(shown, expected, "n={n}: in force without its record, or the reverse");
        if on_disk != expected {
            // Recorded, topic.meta not yet replaced: a writable open finishes it.
            assert_eq!(on_disk, in_force, "n={n}");
            rolled_forward += 1;
            millrace(&data)
                .args(["topic", "alter", "orders", "--retention-bytes", "1", "--dry-run"])
                .assert()
                .success();
            assert_eq!(meta_retention_bytes(&data), expected, "n={n}: not rolled forward");
        }
        in_force = expected;
    }
    panic!("topic alter did not complete within 200 writes");
}

/// The kind of the last recorded change of `topic` (`create`, `alter`,
/// `delete`), if any (a read-only open).
fn last_change(data: &Path, topic: &str) -> Option<String> {
    let changes = history(data, None, topic);
    Some(changes.last()?["change"].as_str().unwrap().to_string())
}

/// Whether `topic list` (a read-only open) lists `topic`.
fn listed(data: &Path, topic: &str) -> bool {
    let out = common::json_of(millrace(data).args(["--json", "topic", "list"]));
    out["topics"].to_string().contains(&format!("\"{topic}\""))
}

/// `events` with one record, dead-lettered (through the engine API, as a
/// pipeline stage does: the CLI has no command that fails a record), so
/// that it has a DLQ; group `g` has committed past it on `events` and group
/// `r` on the DLQ.
fn events_with_a_dlq(data: &Path) {
    millrace(data).args(["topic", "create", "events"]).assert().success();
    millrace(data)
        .args(["produce", "events"])
        .write_stdin("one\n")
        .assert()
        .success();
    let store = millrace::Store::open(data, millrace::StoreOptions::default()).unwrap();
    let session = store.init_producer("stage").unwrap();
    let read = store.read("events", 0, 0, millrace::ReadOptions::default()).unwrap();
    store
        .fail_record(
            session.id(),
            "g",
            "events",
            0,
            &read.records[0],
            "transform",
            "E",
            "bad",
            1,
        )
        .unwrap();
    store.commit_offset("r", "__dlq.events", 0, 1, &[]).unwrap();
    store.close().unwrap();
}

/// How many changes to the disk a writable open of `data` makes before it
/// is open (`topic alter --dry-run` killed before its n-th, n = 1, 2, ...
/// until it completes): a kill before one of them kills the open, not the
/// command after it.
fn open_writes(data: &Path) -> u32 {
    (1..=200u32)
        .find(|n| {
            millrace(data)
                .args(["topic", "alter", "orders", "--retention-bytes", "1", "--dry-run"])
                .env("MILLRACE_TEST_KILL_AFTER_WRITES", n.to_string())
                .output()
                .unwrap()
                .status
                .success()
        })
        .unwrap()
        - 1
}

/// `topic create events` and `topic delete events` (of a topic with a
/// DLQ and committed offsets on both), each killed (SIGKILL, the crash
/// hook) just before its n-th write, for n = 1, 2, ... past the open's
/// writes: after every kill `topic list` (a read-only open) lists `events`
/// exactly when its last record is a create, and after a writable open so
/// does the data directory, a deleted topic's DLQ is gone too, and
/// `offsets show` lists no committed offset on either (nor does `check`
/// report anything left to finish). At least one kill of each fell between
/// the record and the directory (the open rolled the create, and the
/// delete, forward), and one of the delete's left its offsets after the
/// DLQ was gone (`check` reported them, the open forgot them). To stay
/// cheap, the delete's sweep stops once a kill found the topic, its DLQ
/// and its offsets gone (what follows is its bookkeeping);
/// `MILLRACE_TEST_FULL_KILL_SWEEP=1` sweeps every write to completion.
#[test]
fn a_kill_9_at_each_write_of_topic_create_and_delete_leaves_the_trail_and_the_catalog_agreeing() {
    use std::os::unix::process::ExitStatusExt;
    let full = std::env::var("MILLRACE_TEST_FULL_KILL_SWEEP").is_ok_and(|v| v == "1");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dir = data.join("topics/events");
    let dlq = data.join("topics/__dlq.events");
    millrace(&data).args(["topic", "create", "orders"]).assert().success();
    // A first alter creates the log: creates and deletes are recorded after it.
    millrace(&data)
        .args(["topic", "alter", "orders", "--retention-bytes", "999"])
        .assert()
        .success();
    let first = open_writes(&data).saturating_sub(1).max(1);
    for command in ["create", "delete"] {
        let mut rolled_forward = 0;
        let mut offsets_left = 0;
        let mut done = false;
        for n in first..=400u32 {
            // The state each command starts from.
            if command == "create" && dir.is_dir() {
                millrace(&data)
                    .args(["topic", "delete", "events", "--yes"])
                    .assert()
                    .success();
            }
            if command == "delete" && !dlq.is_dir() {
                if dir.is_dir() {
                    millrace(&data)
                        .args(["topic", "delete", "events", "--yes"])
                        .assert()
                        .success();
                }
                events_with_a_dlq(&data);
            }
            let args: &[&str] = if command == "create" {
                &["topic", "create", "events"]
            } else {
                &["topic", "delete", "events", "--yes"]
            };
            let output = millrace(&data)
                .args(args)
                .env("MILLRACE_TEST_KILL_AFTER_WRITES", n.to_string())
                .output()
                .unwrap();
            let last = last_change(&data, "events");
            let exists = last.as_deref() == Some("create");
            assert_eq!(
                listed(&data, "events"),
                exists,
                "{command} n={n}: the catalog disagrees with the trail's last record {last:?}"
            );
            if dir.is_dir() != exists || (!exists && dlq.is_dir()) {
                rolled_forward += 1;
            }
            let mut gone_before_open = !dir.is_dir() && !dlq.is_dir();
            if command == "delete" && gone_before_open && leftover_offsets_checked(&data) {
                offsets_left += 1;
                gone_before_open = false;
            }
            // A writable open finishes what the record says.
            millrace(&data)
                .args(["topic", "alter", "orders", "--retention-bytes", "1", "--dry-run"])
                .assert()
                .success();
            assert_eq!(dir.is_dir(), exists, "{command} n={n}: not rolled forward ({last:?})");
            if !exists {
                assert!(!dlq.exists(), "{command} n={n}: a deleted topic's DLQ is left");
                let shown = common::stdout_of(millrace(&data).args(["--json", "offsets", "show"]));
                assert!(
                    !shown.contains("events"),
                    "{command} n={n}: offsets of the deleted topic or its DLQ are left: {shown}"
                );
                assert!(
                    !leftover_offsets_checked(&data),
                    "{command} n={n}: check still finds offsets to forget"
                );
            }
            if output.status.success() {
                assert_eq!(
                    last.as_deref(),
                    Some(command),
                    "{command} n={n}: done without its record"
                );
                done = true;
                break;
            }
            assert_eq!(
                output.status.signal(),
                Some(9),
                "{command} n={n}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            if command == "delete" && gone_before_open && rolled_forward > 0 && !full {
                done = true;
                break;
            }
        }
        assert!(done, "topic {command} did not complete within 400 writes");
        assert!(
            rolled_forward > 0,
            "no kill of topic {command} fell between the record and the directory"
        );
        if command == "delete" {
            assert!(
                offsets_left > 0,
                "no kill of topic delete fell between its DLQ and its offsets"
            );
        }
    }
}

/// Whether `check` reports committed offsets that the next open forgets
/// (those of a deleted topic whose directory and DLQ are gone).
fn leftover_offsets_checked(data: &Path) -> bool {
    let report = common::json_of(millrace(data).args(["--json", "check"]));
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["detail"].as_str().unwrap().contains("the next open forgets them"))
}

/// A flipped byte in the first of three config change records (alters): `topic
/// history` fails naming `__config_changes`, an alter is refused (no change
/// goes unrecorded), and the store and the topic still open.
#[test]
fn a_corrupt_config_change_record_is_an_error_of_that_log_not_of_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data).args(["topic", "create", "orders"]).assert().success();
    for retention in ["1h", "1d", "2d"] {
        millrace(&data)
            .args(["topic", "alter", "orders", "--retention", retention])
            .assert()
            .success();
    }
    assert_eq!(history(&data, None, "orders").len(), 3);
    let segment = data.join("topics/__config_changes/00000/00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    // Inside the first record's value (its topic.meta text).
    let at = bytes.windows(11).position(|w| w == b"partitions=").unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();

    let failed = millrace(&data).args(["topic", "history", "orders"]).assert().failure();
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).to_string();
    assert!(stderr.contains("__config_changes"), "{stderr}");
    let refused = millrace(&data)
        .args(["topic", "alter", "orders", "--retention", "3d"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(stderr.contains("__config_changes"), "{stderr}");
    let described = common::json_of(millrace(&data).args(["--json", "topic", "describe", "orders"]));
    assert_eq!(
        described["config"]["retention_ms"],
        Value::from(172_800_000u64),
        "{described}"
    );
    millrace(&data).args(["topic", "list"]).assert().success();
}
