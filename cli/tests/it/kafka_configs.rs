//! DescribeConfigs (API 32) through `millrace serve`'s Kafka front with
//! confluent-kafka's AdminClient (`tests/kafka/describe_configs.py`; kcat
//! cannot describe configs): a topic's settings under Kafka's names, as
//! `millrace topic create|alter` set them, with the right default flag,
//! source and read-only flag; an unknown topic and the tokens' permissions
//! answered per resource. AlterConfigs (33) and IncrementalAlterConfigs
//! (44) with confluent-kafka and kafka-python (`tests/kafka/alter_configs.py`):
//! the change is `topic describe`'s, audited, durable and in force.

use crate::common::{self, kafka, write_private};

const TOKENS: &str = "[[tokens]]\nname = \"admin\"\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n\
[[tokens]]\nname = \"reader\"\ntoken = \"reader-token-0123456789\"\npermissions = [\"consume\"]\n";

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

/// `alter_configs.py` with these steps: each step's (error name, message).
fn alter(clients: &kafka::KafkaClients, bootstrap: &str, steps: &serde_json::Value) -> Vec<(String, String)> {
    let output = kafka::success(&clients.python("alter_configs.py", bootstrap, &[&steps.to_string()]));
    let out: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    out.as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["error"].as_str().unwrap_or("OK").to_string(),
                step["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// One step of `alter_configs.py`: `client` changes `name`'s `configs`.
fn step(client: &str, user: &str, name: &str, configs: &[(&str, &str, Option<&str>)]) -> serde_json::Value {
    serde_json::json!({
        "client": client,
        "user": user,
        "type": "topic",
        "name": name,
        "configs": configs.iter().map(|(k, op, v)| serde_json::json!([k, op, v])).collect::<Vec<_>>(),
    })
}

/// `topic describe --json`'s config of `topic`, through the server.
fn described(server: &common::Server, topic: &str) -> serde_json::Value {
    common::json_of(server.millrace().args([
        "--token",
        "admin-token-0123456789",
        "--json",
        "topic",
        "describe",
        topic,
    ]))["config"]
        .clone()
}

/// IncrementalAlterConfigs and AlterConfigs onto the audited AlterTopic
/// path: an admin's SET shows in `topic describe` and is in force (a record
/// over the new `max.message.bytes` is refused); `validate_only` changes
/// nothing; read-only, unknown and out-of-range keys are INVALID_CONFIG,
/// APPEND on a non-list key INVALID_REQUEST, an unknown topic
/// UNKNOWN_TOPIC_OR_PART, a consume token TOPIC_AUTHORIZATION_FAILED;
/// DELETE resets a key; AlterConfigs resets the keys it does not list
/// (confluent-kafka), kafka-python's alter_configs (incremental and legacy)
/// change what they name; the server log audits each change with the
/// token and peer; the configuration survives a restart.
#[test]
fn alter_configs_change_a_topic_through_the_audited_path() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "orders"])
        .assert()
        .success();
    let config = tmp.path().join("server.toml");
    write_private(&config, TOKENS);
    let log_path = tmp.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (server, bootstrap) =
        kafka::start_server_with_stderr(&data, &["--config", config.to_str().unwrap()], log.into());

    let mut validate = step("incremental", "admin", "orders", &[("retention.ms", "SET", Some("1"))]);
    validate["validate_only"] = true.into();
    let steps = serde_json::json!([
        step(
            "incremental",
            "admin",
            "orders",
            &[
                ("retention.ms", "SET", Some("60000")),
                ("max.message.bytes", "SET", Some("2048")),
                ("message.timestamp.type", "SET", Some("LogAppendTime")),
            ]
        ),
        {"client": "produce", "user": "admin", "name": "orders", "bytes": 4096},
        {"client": "produce", "user": "admin", "name": "orders", "bytes": 1000},
        validate,
        step("incremental", "admin", "orders", &[("cleanup.policy", "SET", Some("compact"))]),
        step("incremental", "admin", "orders", &[("colour", "SET", Some("blue"))]),
        step("incremental", "admin", "orders", &[("segment.bytes", "SET", Some("1"))]),
        step("incremental", "admin", "orders", &[("retention.ms", "APPEND", Some("5"))]),
        step("incremental", "admin", "nosuch", &[("retention.ms", "SET", Some("5"))]),
        step("incremental", "reader", "orders", &[("retention.ms", "SET", Some("5"))]),
    ]);
    let answers = alter(&clients, &bootstrap, &steps);
    let codes: Vec<&str> = answers.iter().map(|(code, _)| code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "OK",
            "MSG_SIZE_TOO_LARGE",
            "OK",
            "OK",
            "INVALID_CONFIG",
            "INVALID_CONFIG",
            "INVALID_CONFIG",
            "INVALID_REQUEST",
            "UNKNOWN_TOPIC_OR_PART",
            "TOPIC_AUTHORIZATION_FAILED"
        ],
        "{answers:?}"
    );
    assert!(answers[4].1.contains("read-only"), "{answers:?}");
    assert!(answers[6].1.contains("segment_bytes"), "{answers:?}");
    let shown = described(&server, "orders");
    assert_eq!(shown["retention_ms"], 60_000, "{shown}");
    assert_eq!(shown["record_bytes_max"], 2048, "{shown}");
    assert_eq!(shown["timestamp_type"], "log-append", "{shown}");
    assert_eq!(shown["segment_bytes"], 67_108_864, "{shown}");

    let steps = serde_json::json!([
        step(
            "incremental",
            "admin",
            "orders",
            &[("max.message.bytes", "DELETE", None)]
        ),
        // AlterConfigs replaces the set: retention.ms and the timestamp type go back to their defaults.
        step("alter", "admin", "orders", &[("segment.ms", "SET", Some("3600000"))]),
    ]);
    assert_eq!(
        alter(&clients, &bootstrap, &steps),
        [("OK".into(), String::new()), ("OK".into(), String::new())]
    );
    let shown = described(&server, "orders");
    assert_eq!(shown["record_bytes_max"], 1_048_576, "{shown}");
    assert_eq!(shown["segment_age_ms"], 3_600_000, "{shown}");
    assert_eq!(shown["retention_ms"], serde_json::Value::Null, "{shown}");
    assert_eq!(shown["timestamp_type"], serde_json::Value::Null, "{shown}");

    let steps = serde_json::json!([
        step(
            "kafka-python",
            "admin",
            "orders",
            &[("retention.bytes", "SET", Some("1000000"))]
        ),
        step(
            "kafka-python-legacy",
            "admin",
            "orders",
            &[("retention.ms", "SET", Some("7200000"))]
        ),
    ]);
    let answers = alter(&clients, &bootstrap, &steps);
    assert!(answers.iter().all(|(code, _)| code == "OK"), "{answers:?}");
    let shown = described(&server, "orders");
    assert_eq!(shown["retention_bytes"], 1_000_000, "{shown}");
    assert_eq!(shown["retention_ms"], 7_200_000, "{shown}");
    // kafka-python's legacy path sends the other modified keys along.
    assert_eq!(shown["segment_age_ms"], 3_600_000, "{shown}");

    assert!(server.stop(), "the server stops cleanly");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let audited: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("topic configuration altered"))
        .collect();
    assert_eq!(audited.len(), 5, "{log}");
    assert!(
        audited[0].contains("admin@127.0.0.1:") && audited[0].contains("retention_ms: none -> 60000"),
        "{log}"
    );
    // Durable: the data directory holds the last change.
    let offline = common::json_of(common::millrace(&data).args(["--json", "topic", "describe", "orders"]));
    assert_eq!(offline["config"]["retention_ms"], 7_200_000, "{offline}");
    assert_eq!(offline["config"]["retention_bytes"], 1_000_000, "{offline}");
}

