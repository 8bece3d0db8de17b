//! Peer comparison driver. `run.sh` starts and stops the servers and calls:
//!
//! - `millrace-compare baseline <dir>`: one CSV line of disk limits
//!   (`dd conv=fdatasync` bandwidth, 4 KiB fdatasync rate) and memcpy bandwidth.
//! - `millrace-compare run <system> <workload> <dir> [port]`: one CSV line of
//!   results for one system (`millrace` embedded, `server` = `millrace serve`,
//!   `sqlite`, `redis`, `nats`) and one
//!   workload (`durable`, `relaxed`, `durable16`, `scan`, `pipeline`).
//!
//! Environment: `MILLRACE_COMPARE_SECONDS` (per produce workload, default 5),
//! `MILLRACE_COMPARE_SCAN_MB` (default 1024), `MILLRACE_COMPARE_PIPELINE_RECORDS`
//! (default 200000), `MILLRACE_COMPARE_DD_MB` (default 1024),
//! `MILLRACE_COMPARE_THINK_US` (pause between produce calls, default 0),
//! `MILLRACE_COMPARE_SCAN_PASSES` (full scans after the load, default 1; the
//! driver prints `[compare] scan-start` to stderr before them, for a profiler),
//! `MILLRACE_COMPARE_SERVER_CLIENT` (`async`: the `server` producers on the
//! async client instead of the blocking one),
//! `MILLRACE_COMPARE_SERVER_PID` (set by run.sh: the server process whose CPU
//! time is reported next to this process's own).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "benchmark driver: any failure should abort the run loudly"
)]

mod nats;
mod redis;
mod systems;

use millrace::{Durability, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use millrace_benches::baseline;
use millrace_benches::stats::Latencies;
use std::path::Path;
use std::time::{Duration, Instant};
use systems::{JetStream, Millrace, MillraceServer, Producer, RedisStreams, Result, Sqlite, System};

const RECORD_BYTES: usize = 1024;
/// Producer loops stop at this many records even if time is left.
const PRODUCE_RECORDS_MAX: u64 = 2_000_000;
const PIPELINE_BATCH: usize = 100;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["baseline", dir] => {
            let dir = Path::new(dir);
            std::fs::create_dir_all(dir)?;
            let disk = baseline::dd_bandwidth(dir, env_u64("MILLRACE_COMPARE_DD_MB", 1024))?;
            let fsync = baseline::fdatasync_rate(dir, Duration::from_secs(3), 100_000)?;
            let overwrite = baseline::fdatasync_overwrite_rate(dir, Duration::from_secs(3), 100_000)?;
            let memcpy = baseline::memcpy_bandwidth(256 << 20, 8);
            println!("dd_bytes_per_second,fdatasync_per_second,fdatasync_overwrite_per_second,memcpy_bytes_per_second,machine");
            println!(
                "{:.0},{:.1},{:.1},{:.0},\"{}\"",
                disk.bytes_per_second(),
                fsync.per_second(),
                overwrite.per_second(),
                memcpy,
                baseline::machine_description(dir)
            );
            Ok(())
        }
        ["run", system, workload, dir, rest @ ..] => {
            let port: u16 = rest.first().and_then(|p| p.parse().ok()).unwrap_or(0);
            let outcome = run(system, workload, Path::new(dir), port)?;
            println!("{}", outcome.csv(system, workload));
            Ok(())
        }
        _ => {
            eprintln!("usage: millrace-compare baseline <dir> | run <system> <workload> <dir> [port]");
            std::process::exit(2);
        }
    }
}

struct Outcome {
    records: u64,
    payload_bytes: u64,
    seconds: f64,
    latencies: Latencies,
    /// CPU time over the timed part only.
    cpu: CpuUse,
    note: String,
}

/// CPU seconds (user + system, every thread) of this process and, when
/// `MILLRACE_COMPARE_SERVER_PID` names one, of the server process.
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    bench: f64,
    server: Option<f64>,
}

