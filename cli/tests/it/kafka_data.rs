//! Produce, Fetch and ListOffsets through `millrace serve`'s Kafka front with
//! real clients nobody here wrote: kcat (librdkafka 2.0.2) produces with
//! every codec and reads back keys, duplicate headers, null values and
//! timestamps byte for byte, from the beginning, the end and a time
//! (`-o s@`, `-Q`); confluent-kafka (librdkafka 2.16) produces with
//! acks=all and acks=0, gets MESSAGE_TOO_LARGE for a record over the topic's
//! `record_bytes_max`, and consumes read_committed from the middle of a
//! stored batch (tests/kafka/data_confluent.py); kafka-python and aiokafka
//! do the same and list offsets (tests/kafka/data_python.py); pipelined
//! batched produces of varying sizes read back byte for byte
//! (tests/kafka/data_pipelined.py).

use crate::common::kafka;
use crate::common::{json_of, millrace};

fn kcat_ok(clients: &kafka::KafkaClients, bootstrap: &str, args: &[&str], stdin: &[u8]) -> String {
    kafka::success(&clients.kcat(bootstrap, args, stdin))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn kcat_round_trips_every_codec_keys_headers_nulls_and_timestamps() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data).args(["topic", "create", "kc"]).assert().success();
    let (server, bootstrap) = kafka::start_server(&data, &[]);
    let started = now_ms();
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    for codec in codecs {
        // Keys after `:`; -Z: an empty value is a null (a tombstone).
        kcat_ok(
            &clients,
            &bootstrap,
            &[
                "-P", "-t", "kc", "-p", "0", "-z", codec, "-K", ":", "-Z", "-H", "dup=1", "-H", "dup=2", "-H",
                "other=x",
            ],
            format!("key-{codec}:value-{codec}\nnull-{codec}:\n").as_bytes(),
        );
    }
    let finished = now_ms();
    let format = "%o|%k|%s|%h|%K|%S\n";
    let consumed = kcat_ok(
        &clients,
        &bootstrap,
        &["-C", "-t", "kc", "-p", "0", "-o", "beginning", "-e", "-Z", "-f", format],
        b"",
    );
    let mut expected = String::new();
    for (index, codec) in codecs.iter().enumerate() {
        let key = format!("key-{codec}");
        let value = format!("value-{codec}");
        let null_key = format!("null-{codec}");
        expected += &format!(
            "{}|{key}|{value}|dup=1,dup=2,other=x|{}|{}\n",
            2 * index,
            key.len(),
            value.len()
        );
        expected += &format!(
            "{}|{null_key}|NULL|dup=1,dup=2,other=x|{}|-1\n",
            2 * index + 1,
            null_key.len()
        );
    }
    assert_eq!(consumed, expected);
    // Timestamps: the producer's create time, within the test's window.
    let timestamps: Vec<i64> = kcat_ok(
        &clients,
        &bootstrap,
        &["-C", "-t", "kc", "-p", "0", "-o", "beginning", "-e", "-f", "%T\n"],
        b"",
    )
    .lines()
    .map(|line| line.parse().unwrap())
    .collect();
    assert_eq!(timestamps.len(), 10);
    assert!(
        timestamps
            .iter()
            .all(|t| (started - 1000..=finished + 1000).contains(t)),
        "{timestamps:?} outside {started}..{finished}"
    );
    // From the end: nothing (and kcat exits at the partition's end).
    let at_end = kcat_ok(
        &clients,
        &bootstrap,
        &["-C", "-t", "kc", "-p", "0", "-o", "end", "-e", "-f", format],
        b"",
    );
    assert_eq!(at_end, "");
    // By time: the first record at or after the 7th record's timestamp.
    let seventh = timestamps[6];
    let first_at = timestamps.iter().position(|t| *t >= seventh).unwrap();
    let from_time = kcat_ok(
        &clients,
        &bootstrap,
        &[
            "-C",
            "-t",
            "kc",
            "-p",
            "0",
            "-o",
            &format!("s@{seventh}"),
            "-e",
            "-f",
            "%o\n",
        ],
        b"",
    );
    let offsets: Vec<usize> = from_time.lines().map(|line| line.parse().unwrap()).collect();
    assert_eq!(offsets, (first_at..10).collect::<Vec<_>>());
    let query = kcat_ok(&clients, &bootstrap, &["-Q", "-t", &format!("kc:0:{seventh}")], b"");
    assert!(
        query.contains(&format!("offset {first_at}")),
        "kcat -Q answered {query:?}, expected offset {first_at}"
    );
    // A time after every record: -1 (kcat prints the end).
    let later = kcat_ok(
        &clients,
        &bootstrap,
        &["-Q", "-t", &format!("kc:0:{}", finished + 60_000)],
        b"",
    );
    assert!(later.contains("offset -1"), "{later:?}");
    assert!(server.stop());
}

