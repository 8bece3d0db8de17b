//! DescribeConfigs (API 32) through `millrace serve`'s Kafka front with
//! confluent-kafka's AdminClient (`tests/kafka/describe_configs.py`; kcat
//! cannot describe configs): a topic's settings under Kafka's names, as
//! `millrace topic create|alter` set them, with the right default flag,
//! source and read-only flag; an unknown topic and the tokens' permissions
//! answered per resource.

use crate::common::{self, kafka};

const TOKENS: &str = "[[tokens]]\nname = \"admin\"\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n\
[[tokens]]\nname = \"reader\"\ntoken = \"reader-token-0123456789\"\npermissions = [\"consume\"]\n";

fn write_private(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn describe(clients: &kafka::KafkaClients, bootstrap: &str, user: &str, resources: &[&str]) -> serde_json::Value {
    let username = format!("--config=sasl.username={user}");
    let password = format!("--config=sasl.password={user}-token-0123456789");
    let mut args = vec![
        "--config=security.protocol=SASL_PLAINTEXT",
        "--config=sasl.mechanisms=PLAIN",
        username.as_str(),
        password.as_str(),
    ];
    args.extend_from_slice(resources);
    let output = kafka::success(&clients.python("describe_configs.py", bootstrap, &args));
    serde_json::from_str(output.trim()).unwrap()
}

/// (value, is_default, read_only, source) of config `name` of `resource`.
fn entry(out: &serde_json::Value, resource: &str, name: &str) -> (String, bool, bool, String) {
    let entry = &out[resource]["configs"][name];
    assert!(entry.is_object(), "{resource} {name}: {out}");
    (
        entry["value"].as_str().unwrap_or("(null)").to_string(),
        entry["default"].as_bool().unwrap(),
        entry["read_only"].as_bool().unwrap(),
        entry["source"].as_str().unwrap().to_string(),
    )
}

fn set(value: &str) -> (String, bool, bool, String) {
    (value.into(), false, false, "DYNAMIC_TOPIC_CONFIG".into())
}

fn default(value: &str) -> (String, bool, bool, String) {
    (value.into(), true, false, "DEFAULT_CONFIG".into())
}

fn fixed(value: &str) -> (String, bool, bool, String) {
    (value.into(), true, true, "DEFAULT_CONFIG".into())
}

#[test]
fn describe_configs_shows_what_topic_create_and_alter_set() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args([
            "topic",
            "create",
            "orders",
            "--retention",
            "1h",
            "--timestamp-type",
            "log-append",
        ])
        .assert()
        .success();
    common::millrace(&data)
        .args(["topic", "create", "plain"])
        .assert()
        .success();
    let config = tmp.path().join("server.toml");
    write_private(&config, TOKENS);
    let (server, bootstrap) = kafka::start_server(&data, &["--config", config.to_str().unwrap()]);

    let out = describe(
        &clients,
        &bootstrap,
        "admin",
        &["orders", "plain", "nosuch", "--broker", "0"],
    );
    assert_eq!(entry(&out, "topic:orders", "retention.ms"), set("3600000"), "{out}");
    assert_eq!(
        entry(&out, "topic:orders", "message.timestamp.type"),
        set("LogAppendTime")
    );
    assert_eq!(entry(&out, "topic:orders", "retention.bytes"), default("-1"));
    assert_eq!(entry(&out, "topic:orders", "max.message.bytes"), default("1048576"));
    assert_eq!(entry(&out, "topic:orders", "segment.bytes"), default("67108864"));
    assert_eq!(entry(&out, "topic:orders", "segment.ms"), default("-1"));
    assert_eq!(entry(&out, "topic:orders", "cleanup.policy"), fixed("delete"));
    assert_eq!(entry(&out, "topic:orders", "min.insync.replicas"), fixed("1"));
    assert_eq!(entry(&out, "topic:plain", "retention.ms"), default("-1"));
    assert_eq!(
        entry(&out, "topic:plain", "message.timestamp.type"),
        default("CreateTime")
    );
    assert_eq!(out["topic:nosuch"]["error"], "UNKNOWN_TOPIC_OR_PART", "{out}");
    assert_eq!(out["broker:0"]["error"], serde_json::Value::Null, "{out}");
    let broker = |name: &str| entry(&out, "broker:0", name).0;
    assert_eq!(broker("broker.id"), "0");
    assert_eq!(broker("min.insync.replicas"), "1");

    // `topic alter` on the live server: the next describe shows it.
    server
        .millrace()
        .args(["--token", "admin-token-0123456789", "topic", "alter", "orders"])
        .args([
            "--retention",
            "none",
            "--record-bytes-max",
            "2097152",
            "--timestamp-type",
            "create",
        ])
        .assert()
        .success();
    let out = describe(
        &clients,
        &bootstrap,
        "reader",
        &["orders", "__offsets", "--broker", "0"],
    );
    assert_eq!(entry(&out, "topic:orders", "retention.ms"), default("-1"), "{out}");
    assert_eq!(entry(&out, "topic:orders", "max.message.bytes"), set("2097152"));
    assert_eq!(
        entry(&out, "topic:orders", "message.timestamp.type"),
        default("CreateTime")
    );
    // A consume token describes its topics, not the store's own nor the broker.
    assert_eq!(out["topic:__offsets"]["error"], "TOPIC_AUTHORIZATION_FAILED", "{out}");
    assert_eq!(out["broker:0"]["error"], "CLUSTER_AUTHORIZATION_FAILED", "{out}");
    assert!(server.stop(), "the server stops cleanly");
}
