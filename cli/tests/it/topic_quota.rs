//! A topic's own byte quota (`quota_bytes`, issue 23's "quota-related
//! limits" of `topic alter`): like NATS JetStream's `max_bytes` with
//! discard=new, an append that would take the topic's bytes on disk past it
//! is refused with the store quota's error, naming the topic, its size, the
//! limit and the flag that raises it; nothing of the refused batch is
//! written; `topic alter` raises it (live through a server, offline on the
//! data directory); a restart keeps it and counts the topic's bytes again.
use crate::common;

use predicates::prelude::*;

/// `n` lines of 100 bytes each.
fn lines(n: usize) -> String {
    format!("{}\n", "v".repeat(100)).repeat(n)
}

fn describe(cmd: &mut assert_cmd::Command, topic: &str) -> serde_json::Value {
    common::json_of(cmd.args(["--json", "topic", "describe", topic]))
}

#[test]
fn a_produce_past_the_topic_quota_is_refused_whole_until_topic_alter_raises_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "q", "--quota-bytes", "4KiB"])
        .assert()
        .success();
    common::millrace(&data)
        .args(["topic", "create", "other"])
        .assert()
        .success();
    let server = common::Server::start(&data, &[]);
    server
        .millrace()
        .args(["produce", "q"])
        .write_stdin(lines(20))
        .assert()
        .success();
    // 30 more records (one batch) would pass 4 KiB: refused, none written.
    server
        .millrace()
        .args(["produce", "q"])
        .write_stdin(lines(30))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("topic \"q\" byte quota exceeded")
                .and(predicate::str::contains("> 4096 quota"))
                .and(predicate::str::contains("millrace topic alter q --quota-bytes")),
        );
    let d = describe(&mut server.millrace(), "q");
    assert_eq!(d["records"], 20, "{d}");
    assert_eq!(d["config"]["quota_bytes"], 4096, "{d}");
    let used = d["bytes"].as_u64().unwrap();
    assert!(used > 2000 && used <= 4096, "{d}");
    // Only that topic is bounded: the store takes the same batch elsewhere.
    server
        .millrace()
        .args(["produce", "other"])
        .write_stdin(lines(30))
        .assert()
        .success();
    server
        .millrace()
        .args(["topic", "describe", "q"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"quota: +\d+\.\d KiB of 4\.0 KiB \(\d+%\)").unwrap());
    let status = common::json_of(server.millrace().args(["--json", "status"]));
    assert_eq!(status["topic_quotas"]["q"]["quota_bytes"], 4096, "{status}");
    assert_eq!(status["topic_quotas"]["q"]["used_bytes"], used, "{status}");
    assert!(status["topic_quotas"].get("other").is_none(), "{status}");
    server
        .millrace()
        .args(["topic", "alter", "q", "--quota-bytes", "64KiB", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"quota_bytes +4\.0 KiB +-> 64\.0 KiB").unwrap());
    server
        .millrace()
        .args(["produce", "q"])
        .write_stdin(lines(30))
        .assert()
        .code(1);
    server
        .millrace()
        .args(["topic", "alter", "q", "--quota-bytes", "64KiB"])
        .assert()
        .success();
    server
        .millrace()
        .args(["produce", "q"])
        .write_stdin(lines(30))
        .assert()
        .success();
    assert!(server.stop());
    // A restart keeps the quota and counts the topic's bytes at open: 700
    // more records (over 70 KiB) are refused, 50 stay.
    let server = common::Server::start(&data, &[]);
    let d = describe(&mut server.millrace(), "q");
    assert_eq!(d["config"]["quota_bytes"], 65536, "{d}");
    assert_eq!(d["records"], 50, "{d}");
    server
        .millrace()
        .args(["produce", "q", "--batch-records", "100000"])
        .write_stdin(lines(700))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("topic \"q\" byte quota exceeded"));
    assert_eq!(describe(&mut server.millrace(), "q")["records"], 50);
    // The config-change trail has the alter, with its actor.
    let history = common::json_of(server.millrace().args(["--json", "topic", "history", "q"]));
    assert!(history.to_string().contains("quota_bytes"), "{history}");
    assert!(server.stop());
}

/// The limit is exact: a topic at its quota takes nothing more, and one byte
/// short of room for a batch refuses it. Offline alters of the data
/// directory move it.
#[test]
fn the_topic_quota_is_exact_to_the_byte_and_altered_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for topic in ["p", "one"] {
        common::millrace(&data)
            .args(["topic", "create", topic])
            .assert()
            .success();
    }
    let record = format!("{}\n", "r".repeat(50));
    common::millrace(&data)
        .args(["produce", "p"])
        .write_stdin(lines(10))
        .assert()
        .success();
    common::millrace(&data)
        .args(["produce", "one"])
        .write_stdin(record.clone())
        .assert()
        .success();
    let used = describe(&mut common::millrace(&data), "p")["bytes"].as_u64().unwrap();
    // The bytes one batch of that one record takes.
    let batch = describe(&mut common::millrace(&data), "one")["bytes"].as_u64().unwrap();
    assert!(batch > 50, "{batch}");
    let alter = |quota: u64| {
        common::millrace(&data)
            .args(["topic", "alter", "p", "--quota-bytes", &quota.to_string()])
            .assert()
            .success();
    };
    let produce = || {
        common::millrace(&data)
            .args(["produce", "p"])
            .write_stdin(record.clone())
            .assert()
    };
    // At its quota: refused.
    alter(used);
    produce().code(1).stderr(predicate::str::contains(format!(
        "topic \"p\" byte quota exceeded: {used} used + {batch} requested > {used} quota"
    )));
    // One byte short of the batch: refused; exactly room for it: taken.
    alter(used + batch - 1);
    produce().code(1);
    alter(used + batch);
    produce().success();
    let d = describe(&mut common::millrace(&data), "p");
    assert_eq!(d["records"], 11, "{d}");
    assert_eq!(d["bytes"], used + batch, "{d}");
    produce().code(1);
    // `none` lifts it.
    common::millrace(&data)
        .args(["topic", "alter", "p", "--quota-bytes", "none"])
        .assert()
        .success();
    produce().success();
    let d = describe(&mut common::millrace(&data), "p");
    assert_eq!(d["records"], 12, "{d}");
    assert!(d["config"]["quota_bytes"].is_null(), "{d}");
    // A zero quota is a usage error naming the key.
    common::millrace(&data)
        .args(["topic", "create", "z", "--quota-bytes", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("quota_bytes"));
}
