//! Loopback produce throughput and latency of the server, as ratios to the
//! embedded engine measured in the same run (issue 5 "Benchmarks").
//!
//! `cargo bench -p millrace-server --bench loopback` (set `MILLRACE_BENCH_SECONDS`
//! to change the time per case, default 2). Each case writes to a fresh data
//! directory under the system temp dir.
//!
//! Sections (`MILLRACE_BENCH_ONLY=produce,latency,relaxed,scan` runs a subset):
//! - `produce`: batched and unbatched produce, 4 writers, every durability mode;
//! - `latency`: single-record `Always` produce at 200/s against two disk
//!   baselines: back-to-back 4 KiB fdatasyncs, and a 4 KiB write + fdatasync
//!   paced at the same 200/s (a durable append arriving at an idle disk, as
//!   each produce here does);
//! - `relaxed`: one connection, one record per request, `interval:10`, sequential
//!   (the "relaxed, 1 producer" workload of the peer comparison);
//! - `scan`: fetch of `MILLRACE_BENCH_SCAN_MB` (default 256) MiB of 1 KiB records
//!   in 4 MiB fetches, against the embedded `Store::read` and `Store::scan`.

#![expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "bench")]

use std::time::{Duration, Instant};

use millrace::{Isolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use millrace_server::config::ServerConfig;
use millrace_server::messages::{Fetch, Position};
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
            // The server needs a window of at least in_flight_max batches.
            producer_dedup_batches: millrace_server::ServerConfig::default().producer_dedup_batches(),
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

/// fdatasync latencies of 4 KiB appends to a file in the temp dir, back to
/// back; with `per_second`, paced at that rate like the produce latency case
/// and timing the write with the fdatasync (what one durable append costs the
/// disk when it arrives on an idle disk).
fn fdatasync_latencies(count: usize, per_second: Option<u32>) -> Vec<Duration> {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(dir.path().join("sync")).unwrap();
    let block = vec![0u8; 4096];
    let mut out = Vec::with_capacity(count);
    let start = Instant::now();
    for i in 0..count {
        if let Some(rate) = per_second {
            let due = start + Duration::from_secs(1) * i as u32 / rate;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let started = Instant::now();
        file.write_all(&block).unwrap();
        let written = Instant::now();
        file.sync_data().unwrap();
        out.push(if per_second.is_some() {
            started.elapsed()
        } else {
            written.elapsed()
        });
    }
    out.sort();
    out
}

/// One record per request, one connection, sequential: records/s and the
/// sorted per-request latencies (server, or embedded when `runtime` is None).
fn relaxed_single(
    runtime: Option<&tokio::runtime::Runtime>,
    durability: &str,
    seconds: Duration,
) -> (f64, Vec<Duration>) {
    let (_dir, store) = open(durability);
    let mut out = Vec::new();
    let started = Instant::now();
    match runtime {
        None => {
            let record = records(1);
            while started.elapsed() < seconds {
                let sent = Instant::now();
                store.append("bench", 0, &record).unwrap();
                out.push(sent.elapsed());
            }
            let rate = out.len() as f64 / started.elapsed().as_secs_f64();
            store.close().unwrap();
            out.sort();
            (rate, out)
        }
        Some(runtime) => runtime.block_on(async {
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
            let started = Instant::now();
            let task = tokio::spawn(async move {
                let mut out = Vec::new();
                while started.elapsed() < seconds {
                    let sent = Instant::now();
                    client.produce("bench", 0, records(1)).await.unwrap();
                    out.push(sent.elapsed());
                }
                out
            });
            let mut out = task.await.unwrap();
            let rate = out.len() as f64 / started.elapsed().as_secs_f64();
            handle.shutdown().await.unwrap();
            out.sort();
            (rate, out)
        }),
    }
}

const SCAN_FETCH_BYTES: usize = 4 * 1024 * 1024;

/// A store holding `mb` MiB of 1 KiB records in sealed segments (page cache warm).
fn scan_store(mb: usize) -> (tempfile::TempDir, Store, u64) {
    let (dir, store) = open("os");
    let batch = records(1000);
    let total = mb * 1024 * 1024 / RECORD_BYTES;
    let mut written = 0;
    while written < total {
        store.append("bench", 0, &batch).unwrap();
        written += batch.len();
    }
    store.roll("bench", 0).unwrap();
    (dir, store, written as u64)
}

fn scan_options() -> ReadOptions {
    ReadOptions {
        max_bytes: SCAN_FETCH_BYTES,
        max_records: usize::MAX,
    }
}

/// Records/s reading the whole partition through `Store::read` (owned) or `Store::scan`.
fn embedded_scan(store: &Store, end: u64, zero_copy: bool) -> f64 {
    let started = Instant::now();
    let mut offset = 0;
    let mut count = 0u64;
    let mut bytes = 0u64;
    while offset < end {
        if zero_copy {
            offset = store
                .scan("bench", 0, offset, scan_options(), Isolation::ReadCommitted, |view| {
                    count += 1;
                    bytes += view.value.len() as u64;
                })
                .unwrap();
        } else {
            let read = store.read("bench", 0, offset, scan_options()).unwrap();
            count += read.records.len() as u64;
            bytes += read.records.iter().map(|r| r.value.len() as u64).sum::<u64>();
            offset = read.next_offset;
        }
    }
    assert_eq!(count, end);
    assert_eq!(bytes, end * RECORD_BYTES as u64);
    count as f64 / started.elapsed().as_secs_f64()
}

/// Records/s fetching the whole partition over loopback, 4 MiB per fetch.
/// Records/s of a whole-partition scan over loopback in 4 MiB fetches, read
/// as owned records (`fetch_with`) or in place (`fetch_view`): one server,
/// one pass each, `(owned, view)`.
fn server_scan(runtime: &tokio::runtime::Runtime, store: Store, end: u64) -> (f64, f64) {
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
        let task = tokio::spawn(async move {
            let fetch = |offset| Fetch {
                topic: "bench".into(),
                partition: 0,
                position: Position::Offset(offset),
                max_bytes: SCAN_FETCH_BYTES as u32,
                max_records: 0,
                isolation: millrace_server::messages::Isolation::ReadCommitted,
                max_wait_ms: 0,
            };
            let started = Instant::now();
            let (mut offset, mut count, mut bytes) = (0, 0u64, 0u64);
            while offset < end {
                let fetched = client.fetch_view(fetch(offset)).await.unwrap();
                count += fetched.len() as u64;
                bytes += fetched.iter().map(|r| r.value.len() as u64).sum::<u64>();
                offset = fetched.next_offset;
            }
            assert_eq!(count, end);
            let view = count as f64 / started.elapsed().as_secs_f64();
            let started = Instant::now();
            let (mut offset, mut count) = (0, 0u64);
            while offset < end {
                let fetched = client.fetch_with(fetch(offset)).await.unwrap();
                count += fetched.records.len() as u64;
                bytes += fetched.records.iter().map(|r| r.value.len() as u64).sum::<u64>();
                offset = fetched.next_offset;
            }
            assert_eq!(count, end);
            assert_eq!(bytes, 2 * end * RECORD_BYTES as u64);
            (count as f64 / started.elapsed().as_secs_f64(), view)
        });
        let rate = task.await.unwrap();
        handle.shutdown().await.unwrap();
        rate
    })
}

