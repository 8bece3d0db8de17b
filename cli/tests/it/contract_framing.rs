//! Confluent's wire framing checked at the Kafka front, from outside
//! (issue 22; design/contracts.md "Rules", 2. Framing, and "Enforcement"):
//! confluent-kafka's JSONSerializer against `millrace serve`'s registry
//! (tests/kafka/contract_framing.py) sends the three violations of a
//! contract with `framing: required` (an id the registry does not know, an
//! id of another subject, a missing or wrong magic byte). With action
//! `reject` each is answered INVALID_RECORD and nothing of its batch is
//! readable; with action `dlq` its batch's good records are appended in
//! order and the bad ones are in `__dlq.<topic>` byte for byte, with the
//! provenance headers naming the rule (`schema.id`, `schema.subject`,
//! `schema.framing`), the contract version and the path.

use crate::common::registry::{free_addr, wait_for};
use crate::common::{self, kafka, millrace};
use serde_json::{json, Value};

/// The schema the script's JSONSerializer registers (the same text: the same id).
const ORDER: &str = r#"{"type": "object", "properties": {"id": {"type": "integer"}, "item": {"type": "string"}}, "required": ["id", "item"]}"#;

fn contract(topic: &str, action: &str) -> String {
    format!(
        "apiVersion: v3.0.0
kind: DataContract
id: urn:{topic}
version: 1.0.0
status: active
owner: shop
topic: {topic}
schema:
  value:
    framing: required
    action: {action}
"
    )
}

#[test]
fn framing_violations_from_a_confluent_serializer_are_refused_or_dead_lettered() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (topic, action) in [("orders", "reject"), ("payments", "dlq")] {
        millrace(&data).args(["topic", "create", topic]).assert().success();
        millrace(&data)
            .args([
                "schema",
                "register",
                &format!("{topic}-value"),
                "--type",
                "json",
                "--schema",
                ORDER,
            ])
            .assert()
            .success();
        let file = tmp.path().join(format!("{topic}.yaml"));
        std::fs::write(&file, contract(topic, action)).unwrap();
        millrace(&data)
            .args(["contract", "apply"])
            .arg(&file)
            .assert()
            .success();
    }
    let registry = free_addr();
    let (server, bootstrap) = kafka::start_server(&data, &["--registry-listen", &registry]);
    wait_for(&registry);
    let output = clients.python(
        "contract_framing.py",
        &bootstrap,
        &[&format!("http://{registry}"), "--reject", "orders", "--dlq", "payments"],
    );
    let out: Value = serde_json::from_str(kafka::success(&output).trim()).unwrap();

    // The ids: the topic's schema is id 1 (registered above, found again by
    // the serializer), the other subject's a new one, and the one from the
    // other registry is unknown here (40403).
    assert_eq!(out["ids"]["order"], 1, "{out}");
    assert_eq!(out["ids"]["other_subject"], 2, "{out}");
    assert!(out["ids"]["unknown"].as_u64().unwrap() > 2, "{out}");
    assert_eq!(out["unknown_id_known"], 40403, "{out}");

    // reject: every record of each bad record's batch fails with
    // INVALID_RECORD (the partition's answer; the request is refused whole),
    // the good batch after them is delivered, and only it is readable.
    for kind in ["unknown_id", "other_subject", "no_magic", "wrong_magic"] {
        let reports = out["reject"][kind].as_array().unwrap();
        assert_eq!(reports.len(), 3, "{kind}: {out}");
        assert_eq!(reports[1]["error"], "INVALID_RECORD", "{kind}: {out}");
        for report in reports {
            assert_eq!(
                report["error"], "INVALID_RECORD",
                "{kind}: the batch is refused whole: {out}"
            );
        }
    }
    for report in out["reject_last"].as_array().unwrap() {
        assert_eq!(report["error"], Value::Null, "{out}");
    }
    assert_eq!(out["reject_topic"], json!([100, 101]), "{out}");

    // dlq: the batch is delivered, its good records are in the topic in
    // order, the bad ones in the DLQ as sent, each naming its rule.
    for report in out["dlq_reports"].as_array().unwrap() {
        assert_eq!(report["error"], Value::Null, "{out}");
    }
    assert_eq!(out["dlq_topic"], json!([0, 1, 2, 3, 4]), "{out}");
    let letters = out["dlq_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 4, "{out}");
    for (letter, rule) in letters
        .iter()
        .zip(["schema.id", "schema.subject", "schema.framing", "schema.framing"])
    {
        assert_eq!(letter["same_bytes"], true, "{letter}");
        let headers = &letter["headers"];
        assert_eq!(headers["dlq.contract.rule"], rule, "{letter}");
        assert_eq!(headers["dlq.error.class"], format!("contract.{rule}"), "{letter}");
        assert_eq!(headers["dlq.contract.version"], "1", "{letter}");
        assert_eq!(headers["dlq.contract.path"], "", "{letter}");
        assert_eq!(headers["dlq.stage"], "produce", "{letter}");
    }
    let message = |i: usize| {
        letters[i]["headers"]["dlq.error.message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(message(0).contains("is not registered"), "{}", message(0));
    assert!(message(1).contains("not \"payments-value\""), "{}", message(1));
    assert!(
        message(2).contains("lacks the schema registry framing"),
        "{}",
        message(2)
    );

    // What the server counted: 4 × 3 records judged for orders (12 rejected
    // or refused with their batch: each counted by its own verdict), 2 valid after.
    let status = common::json_of(server.millrace().args(["--json", "contract", "status", "orders"]));
    let adherence = &status["topics"][0]["adherence"];
    assert_eq!(
        (adherence["reject"].as_u64(), adherence["valid"].as_u64()),
        (Some(4), Some(10)),
        "{status}"
    );
    assert!(server.stop(), "the server stops cleanly");
}
