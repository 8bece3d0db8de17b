//! The Kafka front's listener and cluster APIs (issue 21) through real
//! clients nobody here wrote: kcat (librdkafka) against `millrace serve`.

use predicates::prelude::*;

use crate::common::{self, kafka, write_private};

/// `kcat -L` lists this broker at its advertised address, as controller,
/// and every topic with every partition led by it.
#[test]
fn kcat_lists_the_broker_and_the_topics() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "orders", "--partitions", "3"])
        .assert()
        .success();
    common::millrace(&data)
        .args(["topic", "create", "audit"])
        .assert()
        .success();
    let (_server, bootstrap) = kafka::start_server(&data, &[]);
    let listing = kafka::success(&clients.kcat(&bootstrap, &["-L", "-m", "20"], b""));
    assert!(
        listing.contains(&format!("broker 0 at {bootstrap} (controller)")),
        "{listing}"
    );
    assert!(listing.contains("topic \"orders\" with 3 partitions:"), "{listing}");
    for partition in 0..3 {
        assert!(
            listing.contains(&format!("partition {partition}, leader 0, replicas: 0, isrs: 0")),
            "{listing}"
        );
    }
    assert!(listing.contains("topic \"audit\" with 1 partitions:"), "{listing}");
    // One topic by name; an unknown one is reported, not invented.
    let one = kafka::success(&clients.kcat(&bootstrap, &["-L", "-t", "orders", "-m", "20"], b""));
    assert!(
        one.contains("1 topics:") && one.contains("\"orders\" with 3 partitions"),
        "{one}"
    );
    let unknown = clients.kcat(&bootstrap, &["-L", "-t", "nope", "-m", "20"], b"");
    let text = String::from_utf8_lossy(&unknown.stdout);
    assert!(
        text.contains("topic \"nope\" with 0 partitions: Broker: Unknown topic or partition"),
        "{text}"
    );
}

/// `--kafka-advertised` is what Metadata names (clients then connect
/// there); the bound address is what they bootstrap from.
#[test]
fn metadata_names_the_advertised_address() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "t"])
        .assert()
        .success();
    let (_server, bootstrap) = kafka::start_server(&data, &["--kafka-advertised", "broker.invalid:19092"]);
    let listing = kafka::success(&clients.kcat(&bootstrap, &["-L", "-m", "20"], b""));
    assert!(
        listing.contains("broker 0 at broker.invalid:19092 (controller)"),
        "{listing}"
    );
}

/// A taken Kafka port is an error naming the flag, before any banner.
#[test]
fn a_taken_kafka_port_names_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    common::millrace(&tmp.path().join("data"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-metrics",
            "--registry-listen",
            "off",
            "--kafka-listen",
            &addr,
        ])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(format!("cannot listen on {addr} for Kafka clients"))
                .and(predicate::str::contains("--kafka-listen"))
                .and(predicate::str::contains("millrace serving").not()),
        );
}

/// With `--kafka-auto-create-topics`, the first Metadata naming a topic
/// creates it (with `--kafka-auto-create-partitions`); without it, it stays
/// unknown. A name Kafka allows but Millrace does not is refused clearly.
#[test]
fn metadata_auto_creates_topics_when_asked() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    {
        let (_server, bootstrap) = kafka::start_server(&data, &[]);
        let listing = clients.kcat(&bootstrap, &["-L", "-t", "fresh", "-m", "20"], b"");
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(text.contains("Unknown topic or partition"), "{text}");
    }
    let (server, bootstrap) = kafka::start_server(
        &data,
        &["--kafka-auto-create-topics", "--kafka-auto-create-partitions", "2"],
    );
    let listing = kafka::success(&clients.kcat(&bootstrap, &["-L", "-t", "fresh", "-m", "20"], b""));
    assert!(listing.contains("topic \"fresh\" with 2 partitions:"), "{listing}");
    server
        .millrace()
        .args(["topic", "describe", "fresh"])
        .assert()
        .success()
        .stdout(predicate::str::contains("fresh"));
    let refused = clients.kcat(&bootstrap, &["-L", "-t", "_hidden", "-m", "20"], b"");
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(text.contains("Broker: Invalid topic"), "{text}");
}

