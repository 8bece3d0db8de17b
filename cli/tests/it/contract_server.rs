//! `millrace contract` and `millrace schema` with `--server`: a contract
//! changed on a live server (ContractQuery/ContractChange), enforced at once
//! on the next produce, its dead letters read back through the server as
//! `consume __dlq.<topic>` with a consume-only token; an incompatible schema
//! change refused unless `--force`; removal and a history numbered strictly
//! upward; a token without admin refused; an acknowledged apply durable
//! across a kill -9 of the server.

use crate::common;

use common::{json_of, store_with_topic, Server};
use predicates::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";

const SCHEMA_V1: &str = r#"{"type":"object","properties":{"amount":{"type":"number"}}}"#;
const SCHEMA_V2: &str = r#"{"type":"object","properties":{"amount":{"type":"string"}},"required":["amount"]}"#;

fn contract(patch: &str) -> String {
    format!(
        "apiVersion: v3.0.0
kind: DataContract
id: urn:orders
version: 1.0.{patch}
status: active
owner: payments
topic: orders
schema:
  value:
    framing: none
    compatibility: BACKWARD
    action: dlq
properties:
  - name: amount
    required: true
    logicalType: number
    maximum: 100
    action: dlq
"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn start(data: &Path, config: &Path) -> Server {
    Server::start(data, &["--config", config.to_str().unwrap()])
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one live-server walk: apply, enforce, read the DLQ, refuse, force, remove, kill -9"
)]
fn contracts_and_schemas_change_on_a_live_server() {
    let (tmp, data) = store_with_topic("orders", 1);
    let config = tmp.path().join("tokens.toml");
    std::fs::write(
        &config,
        format!(
            "[[tokens]]\nname = \"ops\"\ntoken = \"{ADMIN}\"\npermissions = [\"admin\"]\n\n\
             [[tokens]]\nname = \"reader\"\ntoken = \"{READER}\"\npermissions = [\"consume\"]\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let v1 = write(tmp.path(), "v1.yaml", &contract("0"));
    let v2 = write(tmp.path(), "v2.yaml", &contract("1"));
    let v3 = write(tmp.path(), "v3.yaml", &contract("2"));
    let server = start(&data, &config);
    let admin = || {
        let mut cmd = server.millrace();
        cmd.env("MILLRACE_TOKEN", ADMIN);
        cmd
    };
    let reader = || {
        let mut cmd = server.millrace();
        cmd.env("MILLRACE_TOKEN", READER);
        cmd
    };

    // Schemas through the server: register, list, show, check.
    let registered = json_of(admin().args([
        "schema",
        "register",
        "orders-value",
        "--type",
        "json",
        "--schema",
        SCHEMA_V1,
        "--json",
    ]));
    assert_eq!(
        (registered["version"].as_u64(), registered["id"].as_u64()),
        (Some(1), Some(1)),
        "{registered}"
    );
    let listed = json_of(reader().args(["schema", "list", "--json"]));
    assert_eq!(listed[0]["subject"], "orders-value", "{listed}");
    let shown = json_of(reader().args(["schema", "show", "orders-value", "--json"]));
    assert_eq!(
        shown["schema"].as_str().map(|s| s.contains("number")),
        Some(true),
        "{shown}"
    );
    reader()
        .args([
            "schema",
            "check",
            "orders-value",
            "--type",
            "json",
            "--schema",
            SCHEMA_V2,
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "incompatible with orders-value version 1 under BACKWARD:",
        ));
    // A change needs admin: the reader is refused, nothing registered.
    reader()
        .args([
            "schema",
            "register",
            "orders-value",
            "--type",
            "json",
            "--schema",
            SCHEMA_V2,
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("admin"));

    // A contract applied to the live server is enforced on the next produce.
    reader()
        .args(["contract", "apply"])
        .arg(&v1)
        .assert()
        .failure()
        .stderr(predicate::str::contains("admin"));
    let applied = json_of(admin().args(["contract", "apply", "--json"]).arg(&v1));
    assert_eq!(
        (applied["version"].as_u64(), applied["applied"].as_bool()),
        (Some(1), Some(true)),
        "{applied}"
    );
    admin()
        .args(["produce", "orders"])
        .write_stdin("{\"amount\": 12}\n{\"amount\": 1200}\n")
        .assert()
        .success()
        .stderr(predicate::str::contains("1 of them went to the DLQ"));
    // The dead letter, read through the server by a consume-only token.
    let dead = reader()
        .args([
            "consume",
            "__dlq.orders",
            "--offset",
            "0",
            "--until-now",
            "--format",
            "json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let dead = String::from_utf8(dead).unwrap();
    assert!(dead.contains("1200") && dead.contains("amount.maximum"), "{dead}");
    assert_eq!(dead.lines().count(), 1, "{dead}");
    // Writing it stays refused, whatever the token.
    admin()
        .args(["produce", "__dlq.orders"])
        .write_stdin("x\n")
        .assert()
        .failure()
        .stderr(predicate::str::contains("internal"));
    let listed = json_of(reader().args(["dlq", "list", "orders", "--json"]));
    assert_eq!(listed["records"].as_array().map(Vec::len), Some(1), "{listed}");

    // An incompatible schema change (let in: the subject's level is NONE)
    // breaks the BACKWARD the contract promises: refused unless --force
    // (the contract's level counts, not the subject's).
    admin()
        .args(["schema", "config", "orders-value", "--set", "NONE"])
        .assert()
        .success();
    admin()
        .args([
            "schema",
            "register",
            "orders-value",
            "--type",
            "json",
            "--schema",
            SCHEMA_V2,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("orders-value version 2"));
    admin()
        .args(["contract", "apply"])
        .arg(&v2)
        .assert()
        .failure()
        .stderr(predicate::str::contains("orders-value version 1 -> 2 breaks BACKWARD"));
    let forced = json_of(admin().args(["contract", "apply", "--force", "--json"]).arg(&v2));
    assert_eq!(
        (forced["version"].as_u64(), forced["forced"].as_bool()),
        (Some(2), Some(true)),
        "{forced}"
    );
    let status = json_of(reader().args(["contract", "status", "orders", "--json"]));
    assert_eq!(status["topics"][0]["version"], 2, "{status}");

    // Remove, and the audit: every change numbered strictly upward, each
    // under the token that made it.
    let removed = json_of(admin().args(["contract", "remove", "orders", "--json"]));
    assert_eq!(removed["removed_version"], 2, "{removed}");
    admin()
        .args(["contract", "show", "orders"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no contract in force"));
    let history = json_of(reader().args(["contract", "history", "orders", "--json"]));
    let audit: Vec<(u64, bool, bool, Option<u64>)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["version"].as_u64().unwrap(),
                e["forced"].as_bool().unwrap(),
                e["removed"].as_bool().unwrap(),
                e["previous"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        audit,
        vec![
            (1, false, false, None),
            (2, true, false, Some(1)),
            (3, false, true, Some(2))
        ],
        "{history}"
    );
    for entry in history.as_array().unwrap() {
        let actor = entry["actor"].as_str().unwrap();
        assert!(
            actor.starts_with("ops@127.0.0.1:") && actor.contains("millrace contract"),
            "{actor}"
        );
    }
    let table = String::from_utf8(
        reader()
            .args(["contract", "history", "orders"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(
        table.contains("removed 2") && table.contains("1 -> 2 (forced)"),
        "{table}"
    );

    // An acknowledged apply survives a kill -9 right after its answer.
    let applied = json_of(admin().args(["contract", "apply", "--force", "--json"]).arg(&v3));
    assert_eq!(applied["version"], 4, "{applied}");
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = start(&data, &config);
    let mut show = server.millrace();
    let shown = json_of(
        show.env("MILLRACE_TOKEN", READER)
            .args(["contract", "show", "orders", "--json"]),
    );
    assert_eq!(
        (shown["version"].as_u64(), shown["removed"].as_bool()),
        (Some(4), Some(false)),
        "{shown}"
    );
    assert!(shown["text"].as_str().unwrap().contains("version: 1.0.2"), "{shown}");
    // And it is enforced after the restart.
    let mut produce = server.millrace();
    produce
        .env("MILLRACE_TOKEN", ADMIN)
        .args(["produce", "orders"])
        .write_stdin("{\"amount\": 1200}\n")
        .assert()
        .success()
        .stderr(predicate::str::contains("1 of them went to the DLQ"));
    assert!(server.stop(), "the server stops cleanly");
}

/// Issue 22: a contract history longer than one frame is listed whole
/// through `--server` (`history_page`, page by page), the same as on the
/// data directory; with 4 KiB frames 25 versions take several pages.
#[test]
fn contract_history_longer_than_a_frame_is_paged_through_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Records small enough for a fetch under 4 KiB frames.
    common::millrace(&data)
        .args(["topic", "create", "orders", "--record-bytes-max", "1KiB"])
        .assert()
        .success();
    for i in 0..25 {
        let file = write(
            tmp.path(),
            &format!("v{i}.yaml"),
            &format!(
                "apiVersion: v3.0.0\nkind: DataContract\nid: urn:orders\nversion: 1.0.{i}\nstatus: active\n\
                 owner: payments\ntopic: orders\nproperties:\n  - name: amount\n    required: true\n    \
                 logicalType: number\n    maximum: {}\n    action: dlq\n",
                100 + i
            ),
        );
        common::millrace(&data)
            .args(["contract", "apply"])
            .arg(&file)
            .assert()
            .success();
    }
    let offline = json_of(common::millrace(&data).args(["contract", "history", "--json"]));
    assert_eq!(offline.as_array().map(Vec::len), Some(25), "{offline}");
    assert!(offline.to_string().len() > 2 * 4096, "needs more than two 4 KiB frames");
    let config = write(tmp.path(), "small.toml", "frame_bytes_max = 4096\n");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = start(&data, &config);
    let online = json_of(server.millrace().args(["contract", "history", "--json"]));
    assert_eq!(online, offline);
    let versions: Vec<u64> = online
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["version"].as_u64())
        .collect();
    assert_eq!(versions, (1..=25).collect::<Vec<u64>>());
    // One topic, as text, through the server too.
    let text = common::stdout_of(server.millrace().args(["contract", "history", "orders"]));
    assert!(text.contains("24 -> 25"), "{text}");
    assert!(server.stop());
}
