//! `millrace contract status` shows adherence per topic at a glance (issue
//! 22): through a server, the share of the records it checked that broke no
//! rule and the others by their strongest action (`--json`: the counts and
//! the violations by rule and action); on a data directory, where nothing
//! was counted yet, `-`.

use crate::common;

use common::{json_of, stdout_of, store_with_topic, Server};

const CONTRACT: &str = "apiVersion: v3.0.0
kind: DataContract
id: urn:pay
version: 1.0.0
status: active
owner: payments
topic: pay
properties:
  - name: amount
    required: true
    logicalType: number
    maximum: 100
  - name: currency
    enum: [EUR]
    action: warn
  - name: note
    maxLength: 5
    action: dlq
";

#[test]
fn contract_status_shows_adherence_per_topic() {
    let (tmp, data) = store_with_topic("pay", 1);
    let file = tmp.path().join("pay.yaml");
    std::fs::write(&file, CONTRACT).unwrap();
    common::millrace(&data)
        .args(["contract", "apply", file.to_str().unwrap()])
        .assert()
        .success();
    let server = Server::start(&data, &[]);
    for (line, ok) in [
        (r#"{"amount": 5, "currency": "EUR"}"#, true),
        (r#"{"amount": 6, "currency": "USD"}"#, true),
        (r#"{"amount": 7, "currency": "EUR", "note": "too long"}"#, true),
        (r#"{"amount": 500, "currency": "EUR"}"#, false),
    ] {
        let assert = server
            .millrace()
            .args(["produce", "pay"])
            .write_stdin(format!("{line}\n"))
            .assert();
        if ok {
            assert.success();
        } else {
            assert.failure();
        }
    }
    let status = json_of(server.millrace().args(["--json", "contract", "status", "pay"]));
    let a = &status["topics"][0]["adherence"];
    assert_eq!(
        (&a["records"], &a["valid"], &a["warn"], &a["dlq"], &a["reject"]),
        (&4.into(), &1.into(), &1.into(), &1.into(), &1.into()),
        "{status}"
    );
    assert_eq!(a["valid_ratio"], 0.25, "{status}");
    let violations = a["violations"].as_array().unwrap();
    for (rule, action) in [
        ("amount.maximum", "reject"),
        ("currency.enum", "warn"),
        ("note.maxLength", "dlq"),
    ] {
        assert!(
            violations
                .iter()
                .any(|v| v["rule"] == rule && v["action"] == action && v["count"] == 1),
            "{rule} {action}: {status}"
        );
    }
    let text = stdout_of(server.millrace().args(["contract", "status"]));
    assert!(text.contains("ADHERENCE"), "{text}");
    assert!(text.contains("25.0% of 4 (warn 1, dlq 1, reject 1)"), "{text}");
    assert!(server.stop());
    // Offline nothing was counted in this process.
    let offline = json_of(common::millrace(&data).args(["--json", "contract", "status", "pay"]));
    assert!(offline["topics"][0]["adherence"].is_null(), "{offline}");
}
