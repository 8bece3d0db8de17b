//! The real Kafka clients the Kafka front is tested with are the versions
//! design/kafka.md names (`make kafka-clients` installs them).

use crate::common::kafka;

#[test]
fn the_pinned_kafka_clients_are_installed() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let version = std::process::Command::new(&clients.kcat).arg("-V").output().unwrap();
    let text = String::from_utf8_lossy(&version.stdout).into_owned() + &String::from_utf8_lossy(&version.stderr);
    assert!(
        text.contains("kcat - Apache Kafka producer and consumer tool"),
        "{text}"
    );
    assert!(
        text.contains("Version 1.7.1") && text.contains("librdkafka 2.0.2"),
        "{text}"
    );
    let versions = std::process::Command::new(&clients.python)
        .args([
            "-c",
            "import confluent_kafka, kafka, aiokafka; print(confluent_kafka.version(), kafka.__version__, aiokafka.__version__)",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&versions.stdout).trim(), "2.16.2 3.0.12 0.14.0");
}
