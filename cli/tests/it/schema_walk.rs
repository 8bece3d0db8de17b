//! Issue 22's walk items through the binary, offline: `schema check
//! --version` says what it checked (a version, and the level's directions
//! without transitivity), `schema list --deleted` names the soft-deleted
//! versions, and the actor an offline change records when `USER` is unset
//! (`LOGNAME`, then the uid's account name, each said).

use crate::common;

use common::{json_of, millrace, stdout_of, store_with_topic};
use std::path::Path;

fn avro(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"Order","fields":[{fields}]}}"#)
}

const ID: &str = r#"{"name":"id","type":"int"}"#;
const NOTE: &str = r#"{"name":"note","type":"string","default":""}"#;
const CODE: &str = r#"{"name":"code","type":"long","default":0}"#;

fn register(data: &Path, subject: &str, schema: &str) {
    millrace(data)
        .args(["schema", "register", subject, "--schema", schema])
        .assert()
        .success();
}

/// Under FULL_TRANSITIVE with two versions: a check without `--version`
/// names both versions and the transitive level; with `--version latest`
/// (or a number) it names that version and the level it applied (FULL),
/// and says that the subject's level is transitive. The JSON carries the
/// level, the level applied and the versions checked.
#[test]
fn schema_check_says_which_versions_and_level_it_checked() {
    let (_tmp, data) = store_with_topic("orders", 1);
    millrace(&data)
        .args(["schema", "config", "orders-value", "--set", "FULL_TRANSITIVE"])
        .assert()
        .success();
    register(&data, "orders-value", &avro(ID));
    register(&data, "orders-value", &avro(&format!("{ID},{NOTE}")));
    let next = avro(&format!("{ID},{NOTE},{CODE}"));
    let check = |version: Option<&str>| {
        let mut cmd = millrace(&data);
        cmd.args(["schema", "check", "orders-value", "--schema", &next]);
        if let Some(v) = version {
            cmd.args(["--version", v]);
        }
        stdout_of(&mut cmd)
    };
    assert_eq!(
        check(None).trim(),
        "compatible with orders-value versions 1, 2 under FULL_TRANSITIVE"
    );
    assert_eq!(
        check(Some("latest")).trim(),
        "compatible with orders-value version 2 under FULL (the subject's level is FULL_TRANSITIVE; against this version only)"
    );
    assert_eq!(
        check(Some("1")).trim(),
        "compatible with orders-value version 1 under FULL (the subject's level is FULL_TRANSITIVE; against this version only)"
    );
    let json = json_of(millrace(&data).args([
        "--json",
        "schema",
        "check",
        "orders-value",
        "--schema",
        &next,
        "--version",
        "latest",
    ]));
    assert_eq!(
        (&json["level"], &json["applied"], &json["checked"]),
        (
            &serde_json::json!("FULL_TRANSITIVE"),
            &serde_json::json!("FULL"),
            &serde_json::json!([2])
        ),
        "{json}"
    );
    // A refusal names them the same way (a field removed without a default).
    let refused = millrace(&data)
        .args([
            "schema",
            "check",
            "orders-value",
            "--schema",
            &avro(NOTE),
            "--version",
            "latest",
        ])
        .assert()
        .code(1);
    let out = String::from_utf8_lossy(&refused.get_output().stdout).into_owned();
    assert!(
        out.starts_with("incompatible with orders-value version 2 under FULL (the subject's level is FULL_TRANSITIVE;"),
        "{out}"
    );
}