/// CreateTopics and DeleteTopics through confluent-kafka's AdminClient:
/// configs by their Kafka names land in the topic's config; what Millrace
/// cannot honour is refused with the code Kafka uses.
#[test]
fn admin_client_creates_and_deletes_topics() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (server, bootstrap) = kafka::start_server(&data, &[]);
    let output = kafka::success(&clients.python("cluster_admin.py", &bootstrap, &[]));
    let results: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(results["create"], "ok", "{results}");
    assert_eq!(results["create_default"], "ok", "{results}");
    assert_eq!(results["create_again"]["error"], "TOPIC_ALREADY_EXISTS", "{results}");
    assert_eq!(
        results["replication_3"]["error"], "INVALID_REPLICATION_FACTOR",
        "{results}"
    );
    assert_eq!(results["unknown_config"]["error"], "INVALID_CONFIG", "{results}");
    assert!(
        results["unknown_config"]["message"]
            .as_str()
            .unwrap()
            .contains("cleanup.policy"),
        "{results}"
    );
    assert_eq!(results["bad_value"]["error"], "INVALID_CONFIG", "{results}");
    // confluent-kafka names code 17 (INVALID_TOPIC_EXCEPTION) TOPIC_EXCEPTION.
    assert_eq!(results["bad_name"]["error"], "TOPIC_EXCEPTION", "{results}");
    assert_eq!(results["validate_only"], "ok", "{results}");
    assert_eq!(
        user_topics(&results),
        serde_json::json!([["defaults", 1], ["payments", 4]]),
        "{results}"
    );
    assert_eq!(results["delete"], "ok", "{results}");
    assert_eq!(results["delete_missing"]["error"], "UNKNOWN_TOPIC_OR_PART", "{results}");
    let described = server
        .millrace()
        .args(["topic", "describe", "payments"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&described.stdout);
    // retention.ms = 86400000 and max.message.bytes = 65536, as describe prints them.
    assert!(
        text.contains("retention:            1d\n") && text.contains("record size max:      64.0 KiB"),
        "{text}"
    );
    let listed = server.millrace().args(["topic", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("payments") && !text.contains("defaults") && !text.contains("dry"),
        "{text}"
    );
}

/// The listed topics but the store's own (`__*`).
fn user_topics(results: &serde_json::Value) -> serde_json::Value {
    let topics = results["topics"].as_array().unwrap();
    serde_json::Value::Array(
        topics
            .iter()
            .filter(|t| !t[0].as_str().unwrap().starts_with("__"))
            .cloned()
            .collect(),
    )
}

const TOKENS: &str = "[[tokens]]\nname = \"admin\"\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n\
[[tokens]]\nname = \"reader\"\ntoken = \"reader-token-0123456789\"\npermissions = [\"consume\"]\n";

fn sasl<'a>(user: &'a str, password: &'a str, protocol: &'a str) -> Vec<&'a str> {
    vec![
        "-X",
        protocol,
        "-X",
        "sasl.mechanisms=PLAIN",
        "-X",
        user,
        "-X",
        password,
    ]
}

/// SASL/PLAIN onto the server's tokens: the token's name and secret log in,
/// anything else is refused; a consume token does not see internal topics
/// nor create topics.
#[test]
fn sasl_plain_logs_in_with_a_token() {
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
    let (_server, bootstrap) = kafka::start_server(&data, &["--config", config.to_str().unwrap()]);
    let protocol = "security.protocol=SASL_PLAINTEXT";
    let mut args = sasl("sasl.username=admin", "sasl.password=admin-token-0123456789", protocol);
    args.extend(["-L", "-m", "20"]);
    let listing = kafka::success(&clients.kcat(&bootstrap, &args, b""));
    assert!(listing.contains("topic \"orders\" with 1 partitions:"), "{listing}");
    // The secret of another token under this name: refused.
    let mut args = sasl("sasl.username=admin", "sasl.password=reader-token-0123456789", protocol);
    args.extend(["-L", "-m", "5"]);
    let refused = clients.kcat(&bootstrap, &args, b"");
    assert!(!refused.status.success());
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains("Authentication failed") || text.contains("authentication failed"),
        "{text}"
    );
    // No SASL at all: the connection is closed at the first request.
    let plain = clients.kcat(&bootstrap, &["-L", "-m", "5"], b"");
    assert!(!plain.status.success());
    // A consume token through the AdminClient: may list, may not create.
    let output = kafka::success(&clients.python(
        "cluster_admin.py",
        &bootstrap,
        &[
            "security.protocol=SASL_PLAINTEXT",
            "sasl.mechanisms=PLAIN",
            "sasl.username=reader",
            "sasl.password=reader-token-0123456789",
        ],
    ));
    let results: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(results["create"]["error"], "TOPIC_AUTHORIZATION_FAILED", "{results}");
    // Not the store's own topics either (they need admin).
    assert_eq!(results["topics"], serde_json::json!([["orders", 1]]), "{results}");
}

