//! Null values and null header values (Kafka tombstones) through the
//! `millrace` binary: `produce --format json` takes `"value": null` and a null
//! header as nulls, and `consume` (embedded and through `--server`, so over
//! the native wire's `nullable_bytes`) and `dump` show a null distinctly from
//! an empty value and from the text "null".
use crate::common;

use common::{json_of, millrace, stdout_of, store_with_topic, Server};
use serde_json::{json, Value};

const INPUT: &str = concat!(
    "{\"value\": null, \"key\": \"k\", \"headers\": {\"n\": null, \"e\": \"\"}}\n",
    "{\"value\": \"\"}\n",
    "{\"value\": \"null\"}\n",
);

fn consumed_json(cmd: &mut assert_cmd::Command) -> Vec<Value> {
    stdout_of(cmd.args(["consume", "t", "--format", "json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn assert_consumed(records: &[Value]) {
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[0]["value"], Value::Null);
    assert_eq!(records[0]["key"], "k");
    assert_eq!(records[0]["headers"], json!({"n": null, "e": ""}));
    assert_eq!(records[1]["value"], "");
    assert_eq!(records[2]["value"], "null");
}

#[test]
fn produce_consume_and_dump_keep_nulls_apart_from_empty_values() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data)
        .args(["produce", "t", "--format", "json"])
        .write_stdin(INPUT)
        .assert()
        .success();
    assert_consumed(&consumed_json(&mut millrace(&data)));
    let text = stdout_of(millrace(&data).args(["consume", "t", "--format", "text"]));
    let lines: Vec<&str> = text.lines().collect();
    // JSON headers arrive in name order.
    assert!(lines[0].ends_with("\tk\t(null)\te=,n=(null)"), "{text}");
    assert!(lines[1].ends_with("\t-\t"), "{text}");

    let log = data.join("topics/t/00000/00000000000000000000.log");
    let dumped = json_of(millrace(&data).args(["dump", "--json"]).arg(&log));
    let batch = &dumped["batches"][0];
    assert_eq!(batch["version"], 2);
    assert_eq!(batch["records"][0]["value"], Value::Null);
    assert_eq!(batch["records"][0]["headers"], json!({"n": null, "e": ""}));
    assert_eq!(batch["records"][1]["value"], "");
    let dumped_text = stdout_of(millrace(&data).arg("dump").arg(&log));
    assert!(
        dumped_text.contains("key=k value=(null) e= n=(null)\n"),
        "{dumped_text}"
    );
}

#[test]
fn nulls_cross_the_native_wire_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data).args(["topic", "create", "t"]).assert().success();
    let server = Server::start(&data, &[]);
    server
        .millrace()
        .args(["produce", "t", "--format", "json"])
        .write_stdin(INPUT)
        .assert()
        .success();
    assert_consumed(&consumed_json(&mut server.millrace()));
    assert!(server.stop());
    // What the server wrote is what the embedded store reads.
    assert_consumed(&consumed_json(&mut millrace(&data)));
}
