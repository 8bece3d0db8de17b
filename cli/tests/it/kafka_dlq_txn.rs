//! TxnOffsetCommit on a dead-letter queue with a real client
//! (`tests/kafka/dlq_txn.py`): a confluent-kafka transactional
//! consume-transform-produce stage reads `__dlq.orders` in a group, sends
//! its position to the transaction and commits; `millrace offsets show`
//! reports that position, an aborted transaction leaves it unchanged, and a
//! new member resumes there; the output topic holds only the committed
//! transaction's records.

use crate::common::{self, kafka, write_private};

const TOKENS: &str = "[[tokens]]\nname = \"admin\"\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n";

#[test]
fn a_transactional_stage_commits_its_dlq_position_and_an_abort_leaves_it() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::kafka_cluster::orders_with_dead_letters(&data, "a\nb\nc\nd\n", &["0", "1", "2", "3"]);
    common::millrace(&data)
        .args(["topic", "create", "fixed"])
        .assert()
        .success();
    let config = tmp.path().join("server.toml");
    write_private(&config, TOKENS);
    let (server, bootstrap) = kafka::start_server(&data, &["--config", config.to_str().unwrap()]);
    let admin = "admin-token-0123456789";
    let args = [
        "--user",
        "admin",
        "--password",
        admin,
        "--topic",
        "orders",
        "--group",
        "fixer",
        "--out",
        "fixed",
    ];
    let output = kafka::success(&clients.python("dlq_txn.py", &bootstrap, &args));
    let out: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(out["committed"]["offsets"], serde_json::json!([0, 1]), "{out}");
    assert_eq!(
        out["committed"]["sent"],
        serde_json::json!([["__dlq.orders", 0, 2]]),
        "{out}"
    );
    assert_eq!(out["aborted"]["offsets"], serde_json::json!([2, 3]), "{out}");
    assert_eq!(out["resumed_at"], 2, "{out}");

    let shown = common::json_of(server.millrace().args([
        "--token",
        admin,
        "--json",
        "offsets",
        "show",
        "--group",
        "fixer",
        "--topic",
        "__dlq.orders",
    ]));
    assert_eq!(shown["partitions"][0]["committed"], 2, "{shown}");
    let fixed = server
        .millrace()
        .args([
            "--token",
            admin,
            "consume",
            "fixed",
            "--from-earliest",
            "--format",
            "value",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&fixed.stdout), "fixed:a\nfixed:b\n");
    assert!(server.stop());
}
