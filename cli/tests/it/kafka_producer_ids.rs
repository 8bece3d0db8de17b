//! Idempotent producer ids handed out by the Kafka front's InitProducerId
//! without a transactional id (issue 21: "anonymous producer
//! registrations"), through `millrace serve`: a loop of InitProducerId on
//! fresh connections (a client reconnecting for ever) stops at the cap with
//! THROTTLING_QUOTA_EXCEEDED and does not grow the producer registry; ids
//! idle past `--kafka-producer-id-expiration-ms` are forgotten and free
//! their slots; a confluent-kafka idempotent producer idle past the
//! expiration goes on writing, each record exactly once: librdkafka, told
//! UNKNOWN_PRODUCER_ID, bumps its own epoch and resends from sequence 0
//! with the same id (no InitProducerId), and the front takes the expired
//! id back at that epoch. Script: `tests/kafka/idem_expiry.py`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{self, kafka};

/// The script's JSON line (its last line of output).
fn result_of(stdout: &str) -> serde_json::Value {
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn codes(clients: &kafka::KafkaClients, bootstrap: &str, count: usize) -> Vec<i64> {
    let output = clients.python(
        "idem_expiry.py",
        bootstrap,
        &["--mode", "loop", "--count", &count.to_string()],
    );
    let result = result_of(&kafka::success(&output));
    result["codes"]
        .as_array()
        .unwrap_or_else(|| panic!("{result}"))
        .iter()
        .map(|c| c.as_i64().unwrap())
        .collect()
}

fn registry_bytes(data: &Path) -> u64 {
    std::fs::metadata(data.join("producers.registry")).unwrap().len()
}

const THROTTLING_QUOTA_EXCEEDED: i64 = 89;

#[test]
fn a_reconnect_loop_of_init_producer_id_stops_at_the_cap_and_expired_ids_free_it() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_server, bootstrap) = kafka::start_server(
        &data,
        &[
            "--kafka-anonymous-producers-max",
            "5",
            "--kafka-producer-id-expiration-ms",
            "1500",
        ],
    );
    assert_eq!(codes(&clients, &bootstrap, 5), vec![0; 5]);
    let full = registry_bytes(&data);
    // Past the cap: refused, and nothing more is kept.
    assert_eq!(codes(&clients, &bootstrap, 40), vec![THROTTLING_QUOTA_EXCEEDED; 40]);
    assert_eq!(registry_bytes(&data), full);
    // Idle past the expiration (the maintenance round runs every second):
    // the slots are free again and the registry holds the new ids only.
    let deadline = Instant::now() + Duration::from_secs(30);
    std::thread::sleep(Duration::from_millis(1600));
    let granted = loop {
        let got = codes(&clients, &bootstrap, 1);
        if got == [0] {
            break got;
        }
        assert!(Instant::now() < deadline, "never freed: {got:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(granted, vec![0]);
    assert_eq!(codes(&clients, &bootstrap, 4), vec![0; 4]);
    assert_eq!(codes(&clients, &bootstrap, 1), vec![THROTTLING_QUOTA_EXCEEDED]);
    assert_eq!(registry_bytes(&data), full, "expired ids were not forgotten");
}

/// What librdkafka (confluent-kafka 2.16) does when its idempotent
/// producer's id expired while it was idle, captured from its debug log:
/// the first batch after the pause (same id, epoch 0, the next sequence) is
/// answered UNKNOWN_PRODUCER_ID; it then bumps the epoch itself and sends
/// the same records again from sequence 0 in every partition, with no new
/// InitProducerId. The front takes the id back at that epoch: nothing
/// times out, and each partition holds every record once, in order.
#[test]
fn an_idempotent_producer_idle_past_the_expiration_bumps_its_epoch_and_writes_on_exactly_once() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "expiry", "--partitions", "2"])
        .assert()
        .success();
    let (_server, bootstrap) = kafka::start_server(&data, &["--kafka-producer-id-expiration-ms", "1000"]);
    // Idle 3.5 s: past the expiration and the maintenance round that
    // forgets the id (every second).
    let output = clients.python(
        "idem_expiry.py",
        &bootstrap,
        &[
            "--mode",
            "expiry",
            "--topic",
            "expiry",
            "--idle-s",
            "3.5",
            "--partitions",
            "2",
        ],
    );
    let result = result_of(&kafka::success(&output));
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    assert_eq!(result["fatal"], serde_json::Value::Null, "{result}");
    let expected: Vec<String> = (0..5)
        .map(|i| format!("first-{i}"))
        .chain((0..5).map(|i| format!("second-{i}")))
        .collect();
    for partition in ["0", "1"] {
        assert_eq!(result["values"][partition], serde_json::json!(expected), "{result}");
    }
    assert_eq!(result["acquired"], 1, "one InitProducerId: {result}");
    let before = result["sends_before_idle"].as_array().unwrap();
    let after = result["sends_after_idle"].as_array().unwrap();
    let id = &before[0]["id"];
    assert!(
        before.iter().chain(after).all(|send| &send["id"] == id),
        "one producer id throughout: {result}"
    );
    for partition in [0, 1] {
        let sends: Vec<&serde_json::Value> = after.iter().filter(|s| s["partition"] == partition).collect();
        // The pause's first batch at epoch 0 continuing the sequence, then
        // the bumped epoch from sequence 0, accepted the first time.
        assert_eq!(
            sends.first().map(|s| (&s["epoch"], &s["seq"])),
            Some((&0.into(), &5.into())),
            "{result}"
        );
        assert!(
            sends.iter().any(|s| s["epoch"] == 1 && s["seq"] == 0),
            "no restart at epoch 1: {result}"
        );
        assert!(
            sends.iter().all(|s| s["epoch"].as_i64() <= Some(1)),
            "bumped more than once: {result}"
        );
    }
}

