//! `topic describe` and `topic list` with `--server` show the partitions that
//! failed to open as the offline commands do (issue 18, item 4: over the
//! server they were invisible; `DescribeDamage` names them).

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