fn wanted(section: &str) -> bool {
    std::env::var("MILLRACE_BENCH_ONLY").map_or(true, |only| only.split(',').any(|s| s.trim() == section))
}

#[expect(clippy::too_many_lines, reason = "the benchmark plan, read top to bottom")]
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
    if wanted("produce") {
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
    }
    if wanted("latency") {
        let sync = fdatasync_latencies(500, None);
        let sync_paced = fdatasync_latencies(400, Some(200));
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
            "write + fdatasync 4 KiB at 200/s: p50 {:?} p99 {:?} p999 {:?}",
            percentile(&sync_paced, 0.5),
            percentile(&sync_paced, 0.99),
            percentile(&sync_paced, 0.999)
        );
        let p99 = |v: &[Duration]| percentile(v, 0.99).as_secs_f64();
        println!(
            "produce 1 record at 200/s, always: n {} p50 {:?} p99 {:?} p999 {:?} \
             (p99 / fdatasync p99 = {:.2}; / paced write + fdatasync p99 = {:.2}; embedded p99 / paced = {:.2})",
            produce.len(),
            percentile(&produce, 0.5),
            percentile(&produce, 0.99),
            percentile(&produce, 0.999),
            p99(&produce) / p99(&sync),
            p99(&produce) / p99(&sync_paced),
            p99(&embedded_append) / p99(&sync_paced)
        );
    }
    if wanted("relaxed") {
        let (embedded_rate, embedded_lat) = relaxed_single(None, "interval:10", seconds);
        let (server_rate, server_lat) = relaxed_single(Some(&runtime), "interval:10", seconds);
        for (name, rate, lat) in [
            ("embedded", embedded_rate, &embedded_lat),
            ("server", server_rate, &server_lat),
        ] {
            println!(
                "relaxed 1 producer, 1 record/request, interval:10, {name}: {rate:.0} rec/s p50 {:?} p99 {:?} p999 {:?}",
                percentile(lat, 0.5),
                percentile(lat, 0.99),
                percentile(lat, 0.999)
            );
        }
        println!(
            "relaxed 1 producer: server / embedded = {:.3}",
            server_rate / embedded_rate
        );
    }
    if wanted("scan") {
        let mb = std::env::var("MILLRACE_BENCH_SCAN_MB")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(256);
        let (_dir, store, end) = scan_store(mb);
        // Warm the page cache and the mappings.
        embedded_scan(&store, end, true);
        let read = embedded_scan(&store, end, false);
        let scan = embedded_scan(&store, end, true);
        let (server, view) = server_scan(&runtime, store, end);
        println!(
            "scan {mb} MiB in 4 MiB fetches: embedded read {read:.0} rec/s, embedded scan {scan:.0} rec/s, \
             server fetch {server:.0} rec/s (server / read = {:.2}, server / scan = {:.2}), \
             server fetch_view {view:.0} rec/s (view / scan = {:.2})",
            server / read,
            server / scan,
            view / scan
        );
    }
}
