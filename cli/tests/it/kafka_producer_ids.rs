//! Idempotent producer ids handed out by the Kafka front's InitProducerId
//! without a transactional id (issue 21: "anonymous producer
//! registrations"), through `millrace serve`: a loop of InitProducerId on
//! fresh connections (a client reconnecting for ever) stops at the cap with
//! THROTTLING_QUOTA_EXCEEDED and does not grow the producer registry; ids
//! idle past `--kafka-producer-id-expiration-ms` are forgotten and free
//! their slots; a confluent-kafka idempotent producer idle past the
//! expiration goes on writing (librdkafka takes UNKNOWN_PRODUCER_ID, gets a
//! new id and resends), each record exactly once. Script:
//! `tests/kafka/idem_expiry.py`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::kafka;

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