/// With TLS on, the Kafka port speaks TLS too: SASL_SSL with kcat.
#[test]
fn sasl_over_tls() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::millrace(&data)
        .args(["topic", "create", "secure"])
        .assert()
        .success();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = tmp.path().join("cert.pem");
    let key = tmp.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    write_private(&key, &certified.key_pair.serialize_pem());
    let config = tmp.path().join("server.toml");
    write_private(&config, TOKENS);
    let (_server, bootstrap) = kafka::start_server(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let ca = format!("ssl.ca.location={}", cert.display());
    let mut args = sasl(
        "sasl.username=admin",
        "sasl.password=admin-token-0123456789",
        "security.protocol=SASL_SSL",
    );
    args.extend([
        "-X",
        &ca,
        "-X",
        "ssl.endpoint.identification.algorithm=none",
        "-L",
        "-m",
        "20",
    ]);
    let listing = kafka::success(&clients.kcat(&bootstrap, &args, b""));
    assert!(listing.contains("topic \"secure\" with 1 partitions:"), "{listing}");
    // Plain text on the TLS port gets nowhere.
    let mut args = sasl(
        "sasl.username=admin",
        "sasl.password=admin-token-0123456789",
        "security.protocol=SASL_PLAINTEXT",
    );
    args.extend(["-L", "-m", "5"]);
    assert!(!clients.kcat(&bootstrap, &args, b"").status.success());
}

/// The store's own topics through the Kafka front, one rule with the native
/// front (`service::may_read_topic`; tests/kafka/internal_topics.py with
/// confluent-kafka over SASL/PLAIN): a consume token lists and reads
/// `__dlq.orders` (the record and its provenance headers) and nothing else
/// of the store's own, and may not produce to it; a produce token is refused
/// the write too (TOPIC_EXCEPTION, as Kafka answers for its internal topics);
/// an admin token lists every internal topic and reads `__offsets` (the
/// reader's commit) and the DLQ, and may not write the DLQ either.
#[test]
fn a_consume_token_reads_the_dlq_and_no_token_writes_it() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    orders_with_dead_letters(&data, "a\nb\nc\n", &["1"]);
    let config = tmp.path().join("server.toml");
    let tokens = format!(
        "{TOKENS}groups = [\"readers\"]\n[[tokens]]\nname = \"writer\"\ntoken = \"writer-token-0123456789\"\n\
         permissions = [\"produce\", \"consume\"]\n"
    );
    write_private(&config, &tokens);
    let (server, bootstrap) = kafka::start_server(&data, &["--config", config.to_str().unwrap()]);
    let run = |user: &str, extra: &[&str]| -> serde_json::Value {
        let password = format!("{user}-token-0123456789");
        let mut args = vec!["--user", user, "--password", password.as_str(), "--topic", "orders"];
        args.extend_from_slice(extra);
        let output = kafka::success(&clients.python("internal_topics.py", &bootstrap, &args));
        serde_json::from_str(output.trim()).unwrap()
    };
    let dlq_record = |out: &serde_json::Value| {
        let records = out["dlq"]["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{out}");
        assert_eq!(out["dlq"]["error"], serde_json::Value::Null, "{out}");
        let record = &records[0];
        assert_eq!(record["value"], "b", "{out}");
        assert_eq!(record["headers"]["dlq.source.topic"], "orders", "{out}");
        assert_eq!(record["headers"]["dlq.source.offset"], "1", "{out}");
        assert_eq!(record["headers"]["dlq.error.class"], "ParseError", "{out}");
        assert_eq!(record["headers"]["dlq.error.message"], "bad record", "{out}");
    };

    let reader = run("reader", &["--commit-group", "readers"]);
    assert_eq!(reader["internal"], serde_json::json!(["__dlq.orders"]), "{reader}");
    assert_eq!(
        reader["committed"],
        serde_json::json!([["orders", 3, null]]),
        "{reader}"
    );
    dlq_record(&reader);
    // `__offsets` is not the reader's: Metadata refuses it, so librdkafka
    // knows no partition of it and reads nothing.
    assert_ne!(reader["offsets"]["error"], serde_json::Value::Null, "{reader}");
    assert_eq!(reader["offsets"]["records"], serde_json::json!([]), "{reader}");
    assert_eq!(reader["produce_dlq"], "TOPIC_AUTHORIZATION_FAILED", "{reader}");

    let writer = run("writer", &[]);
    dlq_record(&writer);
    assert_eq!(writer["produce_dlq"], "TOPIC_EXCEPTION", "{writer}");

    let admin = run("admin", &[]);
    let internal = admin["internal"].as_array().unwrap();
    assert!(internal.contains(&"__offsets".into()), "{admin}");
    assert!(internal.contains(&"__dlq.orders".into()), "{admin}");
    dlq_record(&admin);
    assert_eq!(admin["offsets"]["error"], serde_json::Value::Null, "{admin}");
    let commit = admin["offsets"]["records"][0]["value"].as_str().unwrap_or_default();
    assert!(commit.contains("readers") && commit.contains("orders"), "{admin}");
    assert_eq!(admin["produce_dlq"], "TOPIC_EXCEPTION", "{admin}");
    // Nothing was written to the DLQ by any of them.
    let depth = common::json_of(server.millrace().args([
        "--token",
        "admin-token-0123456789",
        "--json",
        "dlq",
        "list",
        "orders",
    ]));
    assert_eq!(depth["depth"], 1, "{depth}");
    assert!(server.stop(), "the server stops cleanly");
}

