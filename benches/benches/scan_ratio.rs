//! Sequential scan ÷ memcpy in one process (issue 26, issue 2's "scan of
//! 100 B records ≥ 0.5 × memcpy"), built to hold on a shared, loaded machine:
//! many short rounds, each a memcpy of the segment files' own bytes and a
//! full scan of the same partition, in alternating order; each side timed in
//! the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, so time the thread was
//! not running does not count) and in wall time. The figure is the median of
//! the per-round ratios, with their spread: load that slows both sides of a
//! round cancels out of its ratio.
//!
//! ratio = (payload bytes scanned / scan time) ÷ (bytes copied / memcpy time),
//! the engine bench's definition (payload MB/s ÷ memcpy MB/s), with the copy
//! as large as the files the scan reads (far larger than the caches).
//!
//! Run: `cargo bench -p millrace-benches --bench scan_ratio`
//! Environment (all optional):
//! - `MILLRACE_SCAN_RATIO_MB`: payload in the partition (default 96)
//! - `MILLRACE_SCAN_RATIO_RECORD_B`: record value size (default 100)
//! - `MILLRACE_SCAN_RATIO_ROUNDS`: alternating rounds (default 31)
//! - `MILLRACE_SCAN_RATIO_API`: `scan` (`Store::scan`), `scanner` (a kept
//!   `Scanner`), or both (default)
//! - `MILLRACE_SCAN_RATIO_OUT`: also write every round as CSV into this file
//! - `MILLRACE_SCAN_RATIO_READ_AHEAD_AB`: set to measure the record walk's
//!   read-ahead of the next mapped batch: each round also scans once with it
//!   off and once on (alternating order) and reports the paired CPU-time ratio
//! - `MILLRACE_BENCH_DIR`: where the store goes (default: the temp dir)

#![expect(
    clippy::unwrap_used,
    reason = "benchmark harness: any failure should abort the run loudly"
)]

use millrace::{Durability, Isolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const TOPIC: &str = "bench";
const MIB: u64 = 1024 * 1024;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The calling thread's CPU time.
#[expect(unsafe_code, reason = "clock_gettime is a C call")]
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU and wall time of one call.
fn timed(f: impl FnOnce()) -> (Duration, Duration) {
    let cpu = thread_cpu();
    let wall = Instant::now();
    f();
    (thread_cpu() - cpu, wall.elapsed())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Scan,
    Scanner,
}

/// Every `*.log` file under `dir`, concatenated: the bytes a scan reads.
fn segment_bytes(dir: &Path) -> Vec<u8> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                files.push(path);
            }
        }
    }
    let mut bytes = Vec::new();
    for file in files {
        bytes.extend_from_slice(&std::fs::read(file).unwrap());
    }
    bytes
}

/// One full pass over the partition; returns (records, payload bytes).
fn scan_all(store: &Store, api: Api) -> (u64, u64) {
    let options = ReadOptions {
        max_bytes: 4 * MIB as usize,
        max_records: 100_000,
    };
    let (start, end) = store.offsets(TOPIC, 0).unwrap();
    let mut offset = start;
    let mut records = 0u64;
    let mut payload = 0u64;
    let mut scanner = None;
    while offset < end {
        let visit = |view: millrace::batch::RecordView<'_>| {
            records += 1;
            payload += view.value.len() as u64;
        };
        offset = match api {
            Api::Scan => store
                .scan(TOPIC, 0, offset, options, Isolation::ReadCommitted, visit)
                .unwrap(),
            Api::Scanner => scanner
                .get_or_insert_with(|| store.scanner(TOPIC, 0, offset, Isolation::ReadCommitted).unwrap())
                .scan(options, visit)
                .unwrap(),
        };
    }
    (records, payload)
}

/// A read of every cache line of `bytes` (the floor of any pass over them).
fn read_all(bytes: &[u8]) -> u64 {
    bytes
        .chunks_exact(64)
        .map(|line| line.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w)))
        .fold(0, u64::wrapping_add)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    quantile(values, 0.5)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = (sorted.len().saturating_sub(1) as f64 * q).round() as usize;
    sorted.get(at).copied().unwrap_or(f64::NAN)
}

