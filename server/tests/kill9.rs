//! A server killed with SIGKILL and restarted over the same data directory:
//! acknowledged records (durability `always`) and committed consumer offsets
//! are all there, a consumer resumes from its committed offset, and an
//! idempotent producer re-initialised after the restart resumes its sequence
//! without duplicates. The server runs in a child process: this test binary
//! re-executed with `MILLRACE_KILL9_CHILD_DIR` set runs `child_server`, which
//! prints its address and serves until killed.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use millrace::Record;
use millrace_server::config::ServerConfig;
use millrace_server::messages::{CommitOffsets, GroupQuery, PartitionOffset, Request, Response};
use millrace_server::{Client, ClientOptions, Producer, ProducerOptions};

const CHILD_ENV: &str = "MILLRACE_KILL9_CHILD_DIR";

/// Not a test on its own: the body of the child process.
#[test]
#[ignore = "run as a child process by kill9_restart_keeps_acknowledged_data_and_offsets"]
fn child_server() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics_listen: None,
            data_dir: dir.into(),
            durability: "always".into(),
            ..ServerConfig::default()
        };
        let handle = millrace_server::server::start(config).await.unwrap();
        println!("LISTENING {}", handle.local_addr());
        handle.wait().await.unwrap();
    });
}

/// Kills the child server when dropped, so a failing test leaves no orphan.
struct ChildServer(Child);

impl ChildServer {
    fn kill9(&mut self) {
        self.0.kill().unwrap(); // SIGKILL
        self.0.wait().unwrap();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server(dir: &Path) -> (ChildServer, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_server",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("child prints its address").unwrap();
        // libtest may print "test child_server ... " on the same line first.
        if let Some((_, addr)) = line.split_once("LISTENING ") {
            break addr.trim().parse().unwrap();
        }
    };
    // Keep draining the child's stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (ChildServer(child), addr)
}

async fn committed(client: &Client, group: &str) -> Option<u64> {
    match client
        .call(Request::FetchOffsets(GroupQuery {
            group: group.into(),
            topic: Some("k".into()),
        }))
        .await
        .unwrap()
    {
        Response::Offsets(offsets) => offsets.first().map(|o| o.offset),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_restart_keeps_acknowledged_data_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_server(dir.path());
    let client = Client::connect(addr, ClientOptions::default()).await.unwrap();
    client.create_topic("k", 1, &[]).await.unwrap();
    let mut producer = Producer::init(client.clone(), "kp", ProducerOptions::default())
        .await
        .unwrap();
    for batch in 0..10u32 {
        let records = (0..10u32)
            .map(|i| Record::new((batch * 10 + i).to_le_bytes().to_vec()))
            .collect();
        producer.send("k", 0, records).await.unwrap();
    }
    // The consumer read 40 records and committed.
    let fetched = client.fetch("k", 0, 0, Duration::ZERO).await.unwrap();
    assert_eq!(fetched.records.len(), 100);
    client
        .call(Request::CommitOffsets(CommitOffsets {
            group: "c".into(),
            offsets: vec![PartitionOffset {
                topic: "k".into(),
                partition: 0,
                offset: 40,
                metadata: vec![],
            }],
        }))
        .await
        .unwrap();

    child.kill9();
    drop(client);

    let (mut child, addr) = spawn_server(dir.path());
    let client = Client::connect(addr, ClientOptions::default()).await.unwrap();
    let resume = committed(&client, "c").await;
    assert_eq!(resume, Some(40), "committed offset survived kill -9");
    let rest = client.fetch("k", 0, 40, Duration::ZERO).await.unwrap();
    let values: Vec<u32> = rest
        .records
        .iter()
        .map(|r| u32::from_le_bytes(r.value.as_slice().try_into().unwrap()))
        .collect();
    assert_eq!(
        values,
        (40..100).collect::<Vec<u32>>(),
        "every acknowledged record, once"
    );
    // The producer, restarted, resumes its sequence: no duplicates, no gap.
    let mut producer = Producer::init(client.clone(), "kp", ProducerOptions::default())
        .await
        .unwrap();
    assert_eq!(producer.next_sequence("k", 0), 100);
    let produced = producer
        .send("k", 0, vec![Record::new(100u32.to_le_bytes().to_vec())])
        .await
        .unwrap();
    assert_eq!((produced.base_offset, produced.duplicate), (100, false));
    child.kill9();
}
