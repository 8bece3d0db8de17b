//! A store poisoned by a full device says so where an operator looks: a
//! server (in this process, on a simulated disk that fails the produce's
//! write with ENOSPC) answers `millrace --server ADDR stats` (the binary)
//! with the poisoned state, the failing operation, file and error kind, when,
//! and what to do, in the table and in `--json`; its Prometheus metrics carry
//! `millrace_store_poisoned 1` and a `millrace_store_poison_info` series with
//! the same labels; a later produce is refused with an error that says where
//! to look. A healthy server's stats say it is not poisoned.

use assert_cmd::Command;
use millrace::testing::sim::{FaultPlan, SimStorage};
use millrace::{Store, StoreOptions, TopicConfig};
use millrace_server::server::start_with_store;
use millrace_server::ServerConfig;
use predicates::prelude::*;
use std::io::{Read, Write};
use std::sync::Arc;

const SEED: u64 = 10;

fn store(storage: &SimStorage) -> Store {
    let options = StoreOptions {
        background: false,
        // The server retries every batch a producer may pipeline.
        producer_dedup_batches: ServerConfig::default().producer_dedup_batches(),
        ..StoreOptions::default()
    };
    let store = Store::open_with_storage("/data", options, Arc::new(storage.clone())).unwrap();
    let config = TopicConfig {
        durability: Some(millrace::Durability::Os),
        ..TopicConfig::with_partitions(1)
    };
    store.create_topic("t", config).unwrap();
    store
}

fn config() -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    }
}

fn cli(addr: &str) -> Command {
    let mut cmd = Command::cargo_bin("millrace").unwrap();
    cmd.args(["--server", addr])
        .env_remove("MILLRACE_DATA")
        .env_remove("MILLRACE_TOKEN");
    cmd
}

fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn a_poisoned_server_shows_state_cause_and_advice() {
    // The produce's batch is the first write after the topic exists (`Os`
    // writes it at once): a fault-free run of the seed says which one.
    let dry = SimStorage::new(SEED, FaultPlan::none());
    drop(store(&dry));
    let storage = SimStorage::new(SEED, FaultPlan::none().enospc_at_write(dry.writes()));
    let store = store(&storage);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = runtime.block_on(start_with_store(config(), store)).unwrap();
    let addr = handle.local_addr().to_string();

    // Healthy: not poisoned.
    let healthy: serde_json::Value =
        serde_json::from_slice(&cli(&addr).args(["stats", "--json"]).output().unwrap().stdout).unwrap();
    assert_eq!(healthy["poisoned"], serde_json::Value::Null);
    assert_eq!(healthy["stats"]["millrace_store_poisoned"], 0);

    cli(&addr)
        .args(["produce", "t"])
        .write_stdin("a\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("No space left on device"));
    cli(&addr)
        .args(["produce", "t"])
        .write_stdin("b\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("poisoned").and(predicate::str::contains("millrace stats --server")));

    cli(&addr).arg("stats").assert().success().stdout(
        predicate::str::contains("STORE POISONED")
            .and(predicate::str::contains(
                "append failed on /data/topics/t/00000/00000000000000000000.log",
            ))
            .and(predicate::str::contains("No space left on device"))
            .and(predicate::str::contains("StorageFull"))
            .and(predicate::str::contains("what to do:    free space"))
            .and(predicate::str::contains("restart the server")),
    );
    let json: serde_json::Value =
        serde_json::from_slice(&cli(&addr).args(["stats", "--json"]).output().unwrap().stdout).unwrap();
    let poisoned = &json["poisoned"];
    assert_eq!(poisoned["op"], "append", "{json}");
    assert_eq!(poisoned["kind"], "StorageFull");
    assert_eq!(poisoned["path"], "/data/topics/t/00000/00000000000000000000.log");
    assert!(poisoned["at_unix_ms"].as_u64().unwrap() > 0);
    assert!(poisoned["advice"].as_str().unwrap().starts_with("free space"));
    assert_eq!(json["stats"]["millrace_store_poisoned"], 1);

    // `status` (the container health check) says the same and exits 1.
    cli(&addr).arg("status").assert().code(1).stdout(
        predicate::str::contains("(UNHEALTHY)")
            .and(predicate::str::contains("store:      POISONED (read-only)"))
            .and(predicate::str::contains("what to do: free space"))
            .and(predicate::str::contains(
                "problem:    store poisoned (read-only until restarted):",
            ))
            .and(predicate::str::contains("No space left on device")),
    );
    let status = cli(&addr).args(["status", "--json"]).output().unwrap();
    assert_eq!(status.status.code(), Some(1));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["healthy"], false, "{status}");
    assert_eq!(status["poisoned"], true, "{status}");
    assert!(
        status["poison_cause"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{status}"
    );
    assert!(
        status["poison_advice"].as_str().unwrap().starts_with("free space"),
        "{status}"
    );
    assert!(
        status["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("store poisoned (read-only until restarted)"),
        "{status}"
    );

    let metrics = scrape(handle.metrics_addr().unwrap());
    assert!(metrics.contains("\nmillrace_store_poisoned 1\n"), "{metrics}");
    assert!(
        metrics.contains("# TYPE millrace_store_poison_info gauge\nmillrace_store_poison_info{op=\"append\",kind=\"StorageFull\",path=\"/data/topics/t/00000/00000000000000000000.log\",error=\"No space left on device (os error 28)\",advice=\"free space"),
        "{metrics}"
    );
    runtime.block_on(handle.shutdown()).ok();
}