#[test]
fn confluent_kafka_acks_all_acks_zero_too_large_and_a_fetch_from_the_middle_of_a_batch() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data).args(["topic", "create", "cf"]).assert().success();
    millrace(&data)
        .args(["topic", "create", "cf-big", "--record-bytes-max", "1KiB"])
        .assert()
        .success();
    let (server, bootstrap) = kafka::start_server(&data, &[]);
    let output = kafka::success(&clients.python("data_confluent.py", &bootstrap, &["cf", "cf-big"]));
    let result: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    let offsets = |list: &serde_json::Value| -> Vec<i64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| r["offset"].as_i64().unwrap())
            .collect()
    };
    let errors = |list: &serde_json::Value| -> Vec<i64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| r["error"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(errors(&result["acks_all"]), [0; 10]);
    assert_eq!(offsets(&result["acks_all"]), (0..10).collect::<Vec<_>>());
    assert_eq!(errors(&result["acks_zero"]), [0; 3]);
    assert_eq!(
        errors(&result["too_large"]),
        [result["msg_size_too_large"].as_i64().unwrap()],
        "{}",
        result["too_large"]
    );
    let everything = result["everything"].as_array().unwrap();
    assert_eq!(offsets(&result["everything"]), (0..13).collect::<Vec<_>>());
    let first = &everything[0];
    assert_eq!(first["key"], "k0");
    assert_eq!(first["value"], "v0");
    assert_eq!(
        first["headers"],
        serde_json::json!([["h", "1"], ["h", "2"], ["n", null]])
    );
    // (1 = create time, the producer's timestamp)
    assert_eq!(first["timestamp"], serde_json::json!([1, 1_700_000_000_000_i64]));
    assert_eq!(everything[3]["value"], serde_json::Value::Null, "a tombstone");
    assert_eq!(everything[3]["key"], "k3");
    assert_eq!(everything[4]["key"], serde_json::Value::Null);
    assert_eq!(everything[4]["value"], "v4");
    assert_eq!(
        everything[9]["timestamp"],
        serde_json::json!([1, 1_700_000_000_009_i64])
    );
    let zero: Vec<&str> = everything[10..].iter().map(|r| r["value"].as_str().unwrap()).collect();
    assert_eq!(zero, ["z0", "z1", "z2"], "acks=0 records were written");
    // From offset 5, inside the stored batch of 10: exactly 5.. on.
    assert_eq!(offsets(&result["from_middle"]), (5..13).collect::<Vec<_>>());
    assert_eq!(result["from_middle"][0], everything[5]);
    assert!(server.stop());
    // The ten were one stored batch (one request), so offset 5 was inside it.
    let log = data.join("topics/cf/00000/00000000000000000000.log");
    let dumped = json_of(millrace(&data).args(["dump", "--batches-only", "--json"]).arg(&log));
    assert_eq!(dumped["batches"][0]["record_count"], 10, "{dumped}");
}

