//! After a quiet spell the server gives memory back: the pages of the sealed
//! segments a fetch read through memory maps leave the resident set (counted
//! per mapping in `/proc/self/smaps`: the server runs in this process), once
//! per quiet spell, and fetches afterwards return the same records. (Sealed
//! indexes are released too; the engine's `release_memory` test covers them.)

#![cfg(target_os = "linux")]
use crate::common;

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use millrace::Record;
use millrace_server::Client;

const QUIET_MS: u64 = 300;

/// Resident kB of every mapping of a file under `dir`.
fn resident_kib_under(dir: &Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let dir = dir.to_str().unwrap();
    let mut ours = false;
    let mut total = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            ours = line.split_whitespace().nth(5).is_some_and(|path| path.starts_with(dir));
        } else if ours {
            if let Some(rest) = line.strip_prefix("Rss:") {
                total += rest.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap();
            }
        }
    }
    total
}

async fn fetch_all(client: &Client) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let fetched = client.fetch("idle", 0, offset, Duration::ZERO).await.unwrap();
        if fetched.records.is_empty() {
            return out;
        }
        out.extend(fetched.records.into_iter().map(|r| (r.offset, r.value.to_vec())));
        offset = fetched.next_offset;
    }
}

async fn wait_releases(server: &common::TestServer, at_least: u64) -> Duration {
    let started = Instant::now();
    while server.handle.metrics().idle_memory_releases.load(Relaxed) < at_least {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no idle memory release {:?} after the last request",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_server_releases_mapped_pages_once_per_quiet_spell() {
    let server = common::start_server(|c| c.memory_release_idle_ms = QUIET_MS).await;
    let data = server.dir.path().to_path_buf();
    let client = server.client().await;
    client
        .create_topic("idle", 1, &[("segment_bytes", "262144")])
        .await
        .unwrap();
    for i in 0..20u64 {
        let batch: Vec<Record> = (0..100)
            .map(|j| Record::new(vec![((i * 100 + j) % 251) as u8; 1000]))
            .collect();
        client.produce("idle", 0, batch).await.unwrap();
    }
    let first = fetch_all(&client).await;
    assert_eq!(first.len(), 2000);
    let resident = resident_kib_under(&data);
    assert!(
        resident >= 1024,
        "only {resident} kB of segment maps resident after fetching ~2 MB"
    );

    // One release for this quiet spell, not one per tick.
    let releases = server.handle.metrics().idle_memory_releases.load(Relaxed);
    wait_releases(&server, releases + 1).await;
    assert_eq!(
        resident_kib_under(&data),
        0,
        "segment maps still resident after the release"
    );
    tokio::time::sleep(Duration::from_millis(4 * QUIET_MS)).await;
    assert_eq!(server.handle.metrics().idle_memory_releases.load(Relaxed), releases + 1);

    // Traffic, then quiet again: the same records, and another release.
    assert_eq!(fetch_all(&client).await, first);
    assert!(resident_kib_under(&data) >= 1024);
    wait_releases(&server, releases + 2).await;
    assert_eq!(resident_kib_under(&data), 0);

    let metrics = client.stats().await.unwrap();
    assert!(metrics
        .iter()
        .any(|s| s.name == "millrace_server_idle_memory_releases_total" && s.value >= releases + 2));
    server.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn release_off_and_bounds_are_checked() {
    let mut config = common::test_config(Path::new("/nonexistent"));
    config.memory_release_idle_ms = 0;
    assert!(config.validate().is_ok());
    assert_eq!(config.memory_release_idle(), None);
    config.memory_release_idle_ms = 50;
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("memory_release_idle_ms"), "{error}");
    config.memory_release_idle_ms = 100;
    assert_eq!(config.memory_release_idle(), Some(Duration::from_millis(100)));
}