impl CpuUse {
    fn now() -> CpuUse {
        CpuUse {
            bench: own_cpu_seconds(),
            server: std::env::var("MILLRACE_COMPARE_SERVER_PID")
                .ok()
                .and_then(|pid| pid.parse::<u32>().ok())
                .and_then(process_cpu_seconds),
        }
    }

    /// CPU used since `self` was taken.
    fn since(self) -> CpuUse {
        let now = CpuUse::now();
        CpuUse {
            bench: (now.bench - self.bench).max(0.0),
            server: match (self.server, now.server) {
                (Some(before), Some(after)) => Some((after - before).max(0.0)),
                _ => None,
            },
        }
    }
}

fn own_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`; getrusage writes only
    // into it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    // SAFETY: zero-initialised plain integers, and getrusage returned 0 (filled).
    let usage = unsafe { usage.assume_init() };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// utime + stime of a live process from `/proc/<pid>/stat` (clock ticks).
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count fields after its ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the line are the 12th and 13th after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
}

impl Outcome {
    fn csv(mut self, system: &str, workload: &str) -> String {
        let p = self.latencies.percentiles();
        format!(
            "{system},{workload},{},{},{:.4},{},{},{},{},{:.3},{},\"{}\"",
            self.records,
            self.payload_bytes,
            self.seconds,
            p.p50,
            p.p99,
            p.p999,
            peak_rss_kib(),
            self.cpu.bench,
            self.cpu.server.map(|s| format!("{s:.3}")).unwrap_or_default(),
            self.note.replace('"', "'")
        )
    }
}

/// This process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn durable(workload: &str) -> bool {
    workload != "relaxed"
}

fn open_system(system: &str, workload: &str, dir: &Path, port: u16) -> Result<Box<dyn System>> {
    Ok(match system {
        "millrace" => {
            let durability = match workload {
                "durable" | "durable16" => Durability::Always,
                _ => Durability::Interval { ms: 10 },
            };
            Box::new(Millrace::open(dir, durability, RECORD_BYTES)?)
        }
        "sqlite" => Box::new(Sqlite::open(
            dir,
            if durable(workload) && workload != "scan" {
                "FULL"
            } else {
                "NORMAL"
            },
            RECORD_BYTES,
        )?),
        "redis" => Box::new(RedisStreams::new(port, RECORD_BYTES)),
        "server" => Box::new(MillraceServer::connect(port, RECORD_BYTES)?),
        "nats" => Box::new(JetStream::new(port, RECORD_BYTES)?),
        other => return Err(format!("unknown system {other}").into()),
    })
}

fn run(system: &str, workload: &str, dir: &Path, port: u16) -> Result<Outcome> {
    let seconds = Duration::from_secs(env_u64("MILLRACE_COMPARE_SECONDS", 5));
    if workload == "pipeline" {
        let records = env_u64("MILLRACE_COMPARE_PIPELINE_RECORDS", 200_000);
        return match system {
            "millrace" => pipeline_millrace(dir, records),
            "sqlite" => pipeline_sqlite(dir, records),
            other => Err(format!("no pipeline workload for {other}").into()),
        };
    }
    let target = open_system(system, workload, dir, port)?;
    let outcome = match workload {
        "durable" | "relaxed" => produce(target.as_ref(), 1, seconds)?,
        "durable16" => produce(target.as_ref(), 16, seconds)?,
        "scan" => {
            let count = env_u64("MILLRACE_COMPARE_SCAN_MB", 1024) * (1 << 20) / RECORD_BYTES as u64;
            target.load(count)?;
            // Profiling aid (profile.sh's scan): say when the timed part
            // starts, and repeat the scan `MILLRACE_COMPARE_SCAN_PASSES`
            // times (default 1) so that a profiler attached at the marker
            // samples only scans.
            let passes = env_u64("MILLRACE_COMPARE_SCAN_PASSES", 1).max(1);
            eprintln!("[compare] scan-start {count} records, {passes} passes");
            let cpu = CpuUse::now();
            let started = Instant::now();
            let (mut records, mut payload_bytes) = (0, 0);
            for _ in 0..passes {
                let (pass_records, pass_bytes) = target.scan(count)?;
                if pass_records != count {
                    return Err(format!("{system} scan returned {pass_records} of {count} records").into());
                }
                records += pass_records;
                payload_bytes += pass_bytes;
            }
            let seconds = started.elapsed().as_secs_f64();
            Outcome {
                records,
                payload_bytes,
                seconds,
                latencies: Latencies::default(),
                cpu: cpu.since(),
                note: if passes == 1 {
                    format!("load {count} records untimed, then one full scan")
                } else {
                    format!("load {count} records untimed, then {passes} full scans")
                },
            }
        }
        other => return Err(format!("unknown workload {other}").into()),
    };
    target.finish()?;
    Ok(outcome)
}

/// `producers` threads, each appending one 1 KiB record per call and waiting
/// for its acknowledgement, for `duration`.
fn produce(target: &dyn System, producers: usize, duration: Duration) -> Result<Outcome> {
    let mut handles = Vec::new();
    let prepared: Vec<Box<dyn Producer>> = (0..producers).map(|_| target.producer()).collect::<Result<_>>()?;
    let cpu = CpuUse::now();
    let started = Instant::now();
    let per_thread_max = PRODUCE_RECORDS_MAX / producers as u64;
    // Optional think time between calls (diagnostics: a pause between
    // back-to-back fsyncs changes their cost on some file systems).
    let think = Duration::from_micros(env_u64("MILLRACE_COMPARE_THINK_US", 0));
    for mut producer in prepared {
        handles.push(std::thread::spawn(move || -> Result<(u64, Latencies)> {
            let mut latencies = Latencies::default();
            let mut count = 0u64;
            while started.elapsed() < duration && count < per_thread_max {
                let t = Instant::now();
                producer.produce()?;
                latencies.record(t.elapsed().as_micros());
                count += 1;
                if !think.is_zero() {
                    std::thread::sleep(think);
                }
            }
            Ok((count, latencies))
        }));
    }
    let mut records = 0;
    let mut latencies = Latencies::default();
    for handle in handles {
        let (n, l) = handle.join().map_err(|_| "producer thread panicked")??;
        records += n;
        latencies.merge(l);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Outcome {
        records,
        payload_bytes: records * RECORD_BYTES as u64,
        seconds,
        latencies,
        cpu: cpu.since(),
        note: format!("{producers} producer(s), one record per call"),
    })
}

fn transform(value: &[u8]) -> Vec<u8> {
    value.iter().map(|b| b ^ 0x20).collect()
}

/// Header on the last record of each output batch: the input offset the stage
/// continues from. The output batch and this position are one atomic, fsync'd
/// append, so a restarted stage resumes exactly after the last batch it wrote.
const OUTBOX_NEXT: &str = "millrace-outbox-next";

/// Exactly-once consume-transform-produce with Millrace: read up to 100
/// records from `in`, append their transforms to `out` in one batch whose last
/// record carries the next input offset (the outbox position), `Always`.
fn pipeline_millrace(dir: &Path, records: u64) -> Result<Outcome> {
    let store = Store::open(
        dir,
        StoreOptions {
            durability: Durability::Always,
            ..StoreOptions::default()
        },
    )?;
    store.create_topic("in", TopicConfig::default())?;
    store.create_topic("out", TopicConfig::default())?;
    let input: Vec<Record> = (0..1000).map(|_| Record::new(systems::payload(RECORD_BYTES))).collect();
    let mut left = records;
    while left > 0 {
        let n = left.min(1000) as usize;
        store.append("in", 0, &input[..n])?;
        left -= n as u64;
    }
    let options = ReadOptions {
        max_bytes: 16 << 20,
        max_records: PIPELINE_BATCH,
    };
    // Resume point: the outbox header of the last output record (0 when empty).
    let resume = |store: &Store| -> Result<u64> {
        let (_, end) = store.offsets("out", 0)?;
        if end == 0 {
            return Ok(0);
        }
        let last = store.read("out", 0, end - 1, options)?;
        let header = last
            .records
            .first()
            .and_then(|r| r.header(OUTBOX_NEXT))
            .ok_or("last output record has no outbox header")?;
        Ok(u64::from_le_bytes(header.try_into()?))
    };
    let mut offset = resume(&store)?;
    let mut latencies = Latencies::default();
    let cpu = CpuUse::now();
    let started = Instant::now();
    let mut processed = 0u64;
    while offset < records {
        let t = Instant::now();
        let batch = store.read("in", 0, offset, options)?;
        let mut output: Vec<Record> = batch.records.iter().map(|r| Record::new(transform(&r.value))).collect();
        if let Some(last) = output.pop() {
            output.push(last.with_header(OUTBOX_NEXT, batch.next_offset.to_le_bytes().to_vec()));
        }
        store.append("out", 0, &output)?;
        processed += output.len() as u64;
        offset = batch.next_offset;
        latencies.record(t.elapsed().as_micros());
    }
    let seconds = started.elapsed().as_secs_f64();
    if resume(&store)? != records {
        return Err("outbox position does not match the input end".into());
    }
    store.close()?;
    Ok(Outcome {
        records: processed,
        payload_bytes: processed * RECORD_BYTES as u64,
        seconds,
        latencies,
        cpu: cpu.since(),
        note: format!("batches of {PIPELINE_BATCH}; output batch + input position in one Always append"),
    })
}

/// The same stage with SQLite as the outbox: one transaction per batch reads
/// input rows, inserts their transforms and updates the stage offset (WAL,
/// synchronous=FULL).
fn pipeline_sqlite(dir: &Path, records: u64) -> Result<Outcome> {
    let sqlite = Sqlite::open(dir, "FULL", RECORD_BYTES)?;
    let mut connection = sqlite.connect()?;
    connection.execute_batch(
        "CREATE TABLE input (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
         CREATE TABLE output (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
         CREATE TABLE offsets (stage TEXT PRIMARY KEY, next INTEGER NOT NULL);
         INSERT INTO offsets VALUES ('stage', 1);",
    )?;
    {
        let payload = systems::payload(RECORD_BYTES);
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction.prepare("INSERT INTO input (payload) VALUES (?1)")?;
            for _ in 0..records {
                insert.execute([&payload])?;
            }
        }
        transaction.commit()?;
    }
    let mut latencies = Latencies::default();
    let cpu = CpuUse::now();
    let started = Instant::now();
    let mut processed = 0u64;
    loop {
        let t = Instant::now();
        let transaction = connection.transaction()?;
        let next: i64 = transaction.query_row("SELECT next FROM offsets WHERE stage = 'stage'", [], |r| r.get(0))?;
        let rows: Vec<(i64, Vec<u8>)> = {
            let mut select =
                transaction.prepare_cached("SELECT id, payload FROM input WHERE id >= ?1 ORDER BY id LIMIT ?2")?;
            let mapped = select.query_map([next, PIPELINE_BATCH as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            mapped.collect::<rusqlite::Result<_>>()?
        };
        let Some(last_id) = rows.last().map(|(id, _)| *id) else {
            break;
        };
        {
            let mut insert = transaction.prepare_cached("INSERT INTO output (payload) VALUES (?1)")?;
            for (_, payload) in &rows {
                insert.execute([transform(payload)])?;
            }
        }
        transaction.execute("UPDATE offsets SET next = ?1 WHERE stage = 'stage'", [last_id + 1])?;
        transaction.commit()?;
        processed += rows.len() as u64;
        latencies.record(t.elapsed().as_micros());
    }
    let seconds = started.elapsed().as_secs_f64();
    if processed != records {
        return Err(format!("sqlite stage processed {processed} of {records}").into());
    }
    sqlite.finish()?;
    Ok(Outcome {
        records: processed,
        payload_bytes: processed * RECORD_BYTES as u64,
        seconds,
        latencies,
        cpu: cpu.since(),
        note: format!("batches of {PIPELINE_BATCH}; one WAL transaction (synchronous=FULL) per batch"),
    })
}