/// DescribeConfigs v1+ with `include_synonyms` (tests/kafka/describe_synonyms.py):
/// each config's synonym chain, most specific first, with its source. On a
/// server whose `frame_bytes_max` lowers new topics' `max.message.bytes`,
/// that default is STATIC_BROKER_CONFIG (`message.max.bytes`, then the
/// built-in DEFAULT_CONFIG); a value the topic sets is DYNAMIC_TOPIC_CONFIG
/// before the broker default; an untouched one has only the default.
#[test]
fn describe_configs_reports_the_synonym_chain() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("server.toml");
    write_private(&config, &format!("frame_bytes_max = 65536\n{TOKENS}"));
    let (server, bootstrap) = kafka::start_server(&data, &["--config", config.to_str().unwrap()]);
    // The script creates `orders` through CreateTopics, setting retention.ms.
    let output = kafka::success(&clients.python("describe_synonyms.py", &bootstrap, &["orders"]));
    let out: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    let raw = &out["kafka_python"];
    assert_eq!(raw["retention.ms"]["source"], "DYNAMIC_TOPIC_CONFIG", "{out}");
    assert_eq!(
        raw["retention.ms"]["synonyms"],
        serde_json::json!([
            ["retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"],
            ["log.retention.ms", "-1", "DEFAULT_CONFIG"]
        ]),
        "{out}"
    );
    let lowered = raw["max.message.bytes"]["value"].as_str().unwrap().to_string();
    assert!(lowered.parse::<u64>().unwrap() < 65_536, "{out}");
    assert_eq!(raw["max.message.bytes"]["source"], "STATIC_BROKER_CONFIG", "{out}");
    assert_eq!(
        raw["max.message.bytes"]["synonyms"],
        serde_json::json!([
            ["message.max.bytes", lowered, "STATIC_BROKER_CONFIG"],
            ["message.max.bytes", "1048576", "DEFAULT_CONFIG"]
        ]),
        "{out}"
    );
    assert_eq!(raw["segment.bytes"]["source"], "DEFAULT_CONFIG", "{out}");
    assert_eq!(
        raw["segment.bytes"]["synonyms"],
        serde_json::json!([["log.segment.bytes", "67108864", "DEFAULT_CONFIG"]]),
        "{out}"
    );
    assert_eq!(
        raw["cleanup.policy"]["synonyms"],
        serde_json::json!([["log.cleanup.policy", "delete", "DEFAULT_CONFIG"]]),
        "{out}"
    );
    // librdkafka reads the same chain (its synonyms are keyed by name).
    let keyed = &out["confluent"];
    assert_eq!(keyed["retention.ms"]["source"], "DYNAMIC_TOPIC_CONFIG", "{out}");
    assert_eq!(
        keyed["retention.ms"]["synonyms"],
        serde_json::json!({"retention.ms": "DYNAMIC_TOPIC_CONFIG", "log.retention.ms": "DEFAULT_CONFIG"}),
        "{out}"
    );
    assert_eq!(keyed["max.message.bytes"]["source"], "STATIC_BROKER_CONFIG", "{out}");
    assert!(server.stop(), "the server stops cleanly");
}

