//! Kafka consumer groups through `millrace serve`'s Kafka front with real
//! clients (issue 21, "Tests" item 3): confluent-kafka (range and
//! cooperative-sticky), kafka-python and aiokafka each run
//! `tests/kafka/groups_scenario.py` (1 → 3 members, one leaves, one is
//! killed and evicted after its session timeout; no partition owned by two
//! members at once; each record processed once, again only after a failed
//! commit or the kill; a native reset refused while a member lives), and
//! kcat's balanced consumer (`kcat -G`) consumes and commits. The committed
//! offsets the clients read back are what `millrace offsets show` reports.

use std::time::{Duration, Instant};

use crate::common::{self, kafka, Server};

const PARTITIONS: u32 = 6;

/// `offsets show --json` of `group` on `topic`: partition → committed offset.
fn shown(server: &Server, group: &str, topic: &str) -> serde_json::Map<String, serde_json::Value> {
    let shown = common::json_of(
        server
            .millrace()
            .args(["offsets", "show", "--group", group, "--topic", topic, "--json"]),
    );
    shown["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .filter(|p| !p["committed"].is_null())
        .map(|p| (p["partition"].to_string(), p["committed"].clone()))
        .collect()
}

fn scenario(client: &str, assignor: &str, group: &str) -> Option<(tempfile::TempDir, Server, serde_json::Value)> {
    let clients = kafka::clients()?;
    let (tmp, data) = common::store_with_topic("orders", PARTITIONS);
    let (server, bootstrap) = kafka::start_server(&data, &[]);
    let millrace = assert_cmd::cargo::cargo_bin("millrace");
    let output = clients.python(
        "groups_scenario.py",
        &bootstrap,
        &[
            client,
            assignor,
            millrace.to_str().expect("utf-8 path"),
            &server.addr,
            "orders",
            group,
            &PARTITIONS.to_string(),
        ],
    );
    let stdout = kafka::success(&output);
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON");
    assert_eq!(result["ok"], true, "{result:#}");
    assert_eq!(result["processed"], result["produced"], "{result:#}");
    assert_eq!(result["reset_refused_while_live"], true, "{result:#}");
    assert!(
        result["reset_stderr"].as_str().is_some_and(|e| e.contains("active")),
        "{result:#}"
    );
    // What the client reads back is the offset table's.
    let read_back = result["committed"].as_object().expect("committed").clone();
    assert_eq!(read_back.len(), PARTITIONS as usize, "{result:#}");
    assert_eq!(read_back, shown(&server, group, "orders"), "{result:#}");
    Some((tmp, server, result))
}

#[test]
fn confluent_kafka_range_group_rebalances_and_commits() {
    let Some((_tmp, server, result)) = scenario("confluent", "range", "g-confluent") else {
        return;
    };
    // Commit metadata round-trips.
    assert!(
        result["metadata"]
            .as_object()
            .expect("metadata")
            .values()
            .all(|m| m.as_str().is_some_and(|m| m.starts_with('m'))),
        "{result:#}"
    );
    // Once the members left, the reset is accepted (after the engine's own
    // activity window of the group's last commit: 30 s).
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let reset = server
            .millrace()
            .args([
                "offsets",
                "reset",
                "-g",
                "g-confluent",
                "-t",
                "orders",
                "--to-earliest",
                "--execute",
            ])
            .output()
            .expect("millrace");
        if reset.status.success() {
            break;
        }
        let stderr = String::from_utf8_lossy(&reset.stderr);
        assert!(stderr.contains("active"), "{stderr}");
        assert!(Instant::now() < deadline, "reset still refused: {stderr}");
        std::thread::sleep(Duration::from_secs(1));
    }
    let after = shown(&server, "g-confluent", "orders");
    assert!(after.values().all(|offset| offset == 0), "{after:?}");
}

#[test]
fn confluent_kafka_cooperative_sticky_group_rebalances_and_commits() {
    scenario("confluent", "cooperative-sticky", "g-cooperative");
}

