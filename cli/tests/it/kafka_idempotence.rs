//! Idempotent Kafka producers through `millrace serve` (issue 21, "Tests"
//! item 2), with clients nobody here wrote: confluent-kafka
//! (`enable.idempotence`, acks=all) produces numbered records while a proxy
//! resets its connections mid-request, and separately while the server is
//! killed with SIGKILL and restarted; then every number is read back exactly
//! once, in order per partition, without a gap. kafka-python's and
//! aiokafka's idempotent producers produce without an error.
//! Scripts: `tests/kafka/idem_*.py`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{self, kafka, Server};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn create_topic(data: &Path, topic: &str, partitions: u32) {
    common::millrace(data)
        .args(["topic", "create", topic, "--partitions", &partitions.to_string()])
        .assert()
        .success();
}

/// The script's JSON line (its last line of output).
fn result_of(stdout: &str) -> serde_json::Value {
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn assert_exactly_once(result: &serde_json::Value, count: u64) {
    assert_eq!(result["problems"], serde_json::json!([]), "{result}");
    assert_eq!(result["consumed"], count, "{result}");
    assert_eq!(result["acked"], count, "{result}");
}

#[test]
fn connection_cuts_mid_batch_neither_duplicate_nor_lose_records() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_topic(&data, "idem", 3);
    // Clients reconnect to the advertised address: the proxy's.
    let proxy_port = free_port().to_string();
    let advertised = format!("127.0.0.1:{proxy_port}");
    let (_server, bootstrap) = kafka::start_server(&data, &["--kafka-advertised", &advertised]);
    let output = clients.python(
        "idem_cut.py",
        &bootstrap,
        &[
            "--topic",
            "idem",
            "--partitions",
            "3",
            "--count",
            "20000",
            "--proxy-port",
            &proxy_port,
            "--cut-bytes",
            "300000",
        ],
    );
    let result = result_of(&kafka::success(&output));
    eprintln!("{result}");
    assert_exactly_once(&result, 20000);
    assert!(result["cuts"].as_u64().unwrap() >= 3, "{result}");
}

#[test]
fn a_server_killed_mid_produce_and_restarted_writes_each_record_once() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_topic(&data, "idem", 3);
    let kafka_addr = format!("127.0.0.1:{}", free_port());
    let args = ["--kafka-listen", kafka_addr.as_str()];
    let wait_for_kafka = || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&kafka_addr).is_err() {
            assert!(Instant::now() < deadline, "Kafka front did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut server = Server::start(&data, &args);
    wait_for_kafka();
    let progress = dir.path().join("progress");
    let producing = {
        let clients = clients.clone();
        let bootstrap = kafka_addr.clone();
        let progress = progress.to_str().unwrap().to_string();
        std::thread::spawn(move || {
            clients.python(
                "idem_cut.py",
                &bootstrap,
                &[
                    "--topic",
                    "idem",
                    "--partitions",
                    "3",
                    "--count",
                    "30000",
                    "--progress",
                    &progress,
                ],
            )
        })
    };
    // Kill once a third is acknowledged, with more in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let acked: u64 = std::fs::read_to_string(&progress)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if acked >= 10_000 {
            break;
        }
        assert!(
            Instant::now() < deadline && !producing.is_finished(),
            "no progress: {acked}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    let _server = Server::start(&data, &args);
    wait_for_kafka();
    let output = producing.join().unwrap();
    let result = result_of(&kafka::success(&output));
    eprintln!("{result}");
    assert_exactly_once(&result, 30000);
}

#[test]
fn kafka_python_and_aiokafka_idempotent_producers_produce_without_error() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for client in ["kafka-python", "aiokafka"] {
        create_topic(&data, &format!("idemc-{client}"), 1);
    }
    let (_server, bootstrap) = kafka::start_server(&data, &[]);
    let output = clients.python(
        "idem_clients.py",
        &bootstrap,
        &["--topic-prefix", "idemc", "--count", "2000"],
    );
    let result = result_of(&kafka::success(&output));
    eprintln!("{result}");
    assert_eq!(result["problems"], serde_json::json!([]), "{result}");
    for client in ["kafka-python", "aiokafka"] {
        assert_eq!(result[client]["acked"], 2000, "{result}");
        assert_eq!(result[client]["consumed"], 2000, "{result}");
    }
}

/// librdkafka's own epoch bump for a live id: confluent-kafka's idempotent
/// producer, its answers stalled by a proxy until messages time out in
/// flight, bumps its epoch itself (same id, no second InitProducerId) and
/// sends the next records from sequence 0 at epoch 1. The front takes that
/// (it answered INVALID_PRODUCER_EPOCH before): the records after the stall
/// are delivered without an error and read back exactly once; the ones
/// that timed out ("possibly persisted") at most once; nothing before the
/// stall is lost or repeated. Script: `tests/kafka/idem_bump.py`.
#[test]
fn a_live_producers_own_epoch_bump_after_in_flight_timeouts_is_accepted() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_topic(&data, "bump", 1);
    let proxy_port = free_port().to_string();
    let advertised = format!("127.0.0.1:{proxy_port}");
    let (_server, bootstrap) = kafka::start_server(&data, &["--kafka-advertised", &advertised]);
    let output = clients.python(
        "idem_bump.py",
        &bootstrap,
        &["--proxy-port", &proxy_port, "--topic", "bump"],
    );
    let result = result_of(&kafka::success(&output));
    let errors = &result["errors"];
    assert_eq!(errors["before"], serde_json::json!([]), "{result}");
    assert_eq!(
        errors["stalled"],
        serde_json::json!(["_MSG_TIMED_OUT", "_MSG_TIMED_OUT", "_MSG_TIMED_OUT"]),
        "the stall did not time the messages out: {result}"
    );
    assert_eq!(errors["after"], serde_json::json!([]), "{result}");
    assert_eq!(result["fatal"], serde_json::Value::Null, "{result}");
    assert_eq!(result["acquired"], 1, "no second InitProducerId: {result}");
    let sends = result["sends"].as_array().unwrap();
    let id = &sends[0]["id"];
    assert!(sends.iter().all(|s| &s["id"] == id), "one producer id: {result}");
    let after: Vec<(i64, i64)> = sends
        .iter()
        .filter(|s| s["phase"] == "after")
        .map(|s| (s["epoch"].as_i64().unwrap(), s["seq"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        after.first(),
        Some(&(1, 0)),
        "bumped to epoch 1 from sequence 0: {result}"
    );
    let values: Vec<&str> = result["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let count = |prefix: &str, i: usize| values.iter().filter(|v| **v == format!("{prefix}-{i}")).count();
    for i in 0..5 {
        assert_eq!(count("before", i), 1, "{result}");
        assert_eq!(count("after", i), 1, "{result}");
    }
    for i in 0..3 {
        assert!(count("stalled", i) <= 1, "{result}");
    }
    assert_eq!(
        values.len(),
        10 + (0..3).map(|i| count("stalled", i)).sum::<usize>(),
        "{result}"
    );
}
