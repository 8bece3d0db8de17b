//! The cluster id the Kafka front names in Metadata (issue 21): drawn once
//! and kept in the data directory's `cluster.id` (design/format.md,
//! "Cluster id"), so confluent-kafka reads the same id after a restart and
//! after the directory moved; a damaged file is reported by `check` and
//! replaced by a new id at the next open (the documented rule), after which
//! `check` is clean. Script: `tests/kafka/cluster_id.py`.

use std::path::Path;

use crate::common::{self, kafka};

fn cluster_id(clients: &kafka::KafkaClients, data: &Path) -> String {
    let (server, bootstrap) = kafka::start_server(data, &[]);
    let output = clients.python("cluster_id.py", &bootstrap, &[]);
    let stdout = kafka::success(&output);
    assert!(server.stop(), "server did not stop cleanly");
    let line = stdout.lines().last().unwrap_or_default();
    let result: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let id = result["cluster_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{result}"))
        .to_string();
    assert_eq!(id.len(), 22, "{id}");
    assert!(
        id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{id}"
    );
    id
}

fn check_output(data: &Path) -> String {
    let output = common::millrace(data).arg("check").output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[test]
fn the_cluster_id_survives_restarts_and_moves_and_a_damaged_one_is_replaced() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = cluster_id(&clients, &data);
    assert_eq!(cluster_id(&clients, &data), first, "changed across a restart");
    let moved = dir.path().join("elsewhere");
    std::fs::rename(&data, &moved).unwrap();
    assert_eq!(cluster_id(&clients, &moved), first, "changed with the directory's path");
    assert!(!check_output(&moved).contains("cluster.id"));

    let file = moved.join("cluster.id");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let report = check_output(&moved);
    assert!(report.contains("cluster.id") && report.contains("damaged"), "{report}");
    let replaced = cluster_id(&clients, &moved);
    assert_ne!(replaced, first);
    assert!(!check_output(&moved).contains("cluster.id"));
    assert_eq!(cluster_id(&clients, &moved), replaced);

    std::fs::write(&file, &std::fs::read(&file).unwrap()[..7]).unwrap();
    assert!(check_output(&moved).contains("cluster.id"));
    assert_ne!(cluster_id(&clients, &moved), replaced);
}