/// (value, is_default, read_only, source) of config `name` in one of
/// `millrace_configs.py`'s config maps.
fn config_of(configs: &serde_json::Value, name: &str) -> (String, bool, bool, String) {
    let entry = &configs[name];
    assert!(entry.is_object(), "{name}: {configs}");
    (
        entry["value"].as_str().unwrap_or("(null)").to_string(),
        entry["default"].as_bool().unwrap(),
        entry["read_only"].as_bool().unwrap(),
        entry["source"].as_str().unwrap().to_string(),
    )
}

/// The Millrace-only topic keys under their Kafka-front names
/// (`tests/kafka/millrace_configs.py`, confluent-kafka's AdminClient):
/// CreateTopics sets them, DescribeConfigs shows them with their source,
/// IncrementalAlterConfigs SETs and DELETEs them, a bad value is
/// INVALID_CONFIG naming the key and the values it takes (at creation too),
/// APPEND is INVALID_REQUEST, and AlterConfigs naming only a Kafka key
/// leaves them as they are; `topic describe` after the server stops holds
/// the change. The broker resource: `message.max.bytes` is the default a
/// new topic inherits (lowered under a small `frame_bytes_max`,
/// STATIC_BROKER_CONFIG), the frame limit is `socket.request.max.bytes`,
/// and the untouched broker defaults are DEFAULT_CONFIG.
#[test]
fn millrace_only_keys_and_broker_defaults_under_kafka_names() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("server.toml");
    write_private(&config, "frame_bytes_max = 65536\n");
    let (server, bootstrap) = kafka::start_server(&data, &["--config", config.to_str().unwrap()]);
    let output = kafka::success(&clients.python("millrace_configs.py", &bootstrap, &[]));
    let out: serde_json::Value = serde_json::from_str(output.trim()).unwrap();

    assert_eq!(out["create"]["keys"]["error"], serde_json::Value::Null, "{out}");
    assert_eq!(out["create"]["bad"]["error"], "INVALID_CONFIG", "{out}");
    let message = out["create"]["bad"]["message"].as_str().unwrap();
    assert!(
        message.contains("millrace.durability") && message.contains("`always`"),
        "{out}"
    );
    let before = &out["before"];
    assert_eq!(config_of(before, "millrace.durability"), set("always"), "{out}");
    assert_eq!(config_of(before, "millrace.route.invalid.to.dlq"), set("true"));
    assert_eq!(config_of(before, "retention.ms"), set("60000"));
    assert_eq!(config_of(before, "millrace.quota.bytes"), default("-1"), "{out}");

    let alter = out["alter"].as_array().unwrap();
    let codes: Vec<&str> = alter.iter().map(|a| a["error"].as_str().unwrap_or("OK")).collect();
    assert_eq!(
        codes,
        ["OK", "INVALID_CONFIG", "INVALID_REQUEST", "OK", "INVALID_CONFIG", "OK"],
        "{out}"
    );
    assert!(
        alter[4]["message"].as_str().unwrap().contains("millrace.quota.bytes"),
        "{out}"
    );
    let message = alter[1]["message"].as_str().unwrap();
    assert!(
        message.contains("millrace.route.invalid.to.dlq") && message.contains("`true` or `false`"),
        "{out}"
    );
    assert!(alter[2]["message"].as_str().unwrap().contains("APPEND"), "{out}");
    let after = &out["after"];
    assert_eq!(config_of(after, "millrace.durability"), set("interval:50"), "{out}");
    assert_eq!(config_of(after, "millrace.route.invalid.to.dlq"), default("false"));
    assert_eq!(config_of(after, "retention.ms"), set("120000"));
    assert_eq!(config_of(after, "millrace.quota.bytes"), set("1048576"), "{out}");

    let broker = &out["broker"];
    let inherited = config_of(after, "max.message.bytes");
    assert!(inherited.0.parse::<u64>().unwrap() < 65_536, "{out}");
    assert_eq!(
        config_of(broker, "message.max.bytes"),
        (inherited.0, false, true, "STATIC_BROKER_CONFIG".into()),
        "{out}"
    );
    assert_eq!(
        config_of(broker, "socket.request.max.bytes"),
        ("65536".into(), false, true, "STATIC_BROKER_CONFIG".into())
    );
    assert_eq!(config_of(broker, "log.retention.ms"), fixed("-1"));
    assert_eq!(config_of(broker, "num.partitions"), fixed("1"));
    assert_eq!(config_of(broker, "log.message.timestamp.type"), fixed("CreateTime"));
    assert!(server.stop(), "the server stops cleanly");

    let offline = common::json_of(common::millrace(&data).args(["--json", "topic", "describe", "keys"]));
    assert_eq!(offline["config"]["durability"], "interval:50", "{offline}");
    assert_eq!(offline["config"]["route_invalid_to_dlq"], false, "{offline}");
    assert_eq!(offline["config"]["retention_ms"], 120_000, "{offline}");
}