/// The filled partition, the copy's buffers and the settings of a run.
struct Bench {
    store: Store,
    source: Vec<u8>,
    destination: Vec<u8>,
    written: u64,
    rounds: u64,
    read_ahead_ab: bool,
    out: Option<std::fs::File>,
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("scan ratio benchmark: run it with `cargo bench -p millrace-benches --bench scan_ratio`");
        return;
    }
    let payload_target = env_u64("MILLRACE_SCAN_RATIO_MB", 96) * MIB;
    let record_bytes = env_u64("MILLRACE_SCAN_RATIO_RECORD_B", 100) as usize;
    let rounds = env_u64("MILLRACE_SCAN_RATIO_ROUNDS", 31).max(1);
    let read_ahead_ab = std::env::var_os("MILLRACE_SCAN_RATIO_READ_AHEAD_AB").is_some();
    let apis: Vec<Api> = match std::env::var("MILLRACE_SCAN_RATIO_API").as_deref() {
        Ok("scan") => vec![Api::Scan],
        Ok("scanner") => vec![Api::Scanner],
        _ => vec![Api::Scan, Api::Scanner],
    };
    let base = std::env::var_os("MILLRACE_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("millrace-scan-ratio-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let store = Store::open(
        &dir,
        StoreOptions {
            durability: Durability::Os,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store.create_topic(TOPIC, TopicConfig::default()).unwrap();
    // 1 MiB batches, as the engine bench's read case.
    let batch: Vec<Record> = (0..(MIB as usize / record_bytes).max(1))
        .map(|i| Record::new(vec![(i % 251) as u8; record_bytes]))
        .collect();
    let mut written = 0u64;
    while written < payload_target {
        store.append(TOPIC, 0, &batch).unwrap();
        written += (record_bytes * batch.len()) as u64;
    }
    store.roll(TOPIC, 0).unwrap();
    store.flush().unwrap();
    let source = segment_bytes(&dir);
    let mut destination = source.clone();
    // Warm: the page cache and mappings for the scan, page faults for the copy.
    for &api in &apis {
        scan_all(&store, api);
    }
    destination.copy_from_slice(&source);

    let mut out = std::env::var_os("MILLRACE_SCAN_RATIO_OUT").map(|p| std::fs::File::create(p).unwrap());
    if let Some(out) = out.as_mut() {
        writeln!(
            out,
            "api,round,order,records,payload_bytes,copy_bytes,scan_cpu_us,scan_wall_us,memcpy_cpu_us,memcpy_wall_us,ratio_cpu,ratio_wall"
        )
        .unwrap();
    }
    println!(
        "scan ratio: {record_bytes} B records, {:.1} MiB payload, {:.1} MiB of segment files, {rounds} rounds; load {}",
        written as f64 / MIB as f64,
        source.len() as f64 / MIB as f64,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    let mut bench = Bench {
        store,
        source,
        destination,
        written,
        rounds,
        read_ahead_ab,
        out,
    };
    for &api in &apis {
        run_api(&mut bench, api);
    }
    bench.store.close().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// The alternating rounds of one API, and their summary lines.
#[expect(
    clippy::too_many_lines,
    reason = "one round's measurements and the summary, read top to bottom"
)]
fn run_api(bench: &mut Bench, api: Api) {
    let store = &bench.store;
    let source = bench.source.as_slice();
    let destination = bench.destination.as_mut_slice();
    let out = &mut bench.out;
    let (written, rounds, read_ahead_ab) = (bench.written, bench.rounds, bench.read_ahead_ab);
    let mut ratios_cpu = Vec::new();
    let mut ratios_wall = Vec::new();
    let mut scan_ns_per_record = Vec::new();
    let mut memcpy_gbps = Vec::new();
    let mut crc_gbps = Vec::new();
    let mut on_off = Vec::new();
    let mut read_gbps = Vec::new();
    for round in 0..rounds {
        let mut scan = (Duration::ZERO, Duration::ZERO);
        let mut copy = (Duration::ZERO, Duration::ZERO);
        let mut counted = (0, 0);
        let scan_first = round % 2 == 0;
        for step in 0..2 {
            if (step == 0) == scan_first {
                scan = timed(|| counted = scan_all(store, api));
            } else {
                copy = timed(|| {
                    destination.copy_from_slice(std::hint::black_box(source));
                    std::hint::black_box(&mut *destination);
                });
            }
        }
        // The floors of any pass over the same bytes: their CRC and a
        // read of each cache line.
        let crc = timed(|| {
            std::hint::black_box(crc32fast::hash(std::hint::black_box(source)));
        });
        let read = timed(|| {
            std::hint::black_box(read_all(std::hint::black_box(source)));
        });
        if read_ahead_ab {
            let (mut on, mut off) = (Duration::ZERO, Duration::ZERO);
            for step in 0..2 {
                let ahead = (step == 0) == scan_first;
                millrace::batch::READ_AHEAD.store(ahead, Ordering::Relaxed);
                let time = timed(|| {
                    scan_all(store, api);
                });
                *(if ahead { &mut on } else { &mut off }) = time.0;
            }
            millrace::batch::READ_AHEAD.store(true, Ordering::Relaxed);
            on_off.push(on.as_secs_f64() / off.as_secs_f64());
        }
        let (records, payload) = counted;
        assert_eq!(payload, written, "the scan saw every record");
        let rate = |bytes: u64, d: Duration| bytes as f64 / d.as_secs_f64();
        let ratio_cpu = rate(payload, scan.0) / rate(source.len() as u64, copy.0);
        let ratio_wall = rate(payload, scan.1) / rate(source.len() as u64, copy.1);
        ratios_cpu.push(ratio_cpu);
        ratios_wall.push(ratio_wall);
        scan_ns_per_record.push(scan.0.as_nanos() as f64 / records as f64);
        memcpy_gbps.push(rate(source.len() as u64, copy.0) / 1e9);
        crc_gbps.push(rate(source.len() as u64, crc.0) / 1e9);
        read_gbps.push(rate(source.len() as u64, read.0) / 1e9);
        if let Some(out) = out.as_mut() {
            writeln!(
                out,
                "{api:?},{round},{},{records},{payload},{},{},{},{},{},{ratio_cpu:.4},{ratio_wall:.4}",
                if scan_first { "scan-first" } else { "memcpy-first" },
                source.len(),
                scan.0.as_micros(),
                scan.1.as_micros(),
                copy.0.as_micros(),
                copy.1.as_micros(),
            )
            .unwrap();
        }
    }
    let cpu = median(&mut ratios_cpu);
    let wall = median(&mut ratios_wall);
    let ns = median(&mut scan_ns_per_record);
    let gbps = median(&mut memcpy_gbps);
    let crc_gbps = median(&mut crc_gbps);
    if read_ahead_ab {
        let ratio = median(&mut on_off);
        println!(
            "{api:?}: read-ahead on ÷ off, scan CPU time paired by round: median {ratio:.3} [p10 {:.3}, p90 {:.3}]",
            quantile(&on_off, 0.1),
            quantile(&on_off, 0.9)
        );
    }
    let read_gbps = median(&mut read_gbps);
    println!(
        "{api:?}: ×memcpy (CPU time) median {cpu:.3} [p10 {:.3}, p90 {:.3}, min {:.3}, max {:.3}]; \
         ×memcpy (wall) median {wall:.3} [p10 {:.3}, p90 {:.3}]; \
         scan CPU ns/record median {ns:.1} [p10 {:.1}, p90 {:.1}]; memcpy (CPU time) median {gbps:.2} GB/s [p10 {:.2}, p90 {:.2}]",
        quantile(&ratios_cpu, 0.1),
        quantile(&ratios_cpu, 0.9),
        quantile(&ratios_cpu, 0.0),
        quantile(&ratios_cpu, 1.0),
        quantile(&ratios_wall, 0.1),
        quantile(&ratios_wall, 0.9),
        quantile(&scan_ns_per_record, 0.1),
        quantile(&scan_ns_per_record, 0.9),
        quantile(&memcpy_gbps, 0.1),
        quantile(&memcpy_gbps, 0.9),
    );
    println!(
        "{api:?}: same bytes, CPU time medians: crc32fast {crc_gbps:.2} GB/s, a read of every 64-byte line {read_gbps:.2} GB/s"
    );
}
