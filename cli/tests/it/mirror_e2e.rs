//! `millrace mirror` end to end: an edge data directory mirrored by the
//! `millrace` binary into a second `millrace serve` whose Kafka front plays
//! the central cluster, through a TCP proxy that cuts and restores the
//! link, with the mirror killed (-9) at random points: every source record
//! arrives exactly once, in order per partition, read read-committed.

use crate::common::kafka;
use millrace::{Record, Store, StoreOptions, TopicConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) const PARTITIONS: u32 = 3;

/// A TCP proxy to `upstream` that can cut every connection and refuse new
/// ones until restored (the edge's link to the data centre).
pub(crate) struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub(crate) fn start_on(port: u16, upstream: String) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::Acquire) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut list = open2.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                drop(list);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 64 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, up, open }
    }

    pub(crate) fn cut(&self) {
        self.up.store(false, Ordering::Release);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn restore(&self) {
        self.up.store(true, Ordering::Release);
    }

    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A small deterministic generator (the seed is printed).
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Append `n` records to partition `p` (the edge store is ours while no
/// mirror runs); the values are `p-<offset>`.
/// Open the edge store in this process. The directory lock is an flock on
/// an open file description: a child that another test of this process
/// forks while this one holds the lock shares that description until it
/// calls exec, so the lock can outlive `close` for a moment. Retry then.
fn open_edge(dir: &Path) -> Store {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open(dir, StoreOptions::default()) {
            Ok(store) => return store,
            Err(e @ millrace::Error::Locked { .. }) if Instant::now() < deadline => {
                eprintln!("edge store locked, retrying: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("open the edge store: {e}"),
        }
    }
}

pub(crate) fn append(dir: &Path, p: u32, n: u64) {
    let store = open_edge(dir);
    let (_, end) = store.offsets("orders", p).unwrap();
    let records: Vec<Record> = (end..end + n)
        .map(|o| Record::new(format!("{p}-{o}").into_bytes()).with_key(format!("k{o}").into_bytes()))
        .collect();
    store.append("orders", p, &records).unwrap();
    store.close().unwrap();
}

pub(crate) fn mirror_cmd(edge: &Path, to: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("millrace"));
    cmd.arg("mirror")
        .arg("--data")
        .arg(edge)
        .args(["--to", to, "--prefix", "edge1.", "--edge-id", "e1"])
        .args(["--progress-topic", "mirror_progress", "--batch-records", "25"])
        .args(extra)
        .env_remove("MILLRACE_SERVER")
        .env_remove("MILLRACE_TOKEN")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

pub(crate) fn kill9(child: &mut Child) {
    let _ = Command::new("kill").args(["-KILL", &child.id().to_string()]).status();
    let _ = child.wait();
}

/// Every record of `edge1.orders` on the target, read committed: per
/// partition the values in order.
pub(crate) fn read_target(bootstrap: &str, want: usize) -> BTreeMap<i32, Vec<(String, String)>> {
    read_target_with(bootstrap, want, &[])
}

/// [`read_target`] with extra client properties (SASL, TLS).
pub(crate) fn read_target_with(
    bootstrap: &str,
    want: usize,
    properties: &[(&str, &str)],
) -> BTreeMap<i32, Vec<(String, String)>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "mirror-check")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false");
    for (key, value) in properties {
        config.set(*key, *value);
    }
    let consumer: BaseConsumer = config.create().unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset("edge1.orders", i32::try_from(p).unwrap(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut by: BTreeMap<i32, Vec<(String, String)>> = BTreeMap::new();
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|s| Instant::now() < s) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
            let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
            let provenance = m
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "millrace.source.offset"))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
                .unwrap_or_default();
            by.entry(m.partition()).or_default().push((value, provenance));
            count += 1;
        }
        if count >= want && settle.is_none() {
            settle = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    by
}

#[test]
fn kill9_and_a_flapping_link_deliver_every_record_once_in_order() {
    let central = tempfile::tempdir().unwrap();
    // The central cluster's Kafka front tells clients to come back through
    // the proxy (its advertised address), so every connection crosses it.
    let proxy_listener_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let advertised = format!("127.0.0.1:{proxy_listener_port}");
    let (_central, kafka_addr) = kafka::start_server(central.path(), &["--kafka-advertised", &advertised]);
    let proxy = Proxy::start_on(proxy_listener_port, kafka_addr);
    let edge = tempfile::tempdir().unwrap();
    {
        let store = Store::open(edge.path(), StoreOptions::default()).unwrap();
        store
            .create_topic(
                "orders",
                TopicConfig {
                    partitions: PARTITIONS,
                    ..TopicConfig::default()
                },
            )
            .unwrap();
        store.close().unwrap();
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("mirror kill -9 seed {seed}");
    let mut rng = Rng(seed);
    let mut appended = [0u64; PARTITIONS as usize];
    let cycles = 30;
    for cycle in 0..cycles {
        for (p, total) in appended.iter_mut().enumerate() {
            let n = 10 + rng.next(40);
            append(edge.path(), u32::try_from(p).unwrap(), n);
            *total += n;
        }
        // A third of the runs with one lane: a run after a killed two-lane
        // one must still fence lane 1 and abort its open transaction.
        let lanes = if rng.next(3) == 0 { "1" } else { "2" };
        let mut child = mirror_cmd(edge.path(), &proxy.addr(), &["--lanes", lanes])
            .spawn()
            .unwrap();
        let run = Duration::from_millis(150 + rng.next(900));
        if rng.next(3) == 0 {
            // The link drops mid-run and comes back before the kill, or not.
            std::thread::sleep(run / 3);
            proxy.cut();
            std::thread::sleep(run / 3);
            if rng.next(2) == 0 {
                proxy.restore();
            }
            std::thread::sleep(run / 3);
        } else {
            std::thread::sleep(run);
        }
        kill9(&mut child);
        proxy.restore();
        eprintln!("cycle {cycle}: {lanes} lane(s), killed after {run:?}");
    }
    // Link up: run to the end.
    // The directory was locked for a moment (see `open_edge`): run again.
    let mut out = mirror_cmd(edge.path(), &proxy.addr(), &["--exit-when-caught-up"])
        .output()
        .unwrap();
    for _ in 0..20 {
        if out.status.success() || !String::from_utf8_lossy(&out.stderr).contains("is locked by another process") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        out = mirror_cmd(edge.path(), &proxy.addr(), &["--exit-when-caught-up"])
            .output()
            .unwrap();
    }
    assert!(
        out.status.success(),
        "final mirror run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The mirror logs at info (its session start), not at the offline
    // commands' warn.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mirror session started"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total: u64 = appended.iter().sum();
    let got = read_target(&proxy.addr(), usize::try_from(total).unwrap());
    for (p, n) in appended.iter().enumerate() {
        let values = got.get(&i32::try_from(p).unwrap()).cloned().unwrap_or_default();
        let want: Vec<(String, String)> = (0..*n).map(|o| (format!("{p}-{o}"), o.to_string())).collect();
        assert_eq!(
            values.len(),
            want.len(),
            "partition {p}: every record once (seed {seed})"
        );
        assert_eq!(values, want, "partition {p}: in order, with provenance (seed {seed})");
    }
    // The edge's status agrees: nothing left to mirror.
    let status = crate::common::json_of(crate::common::millrace(edge.path()).args(["mirror", "status", "--json"]));
    for p in status["partitions"].as_array().unwrap() {
        assert_eq!(p["lag_records"], 0, "{status}");
    }
}