/// A consumer group keeps its place on a dead-letter queue, on both fronts
/// (`service::may_commit_position_on`, the engine's `check_position_commit`):
/// with a consume token, a native `consume --group` commits on
/// `__dlq.orders`; a confluent-kafka group subscribed to it reads two
/// records and commits, a second member of the group resumes after them
/// (tests/kafka/dlq_group.py); `offsets show` reports both groups' commits;
/// a commit on `__offsets` stays refused.
#[test]
fn a_kafka_group_commits_its_position_on_a_dlq_and_resumes_there() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    orders_with_dead_letters(&data, "a\nb\nc\nd\n", &["0", "1", "2", "3"]);
    let config = tmp.path().join("server.toml");
    write_private(&config, &format!("{TOKENS}groups = [\"native\", \"kafka\"]\n"));
    let (server, bootstrap) = kafka::start_server(&data, &["--config", config.to_str().unwrap()]);
    let reader = "reader-token-0123456789";
    let shown = |group: &str| {
        let shown = common::json_of(server.millrace().args([
            "--token",
            reader,
            "--json",
            "offsets",
            "show",
            "--group",
            group,
            "--topic",
            "__dlq.orders",
        ]));
        shown["partitions"][0]["committed"].clone()
    };

    // The native front: a consume token's group commits what it printed.
    let printed = server
        .millrace()
        .args(["--token", reader, "consume", "__dlq.orders", "--group", "native"])
        .args(["--max-records", "3", "--format", "value"])
        .assert()
        .success();
    assert_eq!(String::from_utf8_lossy(&printed.get_output().stdout), "a\nb\nc\n");
    assert_eq!(shown("native"), 3);

    // The Kafka front: a group subscribed to the DLQ resumes after its commit.
    let output = kafka::success(&clients.python(
        "dlq_group.py",
        &bootstrap,
        &[
            "--user",
            "reader",
            "--password",
            reader,
            "--topic",
            "orders",
            "--group",
            "kafka",
            "--first",
            "2",
            "--total",
            "4",
        ],
    ));
    let out: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(out["first"], serde_json::json!([0, 1]), "{out}");
    assert_eq!(
        out["first_committed"],
        serde_json::json!([["__dlq.orders", 0, 2, null]]),
        "{out}"
    );
    assert_eq!(out["second"], serde_json::json!([2, 3]), "{out}");
    assert_eq!(
        out["second_committed"],
        serde_json::json!([["__dlq.orders", 0, 4, null]]),
        "{out}"
    );
    assert_eq!(out["offsets_commit"], "TOPIC_AUTHORIZATION_FAILED", "{out}");
    assert_eq!(shown("kafka"), 4);
    assert!(server.stop(), "the server stops cleanly");
}

/// Topic `orders` holding `lines`, and the records at `offsets` of its
/// partition 0 failed by group `g` into `__dlq.orders` (`dlq fail`, a
/// `ParseError`).
pub(crate) fn orders_with_dead_letters(data: &std::path::Path, lines: &str, offsets: &[&str]) {
    common::millrace(data)
        .args(["topic", "create", "orders"])
        .assert()
        .success();
    common::millrace(data)
        .args(["produce", "orders"])
        .write_stdin(lines.to_string())
        .assert()
        .success();
    for offset in offsets {
        common::millrace(data)
            .args([
                "dlq",
                "fail",
                "orders",
                "--group",
                "g",
                "--partition",
                "0",
                "--offset",
                offset,
            ])
            .args(["--error", "ParseError", "--message", "bad record"])
            .assert()
            .success();
    }
}
