//! Loopback produce throughput and latency of the server, as ratios to the
//! embedded engine measured in the same run (issue 5 "Benchmarks").
//!
//! `cargo bench -p millrace-server --bench loopback` (set `MILLRACE_BENCH_SECONDS`
//! to change the time per case, default 2). Each case writes to a fresh data
//! directory under the system temp dir.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "bench")]

use std::time::{Duration, Instant};

use millrace::{Record, Store, StoreOptions, TopicConfig};
use millrace_server::config::ServerConfig;
use millrace_server::server::start_with_store;
use millrace_server::{Client, ClientOptions};

const RECORD_BYTES: usize = 1024;

fn records(count: usize) -> Vec<Record> {
    (0..count).map(|_| Record::new(vec![0x5a; RECORD_BYTES])).collect()
}

fn open(durability: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            durability: millrace::Durability::parse(durability).unwrap(),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store.create_topic("bench", TopicConfig::with_partitions(1)).unwrap();
    (dir, store)
}

/// Records per second appending `batch`-record batches from `writers` threads.
fn embedded(durability: &str, batch: usize, writers: usize, seconds: Duration) -> f64 {
    let (_dir, store) = open(durability);
    let started = Instant::now();
    let counts: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                let store = store.clone();
                scope.spawn(move || {
                    let batch = records(batch);
                    let mut written = 0;
                    while started.elapsed() < seconds {
                        store.append("bench", 0, &batch).unwrap();
                        written += batch.len();
                    }
                    written
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let rate = counts.iter().sum::<usize>() as f64 / started.elapsed().as_secs_f64();
    store.close().unwrap();
    rate
}

/// Records per second over loopback, `writers` clients each on its own
/// connection (a connection executes its requests in order, as the embedded
/// writer threads each do).
fn server(runtime: &tokio::runtime::Runtime, durability: &str, batch: usize, writers: usize, seconds: Duration) -> f64 {
    let (_dir, store) = open(durability);
    runtime.block_on(async {
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics_listen: None,
            data_dir: store.path().to_path_buf(),
            ..ServerConfig::default()
        };
        let handle = start_with_store(config, store).await.unwrap();
        let mut clients = Vec::new();
        for _ in 0..writers {
            clients.push(
                Client::connect(handle.local_addr(), ClientOptions::default())
                    .await
                    .unwrap(),
            );
        }
        let started = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|client| {
                tokio::spawn(async move {
                    let mut written = 0;
                    while started.elapsed() < seconds {
                        client.produce("bench", 0, records(batch)).await.unwrap();
                        written += batch;
                    }
                    written
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        let rate = total as f64 / started.elapsed().as_secs_f64();
        handle.shutdown().await.unwrap();
        rate
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Latencies of single-record produces sent at a fixed rate.
fn latencies(runtime: &tokio::runtime::Runtime, durability: &str, per_second: u32, seconds: Duration) -> Vec<Duration> {
    let (_dir, store) = open(durability);
    runtime.block_on(async {
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics_listen: None,
            data_dir: store.path().to_path_buf(),
            ..ServerConfig::default()
        };
        let handle = start_with_store(config, store).await.unwrap();
        let client = Client::connect(handle.local_addr(), ClientOptions::default())
            .await
            .unwrap();
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / per_second);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = Instant::now();
        let mut tasks = Vec::new();
        while started.elapsed() < seconds {
            ticker.tick().await;
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let sent = Instant::now();
                client.produce("bench", 0, records(1)).await.unwrap();
                sent.elapsed()
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        handle.shutdown().await.unwrap();
        out.sort();
        out
    })
}

/// Latencies of single-record embedded appends at a fixed rate (same schedule
/// as [`latencies`], one thread).
fn embedded_latencies(durability: &str, per_second: u32, seconds: Duration) -> Vec<Duration> {
    let (_dir, store) = open(durability);
    let interval = Duration::from_secs(1) / per_second;
    let started = Instant::now();
    let mut next = started;
    let mut out = Vec::new();
    while started.elapsed() < seconds {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += interval;
        let sent = Instant::now();
        store.append("bench", 0, &records(1)).unwrap();
        out.push(sent.elapsed());
    }
    store.close().unwrap();
    out.sort();
    out
}

/// fdatasync latencies of 4 KiB appends to a file in the temp dir.
fn fdatasync_latencies(count: usize) -> Vec<Duration> {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(dir.path().join("sync")).unwrap();
    let block = vec![0u8; 4096];
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        file.write_all(&block).unwrap();
        let started = Instant::now();
        file.sync_data().unwrap();
        out.push(started.elapsed());
    }
    out.sort();
    out
}

fn main() {
    let seconds = Duration::from_secs_f64(
        std::env::var("MILLRACE_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2.0),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("1 KiB records, {seconds:?} per case, loopback; rates in records/s");
    println!(
        "{:<10} {:>6} {:>8} {:>14} {:>14} {:>7}",
        "durability", "batch", "writers", "embedded", "server", "ratio"
    );
    for durability in ["os", "interval:5", "always"] {
        for (batch, writers) in [(100, 4), (1, 4)] {
            let embedded_rate = embedded(durability, batch, writers, seconds);
            let server_rate = server(&runtime, durability, batch, writers, seconds);
            println!(
                "{durability:<10} {batch:>6} {writers:>8} {embedded_rate:>14.0} {server_rate:>14.0} {:>7.2}",
                server_rate / embedded_rate
            );
        }
    }
    let sync = fdatasync_latencies(500);
    let produce = latencies(&runtime, "always", 200, seconds);
    let embedded_append = embedded_latencies("always", 200, seconds);
    println!(
        "embedded append 1 record at 200/s, always: n {} p50 {:?} p99 {:?} p999 {:?}",
        embedded_append.len(),
        percentile(&embedded_append, 0.5),
        percentile(&embedded_append, 0.99),
        percentile(&embedded_append, 0.999)
    );
    println!(
        "fdatasync 4 KiB: p50 {:?} p99 {:?} p999 {:?}",
        percentile(&sync, 0.5),
        percentile(&sync, 0.99),
        percentile(&sync, 0.999)
    );
    println!(
        "produce 1 record at 200/s, always: n {} p50 {:?} p99 {:?} p999 {:?} (p99 / fdatasync p99 = {:.2})",
        produce.len(),
        percentile(&produce, 0.5),
        percentile(&produce, 0.99),
        percentile(&produce, 0.999),
        percentile(&produce, 0.99).as_secs_f64() / percentile(&sync, 0.99).as_secs_f64()
    );
}