#[test]
fn kafka_python_and_aiokafka_produce_fetch_from_inside_a_batch_and_list_offsets() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for topic in ["kp", "aio"] {
        millrace(&data).args(["topic", "create", topic]).assert().success();
    }
    let (server, bootstrap) = kafka::start_server(&data, &[]);
    let output = kafka::success(&clients.python("data_python.py", &bootstrap, &["kp", "aio"]));
    let result: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    for client in ["kafka_python", "aiokafka"] {
        let run = &result[client];
        assert_eq!(run["produced"][0], 0, "{client}");
        let offsets = |start: &str| -> Vec<i64> {
            run["read"][start]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["offset"].as_i64().unwrap())
                .collect()
        };
        assert_eq!(offsets("0"), (0..10).collect::<Vec<_>>(), "{client}");
        assert_eq!(
            offsets("5"),
            (5..10).collect::<Vec<_>>(),
            "{client}: from inside the batch"
        );
        let first = &run["read"]["0"][0];
        assert_eq!(
            (first["key"].as_str(), first["value"].as_str()),
            (Some("k0"), Some("v0"))
        );
        assert_eq!(first["timestamp"], 1_700_000_000_000_i64, "{client}");
        assert_eq!(
            run["read"]["0"][3]["value"],
            serde_json::Value::Null,
            "{client}: a tombstone"
        );
        assert_eq!(run["read"]["5"][0], run["read"]["0"][5], "{client}");
        assert_eq!(
            run["listed"],
            serde_json::json!({"beginning": 0, "end": 10, "time": 4}),
            "{client}"
        );
    }
    assert_eq!(
        result["kafka_python"]["read"]["0"][0]["headers"],
        serde_json::json!([["h", "1"], ["h", "2"]])
    );
    assert!(server.stop());
}

/// Log-append-time topics (`message.timestamp.type=LogAppendTime`): one made
/// by `topic create --timestamp-type log-append`, one by a Kafka client's
/// CreateTopics. confluent-kafka produces with an explicit old timestamp;
/// its delivery reports (the Produce answer's `log_append_time_ms`) and the
/// fetched records carry the broker's append time, type 2 (log-append), as
/// do kcat's `%T` and native `consume`; a CreateTime topic in the same run
/// keeps the producer's time, type 1. `topic describe` shows the setting.
#[test]
fn log_append_time_topics_carry_the_broker_time_and_create_time_topics_the_producers() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args(["topic", "create", "la", "--timestamp-type", "log-append"])
        .assert()
        .success();
    millrace(&data).args(["topic", "create", "ct"]).assert().success();
    let (server, bootstrap) = kafka::start_server(&data, &[]);
    let output = kafka::success(&clients.python("log_append_time.py", &bootstrap, &["la", "ct"]));
    let result: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    let (started, finished) = (
        result["started_ms"].as_i64().unwrap(),
        result["finished_ms"].as_i64().unwrap(),
    );
    let times = |topic: &str, list: &str| -> Vec<(i64, i64)> {
        result[topic][list]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["timestamp"][0].as_i64().unwrap(), r["timestamp"][1].as_i64().unwrap()))
            .collect()
    };
    const OLD: i64 = 1_500_000_000_000;
    for topic in ["la", "la-admin"] {
        let delivered = times(topic, "delivered");
        let consumed = times(topic, "consumed");
        assert_eq!(consumed.len(), 3, "{result}");
        for (kind, time) in delivered.iter().chain(&consumed) {
            assert_eq!(*kind, 2, "log-append time: {result}");
            assert!(
                (started..=finished).contains(time),
                "{topic}: {time} outside {started}..{finished}: {result}"
            );
        }
        // Consumed as delivered: the fetch carries the time Produce answered.
        let mut answered: Vec<i64> = delivered.iter().map(|d| d.1).collect();
        answered.dedup();
        assert!(consumed.iter().all(|c| answered.contains(&c.1)), "{topic}: {result}");
    }
    assert_eq!(
        times("ct", "delivered").iter().map(|d| d.0).collect::<Vec<_>>(),
        [1, 1, 1],
        "create time: {result}"
    );
    assert_eq!(
        times("ct", "consumed"),
        [(1, OLD), (1, OLD + 1), (1, OLD + 2)],
        "the producer's time kept: {result}"
    );
    // kcat (librdkafka 2.0.2) reads the same times.
    let kcat_times = |topic: &str| -> Vec<i64> {
        kcat_ok(
            &clients,
            &bootstrap,
            &["-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", "%T\n"],
            b"",
        )
        .lines()
        .map(|t| t.parse().unwrap())
        .collect()
    };
    let la_times: Vec<i64> = times("la", "consumed").iter().map(|c| c.1).collect();
    assert_eq!(kcat_times("la"), la_times);
    assert_eq!(kcat_times("ct"), [OLD, OLD + 1, OLD + 2]);
    // Native consume shows the append time too; describe shows the setting.
    let native: Vec<i64> =
        crate::common::stdout_of(
            server
                .millrace()
                .args(["consume", "la", "--partition", "0", "--format", "%T\n"]),
        )
        .lines()
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(native, la_times);
    let described = json_of(server.millrace().args(["topic", "describe", "la-admin", "--json"]));
    assert_eq!(described["config"]["timestamp_type"], "log-append", "{described}");
    assert!(server.stop());
}

