//! A topic's durability altered on a running `millrace serve` applies at
//! once (issue 21; design/durability.md, "Switching durability"): through
//! the native front (`millrace topic alter --durability always`) and through
//! the Kafka front (confluent-kafka's AdminClient, IncrementalAlterConfigs on
//! `millrace.durability`, `tests/kafka/durability_live.py`), a topic created
//! `os` is described `always` right after the alter, the records produced
//! next are fdatasync'd (the server's `millrace_fsyncs_total` grows while
//! they are produced: an `os` topic fsyncs nothing on produce, so this is
//! what fails when the switch waits for a restart), and after a kill -9 of
//! the server every acknowledged record is there.

use crate::common::{self, json_of, kafka, stdout_of, Server};
use std::io::{Read, Write};

/// The server's fdatasync count, from its metrics listener.
fn fsyncs(metrics: &str) -> u64 {
    let mut stream = std::net::TcpStream::connect(metrics).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix("millrace_fsyncs_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no millrace_fsyncs_total in {body}"))
}

fn kill_9(mut server: Server) {
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

/// The values of `topic` in the data directory (the server is gone).
fn values_after_restart(data: &std::path::Path, topic: &str) -> Vec<String> {
    stdout_of(common::millrace(data).args(["consume", topic, "--format", "value"]))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn topic_alter_durability_on_a_running_server_fsyncs_the_next_records_and_a_kill_9_loses_none() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "live", "--durability", "os"])
        .assert()
        .success();
    let metrics = format!("127.0.0.1:{}", kafka::free_port());
    let server = Server::start(&data, &["--metrics-listen", &metrics]);
    server
        .millrace()
        .args(["topic", "alter", "live", "--durability", "always"])
        .assert()
        .success()
        .stdout(predicates::str::contains("durability switched"));
    let described = json_of(server.millrace().args(["--json", "topic", "describe", "live"]));
    assert_eq!(described["durability"], "always", "in force at once: {described}");
    let before = fsyncs(&metrics);
    let lines: String = (0..50).map(|i| format!("r{i}\n")).collect();
    server
        .millrace()
        .args(["produce", "live"])
        .write_stdin(lines)
        .assert()
        .success();
    let after = fsyncs(&metrics);
    assert!(
        after > before,
        "no fdatasync while producing to an `always` topic ({before} -> {after})"
    );
    kill_9(server);
    let values = values_after_restart(&data, "live");
    let expected: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
    assert_eq!(values, expected);
}

#[test]
fn millrace_durability_altered_through_kafka_applies_at_once_and_a_kill_9_loses_no_acked_record() {
    let Some(clients) = kafka::clients() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let metrics = format!("127.0.0.1:{}", kafka::free_port());
    let (server, bootstrap) = kafka::start_server(&data, &["--metrics-listen", &metrics]);
    let altered: serde_json::Value = serde_json::from_str(
        kafka::success(&clients.python("durability_live.py", &bootstrap, &["alter", "live"])).trim(),
    )
    .unwrap();
    assert_eq!(altered["created"]["error"], serde_json::Value::Null, "{altered}");
    assert_eq!(altered["altered"]["error"], serde_json::Value::Null, "{altered}");
    assert_eq!(altered["durability"], "always", "{altered}");
    let described = json_of(server.millrace().args(["--json", "topic", "describe", "live"]));
    assert_eq!(described["durability"], "always", "in force at once: {described}");
    let before = fsyncs(&metrics);
    let produced: serde_json::Value = serde_json::from_str(
        kafka::success(&clients.python("durability_live.py", &bootstrap, &["produce", "live", "100"])).trim(),
    )
    .unwrap();
    let after = fsyncs(&metrics);
    assert_eq!(produced["errors"], serde_json::json!([]), "{produced}");
    let acked: Vec<String> = produced["acked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(acked.len(), 100, "{produced}");
    assert!(
        after > before,
        "no fdatasync while producing to an `always` topic ({before} -> {after})"
    );
    kill_9(server);
    let values = values_after_restart(&data, "live");
    let missing: Vec<&String> = acked.iter().filter(|v| !values.contains(v)).collect();
    assert!(missing.is_empty(), "acknowledged and lost after kill -9: {missing:?}");
    assert_eq!(values.len(), 100, "each record once: {values:?}");
}
