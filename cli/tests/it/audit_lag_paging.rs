//! `offsets audit --server` and `offsets show --group --server` walk
//! `ResetAuditPage` and `LagPage` (issue 27 item 5): with 4 KiB frames the
//! audit of 600 entries and the lag of 300 partitions do not fit in one
//! response (the unpaged requests are refused), and the CLI still shows
//! them all.

use crate::common;

use common::{json_of, Server};
use millrace::{Store, StoreOptions, TopicConfig};

/// A config file holding tokens must be private to its owner.
fn small_frames(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let config = dir.join("server.toml");
    std::fs::write(&config, "frame_bytes_max = 4096\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    config
}

#[test]
fn offsets_audit_and_show_over_the_server_walk_every_page() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = Store::open(&data, StoreOptions::default()).unwrap();
    store
        .create_topic(
            "wide",
            TopicConfig {
                record_bytes_max: 1024,
                ..TopicConfig::with_partitions(300)
            },
        )
        .unwrap();
    // Two deleted groups of 300 partitions: 600 audit entries.
    for group in ["gone-a", "gone-b"] {
        for partition in 0..300 {
            store.commit_offset(group, "wide", partition, 0, b"").unwrap();
        }
        assert_eq!(store.delete_group(group, "tester", true).unwrap().len(), 300);
    }
    for partition in 0..300 {
        store.commit_offset("live", "wide", partition, 0, b"").unwrap();
    }
    store.close().unwrap();

    let server = Server::start(&data, &["--config", small_frames(tmp.path()).to_str().unwrap()]);
    let audit = json_of(server.millrace().args(["offsets", "audit", "--json"]));
    let resets = audit["resets"].as_array().unwrap();
    assert_eq!(resets.len(), 600);
    for (i, reset) in resets.iter().enumerate() {
        assert_eq!(reset["group"], if i < 300 { "gone-a" } else { "gone-b" }, "entry {i}");
        assert_eq!(reset["partition"], i % 300, "entry {i}");
    }
    let shown = json_of(server.millrace().args(["offsets", "show", "--group", "live", "--json"]));
    let partitions: Vec<u64> = shown["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partition"].as_u64().unwrap())
        .collect();
    assert_eq!(partitions, (0..300).collect::<Vec<u64>>());
    assert!(server.stop());
}