/// A transactional producer on a log-append-time topic
/// (`tests/kafka/txn_log_append_time.py`, confluent-kafka): each delivery
/// report carries the broker's append time (type 2, within the run, not the
/// producer's old timestamp), stamped when the batch joined the transaction
/// and kept by its commit, so a read_committed consumer reads the same times.
#[test]
fn a_transactional_producer_is_answered_the_append_time_its_records_keep() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args(["topic", "create", "la-txn", "--timestamp-type", "log-append"])
        .assert()
        .success();
    let (server, bootstrap) = kafka::start_server(&data, &[]);
    let output = kafka::success(&clients.python("txn_log_append_time.py", &bootstrap, &["la-txn"]));
    let result: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    let (started, finished) = (
        result["started_ms"].as_i64().unwrap(),
        result["finished_ms"].as_i64().unwrap(),
    );
    let times = |list: &str| -> Vec<(i64, i64)> {
        result[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["timestamp"][0].as_i64().unwrap(), r["timestamp"][1].as_i64().unwrap()))
            .collect()
    };
    let delivered = times("delivered");
    assert_eq!(delivered.len(), 6, "{result}");
    for (kind, time) in &delivered {
        assert_eq!(*kind, 2, "log-append time in the delivery report: {result}");
        assert!(
            (started..=finished).contains(time),
            "{time} outside {started}..{finished}: {result}"
        );
    }
    // Read as answered, record for record (both in produce order).
    assert_eq!(times("consumed"), delivered, "{result}");
    assert!(server.stop(), "the server stops cleanly");
}

/// librdkafka's pipelined batched produces (~200 KB frames, many in
/// flight) come back byte for byte: the Kafka front reuses its frame
/// buffers from one request to the next, and records of varying sizes make
/// every reused buffer one that held a longer frame before
/// (tests/kafka/data_pipelined.py).
#[test]
fn pipelined_batched_produces_of_varying_sizes_read_back_byte_for_byte() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data).args(["topic", "create", "piped"]).assert().success();
    let (server, bootstrap) = kafka::start_server(&data, &[]);
    let output = kafka::success(&clients.python("data_pipelined.py", &bootstrap, &["piped", "20000"]));
    let result: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    assert_eq!(result["read"], 20000, "{result}");
    assert_eq!(
        result["wrong"],
        serde_json::json!([]),
        "records with another record's bytes: {result}"
    );
    assert!(server.stop());
}