#[test]
fn kafka_python_group_rebalances_and_commits() {
    scenario("kafka_python", "range", "g-kafka-python");
}

#[test]
fn aiokafka_group_rebalances_and_commits() {
    scenario("aiokafka", "roundrobin", "g-aiokafka");
}

#[test]
fn kcat_balanced_consumer_consumes_and_commits() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let (_tmp, data) = common::store_with_topic("orders", 2);
    let (server, bootstrap) = kafka::start_server(&data, &[]);
    let input: String = (0..10)
        .map(|i| format!("{{\"value\": \"v{i}\", \"partition\": {}}}\n", i % 2))
        .collect();
    server
        .millrace()
        .args(["produce", "orders", "--format", "json"])
        .write_stdin(input)
        .assert()
        .success();
    let output = clients.kcat(
        &bootstrap,
        &[
            "-G",
            "g-kcat",
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "auto.offset.reset=earliest",
            "-c",
            "10",
            "-f",
            "%p %o %s\\n",
            "orders",
        ],
        b"",
    );
    let stdout = kafka::success(&output);
    let mut values: Vec<&str> = stdout.lines().filter_map(|l| l.split(' ').nth(2)).collect();
    values.sort_unstable();
    let mut expected: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    expected.sort_unstable();
    assert_eq!(values, expected, "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rebalanced"), "{stderr}");
    // kcat commits on close (auto commit): the table has both partitions at 5.
    let committed = shown(&server, "g-kcat", "orders");
    assert_eq!(committed.values().filter(|o| *o == 5).count(), 2, "{committed:?}");
}

/// Issue 23, STATE's "host/client where known": a confluent-kafka and a
/// kafka-python member, each with its own `client.id`, in one group; `offsets
/// show --server` names each member with its client id and host, in the
/// group's JSON, its text and the all-groups view's CLIENTS column.
#[test]
fn offsets_show_names_each_kafka_members_client_and_host() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let (_tmp, data) = common::store_with_topic("orders", 2);
    let (server, bootstrap) = kafka::start_server(&data, &[]);
    let millrace = assert_cmd::cargo::cargo_bin("millrace");
    let output = clients.python(
        "group_members_show.py",
        &bootstrap,
        &[
            millrace.to_str().expect("utf-8 path"),
            &server.addr,
            "orders",
            "g-members",
        ],
    );
    let stdout = kafka::success(&output);
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON");
    assert_eq!(result["ok"], true, "{result:#}");
    let group: serde_json::Value =
        serde_json::from_str(result["group_json"].as_str().expect("JSON text")).expect("JSON");
    assert_eq!(group["state"], "active (Kafka members)", "{group:#}");
    assert_eq!(group["members_total"], 2, "{group:#}");
    let mut members: Vec<(String, String)> = group["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let member_id = m["member_id"].as_str().expect("member_id");
            let client_id = m["client_id"].as_str().expect("client_id");
            assert!(member_id.starts_with(client_id), "{m}");
            (
                client_id.to_string(),
                m["client_host"].as_str().expect("host").to_string(),
            )
        })
        .collect();
    members.sort();
    let expected = |id: &str| (id.to_string(), "127.0.0.1".to_string());
    assert_eq!(
        members,
        vec![expected("members-confluent"), expected("members-kafka-python")],
        "{group:#}"
    );
    // Text: one row per member, naming its client id and host.
    let text = result["group_text"].as_str().expect("text");
    assert!(text.contains("group g-members: active (2 Kafka members)"), "{text}");
    for client in ["members-confluent", "members-kafka-python"] {
        assert!(
            text.lines()
                .any(|line| line.contains(client) && line.trim_end().ends_with("127.0.0.1")),
            "no member row for {client}:\n{text}"
        );
    }
    let all = result["all_text"].as_str().expect("text");
    let row = all
        .lines()
        .find(|line| line.starts_with("g-members"))
        .expect("the group's row");
    assert!(
        row.contains("members-confluent@127.0.0.1,members-kafka-python@127.0.0.1"),
        "{all}"
    );
    assert!(server.stop());
}