/// `schema list --deleted` adds a SOFT-DELETED column: the soft-deleted
/// versions of each subject ("-" for none), also of a subject whose every
/// version is; `--json` lists them as `softDeleted`. Without `--deleted`,
/// neither the column nor the wholly deleted subject.
#[test]
fn schema_list_deleted_names_the_soft_deleted_versions() {
    let (_tmp, data) = store_with_topic("orders", 1);
    register(&data, "a-value", &avro(ID));
    register(&data, "a-value", &avro(&format!("{ID},{NOTE}")));
    register(&data, "a-value", &avro(&format!("{ID},{NOTE},{CODE}")));
    register(&data, "b-value", &avro(ID));
    register(&data, "c-value", &avro(ID));
    millrace(&data)
        .args(["schema", "delete", "a-value", "--version", "1"])
        .assert()
        .success();
    millrace(&data)
        .args(["schema", "delete", "a-value", "--version", "2"])
        .assert()
        .success();
    millrace(&data).args(["schema", "delete", "c-value"]).assert().success();

    let plain = stdout_of(millrace(&data).args(["schema", "list"]));
    assert!(!plain.contains("SOFT-DELETED") && !plain.contains("c-value"), "{plain}");
    let listed = stdout_of(millrace(&data).args(["schema", "list", "--deleted"]));
    let rows: Vec<Vec<&str>> = listed.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows,
        vec![
            vec!["SUBJECT", "LATEST", "ID", "TYPE", "SOFT-DELETED"],
            vec!["a-value", "3", "3", "AVRO", "1,", "2"],
            vec!["b-value", "1", "1", "AVRO", "-"],
            vec!["c-value", "deleted", "-", "-", "1"],
        ],
        "{listed}"
    );
    let json = json_of(millrace(&data).args(["--json", "schema", "list", "--deleted"]));
    let soft: Vec<(&str, &serde_json::Value)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["subject"].as_str().unwrap(), &row["softDeleted"]))
        .collect();
    assert_eq!(
        soft,
        vec![
            ("a-value", &serde_json::json!([1, 2])),
            ("b-value", &serde_json::json!([])),
            ("c-value", &serde_json::json!([1])),
        ]
    );
}

const CONTRACT: &str = "apiVersion: v3.0.0
kind: DataContract
id: urn:orders
version: 1.0.0
status: active
owner: payments
topic: orders
";

/// The actor of an offline `contract apply` (and `topic alter`) when
/// `USER` is unset: `LOGNAME`'s name, said to come from it; with neither,
/// the account name of the uid (what `id -un` prints), said to be that;
/// never "unknown".
#[test]
fn an_offline_actor_without_user_is_logname_then_the_accounts_name() {
    let (tmp, data) = store_with_topic("orders", 1);
    let v1 = tmp.path().join("v1.yaml");
    std::fs::write(&v1, CONTRACT).unwrap();
    let v2 = tmp.path().join("v2.yaml");
    std::fs::write(&v2, CONTRACT.replace("owner: payments", "owner: billing")).unwrap();
    millrace(&data)
        .args(["contract", "apply"])
        .arg(&v1)
        .env_remove("USER")
        .env("LOGNAME", "carol")
        .assert()
        .success();
    millrace(&data)
        .args(["contract", "apply"])
        .arg(&v2)
        .env_remove("USER")
        .env_remove("LOGNAME")
        .assert()
        .success();
    millrace(&data)
        .args(["topic", "alter", "orders", "--retention", "1d"])
        .env("USER", "")
        .env_remove("LOGNAME")
        .assert()
        .success();
    let history = json_of(millrace(&data).args(["contract", "history", "orders", "--json"]));
    let actors: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors.len(), 2, "{history}");
    assert!(
        actors[0].starts_with("carol (LOGNAME; millrace contract, pid "),
        "{}",
        actors[0]
    );
    let uid = id(&["-u"]).expect("id -u");
    let expected = match id(&["-un"]) {
        Some(name) => format!("{name} (account of uid {uid}; millrace contract, pid "),
        None => format!("uid {uid} (no USER, LOGNAME or account name; millrace contract, pid "),
    };
    assert!(actors[1].starts_with(&expected), "{} (expected {expected}…)", actors[1]);
    let topic = json_of(millrace(&data).args(["--json", "topic", "history", "orders"]));
    let actor = topic["changes"].as_array().unwrap().last().unwrap()["actor"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        actor.starts_with(&expected.replace("millrace contract", "millrace topic alter")),
        "{actor}"
    );
    assert!(!actors.iter().chain([&actor.as_str()]).any(|a| a.contains("unknown")));
}

/// What `id ARGS` prints (trimmed), or `None` when it fails.
fn id(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("id").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}
