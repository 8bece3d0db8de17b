//! The Kafka front's listener and cluster APIs (issue 21) through real
//! clients nobody here wrote: kcat (librdkafka) against `millrace serve`.

use predicates::prelude::*;

use crate::common::{self, kafka};

/// `kcat -L` lists this broker at its advertised address, as controller,
/// and every topic with every partition led by it.
#[test]
fn kcat_lists_the_broker_and_the_topics() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "orders", "--partitions", "3"])
        .assert()
        .success();
    common::millrace(&data)
        .args(["topic", "create", "audit"])
        .assert()
        .success();
    let (_server, bootstrap) = kafka::start_server(&data, &[]);
    let listing = kafka::success(&clients.kcat(&bootstrap, &["-L", "-m", "20"], b""));
    assert!(
        listing.contains(&format!("broker 0 at {bootstrap} (controller)")),
        "{listing}"
    );
    assert!(listing.contains("topic \"orders\" with 3 partitions:"), "{listing}");
    for partition in 0..3 {
        assert!(
            listing.contains(&format!("partition {partition}, leader 0, replicas: 0, isrs: 0")),
            "{listing}"
        );
    }
    assert!(listing.contains("topic \"audit\" with 1 partitions:"), "{listing}");
    // One topic by name; an unknown one is reported, not invented.
    let one = kafka::success(&clients.kcat(&bootstrap, &["-L", "-t", "orders", "-m", "20"], b""));
    assert!(
        one.contains("1 topics:") && one.contains("\"orders\" with 3 partitions"),
        "{one}"
    );
    let unknown = clients.kcat(&bootstrap, &["-L", "-t", "nope", "-m", "20"], b"");
    let text = String::from_utf8_lossy(&unknown.stdout);
    assert!(
        text.contains("topic \"nope\" with 0 partitions: Broker: Unknown topic or partition"),
        "{text}"
    );
}

/// `--kafka-advertised` is what Metadata names (clients then connect
/// there); the bound address is what they bootstrap from.
#[test]
fn metadata_names_the_advertised_address() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "t"])
        .assert()
        .success();
    let (_server, bootstrap) = kafka::start_server(&data, &["--kafka-advertised", "broker.invalid:19092"]);
    let listing = kafka::success(&clients.kcat(&bootstrap, &["-L", "-m", "20"], b""));
    assert!(
        listing.contains("broker 0 at broker.invalid:19092 (controller)"),
        "{listing}"
    );
}

/// A taken Kafka port is an error naming the flag, before any banner.
#[test]
fn a_taken_kafka_port_names_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    common::millrace(&tmp.path().join("data"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-metrics",
            "--kafka-listen",
            &addr,
        ])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(format!("cannot listen on {addr} for Kafka clients"))
                .and(predicate::str::contains("--kafka-listen"))
                .and(predicate::str::contains("millrace serving").not()),
        );
}