/// An id forgotten before a server restart: confluent-kafka's idempotent
/// producer sends 5 records to each of 2 partitions and stays idle while
/// its id expires and is forgotten, a new InitProducerId writes the
/// registry file without it, and the server restarts (so no memory of the
/// id is left but the partitions' state). Its next batch is answered
/// UNKNOWN_PRODUCER_ID; it bumps its epoch itself and resends from
/// sequence 0, and the restarted front takes the id back as Kafka would:
/// no delivery error, one InitProducerId, one id, every record once.
#[test]
fn an_id_forgotten_before_a_server_restart_comes_back_at_the_bumped_epoch() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "restart", "--partitions", "2"])
        .assert()
        .success();
    let bootstrap = format!("127.0.0.1:{}", kafka::free_port());
    let args = [
        "--kafka-listen",
        bootstrap.as_str(),
        "--kafka-producer-id-expiration-ms",
        "1000",
    ];
    let wait_listening = || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&bootstrap).is_err() {
            assert!(Instant::now() < deadline, "Kafka front did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let server = common::Server::start(&data, &args);
    wait_listening();
    let script = {
        let (clients, bootstrap) = (clients.clone(), bootstrap.clone());
        std::thread::spawn(move || {
            clients.python(
                "idem_expiry.py",
                &bootstrap,
                &[
                    "--mode",
                    "expiry",
                    "--topic",
                    "restart",
                    "--idle-s",
                    "9",
                    "--partitions",
                    "2",
                ],
            )
        })
    };
    // The first 10 records are in: the producer is idle from now on.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = common::json_of(server.millrace().args(["topic", "describe", "restart", "--json"]));
        if described["records"] == 10 {
            break;
        }
        assert!(Instant::now() < deadline, "first records never arrived: {described}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Past the expiration and the maintenance round that forgets the id;
    // a new registration then writes the file without it.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(codes(&clients, &bootstrap, 1), vec![0]);
    assert!(server.stop());
    let _server = common::Server::start(&data, &args);
    wait_listening();
    let result = result_of(&kafka::success(&script.join().unwrap()));
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    assert_eq!(result["fatal"], serde_json::Value::Null, "{result}");
    assert_eq!(result["acquired"], 1, "one InitProducerId: {result}");
    let expected: Vec<String> = (0..5)
        .map(|i| format!("first-{i}"))
        .chain((0..5).map(|i| format!("second-{i}")))
        .collect();
    for partition in ["0", "1"] {
        assert_eq!(result["values"][partition], serde_json::json!(expected), "{result}");
    }
    let before = result["sends_before_idle"].as_array().unwrap();
    let after = result["sends_after_idle"].as_array().unwrap();
    let id = &before[0]["id"];
    assert!(
        before.iter().chain(after).all(|send| &send["id"] == id),
        "one producer id throughout: {result}"
    );
    for partition in [0, 1] {
        assert!(
            after
                .iter()
                .any(|s| s["partition"] == partition && s["epoch"] == 1 && s["seq"] == 0),
            "no restart at epoch 1 from sequence 0: {result}"
        );
    }
}
