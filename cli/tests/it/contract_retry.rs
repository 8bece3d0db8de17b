//! The retry rule of design/contracts.md ("Idempotent batches") from the
//! outside: an idempotent producer's batch appended before `contract apply`
//! and sent again, byte for byte, after it (tests/kafka/contract_retry.py:
//! a raw ProduceRequest with the same producer id, epoch and base sequence)
//! gets its original answer through the Kafka front: the same base offset,
//! no error, nothing dead-lettered, no verdict counted; also across a
//! restart of the server between the two sends. The producer's next batch
//! is judged by the contract (so the assertions above could fail).

use crate::common;

use common::kafka::{clients, free_port, start_server, success};
use common::{json_of, stdout_of, store_with_topic, Server};
use std::io::{Read, Write};

const CONTRACT: &str = "apiVersion: v3.0.0
kind: DataContract
id: urn:orders
version: 1.0.0
status: active
owner: payments
topic: orders
properties:
  - name: amount
    logicalType: number
    maximum: 100
    action: dlq
";

/// The first batch: two of its three records break the contract applied after it.
const FIRST: &str = r#"{"amount": 500};{"amount": 5};{"amount": 700}"#;

/// `millrace_contract_records_total` for `orders`, summed over results.
fn judged(metrics: &str) -> u64 {
    let mut stream = std::net::TcpStream::connect(metrics).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body.lines()
        .filter(|l| l.starts_with("millrace_contract_records_total{topic=\"orders\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn dlq_depth(server: &Server) -> u64 {
    let status = json_of(server.millrace().args(["contract", "status", "orders", "--json"]));
    status["topics"][0]["dlq"]["depth"].as_u64().unwrap()
}

#[test]
fn a_retry_after_contract_apply_gets_its_original_answer_also_after_a_restart() {
    let Some(clients) = clients() else {
        return;
    };
    let (tmp, data) = store_with_topic("orders", 1);
    let contract = tmp.path().join("orders.yaml");
    std::fs::write(&contract, CONTRACT).unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let (server, bootstrap) = start_server(&data, &["--metrics-listen", &metrics]);
    let init: serde_json::Value =
        serde_json::from_str(success(&clients.python("contract_retry.py", &bootstrap, &["--mode", "init"])).trim())
            .unwrap();
    let (id, epoch) = (init["producer_id"].to_string(), init["epoch"].to_string());
    let send = |bootstrap: &str, sequence: &str, values: &str| -> serde_json::Value {
        let args = [
            "--mode",
            "send",
            "--topic",
            "orders",
            "--producer-id",
            &id,
            "--epoch",
            &epoch,
            "--sequence",
            sequence,
            "--values",
            values,
        ];
        serde_json::from_str(success(&clients.python("contract_retry.py", bootstrap, &args)).trim()).unwrap()
    };
    let original = serde_json::json!({"error_code": 0, "base_offset": 0});
    assert_eq!(send(&bootstrap, "0", FIRST), original);

    server
        .millrace()
        .args(["contract", "apply"])
        .arg(&contract)
        .assert()
        .success();
    assert_eq!(send(&bootstrap, "0", FIRST), original, "the retry after apply");
    assert_eq!(dlq_depth(&server), 0, "the retry is not dead-lettered");
    assert_eq!(judged(&metrics), 0, "the retry is not judged");
    assert!(server.stop());

    let (server, bootstrap) = start_server(&data, &["--metrics-listen", &metrics]);
    assert_eq!(send(&bootstrap, "0", FIRST), original, "the retry after a restart");
    assert_eq!(dlq_depth(&server), 0, "the retry after a restart is not dead-lettered");
    assert_eq!(judged(&metrics), 0, "the retry after a restart is not judged");

    // The producer's next batch meets the contract: one record dead-lettered.
    let next = send(&bootstrap, "3", r#"{"amount": 900};{"amount": 2}"#);
    assert_eq!(next, serde_json::json!({"error_code": 0, "base_offset": 3}));
    assert_eq!(dlq_depth(&server), 1);
    assert_eq!(judged(&metrics), 2);

    let values = stdout_of(server.millrace().args(["consume", "orders", "--format", "value"]));
    assert_eq!(
        values.lines().collect::<Vec<_>>(),
        [
            r#"{"amount": 500}"#,
            r#"{"amount": 5}"#,
            r#"{"amount": 700}"#,
            r#"{"amount": 2}"#
        ],
        "each record of the first batch once, then the next batch's valid one"
    );
    assert!(server.stop());
}
