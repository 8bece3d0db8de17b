//! `topic describe` and `topic list` with `--server` show the partitions that
//! failed to open as the offline commands do (issue 18, item 4: over the
//! server they were invisible; `DescribeDamage` names them), and against a
//! server older than that request (it answers `UnknownOpcode` and closes)
//! they show what that server's `DescribeTopic` says, without damage rows.

use crate::common;

use common::{millrace, Server};
use millrace::{Record, Store, StoreOptions, TopicConfig};
use std::path::{Path, PathBuf};

/// Topic `t` (2 partitions, several 16 KiB segments in partition 0) whose
/// second segment of partition 0 is cut to half: t/0 fails to open.
fn damaged_store(data: &Path) -> PathBuf {
    let store = Store::open(
        data,
        StoreOptions {
            background: false,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let config = TopicConfig {
        partitions: 2,
        segment_bytes: 16 * 1024,
        ..TopicConfig::default()
    };
    store.create_topic("t", config).unwrap();
    for batch in 0..30 {
        let records: Vec<Record> = (0..20)
            .map(|i| Record::new(format!("t-{batch:03}-{i:02}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")))
            .collect();
        store.append("t", 0, &records).unwrap();
    }
    store.append("t", 1, &[Record::new("one")]).unwrap();
    store.close().unwrap();
    let mut logs: Vec<PathBuf> = std::fs::read_dir(data.join("topics/t/00000"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".log"))
        .collect();
    logs.sort();
    let sealed = logs[1].clone();
    let len = std::fs::metadata(&sealed).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&sealed)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    sealed
}

fn run(cmd: &mut assert_cmd::Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn topic_describe_and_list_over_the_server_show_damaged_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let sealed = damaged_store(&data);
    let file_name = sealed.file_name().unwrap().to_string_lossy().to_string();

    // Offline: the reference.
    let (code, offline, _) = run(millrace(&data).args(["topic", "describe", "t", "--json"]));
    assert_eq!(code, 3, "{offline}");
    let offline: serde_json::Value = serde_json::from_str(&offline).unwrap();

    let server = Server::start(&data, &[]);

    // JSON: the same damaged partitions, the same partition count, exit 3.
    let (code, online, stderr) = run(server.millrace().args(["topic", "describe", "t", "--json"]));
    assert_eq!(code, 3, "{online}{stderr}");
    assert!(stderr.contains("1 partition(s) of topic t failed to open"), "{stderr}");
    let online: serde_json::Value = serde_json::from_str(&online).unwrap();
    let damaged = &online["damaged_partitions"];
    assert_eq!(damaged.as_array().map(Vec::len), Some(1), "{online}");
    assert_eq!(damaged[0]["partition"], 0);
    assert!(damaged[0]["error"].as_str().unwrap().contains(&file_name), "{online}");
    assert_eq!(damaged, &offline["damaged_partitions"]);
    assert_eq!(online["partitions"], offline["partitions"]);
    assert_eq!(online["partitions"], 2);

    // Text: the damaged row in the partition table, as offline.
    let (code, text, _) = run(server.millrace().args(["topic", "describe", "t"]));
    assert_eq!(code, 3, "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("damaged:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.trim_start().starts_with('0') && row.contains(&file_name), "{text}");

    // topic list: the damage line after the table.
    let (code, list, stderr) = run(server.millrace().args(["topic", "list"]));
    assert_eq!(code, 0, "{list}{stderr}");
    assert!(list.contains("damaged: topic t partition 0:"), "{list}");
    assert!(list.contains(&file_name), "{list}");
    assert!(server.stop(), "server did not stop cleanly");
}

/// A stand-in for a server older than `DescribeDamage`: a proxy in front of
/// `upstream` that forwards every frame but answers a `DescribeDamage`
/// request (opcode 0x0015) with `UnknownOpcode` (1001, details `[opcode]`)
/// and closes the connection, as such a server does (design/protocol.md,
/// "Frame"). Returns its address and how many it refused.
fn old_server_proxy(upstream: &str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    const DESCRIBE_DAMAGE: u16 = 0x0015;
    const UNKNOWN_OPCODE: u16 = 1001;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let refused = std::sync::Arc::new(AtomicUsize::new(0));
    let upstream = upstream.to_string();
    let counter = refused.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let (upstream, counter) = (upstream.clone(), counter.clone());
            std::thread::spawn(move || {
                let mut server = TcpStream::connect(&upstream).unwrap();
                let (mut from_server, mut to_client) = (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                    let _ = to_client.shutdown(Shutdown::Both);
                });
                loop {
                    let mut length = [0u8; 4];
                    if client.read_exact(&mut length).is_err() {
                        break;
                    }
                    let mut rest = vec![0u8; u32::from_le_bytes(length) as usize];
                    if client.read_exact(&mut rest).is_err() {
                        break;
                    }
                    let opcode = u16::from_le_bytes([rest[0], rest[1]]);
                    if opcode == DESCRIBE_DAMAGE {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let message = b"unknown opcode 0x0015";
                        let mut body = Vec::new();
                        body.extend_from_slice(&UNKNOWN_OPCODE.to_le_bytes());
                        body.extend_from_slice(&(message.len() as u32).to_le_bytes());
                        body.extend_from_slice(message);
                        body.extend_from_slice(&1u32.to_le_bytes());
                        body.extend_from_slice(&u64::from(DESCRIBE_DAMAGE).to_le_bytes());
                        let mut frame = Vec::new();
                        frame.extend_from_slice(&((8 + body.len()) as u32).to_le_bytes());
                        frame.extend_from_slice(&DESCRIBE_DAMAGE.to_le_bytes());
                        frame.extend_from_slice(&1u16.to_le_bytes());
                        frame.extend_from_slice(&rest[4..8]);
                        frame.extend_from_slice(&body);
                        let _ = client.write_all(&frame);
                        break;
                    }
                    if server
                        .write_all(&length)
                        .and_then(|()| server.write_all(&rest))
                        .is_err()
                    {
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    (addr, refused)
}

/// A server older than `DescribeDamage` answers it `UnknownOpcode` and
/// closes: `topic describe` and `topic list` still answer, with what that
/// server's `DescribeTopic` says (the partitions that opened) and no damage
/// rows, as before the request existed (design/protocol.md, 0x0015).
#[test]
fn topic_describe_and_list_against_a_server_without_describe_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    damaged_store(&data);
    let server = Server::start(&data, &[]);
    let (old, refused) = old_server_proxy(&server.addr);
    let cli = |args: &[&str]| {
        let mut cmd = assert_cmd::Command::cargo_bin("millrace").unwrap();
        cmd.arg("--server")
            .arg(&old)
            .args(args)
            .env_remove("MILLRACE_DATA")
            .env_remove("MILLRACE_TOKEN");
        run(&mut cmd)
    };

    let (code, described, stderr) = cli(&["topic", "describe", "t", "--json"]);
    assert_eq!(code, 0, "{described}{stderr}");
    let described: serde_json::Value = serde_json::from_str(&described).unwrap();
    assert_eq!(described["topic"], "t");
    let opened: Vec<&serde_json::Value> = described["partition_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["partition"])
        .collect();
    assert_eq!(opened, [1], "only the partition that opened: {described}");
    assert_eq!(described["damaged_partitions"], serde_json::json!([]));
    assert_eq!(
        refused.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "DescribeDamage was asked"
    );

    let (code, text, stderr) = cli(&["topic", "describe", "t"]);
    assert_eq!(code, 0, "{text}{stderr}");
    assert!(!text.contains("damaged"), "{text}");

    let (code, list, stderr) = cli(&["topic", "list"]);
    assert_eq!(code, 0, "{list}{stderr}");
    assert!(list.lines().any(|l| l.starts_with('t')), "{list}");
    assert!(!list.contains("damaged"), "{list}");
    assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert!(server.stop(), "server did not stop cleanly");
}
