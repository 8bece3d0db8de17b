//! `[[mirror]]` in `millrace serve`, end to end: an edge server mirroring
//! into a second `millrace serve` whose Kafka front plays the central
//! cluster (helpers from `mirror_e2e`).
//!
//! - The retention floor holds before the mirror ever reached the target:
//!   an edge at its quota with the link down from the start keeps every
//!   record and refuses new ones with the quota error; once the link is
//!   up, everything drains and appends work again.
//! - Kill -9 of the central server and of the edge server at random
//!   points: every record arrives exactly once, in order per partition.

use crate::common::{self, Server};
use crate::mirror_e2e::{kill9, mirror_cmd, read_target, read_target_with, Proxy, Rng, PARTITIONS};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The edge's configuration: one `[[mirror]]` named `central` to `to`.
pub(crate) fn edge_config(dir: &Path, to: &str) -> PathBuf {
    let path = dir.join("edge.toml");
    std::fs::write(
        &path,
        format!(
            "[[mirror]]\nname = \"central\"\nto = \"{to}\"\nprefix = \"edge1.\"\nedge_id = \"e1\"\nprogress_topic = \"mirror_progress\"\n"
        ),
    )
    .unwrap();
    path
}

/// The central server with its Kafka front on `kafka` (the same address
/// across restarts).
pub(crate) fn start_central(data: &Path, kafka: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--kafka-listen", kafka];
    args.extend_from_slice(extra);
    let server = Server::start(data, &args);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(kafka).is_err() {
        assert!(
            Instant::now() < deadline,
            "central Kafka front did not start on {kafka}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// Append one record through the edge server; `Err(stderr)` if refused.
fn produce(edge: &Server, partition: u32, value: &str) -> Result<(), String> {
    let out = edge
        .millrace()
        .args(["produce", "orders", "--partition", &partition.to_string()])
        .write_stdin(format!("{value}\n"))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Append `values` (one a line) to `partition` through the edge server.
pub(crate) fn produce_all(edge: &Server, partition: u32, values: &[String]) {
    let mut input = values.join("\n");
    input.push('\n');
    edge.millrace()
        .args(["produce", "orders", "--partition", &partition.to_string()])
        .write_stdin(input)
        .assert()
        .success();
}

/// Per partition of `orders`: (start offset, end offset).
fn offsets(edge: &Server) -> Vec<(u64, u64)> {
    let json = common::json_of(edge.millrace().args(["--json", "topic", "describe", "orders"]));
    json["partition_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["start_offset"].as_u64().unwrap(), p["end_offset"].as_u64().unwrap()))
        .collect()
}

/// Wait until mirror `central` of the edge directory has no lag.
pub(crate) fn wait_drained(edge_data: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let status =
            common::json_of(common::millrace(edge_data).args(["--json", "mirror", "status", "--name", "central"]));
        let partitions = status["partitions"].as_array().cloned().unwrap_or_default();
        if partitions.len() == PARTITIONS as usize && partitions.iter().all(|p| p["lag_records"] == 0) {
            return;
        }
        assert!(Instant::now() < deadline, "the mirror did not drain: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The values `read_target` must find: per partition, the values in order
/// with their source offsets.
fn check_target(bootstrap: &str, sent: &[Vec<String>], what: &str) {
    check_target_with(bootstrap, sent, what, &[]);
}

/// [`check_target`] with extra client properties (SASL, TLS).
pub(crate) fn check_target_with(bootstrap: &str, sent: &[Vec<String>], what: &str, properties: &[(&str, &str)]) {
    let total: usize = sent.iter().map(Vec::len).sum();
    let got = read_target_with(bootstrap, total, properties);
    for (p, values) in sent.iter().enumerate() {
        let want: Vec<(String, String)> = values
            .iter()
            .enumerate()
            .map(|(o, v)| (v.clone(), o.to_string()))
            .collect();
        let have = got.get(&i32::try_from(p).unwrap()).cloned().unwrap_or_default();
        assert_eq!(have.len(), want.len(), "partition {p}: every record once ({what})");
        assert!(have == want, "partition {p}: in order, with provenance ({what})");
    }
}

#[test]
fn an_edge_at_its_quota_with_the_link_down_from_the_start_keeps_every_record_then_drains() {
    let central = tempfile::tempdir().unwrap();
    // Clients of the central front come back through the proxy (its
    // advertised address): the proxy is the edge's only way there.
    let proxy_port = free_port();
    let advertised = format!("127.0.0.1:{proxy_port}");
    let kafka = format!("127.0.0.1:{}", free_port());
    let _central = start_central(central.path(), &kafka, &["--kafka-advertised", &advertised]);
    let proxy = Proxy::start_on(proxy_port, kafka);
    proxy.cut();

    let tmp = tempfile::tempdir().unwrap();
    let edge_data = tmp.path().join("edge");
    // Small segments and a retention of one segment per partition: without
    // the mirror's floor, retention would delete all but the newest.
    common::millrace(&edge_data)
        .args(["topic", "create", "orders", "--partitions", &PARTITIONS.to_string()])
        .args(["--segment-bytes", "8KiB", "--retention-bytes", "8KiB"])
        .assert()
        .success();
    let config = edge_config(tmp.path(), &proxy.addr());
    let edge = Server::start(
        &edge_data,
        &["--config", config.to_str().unwrap(), "--quota-bytes", "96KiB"],
    );

    // The link has never been up: append until the quota refuses.
    let padding = "x".repeat(4000);
    let mut sent: Vec<Vec<String>> = vec![Vec::new(); PARTITIONS as usize];
    let mut refused = None;
    for n in 0..300u32 {
        let p = n % PARTITIONS;
        let list = &mut sent[p as usize];
        let value = format!("{p}-{}-{padding}", list.len());
        match produce(&edge, p, &value) {
            Ok(()) => list.push(value),
            Err(stderr) => {
                refused = Some(stderr);
                break;
            }
        }
    }
    let refused = refused.expect("appends past the quota are refused while nothing could be mirrored");
    assert!(refused.contains("quota"), "the quota error: {refused}");
    // Retention runs every second: give it a few rounds. Nothing goes.
    std::thread::sleep(Duration::from_millis(3000));
    for (p, (start, end)) in offsets(&edge).into_iter().enumerate() {
        assert_eq!(start, 0, "partition {p}: no unmirrored record deleted");
        assert_eq!(end, sent[p].len() as u64, "partition {p}");
    }
    let again = produce(&edge, 0, &format!("0-full-{padding}")).expect_err("still at the quota");
    assert!(again.contains("quota"), "{again}");

    // The link comes up: everything drains, once, in order.
    proxy.restore();
    wait_drained(&edge_data, Duration::from_secs(90));
    check_target(&proxy.addr(), &sent, "after the link returned");

    // Delivered records go with retention: appends work again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match produce(&edge, 0, "room again") {
            Ok(()) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "appends still refused after the drain: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    let (start, _) = offsets(&edge)[0];
    assert!(start > 0, "retention deleted what was delivered");
}

#[test]
fn kill9_of_the_central_and_the_edge_server_delivers_every_record_once_in_order() {
    let central_data = tempfile::tempdir().unwrap();
    let kafka = format!("127.0.0.1:{}", free_port());
    let mut central = Some(start_central(central_data.path(), &kafka, &[]));
    let tmp = tempfile::tempdir().unwrap();
    let edge_data = tmp.path().join("edge");
    common::millrace(&edge_data)
        .args(["topic", "create", "orders", "--partitions", &PARTITIONS.to_string()])
        .assert()
        .success();
    let config = edge_config(tmp.path(), &kafka);
    let start_edge = || Server::start(&edge_data, &["--config", config.to_str().unwrap()]);
    let mut edge = Some(start_edge());

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("server kill -9 seed {seed}");
    let mut rng = Rng(seed);
    let mut sent: Vec<Vec<String>> = vec![Vec::new(); PARTITIONS as usize];
    // 30 cycles by default (the issue's count); MILLRACE_MIRROR_KILL9_CYCLES
    // sets another (a longer soak, or a quick look).
    let cycles: u32 = std::env::var("MILLRACE_MIRROR_KILL9_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    for cycle in 0..cycles {
        let e = edge.get_or_insert_with(start_edge);
        for (p, list) in sent.iter_mut().enumerate() {
            let n = 5 + rng.next(30);
            let values: Vec<String> = (0..n).map(|i| format!("{p}-{}", list.len() as u64 + i)).collect();
            produce_all(e, u32::try_from(p).unwrap(), &values);
            list.extend(values);
        }
        if central.is_none() {
            central = Some(start_central(central_data.path(), &kafka, &[]));
        }
        let run = Duration::from_millis(100 + rng.next(1200));
        std::thread::sleep(run);
        let victim = rng.next(3);
        if victim != 1 {
            if let Some(mut c) = central.take() {
                kill9(&mut c.child);
            }
        }
        if victim != 0 {
            if let Some(mut e) = edge.take() {
                kill9(&mut e.child);
            }
        }
        let which = ["central", "edge", "both"].get(victim as usize).copied().unwrap_or("?");
        eprintln!("cycle {cycle}: killed {which} after {run:?}");
        // The central server stays down a while, or not.
        if rng.next(2) == 0 && central.is_none() {
            central = Some(start_central(central_data.path(), &kafka, &[]));
        }
    }
    if central.is_none() {
        central = Some(start_central(central_data.path(), &kafka, &[]));
    }
    let _edge = edge.get_or_insert_with(start_edge);
    wait_drained(&edge_data, Duration::from_secs(120));
    check_target(&kafka, &sent, &format!("seed {seed}"));
    drop(central);
}

/// One HTTP/1.1 request to a registry at `addr`; the answer's JSON.
fn http(addr: &str, method: &str, path: &str, body: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, json) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {answer}");
    serde_json::from_str(json).unwrap()
}

/// Register `schema` (Avro) under `subject` on the registry at `addr`; its id.
fn register(addr: &str, subject: &str, schema: &str) -> u64 {
    let body = serde_json::json!({ "schema": schema }).to_string();
    http(addr, "POST", &format!("/subjects/{subject}/versions"), &body)["id"]
        .as_u64()
        .unwrap()
}

fn wait_listening(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A value in Confluent wire format: magic 0, the id, the payload.
fn wire(id: u32, payload: &str) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(payload.as_bytes());
    v
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn registry_to_gives_mirrored_records_the_central_schema_ids() {
    let central_data = tempfile::tempdir().unwrap();
    let kafka = format!("127.0.0.1:{}", free_port());
    let registry = format!("127.0.0.1:{}", free_port());
    let central = start_central(central_data.path(), &kafka, &["--registry-listen", &registry]);
    wait_listening(&registry);
    // The central registry already has other schemas: its ids differ.
    let string = r#"{"type":"string"}"#;
    let order = r#"{"type":"record","name":"Order","fields":[{"name":"n","type":"long"}]}"#;
    register(&registry, "other-value", string);
    register(&registry, "more-value", r#"{"type":"record","name":"X","fields":[]}"#);

    let tmp = tempfile::tempdir().unwrap();
    let edge_data = tmp.path().join("edge");
    common::millrace(&edge_data)
        .args(["topic", "create", "orders", "--partitions", &PARTITIONS.to_string()])
        .assert()
        .success();
    let config = edge_config(tmp.path(), &kafka);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("registry_to = \"http://{registry}\"\n"));
    std::fs::write(&config, text).unwrap();
    let edge_registry = format!("127.0.0.1:{}", free_port());
    let edge = Server::start(
        &edge_data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--registry-listen",
            &edge_registry,
        ],
    );
    wait_listening(&edge_registry);
    let edge_order = u32::try_from(register(&edge_registry, "orders-value", order)).unwrap();

    // Partition 0: wire-format values; partition 1: plain bytes (copied).
    let values: Vec<Vec<u8>> = (0..5).map(|i| wire(edge_order, &format!("order-{i}"))).collect();
    let mut input: Vec<String> = values.iter().map(|v| hex(v)).collect();
    input.push(String::new());
    edge.millrace()
        .args(["produce", "orders", "--partition", "0", "--value-encoding", "hex"])
        .write_stdin(input.join("\n"))
        .assert()
        .success();
    produce_all(&edge, 1, &["plain".to_string()]);
    wait_drained_records(&edge_data, 6);

    // Registered centrally under the target subject.
    let latest = http(&registry, "GET", "/subjects/edge1.orders-value/versions/latest", "");
    let central_order = u32::try_from(latest["id"].as_u64().unwrap()).unwrap();
    assert_ne!(central_order, edge_order, "the test needs ids that differ");
    let got = read_target(&kafka, 6);
    let want: Vec<(String, String)> = (0..5)
        .map(|i| {
            let v = wire(central_order, &format!("order-{i}"));
            (String::from_utf8(v).unwrap(), i.to_string())
        })
        .collect();
    assert_eq!(
        got.get(&0).cloned().unwrap_or_default(),
        want,
        "the centre's id in every record"
    );
    assert_eq!(
        got.get(&1).cloned().unwrap_or_default(),
        vec![("plain".to_string(), "0".to_string())],
        "bytes not in wire format are copied"
    );

    // An id the edge's registry does not know stops that record: the
    // session ends with the error, again after each back-off, and the
    // record waits on the edge. Seen through the `millrace mirror` command
    // (its log on stderr), with the server stopped.
    edge.millrace()
        .args(["produce", "orders", "--partition", "2", "--value-encoding", "hex"])
        .write_stdin(format!("{}\n", hex(&wire(999, "unknown"))))
        .assert()
        .success();
    assert!(edge.stop(), "the edge server stops cleanly");
    let url = format!("http://{registry}");
    let mut child = mirror_cmd(&edge_data, &kafka, &["--name", "central", "--registry-to", &url])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    kill9(&mut child);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("schema id 999") && log.contains("does not know"),
        "the error names the id: {log}"
    );
    let status =
        common::json_of(common::millrace(&edge_data).args(["--json", "mirror", "status", "--name", "central"]));
    let lag: u64 = status["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["lag_records"].as_u64().unwrap())
        .sum();
    assert_eq!(lag, 1, "the unknown id's record waits on the edge: {status}");
    drop(central);
}

/// Wait until mirror `central` has delivered `records` records in all
/// (its positions sum to it) and has no lag.
fn wait_drained_records(edge_data: &Path, records: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status =
            common::json_of(common::millrace(edge_data).args(["--json", "mirror", "status", "--name", "central"]));
        let partitions = status["partitions"].as_array().cloned().unwrap_or_default();
        let delivered: u64 = partitions.iter().map(|p| p["position"].as_u64().unwrap_or(0)).sum();
        if delivered >= records && partitions.iter().all(|p| p["lag_records"] == 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the mirror did not deliver {records} records: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
