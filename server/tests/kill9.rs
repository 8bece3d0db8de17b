//! A server killed with SIGKILL and restarted over the same data directory:
//! acknowledged records (durability `always`) and committed consumer offsets
//! are all there, a consumer resumes from its committed offset, and an
//! idempotent producer re-initialised after the restart resumes its sequence
//! without duplicates. The server runs in a child process: this test binary
//! re-executed with `MILLRACE_KILL9_CHILD_DIR` set runs `child_server`, which
//! prints its address and serves until killed. Its own test binary: see
//! `server/tests/it/main.rs`.

#![expect(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use millrace::Record;
use millrace_server::config::ServerConfig;
use millrace_server::messages::{CommitOffsets, GroupQuery, PartitionOffset, Request, Response};
use millrace_server::{Client, ClientOptions, Producer, ProducerOptions};

use millrace_tests::kill9::{test_name, Victim};

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

/// Start the child server on `dir` and wait for its address. The [`Victim`]
/// kills it when dropped, so a failing test leaves no orphan.
fn spawn_server(dir: &Path) -> (Victim, SocketAddr) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            &test_name(module_path!(), "child_server"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir);
    let child = Victim::spawn(command);
    let mut before = Vec::new();
    // libtest may print "test child_server ... " on the same line first.
    let line = child
        .wait_for_line(Duration::from_secs(60), |line| line.contains("LISTENING "), &mut before)
        .unwrap_or_else(|| panic!("the child prints its address; it printed {before:?}"));
    let addr = line.split_once("LISTENING ").unwrap().1.trim().parse().unwrap();
    (child, addr)
}

/// SIGKILL the child server; it must not have exited by itself.
fn kill9(child: Victim) {
    let ended = child.kill();
    assert!(
        ended.killed(),
        "the server exited by itself: {}\n{}",
        ended.status,
        ended.stderr
    );
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
    let (child, addr) = spawn_server(dir.path());
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

    kill9(child);
    drop(client);

    let (child, addr) = spawn_server(dir.path());
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
    kill9(child);
}

/// Sixteen connections produce to an `Always` topic (two partitions) while
/// the server is killed with SIGKILL, three times over the same directory:
/// after each restart every acknowledged record is at its acknowledged
/// offset, no record is in the log twice, and offsets are dense.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_concurrent_always_load_keeps_every_acknowledged_record_once() {
    use std::collections::{HashMap, HashSet};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    // (partition, offset) -> value, for every acknowledged produce of every cycle.
    type Acked = HashMap<(u32, u64), Vec<u8>>;
    let acked: Arc<Mutex<Acked>> = Arc::default();
    for cycle in 0..3u32 {
        let (child, addr) = spawn_server(dir.path());
        let admin = Client::connect(addr, ClientOptions::default()).await.unwrap();
        if cycle == 0 {
            admin.create_topic("load", 2, &[]).await.unwrap();
        }
        let mut tasks = Vec::new();
        for p in 0..16u32 {
            let acked = acked.clone();
            tasks.push(tokio::spawn(async move {
                let options = ClientOptions {
                    connect_attempts_max: 1,
                    request_timeout: Duration::from_secs(5),
                    ..ClientOptions::default()
                };
                let Ok(client) = Client::connect(addr, options).await else {
                    return;
                };
                for i in 0u32.. {
                    let value = format!("{cycle}-{p}-{i}").into_bytes();
                    let partition = p % 2;
                    let Ok(produced) = client
                        .produce("load", partition, vec![Record::new(value.clone())])
                        .await
                    else {
                        return; // the server is gone
                    };
                    acked.lock().unwrap().insert((partition, produced.base_offset), value);
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + 150 * u64::from(cycle))).await;
        kill9(child);
        for task in tasks {
            task.await.unwrap();
        }
        drop(admin);

        let (child, addr) = spawn_server(dir.path());
        let client = Client::connect(addr, ClientOptions::default()).await.unwrap();
        let mut log: HashMap<(u32, u64), Vec<u8>> = HashMap::new();
        let mut seen = HashSet::new();
        for partition in 0..2u32 {
            let mut offset = 0;
            loop {
                let fetched = client.fetch("load", partition, offset, Duration::ZERO).await.unwrap();
                for record in fetched.records {
                    assert_eq!(record.offset, offset, "dense offsets");
                    assert!(seen.insert(record.value.clone()), "a record is in the log twice");
                    log.insert((partition, offset), record.value);
                    offset += 1;
                }
                if offset >= fetched.high_watermark {
                    break;
                }
            }
        }
        let acked = acked.lock().unwrap();
        assert!(
            acked.len() > 16,
            "cycle {cycle}: the load ran ({} acknowledged)",
            acked.len()
        );
        for (at, value) in acked.iter() {
            assert_eq!(log.get(at), Some(value), "cycle {cycle}: acknowledged record at {at:?}");
        }
        drop(acked);
        kill9(child);
    }
}
